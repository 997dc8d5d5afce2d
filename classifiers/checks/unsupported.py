"""``unsupported_answer``: a worked maths answer whose stated final number appears nowhere in its working.

A maths word problem's draft that shows its working ("48/2 = 24 ... 48 + 24 = 72") and then states a final
answer ("The answer is 96.", "#### 96", ``\\boxed{96}``) should state a number it computed, or one the
question gave. When the final number is none of the numbers in the working and none of the prompt's, the
draft has lost its own result on the last line (a slip, or a guess written after the working).

It reads only maths word problems (:mod:`.prompt_kind`), only a final answer that is explicitly marked,
only the last ``WORKING_TAIL`` characters of the working and ``PROMPT_READ`` of the prompt, and only when
the working holds at least ``MIN_WORKING_NUMBERS`` numbers. A number counts as support when it is equal,
rounds to the final number (``33.33`` -> ``33``), or is the same amount in hundredths (``$0.25`` and ``25``
cents, ``0.4`` and ``40`` percent). Numbers written into units count (``25ml``, ``3x``).

False alarms on known-good answers (``python benchmarks/checks.py``): 0.2% of GSM8K's gold solutions (12 of
7,473; most are slips in the gold itself, "48 + 16 = 64 points" then "#### 66"; one writes "$80 000" with a
space), none on MMLU-Pro (multiple choice, not word problems).
"""

from __future__ import annotations

import re

from hybrid.types import CheckResult

from . import prompt_kind as kinds
from .extract import _NUMBER_MARKED, normalise_number
from .text import ANSWER_TAIL

NAME = "unsupported_answer"

#: Numbers the working must hold before the check judges it (a bare "The answer is 7." is not worked).
MIN_WORKING_NUMBERS = 2
#: Characters of working read back from the final answer (its result is computed near the end), and of the
#: prompt from its end (where a word problem states its numbers and its question).
WORKING_TAIL = 1200
PROMPT_READ = 1200
#: Any number, also when a unit is written onto it ("25ml", "3x", "$1,200.50").
_ANY_NUMBER = re.compile(r"(?<![\d.])-?\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")


def _numbers(text: str) -> list[float]:
    out = []
    for token in _ANY_NUMBER.findall(text):
        try:
            out.append(float(token.replace("$", "").replace(",", "")))
        except ValueError:
            continue
    return out


def _supports(value: float, final: float) -> bool:
    for candidate in (value, value * 100.0, value / 100.0):
        if abs(candidate - final) <= 1e-6 * max(1.0, abs(final)):
            return True
    return abs(value) >= 1.0 and round(value) == final


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    if kinds.prompt_kind(prompt) != kinds.MATH:
        return CheckResult(NAME, False)
    end = answer[-ANSWER_TAIL:]
    marks = list(_NUMBER_MARKED.finditer(end))
    if not marks:
        return CheckResult(NAME, False)
    mark = marks[-1]
    final_text = normalise_number(next(g for g in mark.groups() if g))
    if final_text is None:
        return CheckResult(NAME, False)
    final = float(final_text)
    before = answer[: len(answer) - len(end) + mark.start()]
    working = _numbers(before[-WORKING_TAIL:])
    if len(working) < MIN_WORKING_NUMBERS or any(_supports(v, final) for v in working):
        return CheckResult(NAME, False)
    if any(_supports(v, final) for v in _numbers(prompt[-PROMPT_READ:])):
        return CheckResult(NAME, False)
    return CheckResult(
        NAME, True, f"the final answer {final_text} appears nowhere in the draft's working or the question"
    )
