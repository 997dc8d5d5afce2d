"""How a request's score is made, in one place, for both modes.

``hybrid classify``, ``hybrid eval``, the evaluation suite and the router all
reach these functions through :class:`classifiers.difficulty.DifficultyModel`.

**Prompt-only** (``direct``): a fixed prior plus a shrunk learned residual, in
logit space::

    logit = length_weight * z(log1p(len(prompt))) + prompt_weight * z(logit(learned))

``z`` standardises with the training set's mean and scale. The prior (longer
prompts are harder) dominates; the learned model (embedding + text features)
only reorders within it, with a weight chosen by leave-one-source-out runs on
the training data, so out of domain it cannot drift far below prompt length.

**Answer-aware** (``cascade``), in order of precedence:

1. answer checks (:mod:`classifiers.checks`) on the kept draft: any fired check
   puts the score at ``check_floor`` or above, and its reason is the verdict;
2. with several drafts, disagreement between them (:mod:`classifiers.agreement`).
   When the drafts voted on an extracted final answer (a letter, a number, JSON)
   it dominates the learned score (``w * disagreement + (1 - w) * base``, ``w =
   disagreement_weight``), so drafts that disagree rank above drafts that agree,
   also among drafts a check fired on. When they could only be compared by word
   similarity (open prompts) it is a weak hint, not a verdict: it moves the
   learned logit by ``similarity_weight * (1 - agreement)``. Either way the
   draft kept is the one the majority agrees with;
3. otherwise the learned answer score (features whose sign is stable across
   data sets only) on top of the prompt-only logit, pushed up when the
   backend's token log-probabilities show low confidence.

Without a fired check the score stays below ``check_floor``, so a fired check
always ranks above any clean draft.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from hybrid.errors import ClassifierError
from hybrid.types import CheckResult, Draft, DraftAssessment

from .cascade import DraftRules, DraftSignals, shift_logit


def logit(p):
    """log(p / (1 - p)), clipped away from 0 and 1; floats or numpy arrays."""
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.log(p / (1.0 - p))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


@dataclass(frozen=True)
class ScoringParams:
    """The fixed numbers of the score, kept in the artifact card under ``scoring``.

    The defaults reproduce an artifact without that section (the learned models alone).
    """

    length_weight: float = 0.0
    length_mean: float = 0.0
    length_scale: float = 1.0
    prompt_weight: float = 1.0
    prompt_logit_mean: float = 0.0
    prompt_logit_scale: float = 1.0
    answer_weight: float = 1.0
    answer_logit_mean: float = 0.0
    answer_logit_scale: float = 1.0
    answer_prompt_weight: float = 0.0

    @classmethod
    def from_card(cls, card: dict) -> ScoringParams:
        section = card.get("scoring", {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in section.items() if k in known})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def prompt_logit(params: ScoringParams, log_chars, learned):
    """The prompt-only logit from ``log1p(len(prompt))`` and the learned model's probability (floats or arrays)."""
    length = (log_chars - params.length_mean) / params.length_scale
    residual = (logit(learned) - params.prompt_logit_mean) / params.prompt_logit_scale
    return params.length_weight * length + params.prompt_weight * residual


def answer_base(params: ScoringParams, prompt_z, learned):
    """The learned answer-aware score: the answer model's standardised logit on top of the prompt logit."""
    residual = (logit(learned) - params.answer_logit_mean) / params.answer_logit_scale
    return sigmoid(params.answer_prompt_weight * prompt_z + params.answer_weight * residual)


def run_draft_checks(prompt: str, draft: Draft) -> tuple[CheckResult, ...]:
    from .checks import run_checks

    return tuple(run_checks(prompt, draft.text, draft.finish_reason))


def draft_agreement(prompt: str, drafts: Sequence[Draft]) -> tuple[float | None, int, str, bool]:
    """``(agreement in [0, 1], index of the majority draft, reason, voted)``; ``(None, 0, "", False)`` for a
    single draft. ``voted``: the drafts were compared on extracted final answers, not by word similarity."""
    if len(drafts) < 2:
        return None, 0, "", False
    from .agreement import agreement

    result = agreement(prompt, [d.text for d in drafts])
    voted = any(a is not None for a in result.answers)
    return float(result.agreement), int(result.keep), result.reason, voted


def assess(
    prompt: str,
    drafts: Sequence[Draft],
    base_of: Callable[[Draft], float],
    rules: DraftRules,
) -> DraftAssessment:
    """The cascade's verdict on ``drafts`` of ``prompt``; ``base_of(draft)`` is the learned answer score."""
    if not drafts:
        raise ClassifierError("no draft to assess; fix: pass at least one local draft")
    agreement, keep, why, voted = draft_agreement(prompt, drafts)
    draft = drafts[keep]
    checks = run_draft_checks(prompt, draft)
    base = rules.confidence(base_of(draft), DraftSignals.of(draft, prompt))
    return verdict(base, checks, agreement, keep, why, rules, voted=voted)


def verdict(
    base: float,
    checks: tuple[CheckResult, ...],
    agreement: float | None,
    keep: int,
    agreement_reason: str,
    rules: DraftRules,
    *,
    voted: bool = True,
) -> DraftAssessment:
    """Checks first, then disagreement, then the learned ``base`` score (see the module docstring)."""
    fired = [c for c in checks if c.fired]
    raised = _with_disagreement(base, agreement, rules, voted)
    if fired:
        score = rules.check_floor + (1.0 - rules.check_floor) * raised
        reasons = tuple(c.reason or c.name for c in fired)
        return DraftAssessment(score, keep, checks, agreement, reasons)
    reasons = [f"no check fired; answer score {base:.2f}"]
    if agreement is not None:
        reasons.append(f"{agreement_reason} (agreement {agreement:.2f})")
    return DraftAssessment(rules.check_floor * raised, keep, checks, agreement, tuple(reasons))


def _with_disagreement(base: float, agreement: float | None, rules: DraftRules, voted: bool) -> float:
    """``base`` for one draft; with several that voted, ``w * disagreement + (1 - w) * base`` (``w =
    disagreement_weight``); compared by similarity only, ``base``'s logit plus ``similarity_weight *
    disagreement``.

    With ``w >= 0.5`` drafts whose final answers disagree rank above drafts that agree, whatever the learned
    score says.
    """
    if agreement is None:
        return base
    if not voted:
        return shift_logit(base, rules.similarity_weight * (1.0 - agreement))
    w = rules.disagreement_weight
    return w * (1.0 - agreement) + (1.0 - w) * base
