"""The fixed rules of the cascade's answer-aware score (see :mod:`classifiers.scoring`).

These are priors, not fitted weights, and every artifact card says so:

* a fired answer check (cut off, no final answer, wrong arithmetic, ...) puts
  the score at ``check_floor`` or above; a draft no check fired on stays below it;
* with several drafts that state a final answer, the learned score becomes
  ``disagreement_weight * (1 - agreement) + (1 - disagreement_weight) * score``:
  disagreement dominates. Drafts of an open prompt, compared only by word
  similarity, move the learned logit by ``similarity_weight * (1 - agreement)``:
  two answers can differ in words and both be right, so similarity is a hint
  (on AlpacaEval, letting it dominate ranked two drafts below one);
* confidence: with per-token log-probabilities, ``confidence`` is the
  geometric-mean token probability ``exp(mean(logprobs))``. Below
  ``confident_at`` the learned score is pushed up by a noisy-OR with weight
  ``low_confidence_weight * (confident_at - confidence) / confident_at``;
* a worked answer to a numeric multiple-choice question that ends on a number
  matching none of the options (:mod:`classifiers.checks.options`) pushes the
  learned score up by a noisy-OR with weight ``off_options_weight`` (0.8: each
  MMLU-Pro source family held out chose it on the other two, and gained);
* answer length, read by the prompt's kind (:func:`length_lean`): a *short*
  answer to an open prompt and a *long* answer to a checkable one (multiple
  choice, maths, JSON) lean towards escalation. The learned score's logit moves
  by ``answer_length_weight`` per e-fold of length from ``LENGTH_CENTER``
  characters, counting at most ``MAX_LEAN`` e-folds either way. Learned from
  the data, answer length flips sign between AlpacaEval and MMLU-Pro, which is
  why the learned model holds it at zero; the flip follows the prompt's kind: judges of open answers mark short,
  thin answers down (the weak answers that lost on Arena-style judging were the
  short ones, for every weak model tried), while on a question with one right
  answer a long draft is a model struggling (on MMLU-Pro, longer Mixtral
  answers are more often wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybrid.types import Draft

#: The answer length (characters) the length rule leans from.
LENGTH_CENTER = 600
#: The most the lean counts, in e-folds either way (about 220 and 1,630 characters): it reorders drafts the
#: learned score is unsure of, and cannot by itself escalate a terse, right answer ("Positive.", "Bonjour.").
MAX_LEAN = 1.0


def shift_logit(p: float, by: float) -> float:
    """The probability ``p`` moved by ``by`` in logit space (``p`` clipped away from 0 and 1, as the score's
    :func:`classifiers.scoring.logit` clips it): a scalar, without numpy, for the per-draft rules."""
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    z = math.log(p / (1.0 - p)) + by
    return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))


def length_lean(prompt: str, answer: str) -> float:
    """How far the answer's length points to a weak draft, in e-folds of characters from ``LENGTH_CENTER``,
    at most ``MAX_LEAN`` either way.

    Positive leans to escalation: a short answer to an open prompt, a long answer to a checkable one.
    """
    from .checks.prompt_kind import OPEN, prompt_kind

    folds = math.log1p(len(answer)) - math.log1p(LENGTH_CENTER)
    lean = -folds if prompt_kind(prompt) == OPEN else folds
    return max(-MAX_LEAN, min(MAX_LEAN, lean))


@dataclass(frozen=True)
class DraftSignals:
    """What the rules saw in a draft: truncation, token confidence (None when no logprobs), whether it
    ends on a number that is none of a numeric multiple-choice prompt's options, and its length lean."""

    truncated: bool
    confidence: float | None
    off_options: bool = False
    length_lean: float = 0.0

    @classmethod
    def of(cls, draft: Draft, prompt: str = "") -> DraftSignals:
        from .checks.cut_off import TOKEN_LIMIT
        from .checks.options import number_off_options

        confidence = None
        if draft.logprobs:
            mean = sum(draft.logprobs) / len(draft.logprobs)
            confidence = math.exp(min(mean, 0.0))
        off = bool(prompt) and number_off_options(prompt, draft.text)
        lean = length_lean(prompt, draft.text) if prompt else 0.0
        truncated = draft.finish_reason in TOKEN_LIMIT
        return cls(truncated=truncated, confidence=confidence, off_options=off, length_lean=lean)


@dataclass(frozen=True)
class DraftRules:
    """The fixed parts of the answer-aware score."""

    check_floor: float = 0.9
    disagreement_weight: float = 0.7
    similarity_weight: float = 1.0
    confident_at: float = 0.5
    low_confidence_weight: float = 0.6
    off_options_weight: float = 0.8
    answer_length_weight: float = 2.0

    def confidence(self, score: float, signals: DraftSignals) -> float:
        """``score`` moved by the draft's length lean, then pushed up when its tokens were unlikely or its final
        number is none of the options."""
        if self.answer_length_weight and signals.length_lean:
            score = shift_logit(score, self.answer_length_weight * signals.length_lean)
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
            "similarity_weight": self.similarity_weight,
            "confident_at": self.confident_at,
            "low_confidence_weight": self.low_confidence_weight,
            "off_options_weight": self.off_options_weight,
            "answer_length_weight": self.answer_length_weight,
        }
