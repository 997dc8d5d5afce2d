"""hybrid's difficulty classifier: P(the request needs the frontier model).

Public API::

    load_classifier(data_dir=None) -> DifficultyModel      # promoted user artifact, else packaged default
    resolve_current(configured_path, data_dir) -> Current  # THE place that decides which artifact is in use
    DifficultyModel.score(request) / .assess_drafts(request, drafts) / .score_draft(request, draft)
                                                           # the DifficultyClassifier protocol (classifiers.scoring)
    train(labels, out_dir, base="default", force=False, progress=...) -> TrainResult
    evaluate(classifier, labels) -> EvalReport ; plot_curve(report, png_path)
    classify_file(classifier, input_path, output_path=None) -> ClassifyResult
    calibrate_threshold(scores, target_share) -> float
    readable_threshold(scores, threshold) -> float ; escalating(scores, threshold) -> int

Importing this package loads nothing (not even numpy): names resolve on first
access, and the embedder reads its tokenizer and word-embedding table on a
classifier's first prompt score, so the core stays cheap to import.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DEFAULT_ESCALATION_SHARE": "calibrate",
    "calibrate_threshold": "calibrate",
    "escalating": "calibrate",
    "readable_threshold": "calibrate",
    "DraftRules": "cascade",
    "DraftSignals": "cascade",
    "ClassifyResult": "batch",
    "Scored": "batch",
    "classify_file": "batch",
    "DifficultyModel": "difficulty",
    "load_classifier": "difficulty",
    "EvalReport": "evaluation",
    "ModeReport": "evaluation",
    "evaluate": "evaluation",
    "evaluate_examples": "evaluation",
    "plot_curve": "evaluation",
    "LineError": "jsonl",
    "RoutingMetrics": "metrics",
    "Current": "store",
    "resolve_current": "store",
    "ModeComparison": "training",
    "TrainResult": "training",
    "train": "training",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'classifiers' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
