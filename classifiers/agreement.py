"""Agreement between k drafts of the same request: do cheap answers say the same thing?

``agreement(prompt, drafts) -> Agreement``:

* checkable prompts (multiple choice, maths word problem, JSON extraction; see
  :mod:`classifiers.checks.prompt_kind`): each draft's final answer is extracted (a letter, a number,
  canonical JSON) and the drafts vote. ``keep`` is the first draft that gives the most common answer, and
  ``agreement`` is the share of the *other* drafts that give the same answer (2 of 2 agree: 1.0; 1 of 2: 0.0;
  2 of 3: 0.5). A draft that states no answer abstains: it neither agrees nor disagrees, and counts half
  (one answer and one abstention: 0.5, nothing to compare). On MMLU-Pro, escalating such a question gains less
  than escalating one whose two answers disagree (0.24-0.29 against 0.39-0.44 in correctness) and far more than
  one whose answers agree (0.08), so it ranks between the two;
* open prompts, or checkable ones where no draft states an answer: word-count cosine similarity between
  drafts (each read at its first and last ``SIMILARITY_HEAD``/``SIMILARITY_TAIL`` characters).
  ``agreement`` is the mean pairwise similarity and ``keep`` the draft closest to the others, the longest
  among equally close ones.

One draft has nothing to compare: agreement 1.0, keep 0. The cost is the drafts' generation (local time);
comparing them takes microseconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hybrid.errors import ClassifierError

from .checks import prompt_kind as kinds
from .checks.extract import final_key
from .checks.text import ends

#: How much a draft that states no final answer counts towards agreement: half, neither for nor against.
ABSTAINED_COUNTS = 0.5
SIMILARITY_HEAD = 2000
SIMILARITY_TAIL = 1000

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Agreement:
    """How far k drafts agree: ``agreement`` in [0, 1], the draft to ``keep``, and a ``reason`` in words.

    ``answers`` holds each draft's extracted final answer (None where it gave none) when the prompt is
    checkable, and is empty when the drafts were compared by similarity; ``kind`` says which prompt kind.
    """

    agreement: float
    keep: int
    reason: str
    kind: str = kinds.OPEN
    answers: tuple[str | None, ...] = ()


def agreement(prompt: str, drafts: Sequence[str]) -> Agreement:
    """Compare ``drafts`` (k >= 1 answers to ``prompt``); see the module docstring."""
    if not drafts:
        raise ClassifierError("agreement needs at least one draft; pass the local answers to compare")
    if len(drafts) == 1:
        return Agreement(1.0, 0, "one draft: nothing to compare")
    kind = kinds.prompt_kind(prompt)
    if kind != kinds.OPEN:
        letters = kinds.option_letters(prompt) if kind == kinds.MULTIPLE_CHOICE else kinds.LETTERS
        answers = tuple(final_key(kind, draft, letters) for draft in drafts)
        if any(a is not None for a in answers):
            return _vote(kind, answers)
        found = similarity_agreement(drafts, kind)
        return Agreement(found.agreement, found.keep, f"no draft states a final answer; {found.reason}", kind, answers)
    return similarity_agreement(drafts)


def _shown(kind: str, answer: str | None) -> str:
    if answer is None:
        return "no answer"
    if kind == kinds.MULTIPLE_CHOICE:
        return f"({answer})"
    if kind == kinds.JSON:
        return answer if len(answer) <= 40 else answer[:39] + "…"
    return answer


def _vote(kind: str, answers: tuple[str | None, ...]) -> Agreement:
    counts = Counter(a for a in answers if a is not None)
    top = max(counts.values())
    # Ties go to the answer given first.
    winner = next(a for a in answers if a is not None and counts[a] == top)
    keep = answers.index(winner)
    k = len(answers)
    abstained = sum(a is None for a in answers)
    if top + abstained == k:
        reason = f"{top} of {k} drafts answer {_shown(kind, winner)}"
        if abstained:
            reason += f"; {abstained} state{'s' if abstained == 1 else ''} no answer"
    elif top * 2 > k:
        reason = f"{top} of {k} drafts answer {_shown(kind, winner)}"
    else:
        seen = list(dict.fromkeys(answers))
        reason = "drafts disagree: " + " vs ".join(_shown(kind, a) for a in seen)
    return Agreement((top - 1 + ABSTAINED_COUNTS * abstained) / (k - 1), keep, reason, kind, answers)


def _bag(text: str) -> Counter[str]:
    return Counter(_WORD.findall(ends(text, SIMILARITY_HEAD, SIMILARITY_TAIL).lower()))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two word-count bags (0 when either is empty)."""
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(n * large[w] for w, n in small.items())
    return dot / math.sqrt(sum(n * n for n in a.values()) * sum(n * n for n in b.values()))


def similarity_agreement(drafts: Sequence[str], kind: str = kinds.OPEN) -> Agreement:
    """Agreement of answers by word-count cosine: mean pairwise similarity; keep the most central draft.

    Among equally central drafts (two always are) an open prompt keeps the fullest, since a short open answer is
    the weak one more often (on AlpacaEval, keeping the longer of two models' answers raised the kept answer's
    judged win rate from 0.49 to 0.57); a checkable prompt whose drafts state no answer keeps the first (a long
    draft there is a model struggling, not a fuller answer).
    """
    bags = [_bag(d) for d in drafts]
    k = len(bags)
    sims = [[cosine(bags[i], bags[j]) if i != j else 0.0 for j in range(k)] for i in range(k)]
    closeness = [round(sum(row) / (k - 1), 6) for row in sims]
    fuller = kind == kinds.OPEN
    keep = max(range(k), key=lambda i: (closeness[i], len(drafts[i]) if fuller else 0, -i))
    mean = sum(closeness) / k
    return Agreement(mean, keep, f"drafts are {mean:.0%} similar (word overlap)")
