"""Retraining on the user's labels, with a held-out comparison before promotion.

``train`` writes a new versioned artifact into the user's data dir, scores
it and the current classifier (see :func:`classifiers.store.resolve_current`)
on the same held-out examples through the same scoring path the router uses,
and makes the new one current (:func:`classifiers.store.promote_current`)
only if its APGR, averaged over the modes the holdout covers, is higher,
unless ``force=True``. A mode whose held-out labels are all one kind is not
compared (AUC and APGR need both); with no mode left, nothing is promoted
unless ``force=True``, and the reason says why. With ``classifier.path`` configured, that file stays in
use and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hybrid.errors import ClassifierError

from .blend import PROMPT_LENGTH_COLUMN, Design, choose_prompt_weight, fit
from .calibrate import DEFAULT_ESCALATION_SHARE, calibrate_threshold
from .card import examples_sha256, make_card, now_version
from .data import SPLIT_SEED, Example, in_holdout, label_kinds, read_labels
from .difficulty import DifficultyModel
from .embedding import StaticEmbedder
from .evaluation import draft_scores, prompt_scores
from .metrics import RoutingMetrics
from .scoring import prompt_logit, sigmoid
from .store import Artifact, packaged_card, packaged_features, promote_current, resolve_current, write_artifact
from .vectors import DRAFT_C, PROMPT_C, Matrices, Progress, featurize, no_progress, predict

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
    previous: str
    """The version that was current when training started (the one a promotion replaced)."""


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


def _comparable(held: list[Example]) -> dict[str, list[Example]]:
    """The held-out examples of each mode whose labels hold both kinds: with one kind, AUC and APGR measure
    nothing (every classifier scores 0.500), so that mode is not compared."""
    modes = {"prompt": held, "draft": [e for e in held if e.answer is not None]}
    return {mode: examples for mode, examples in modes.items() if all(label_kinds(examples))}


def _score(classifier: DifficultyModel, modes: dict[str, list[Example]]) -> dict[str, RoutingMetrics]:
    from .evaluation import mode_report

    scorers = {"prompt": prompt_scores, "draft": draft_scores}
    return {mode: mode_report(mode, scorers[mode](classifier, held), held).model for mode, held in modes.items()}


def _one_kind(held: list[Example]) -> str:
    hard, good = label_kinds(held)
    kind = "needed the frontier model" if hard else "was good enough locally"
    return (f"no held-out comparison: all {hard + good} held-out labels say the request {kind}, and AUC and APGR "
            "need both kinds; ")


def _training_section(base: str, labels: Path, train_ex: list[Example]) -> dict:
    section = {
        "base": base,
        "user_labels": str(labels),
        "user_examples": len(train_ex),
        "user_data_sha256": examples_sha256(train_ex),
    }
    if base == "default":
        section["shipped"] = packaged_card().get("training", {})
        shipped = section["shipped"]
        section["licence"] = f"Includes the shipped training data ({shipped.get('licence', 'see shipped')}), plus the user's own labels."
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
    configured: Path | None = None,
) -> TrainResult:
    """Train on ``labels`` (+ the shipped data if ``base="default"``), write and maybe promote.

    ``out_dir`` is the user's classifier folder; the new artifact is written
    there whether or not it is promoted. The holdout is ``holdout_share`` of
    the label file's prompts (by hash), or ``holdout_labels`` when given.
    ``progress(stage, done, total)`` is called throughout. ``configured`` is
    the ``classifier.path`` setting: when set, that artifact is the current one
    and stays in use.
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
            "(`hybrid feedback ID good|bad`, `hybrid label --judge`, or a `--labels` file; from Python, "
            "holdout_labels= gives the holdout separately)"
        )
    current = resolve_current(configured, out_dir)
    embedder = embedder if embedder is not None else StaticEmbedder()

    user = featurize(train_ex, train_ex, embedder, progress, "features")
    base_data = Matrices.empty()
    if base == "default":
        shipped = packaged_features()
        base_data = Matrices(shipped["prompt_x"], shipped["prompt_t"], shipped["draft_x"], shipped["draft_t"])
    data = base_data + user

    progress("fit", 0, 2)
    design = Design.from_card(current.artifact.card if base == "none" else packaged_card())
    weight, tried = choose_prompt_weight(base_data, user, [e.group for e in train_ex], design)
    design = replace(design, prompt_weight=weight)
    old = DifficultyModel(current.artifact, embedder=embedder)
    fitted = fit(data, design, draft_fallback=current.artifact.draft_model, fallback_params=old.params)
    draft_trained = len(data.draft_t) > 0
    progress("fit", 2, 2)

    share = float(current.artifact.card.get("escalation_share", DEFAULT_ESCALATION_SHARE))
    version = now_version("user")
    training = _training_section(base, Path(labels), train_ex)
    training["draft_model"] = (
        "trained" if draft_trained else f"carried over from {current.artifact.version} (no answers in the labels)"
    )
    log_chars = data.prompt_x[:, PROMPT_LENGTH_COLUMN]
    train_prompt_scores = sigmoid(prompt_logit(fitted.params, log_chars, predict(fitted.prompt_model, data.prompt_x)))
    card = make_card(
        version=version,
        threshold=calibrate_threshold(train_prompt_scores, share),
        draft_threshold=current.artifact.draft_threshold,
        escalation_share=share,
        training=training,
        metrics={},
        embedder=embedder,
        hyperparameters={"prompt_C": PROMPT_C, "draft_C": DRAFT_C, "holdout_share": holdout_share},
        scoring=fitted.params.as_dict(),
        design={**design.as_dict(), "prompt_weight_cv_apgr": tried},
    )
    new = DifficultyModel(Artifact(fitted.prompt_model, fitted.draft_model, card, "new"), embedder=embedder)
    user_drafts = [e for e in train_ex if e.answer is not None]
    if len(user_drafts) >= MIN_EXAMPLES:
        card["draft_threshold"] = calibrate_threshold(draft_scores(new, user_drafts), share)
        card["draft_threshold_rule"] = f"calibrated to {share:.0%} escalations on the user's training drafts"

    progress("holdout", 0, 2)
    modes = _comparable(held_ex)
    new_metrics = _score(new, modes)
    progress("holdout", 1, 2)
    current_metrics = _score(old, modes)
    progress("holdout", 2, 2)
    card["metrics"] = {
        "holdout": {m: r.as_dict() for m, r in new_metrics.items()},
        "holdout_current": {m: r.as_dict() for m, r in current_metrics.items()},
    }
    comparisons = tuple(ModeComparison(m, new_metrics[m], current_metrics[m]) for m in new_metrics)
    if comparisons:
        gain = float(np.mean([c.new.apgr - c.current.apgr for c in comparisons]))
        better = gain > 0
        verdict = f"held-out APGR {'+' if gain >= 0 else ''}{gain:.3f} vs current {current.describe()}: "
    else:
        better, verdict = False, _one_kind(held_ex)

    progress("write", 0, 1)
    path = write_artifact(out_dir, version, fitted.prompt_model, fitted.draft_model, card)
    promoted = False
    if better or force:
        promoted, what = promote_current(configured, out_dir, path)
        reason = verdict + ("promoted" if better else "promoted anyway (force)") + f", {what}"
        if not promoted:
            reason = verdict + f"{'better' if better else 'forced'}, not promoted: {what}"
    else:
        reason = verdict + "not promoted, the current classifier stays"
    progress("write", 1, 1)
    return TrainResult(version, path, promoted, reason, comparisons, len(train_ex), len(held_ex),
                       current.artifact.version)
