"""Turning labelled examples into feature matrices, and fitting the two pipelines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .data import Example
from .embedding import StaticEmbedder
from .features import DRAFT_VECTOR_SIZE, PROMPT_VECTOR_SIZE, draft_vector, prompt_vector

#: ``progress(stage, done, total)``: called as work advances, for a bar in the CLI or TUI.
Progress = Callable[[str, int, int], None]

#: Inverse regularisation strength of each mode's logistic regression, chosen
#: by 5-fold cross-validation on the AlpacaEval train+validation prompts.
PROMPT_C = 0.001
DRAFT_C = 0.3


def no_progress(stage: str, done: int, total: int) -> None:
    """A progress callback that ignores progress."""


@dataclass(frozen=True)
class Matrices:
    """Feature rows and targets for both modes (draft rows only for examples with answers)."""

    prompt_x: np.ndarray
    prompt_t: np.ndarray
    draft_x: np.ndarray
    draft_t: np.ndarray

    @classmethod
    def empty(cls) -> Matrices:
        return cls(
            np.zeros((0, PROMPT_VECTOR_SIZE), np.float32),
            np.zeros(0),
            np.zeros((0, DRAFT_VECTOR_SIZE), np.float32),
            np.zeros(0),
        )

    def __add__(self, other: Matrices) -> Matrices:
        return Matrices(
            np.vstack([self.prompt_x, other.prompt_x]).astype(np.float32),
            np.concatenate([self.prompt_t, other.prompt_t]),
            np.vstack([self.draft_x, other.draft_x]).astype(np.float32),
            np.concatenate([self.draft_t, other.draft_t]),
        )


def featurize(
    prompt_rows: Sequence[Example],
    draft_rows: Sequence[Example],
    embedder: StaticEmbedder,
    progress: Progress = no_progress,
    stage: str = "features",
) -> Matrices:
    """Vectors for ``prompt_rows`` (prompt only) and ``draft_rows`` (those with an answer)."""
    draft_rows = [e for e in draft_rows if e.answer is not None]
    total = len(prompt_rows) + len(draft_rows)
    cache: dict[str, np.ndarray] = {}

    def emb(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = embedder.embed(text)
        return cache[text]

    px, dx = [], []
    for i, e in enumerate(prompt_rows):
        px.append(prompt_vector(e.prompt, emb(e.prompt)))
        progress(stage, i + 1, total)
    for i, e in enumerate(draft_rows):
        dx.append(draft_vector(e.prompt, e.answer))
        progress(stage, len(prompt_rows) + i + 1, total)
    empty = Matrices.empty()
    return Matrices(
        np.asarray(px, np.float32) if px else empty.prompt_x,
        np.asarray([e.target for e in prompt_rows], np.float64),
        np.asarray(dx, np.float32) if dx else empty.draft_x,
        np.asarray([e.target for e in draft_rows], np.float64),
    )


def fit_soft(x: np.ndarray, targets: np.ndarray, c: float):
    """A StandardScaler + LogisticRegression pipeline fitted on soft targets in [0, 1].

    Each row appears twice, as class 1 with weight ``t`` and class 0 with
    weight ``1 - t``: the log-loss against the soft target.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline([("scale", StandardScaler()), ("logit", LogisticRegression(C=c, max_iter=3000))])
    n = len(x)
    y = np.concatenate([np.ones(n), np.zeros(n)])
    w = np.concatenate([targets, 1.0 - targets])
    model.fit(np.vstack([x, x]), y, logit__sample_weight=w)
    return model


def predict(model, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    return model.predict_proba(x)[:, 1]
