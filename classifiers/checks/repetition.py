"""``repetition``: the draft loops, as weak models do when they lose the thread.

Two cheap tests over the draft's last ``TAIL`` characters:

* a sentence or line (of at least ``MIN_UNIT`` characters) said ``MIN_REPEATS`` times or more, with repeats
  making up at least ``MIN_SHARE`` of the tail's sentences;
* word trigrams: fewer than ``MIN_DISTINCT`` of the last ``WORDS`` trigrams are distinct (a loop with no
  punctuation: "Paris, Paris, Paris...").

Lists and tables repeat their shape, not their words, so they pass.
"""

from __future__ import annotations

import re
from collections import Counter

from hybrid.types import CheckResult

from .text import quote, tail

NAME = "repetition"

TAIL = 1500
MIN_UNIT = 25
MIN_REPEATS = 3
MIN_SHARE = 0.4
WORDS = 300
MIN_DISTINCT = 0.3
#: Fewer trigrams than this are too few to call a loop.
MIN_TRIGRAMS = 30

_UNITS = re.compile(r"(?<=[.!?])\s+|\n+")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")


def repeated_sentence(text: str) -> tuple[str, int] | None:
    """The sentence or line the text keeps repeating and how often, or None."""
    units = [_SPACE.sub(" ", u).strip().lower() for u in _UNITS.split(text)]
    units = [u for u in units if len(u) >= MIN_UNIT and len(_LETTER.findall(u[:80])) >= MIN_UNIT // 2]
    if len(units) < MIN_REPEATS:
        return None
    counts = Counter(units)
    unit, n = counts.most_common(1)[0]
    repeated = sum(c for c in counts.values() if c > 1)
    if n >= MIN_REPEATS and repeated >= MIN_SHARE * len(units):
        return unit, n
    return None


def distinct_trigrams(text: str) -> float | None:
    """Share of distinct word trigrams among the last ``WORDS`` words (None when too short to tell)."""
    words = _WORD.findall(text.lower())[-WORDS:]
    trigrams = list(zip(words, words[1:], words[2:]))
    if len(trigrams) < MIN_TRIGRAMS:
        return None
    return len(set(trigrams)) / len(trigrams)


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    end = tail(answer, TAIL)
    found = repeated_sentence(end)
    if found is not None:
        unit, n = found
        return CheckResult(NAME, True, f"draft repeats itself: {quote(unit, 50)!r} {n} times")
    share = distinct_trigrams(end)
    if share is not None and share < MIN_DISTINCT:
        return CheckResult(NAME, True, f"draft loops: only {share:.0%} of its last word trigrams are distinct")
    return CheckResult(NAME, False)
