"""A soft signal, not a check: a worked answer to a numeric multiple-choice question whose final number is none
of the options' values.

A draft that computes 12.7 when the options are 3.2, 6.4, 9.8 ... has likely gone wrong somewhere, but far
too often to be a check (it fires on about 45% of the right Mixtral drafts on MMLU-Pro's stemez questions,
against 65% of the wrong ones), so it only pushes the learned score up (see :class:`classifiers.DraftRules`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .extract import final_number

#: An option line: "A. 3.5 m", "(B) 12", "C) -4.2e-3 J".
_OPTION = re.compile(r"^\s*\(?([A-J])[\).:]\s*(.+)$", re.MULTILINE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE]-?\d+)?")
#: Values within this relative distance count as the same number.
TOLERANCE = 0.02


def _first_number(text: str) -> float | None:
    found = _NUMBER.search(text)
    if found is None:
        return None
    try:
        return float(found.group().replace(",", ""))
    except ValueError:
        return None


@lru_cache(maxsize=64)
def option_values(prompt: str) -> tuple[float, ...]:
    """Each lettered option's first number, when the prompt lists at least three options that all hold one."""
    values = [_first_number(text) for _, text in _OPTION.findall(prompt)]
    if len(values) < 3 or any(v is None for v in values):
        return ()
    return tuple(values)


def number_off_options(prompt: str, answer: str) -> bool:
    """Whether ``answer`` ends on a number that matches none of the numeric options ``prompt`` lists."""
    options = option_values(prompt)
    stated = final_number(answer) if options else None
    if stated is None:
        return False
    value = float(stated)
    return not any(abs(value - o) <= TOLERANCE * max(abs(o), 1e-9) for o in options)
