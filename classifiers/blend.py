"""Fitting the learned parts of the score and the fixed numbers that blend them with the priors.

A :class:`Design` says how much the learned models may move the score (see
:mod:`classifiers.scoring`) and which answer features are held at zero
because their sign flips between data sets. :func:`fit` turns feature
matrices and a design into the two pipelines and the card's ``scoring``
section. The packaged default's design is chosen by leave-one-source-out runs
on its training data (``classifiers.build_default``); retraining on a user's
labels keeps the design of the artifact it starts from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .embedding import EMBEDDING_DIM
from .features import DRAFT_TEXT_FEATURES, PROMPT_TEXT_FEATURES
from .scoring import ScoringParams, logit
from .vectors import DRAFT_C, PROMPT_C, Matrices, fit_soft, predict

#: The answer-aware vector's column names, in order.
DRAFT_COLUMNS = tuple(f"prompt_{n}" for n in PROMPT_TEXT_FEATURES) + DRAFT_TEXT_FEATURES
#: The prompt vector's log1p(characters) column.
PROMPT_LENGTH_COLUMN = EMBEDDING_DIM + PROMPT_TEXT_FEATURES.index("log_chars")


@dataclass(frozen=True)
class Design:
    """How the learned parts blend with the priors, and which answer features are dropped."""

    prompt_weight: float = 0.3
    answer_weight: float = 1.0
    answer_prompt_weight: float = 0.5
    dropped: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_card(cls, card: dict) -> Design:
        section = card.get("design")
        if not isinstance(section, dict):
            return cls()
        return cls(
            float(section.get("prompt_weight", cls.prompt_weight)),
            float(section.get("answer_weight", cls.answer_weight)),
            float(section.get("answer_prompt_weight", cls.answer_prompt_weight)),
            tuple(str(n) for n in section.get("dropped", ()) if n in DRAFT_COLUMNS),
        )

    def as_dict(self) -> dict:
        return {
            "prompt_weight": self.prompt_weight,
            "answer_weight": self.answer_weight,
            "answer_prompt_weight": self.answer_prompt_weight,
            "dropped": list(self.dropped),
        }


def drop_columns(x: np.ndarray, dropped: tuple[str, ...]) -> np.ndarray:
    """``x`` with the dropped answer features set to zero: the fitted model then gives them no weight."""
    if not dropped or len(x) == 0:
        return x
    x = x.copy()
    x[:, [DRAFT_COLUMNS.index(n) for n in dropped]] = 0.0
    return x


def _mean_scale(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return 0.0, 1.0
    scale = float(np.std(values))
    return float(np.mean(values)), scale if scale > 1e-9 else 1.0


@dataclass(frozen=True)
class Fitted:
    prompt_model: Any
    draft_model: Any | None
    params: ScoringParams


def fit(data: Matrices, design: Design, *, draft_fallback: Any | None = None, fallback_params=None) -> Fitted:
    """The prompt and answer pipelines fitted on ``data``, and the scoring numbers for ``design``.

    Without answer rows the answer model (and its numbers) come from ``draft_fallback``/``fallback_params``.
    """
    prompt_model = fit_soft(data.prompt_x, data.prompt_t, PROMPT_C)
    length_mean, length_scale = _mean_scale(data.prompt_x[:, PROMPT_LENGTH_COLUMN])
    prompt_mean, prompt_scale = _mean_scale(logit(predict(prompt_model, data.prompt_x)))
    if len(data.draft_t):
        draft_model = fit_soft(drop_columns(data.draft_x, design.dropped), data.draft_t, DRAFT_C)
        answer_mean, answer_scale = _mean_scale(logit(predict(draft_model, data.draft_x)))
    else:
        draft_model = draft_fallback
        old = fallback_params or ScoringParams()
        answer_mean, answer_scale = old.answer_logit_mean, old.answer_logit_scale
    params = ScoringParams(
        length_weight=1.0,
        length_mean=length_mean,
        length_scale=length_scale,
        prompt_weight=design.prompt_weight,
        prompt_logit_mean=prompt_mean,
        prompt_logit_scale=prompt_scale,
        answer_weight=design.answer_weight,
        answer_logit_mean=answer_mean,
        answer_logit_scale=answer_scale,
        answer_prompt_weight=design.answer_prompt_weight,
    )
    return Fitted(prompt_model, draft_model, params)


def answer_coefficients(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Standardised coefficients of an answer model fitted on one data set (for the sign-stability test)."""
    model = fit_soft(x, targets, DRAFT_C)
    return model.named_steps["logit"].coef_[0].copy()


def answer_correlations(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each answer feature's correlation with the target on one data set (0 for a constant feature)."""
    out = np.zeros(x.shape[1])
    for i in range(x.shape[1]):
        if np.std(x[:, i]) > 1e-12 and np.std(targets) > 1e-12:
            out[i] = float(np.corrcoef(x[:, i], targets)[0, 1])
    return out


def sign_flips(values: dict[str, np.ndarray], at_least: float) -> dict[str, dict[str, float]]:
    """Answer features whose value (coefficient or correlation) has opposite signs, each at least ``at_least``."""
    flips = {}
    for i, name in enumerate(DRAFT_COLUMNS):
        per_set = {ds: float(v[i]) for ds, v in values.items()}
        big = [v for v in per_set.values() if abs(v) >= at_least]
        if any(v > 0 for v in big) and any(v < 0 for v in big):
            flips[name] = {ds: round(v, 3) for ds, v in per_set.items()}
    return flips


#: Learned-residual weights tried when retraining on a user's labels (the user's own data may outweigh the prior).
USER_PROMPT_WEIGHTS = (0.3, 1.0, 3.0, 10.0)


def choose_prompt_weight(
    base: Matrices, user: Matrices, groups: list[str], design: Design, folds: int = 3
) -> tuple[float, dict[str, float]]:
    """The prompt-residual weight with the best out-of-fold APGR on the user's own prompts.

    Each fold's model is fitted on ``base`` plus the other folds of ``user``;
    the design's own weight is among the candidates and wins ties.
    """
    from .crossval import fold_of
    from .metrics import apgr
    from .scoring import prompt_logit, sigmoid

    fold = np.asarray([fold_of(g, folds) for g in groups])
    candidates = sorted({design.prompt_weight, *USER_PROMPT_WEIGHTS})
    scores = {w: np.zeros(len(groups)) for w in candidates}
    for k in range(folds):
        held = fold == k
        if not held.any() or held.all():
            continue
        rest = Matrices(user.prompt_x[~held], user.prompt_t[~held], user.draft_x[:0], user.draft_t[:0])
        fitted = fit(base + rest, design)
        learned = predict(fitted.prompt_model, user.prompt_x[held])
        for w in candidates:
            params = ScoringParams(**{**fitted.params.as_dict(), "prompt_weight": w})
            scores[w][held] = sigmoid(prompt_logit(params, user.prompt_x[held, PROMPT_LENGTH_COLUMN], learned))
    results = {str(w): apgr(scores[w], user.prompt_t) for w in candidates}
    best = max(candidates, key=lambda w: (round(results[str(w)], 4), w == design.prompt_weight))
    return best, results
