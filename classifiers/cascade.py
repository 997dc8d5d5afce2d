"""Signals of a local draft that the learned answer-aware model cannot see.

The shipped training data (AlpacaEval answers) has no token log-probabilities
and no finish reasons, so these two signals are fixed rules, not fitted
weights, and every artifact card says so:

* truncation: a draft cut off by ``max_tokens`` (``finish_reason == "length"``)
  is incomplete, so its score is raised to at least ``truncated_floor``;
* confidence: with per-token log-probabilities, ``confidence`` is the
  geometric-mean token probability ``exp(mean(logprobs))``. Below
  ``confident_at`` the score is pushed up by a noisy-OR with weight
  ``low_confidence_weight * (confident_at - confidence) / confident_at``.

Refusals, length, repetition and prompt coverage are learned from the data
(see :mod:`classifiers.features`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybrid.types import Draft


@dataclass(frozen=True)
class DraftSignals:
    """What the rules saw in a draft: truncation and token confidence (None when no logprobs)."""

    truncated: bool
    confidence: float | None

    @classmethod
    def of(cls, draft: Draft) -> DraftSignals:
        confidence = None
        if draft.logprobs:
            mean = sum(draft.logprobs) / len(draft.logprobs)
            confidence = math.exp(min(mean, 0.0))
        return cls(truncated=draft.finish_reason == "length", confidence=confidence)


@dataclass(frozen=True)
class DraftRules:
    """The fixed adjustments applied on top of the learned draft score."""

    truncated_floor: float = 0.9
    confident_at: float = 0.5
    low_confidence_weight: float = 0.6

    def apply(self, score: float, signals: DraftSignals) -> float:
        if signals.confidence is not None and signals.confidence < self.confident_at:
            push = self.low_confidence_weight * (self.confident_at - signals.confidence) / self.confident_at
            score = 1.0 - (1.0 - score) * (1.0 - push)
        if signals.truncated:
            score = max(score, self.truncated_floor)
        return min(max(score, 0.0), 1.0)

    def as_dict(self) -> dict[str, float]:
        return {
            "truncated_floor": self.truncated_floor,
            "confident_at": self.confident_at,
            "low_confidence_weight": self.low_confidence_weight,
        }
