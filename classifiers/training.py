"""Retraining on the user's labels, with a held-out comparison before promotion.

``train`` writes a new versioned artifact into the user's data dir, scores
it and the current classifier (the promoted one there, else the packaged
default) on the same held-out prompts, and points ``current.json`` at the
new one only if its APGR, averaged over the modes the holdout covers, is
higher, unless ``force=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrid.errors import ClassifierError

from .calibrate import DEFAULT_ESCALATION_SHARE, calibrate_threshold
from .card import examples_sha256, make_card, now_version
from .data import SPLIT_SEED, Example, in_holdout, read_labels
from .embedding import StaticEmbedder
from .metrics import RoutingMetrics, routing_metrics
from .store import load_current, packaged_card, packaged_features, promote, write_artifact
from .vectors import DRAFT_C, PROMPT_C, Matrices, Progress, featurize, fit_soft, no_progress, predict

BASES = ("default", "none")
MIN_EXAMPLES = 10


@dataclass(frozen=True)
class ModeComparison:
    """New vs current classifier on the held-out examples of one mode."""

    mode: str
    new: RoutingMetrics
    current: RoutingMetrics


@dataclass(frozen=True)
class TrainResult:
    version: str
    path: Path
    promoted: bool
    reason: str
    comparisons: tuple[ModeComparison, ...]
    n_train: int
    n_holdout: int


def _read_strict(path: Path) -> list[Example]:
    examples, errors = read_labels(Path(path))
    if errors:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ClassifierError(f"{path}: {len(errors)} bad label line(s): {shown}{more}; fix: correct or remove them")
    return examples


def _split(
    examples: list[Example], holdout: Path | None, share: float, seed: str
) -> tuple[list[Example], list[Example]]:
    if holdout is not None:
        return examples, _read_strict(holdout)
    held = [e for e in examples if in_holdout(e.group, share, seed)]
    kept = [e for e in examples if not in_holdout(e.group, share, seed)]
    return kept, held


def _score(artifact_models: tuple[Any, Any], m: Matrices) -> dict[str, RoutingMetrics]:
    out = {"prompt": routing_metrics(predict(artifact_models[0], m.prompt_x), m.prompt_t)}
    if len(m.draft_t):
        out["draft"] = routing_metrics(predict(artifact_models[1], m.draft_x), m.draft_t)
    return out


def _training_section(base: str, labels: Path, train_ex: list[Example]) -> dict:
    section = {
        "base": base,
        "user_labels": str(labels),
        "user_examples": len(train_ex),
        "user_data_sha256": examples_sha256(train_ex),
    }
    if base == "default":
        section["shipped"] = packaged_card().get("training", {})
        section["licence"] = (
            "Includes the shipped AlpacaEval-derived features and labels: data CC BY-NC 4.0 "
            "(non-commercial use only), plus the user's own labels."
        )
    else:
        section["licence"] = "The user's own labels only; their licence is the user's."
    return section


def train(
    labels: Path,
    out_dir: Path,
    *,
    base: str = "default",
    force: bool = False,
    progress: Progress = no_progress,
    holdout_labels: Path | None = None,
    holdout_share: float = 0.2,
    seed: str = SPLIT_SEED,
    embedder: StaticEmbedder | None = None,
) -> TrainResult:
    """Train on ``labels`` (+ the shipped data if ``base="default"``), write and maybe promote.

    ``out_dir`` is the user's classifier folder; the new artifact is written
    there whether or not it is promoted. The holdout is ``holdout_share`` of
    the label file's prompts (by hash), or ``holdout_labels`` when given.
    ``progress(stage, done, total)`` is called throughout.
    """
    if base not in BASES:
        raise ClassifierError(f"unknown base {base!r}; fix: use one of {', '.join(BASES)}")
    out_dir = Path(out_dir)
    examples = _read_strict(labels)
    train_ex, held_ex = _split(examples, holdout_labels, holdout_share, seed)
    if len(train_ex) < MIN_EXAMPLES or not held_ex:
        raise ClassifierError(
            f"{labels}: {len(train_ex)} training and {len(held_ex)} held-out examples; "
            f"fix: label at least {MIN_EXAMPLES} prompts for training and a few more for the holdout "
            "(or pass holdout_labels)"
        )
    current = load_current(out_dir)
    embedder = embedder if embedder is not None else StaticEmbedder()

    user = featurize(train_ex, train_ex, embedder, progress, "features")
    held = featurize(held_ex, held_ex, embedder, progress, "holdout features")
    data = user
    if base == "default":
        shipped = packaged_features()
        data = Matrices(shipped["prompt_x"], shipped["prompt_t"], shipped["draft_x"], shipped["draft_t"]) + user

    progress("fit", 0, 2)
    prompt_model = fit_soft(data.prompt_x, data.prompt_t, PROMPT_C)
    progress("fit", 1, 2)
    draft_trained = len(data.draft_t) > 0
    draft_model = fit_soft(data.draft_x, data.draft_t, DRAFT_C) if draft_trained else current.draft_model
    progress("fit", 2, 2)

    new_metrics = _score((prompt_model, draft_model), held)
    current_metrics = _score((current.prompt_model, current.draft_model), held)
    comparisons = tuple(ModeComparison(m, new_metrics[m], current_metrics[m]) for m in new_metrics)
    gain = float(np.mean([c.new.apgr - c.current.apgr for c in comparisons]))
    better = gain > 0
    promoted = better or force
    reason = f"held-out APGR {'+' if gain >= 0 else ''}{gain:.3f} vs current {current.version}: " + (
        "promoted" if better else ("promoted anyway (force)" if force else "not promoted, the current classifier stays")
    )

    share = float(current.card.get("escalation_share", DEFAULT_ESCALATION_SHARE))
    version = now_version("user")
    training = _training_section(base, Path(labels), train_ex)
    training["draft_model"] = (
        "trained" if draft_trained else f"carried over from {current.version} (no answers in the labels)"
    )
    card = make_card(
        version=version,
        threshold=calibrate_threshold(predict(prompt_model, data.prompt_x), share),
        draft_threshold=(
            calibrate_threshold(predict(draft_model, data.draft_x), share) if draft_trained else current.draft_threshold
        ),
        escalation_share=share,
        training=training,
        metrics={"holdout": dict(new_metrics), "holdout_current": dict(current_metrics)},
        embedder=embedder,
        hyperparameters={"prompt_C": PROMPT_C, "draft_C": DRAFT_C, "holdout_share": holdout_share},
    )
    progress("write", 0, 1)
    path = write_artifact(out_dir, version, prompt_model, draft_model, card)
    if promoted:
        promote(out_dir, path)
    progress("write", 1, 1)
    return TrainResult(version, path, promoted, reason, comparisons, len(train_ex), len(held_ex))
