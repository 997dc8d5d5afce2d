"""The fixed rules of the cascade's answer-aware score (see :mod:`classifiers.scoring`).

These are priors, not fitted weights, and every artifact card says so:

* a fired answer check (cut off, no final answer, wrong arithmetic, ...) puts
  the score at ``check_floor`` or above; a draft no check fired on stays below it;
* with several drafts, the learned score becomes ``disagreement_weight *
  (1 - agreement) + (1 - disagreement_weight) * score``: disagreement dominates;
* confidence: with per-token log-probabilities, ``confidence`` is the
  geometric-mean token probability ``exp(mean(logprobs))``. Below
  ``confident_at`` the learned score is pushed up by a noisy-OR with weight
  ``low_confidence_weight * (confident_at - confidence) / confident_at``;
* a worked answer to a numeric multiple-choice question that ends on a number
  matching none of the options (:mod:`classifiers.checks.options`) pushes the
  learned score up by a noisy-OR with weight ``off_options_weight`` (0.8: each
  MMLU-Pro source family held out chose it on the other two, and gained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybrid.types import Draft


@dataclass(frozen=True)
class DraftSignals:
    """What the rules saw in a draft: truncation, token confidence (None when no logprobs), and whether it
    ends on a number that is none of a numeric multiple-choice prompt's options."""

    truncated: bool
    confidence: float | None
    off_options: bool = False

    @classmethod
    def of(cls, draft: Draft, prompt: str = "") -> DraftSignals:
        from .checks.options import number_off_options

        confidence = None
        if draft.logprobs:
            mean = sum(draft.logprobs) / len(draft.logprobs)
            confidence = math.exp(min(mean, 0.0))
        off = bool(prompt) and number_off_options(prompt, draft.text)
        return cls(truncated=draft.finish_reason == "length", confidence=confidence, off_options=off)


@dataclass(frozen=True)
class DraftRules:
    """The fixed parts of the answer-aware score."""

    check_floor: float = 0.9
    disagreement_weight: float = 0.7
    confident_at: float = 0.5
    low_confidence_weight: float = 0.6
    off_options_weight: float = 0.8

    def confidence(self, score: float, signals: DraftSignals) -> float:
        """``score`` pushed up when the draft's tokens were unlikely, or its final number is none of the options."""
        if signals.confidence is not None and signals.confidence < self.confident_at:
            push = self.low_confidence_weight * (self.confident_at - signals.confidence) / self.confident_at
            score = 1.0 - (1.0 - score) * (1.0 - push)
        if signals.off_options:
            score = 1.0 - (1.0 - score) * (1.0 - self.off_options_weight)
        return min(max(score, 0.0), 1.0)

    def as_dict(self) -> dict[str, float]:
        return {
            "check_floor": self.check_floor,
            "disagreement_weight": self.disagreement_weight,
            "confident_at": self.confident_at,
            "low_confidence_weight": self.low_confidence_weight,
            "off_options_weight": self.off_options_weight,
        }
