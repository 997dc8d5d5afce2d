"""K-fold cross-validation grouped by prompt, the protocol features and C were chosen by."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from .data import SPLIT_SEED
from .vectors import fit_soft, predict

FOLDS = 5


def fold_of(group: str, folds: int = FOLDS, seed: str = SPLIT_SEED) -> int:
    """The fold of a prompt id: stable, by hash, so all answers to one prompt share a fold."""
    digest = hashlib.sha256(f"{seed}:cv:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def cross_val_scores(
    x: np.ndarray, targets: np.ndarray, groups: Sequence[str], c: float, folds: int = FOLDS
) -> np.ndarray:
    """Out-of-fold scores: each row scored by a model fitted on the other folds."""
    fold = np.asarray([fold_of(g, folds) for g in groups])
    scores = np.zeros(len(x))
    for k in range(folds):
        held = fold == k
        if held.any():
            scores[held] = predict(fit_soft(x[~held], targets[~held], c), x[held])
    return scores
