"""Labelled examples and the user's label files (the shared data sets are in :mod:`classifiers.datasets`).

A label line is ``{"prompt", "answer"?, "label": 0|1}`` (1 = needed the
frontier model) or ``{"prompt", "answer"?, "win": float}`` (the local model's
win probability against the frontier model). Both become a *target*
``t = P(needs escalation)``: ``label`` as is, ``win`` as ``1 - win``. A line
may also carry ``finish_reason`` (of ``answer``) and ``answers``: further
drafts of the same prompt (another sample, another local model), used by the
cascade's agreement signal.

Splits are made by prompt (a hash of the prompt id and a seed), so the six
answers to one AlpacaEval prompt never straddle train, validation and test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from hybrid.types import Draft

from .jsonl import LineError, read_jsonl_objects

SPLIT_SEED = "hybrid-clf-2026"
#: Share of prompts in each split, by hash bucket: train, validation, sealed test.
SPLIT_SHARES = (("train", 0.6), ("val", 0.2), ("test", 0.2))


@dataclass(frozen=True)
class Example:
    """One labelled decision: a prompt, optionally a draft answer, and its target."""

    group: str
    prompt: str
    target: float
    answer: str | None = None
    source: str = "user"
    answers: tuple[str, ...] = ()
    finish_reason: str | None = None
    weak: float | None = None
    strong: float = 1.0
    answers_weak: tuple[float, ...] = ()
    """The kept-local quality of each of ``answers`` (for evaluating which draft the cascade keeps)."""

    @property
    def weak_quality(self) -> float:
        """Quality when kept local (see :mod:`classifiers.metrics`): ``weak``, else ``1 - target``."""
        return 1.0 - self.target if self.weak is None else self.weak

    def kept(self, keep: int) -> Example:
        """This example as the cascade answers it when it keeps draft ``keep`` (its quality is that draft's)."""
        if keep == 0 or not self.answers_weak:
            return self
        return replace(self, weak=self.answers_weak[keep - 1])

    def drafts(self) -> tuple[Draft, ...]:
        """``answer`` and then ``answers``, as the cascade sees them (empty without an answer)."""
        if self.answer is None:
            return ()
        return (Draft(self.answer, self.finish_reason), *(Draft(a) for a in self.answers))


def split_of(group: str, seed: str = SPLIT_SEED) -> str:
    """``train``, ``val`` or ``test`` for a prompt id, stable across runs and machines."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, share in SPLIT_SHARES:
        edge += share
        if u < edge:
            return name
    return SPLIT_SHARES[-1][0]


def prompt_group(prompt: str) -> str:
    """A stable id for a prompt that has none (user label files)."""
    return hashlib.sha256(prompt.strip().encode()).hexdigest()[:16]


def _target_of(obj: dict) -> float:
    if "label" in obj:
        label = obj["label"]
        if isinstance(label, bool) or label not in (0, 1):
            raise ValueError('"label" must be 0 or 1')
        return float(label)
    if "win" in obj:
        win = obj["win"]
        if isinstance(win, bool) or not isinstance(win, (int, float)) or not 0.0 <= win <= 1.0:
            raise ValueError('"win" must be a number in [0, 1]')
        return 1.0 - float(win)
    raise ValueError('needs "label" (0 or 1) or "win" (a number in [0, 1])')


def parse_label(obj: dict) -> Example:
    """One label line as an :class:`Example`; ``ValueError`` names what is wrong."""
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('"prompt" must be a non-empty string')
    answer, answers, finish_reason = parse_drafts(obj)
    return Example(
        group=prompt_group(prompt),
        prompt=prompt,
        target=_target_of(obj),
        answer=answer,
        answers=answers,
        finish_reason=finish_reason,
    )


def parse_drafts(obj: dict) -> tuple[str | None, tuple[str, ...], str | None]:
    """A line's ``answer``, further ``answers`` and ``finish_reason``; ``ValueError`` names what is wrong."""
    answer, answers, finish_reason = obj.get("answer"), obj.get("answers", []), obj.get("finish_reason")
    if answer is not None and not isinstance(answer, str):
        raise ValueError('"answer" must be a string when present')
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError('"answers" must be a list of strings when present')
    if answers and answer is None:
        raise ValueError('"answers" needs an "answer" (the draft they are compared with)')
    if finish_reason is not None and not isinstance(finish_reason, str):
        raise ValueError('"finish_reason" must be a string when present')
    return answer, tuple(answers), finish_reason


def read_labels(path: Path) -> tuple[list[Example], list[LineError]]:
    """Every good label line of ``path``, and the bad ones by line number."""
    examples: list[Example] = []
    errors: list[LineError] = []
    for number, obj in read_jsonl_objects(path, errors):
        try:
            examples.append(parse_label(obj))
        except ValueError as e:
            errors.append(LineError(number, str(e)))
    return examples, errors


def label_kinds(examples: list[Example]) -> tuple[int, int]:
    """How many of ``examples`` needed the frontier model (target above 0.5), and how many were good locally."""
    hard = sum(1 for e in examples if e.target > 0.5)
    return hard, len(examples) - hard


def in_holdout(group: str, share: float, seed: str = SPLIT_SEED) -> bool:
    """Whether a prompt id falls in a ``share``-sized holdout (stable, by hash)."""
    digest = hashlib.sha256(f"{seed}:holdout:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
