"""Evaluating a classifier on labelled examples, next to baselines, and drawing the curve.

Both modes are reported when the labels allow: prompt-only (every example's
prompt) and answer-aware (examples with an answer, scored as the cascade
scores its drafts: checks, agreement with further ``answers``, learned
score). Scores come from the same :class:`DifficultyModel` methods the router
and ``hybrid classify`` call. Baselines are computed on the same examples in
the same call: random routing, prompt length (longer = harder), the oracle
(each item's gain itself: the best any scorer can do) and, for drafts,
answer shortness (shorter = worse). Quality per item is its weak and strong
quality (see :mod:`classifiers.metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrid.errors import ClassifierError
from hybrid.types import DraftAssessment

from .data import Example, label_kinds, read_labels
from .difficulty import DifficultyModel
from .jsonl import LineError
from .metrics import RoutingMetrics, pgr_curve, quality_metrics
from .vectors import Progress, no_progress


@dataclass(frozen=True)
class ModeReport:
    """One mode's metrics with its baselines, and the model's cost/quality curve."""

    mode: str
    model: RoutingMetrics
    baselines: dict[str, RoutingMetrics]
    curve: tuple[tuple[float, float], ...]

    def rows(self) -> list[tuple[str, RoutingMetrics]]:
        return [("classifier", self.model), *self.baselines.items()]


@dataclass(frozen=True)
class EvalReport:
    version: str
    prompt: ModeReport | None
    draft: ModeReport | None
    errors: tuple[LineError, ...] = ()
    notes: tuple[str, ...] = ()
    """What a reader of the table must know, e.g. that AUC could not be measured on labels of one kind."""

    def modes(self) -> list[ModeReport]:
        return [m for m in (self.prompt, self.draft) if m is not None]

    def table(self) -> str:
        """A plain-text table: one row per mode and scorer."""
        lines = [f"{'mode':7} {'scorer':13} {'n':>5} {'AUC':>6} {'APGR':>6} {'CPT50':>6} {'CPT80':>6}"]
        for m in self.modes():
            for name, r in m.rows():
                lines.append(f"{m.mode:7} {name:13} {r.n:5d} {r.auc:6.3f} {r.apgr:6.3f} {r.cpt50:6.3f} {r.cpt80:6.3f}")
        return "\n".join(lines)


def mode_report(mode: str, scores: np.ndarray, examples: Sequence[Example]) -> ModeReport:
    """``scores`` of ``examples`` beside the baselines, on each example's weak and strong quality."""
    weak = np.array([e.weak_quality for e in examples])
    strong = np.array([e.strong for e in examples])

    def metrics(s) -> RoutingMetrics:
        return quality_metrics(np.asarray(s, float), weak, strong)

    baselines = {
        "random": metrics(np.zeros(len(examples))),
        "prompt_length": metrics([len(e.prompt) for e in examples]),
    }
    if mode == "draft":
        baselines["short_answer"] = metrics([-len(e.answer or "") for e in examples])
    baselines["oracle"] = metrics(strong - weak)
    share, pgr = pgr_curve(scores, strong - weak)
    return ModeReport(mode, metrics(scores), baselines, tuple(zip(share.tolist(), pgr.tolist())))


def prompt_scores(classifier: DifficultyModel, examples: Sequence[Example], progress: Progress = no_progress):
    """Each example's prompt-only score, as ``hybrid classify`` and the router compute it."""
    out = []
    for i, e in enumerate(examples):
        out.append(classifier.score_prompt(e.prompt))
        progress("evaluate", i + 1, len(examples))
    return np.asarray(out)


def draft_assessments(
    classifier: DifficultyModel, examples: Sequence[Example], progress: Progress = no_progress
) -> list[DraftAssessment]:
    """Each example's cascade verdict over its drafts, as ``hybrid classify`` and the cascade compute it."""
    out = []
    for i, e in enumerate(examples):
        out.append(classifier.assess(e.prompt, e.drafts()))
        progress("evaluate", i + 1, len(examples))
    return out


def draft_scores(classifier: DifficultyModel, examples: Sequence[Example], progress: Progress = no_progress):
    """Each example's answer-aware score over its drafts (see :func:`draft_assessments`)."""
    return np.asarray([a.score for a in draft_assessments(classifier, examples, progress)])


def evaluate_examples(
    classifier: DifficultyModel, examples: Sequence[Example], progress: Progress = no_progress
) -> EvalReport:
    if not examples:
        raise ClassifierError("nothing to evaluate: no labelled examples; fix: pass a non-empty label file")
    drafts = [e for e in examples if e.answer is not None]
    total = len(examples) + len(drafts)
    prompt = mode_report("prompt", prompt_scores(classifier, examples, progress), examples)

    def later(stage: str, done: int, n: int) -> None:
        progress(stage, len(examples) + done, total)

    draft = mode_report("draft", draft_scores(classifier, drafts, later), drafts) if drafts else None
    return EvalReport(classifier.version, prompt, draft, notes=_label_notes(examples))


def _label_notes(examples: Sequence[Example]) -> tuple[str, ...]:
    hard, good = label_kinds(list(examples))
    if hard and good:
        return ()
    kind = "needed the frontier model" if hard else "was good enough locally"
    note = (f"every label says the request {kind}: AUC needs both kinds and shows 0.500; add labels of the "
            "other kind to measure it")
    return (note,)


def evaluate(classifier: DifficultyModel, labels: Path, progress: Progress = no_progress) -> EvalReport:
    """AUC, APGR, CPT(50%), CPT(80%) of ``classifier`` on a label file, with baselines.

    Malformed lines are skipped and listed in ``EvalReport.errors``.
    """
    examples, errors = read_labels(Path(labels))
    report = evaluate_examples(classifier, examples, progress)
    return EvalReport(report.version, report.prompt, report.draft, tuple(errors), report.notes)


def plot_curve(report: EvalReport, path: Path) -> Path:
    """Draw the share-of-gap-recovered vs share-escalated curve of each mode to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    try:
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="random (APGR 0.500)")
        for mode in report.modes():
            xs, ys = zip(*mode.curve)
            ax.plot(xs, ys, label=f"{mode.mode} (APGR {mode.model.apgr:.3f})")
        ax.set_xlabel("share of requests escalated to the frontier model (cost)")
        ax.set_ylabel("share of quality gap recovered (PGR)")
        ax.set_title(f"hybrid difficulty classifier {report.version}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right")
        fig.tight_layout()
        path = Path(path)
        try:
            fig.savefig(path, format="png")
        except OSError as e:
            raise ClassifierError(f"cannot write the curve to {path}: {e.strerror or e}; fix: pass --plot a path "
                                  "in a folder that exists and that you can write to") from e
    finally:
        plt.close(fig)
    return path
