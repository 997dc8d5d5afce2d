"""Builds a ready Router from settings: backends, classifier, trace store and cache."""

from __future__ import annotations

from pathlib import Path

from hybrid.cache import ResponseCache
from hybrid.errors import HybridError
from hybrid.fallback import RULE_THRESHOLD, GuardedClassifier
from hybrid.router import NullTrace, Router
from hybrid.settings import Paths, Settings
from hybrid.trace import TraceStore
from hybrid.types import DifficultyClassifier


def load_learned_classifier(settings: Settings, paths: Paths) -> DifficultyClassifier:
    """``classifier.path`` if set, else the user's promoted artifact, else the one shipped in the package."""
    from classifiers.difficulty import DifficultyModel
    from classifiers.store import resolve_current

    # score_only: the models are read with numpy alone; skops and scikit-learn stay unimported on this path
    return DifficultyModel(resolve_current(settings.classifier.path, paths.artifacts_dir, score_only=True).artifact)


def classifier_threshold(settings: Settings, paths: Paths) -> float:
    """The current classifier's calibrated threshold, read from its JSON card without loading its models
    (skops and scikit-learn take over a second to import); the rule's threshold when the card is unreadable."""
    import json

    from classifiers.store import packaged_card, promoted_path

    try:
        skops = settings.classifier.path or promoted_path(paths.artifacts_dir)
        card = json.loads(skops.with_suffix(".json").read_text(encoding="utf-8")) if skops else packaged_card()
        return float(card["threshold"])
    except (HybridError, OSError, ValueError, KeyError, TypeError):
        return RULE_THRESHOLD


def load_classifier(settings: Settings, paths: Paths) -> GuardedClassifier:
    """The learned classifier, loaded on first use; if it cannot load or score, the prompt-length rule
    (see hybrid/fallback.py), so a request never fails because of the classifier."""
    return GuardedClassifier(lambda: load_learned_classifier(settings, paths))


def trace_path(settings: Settings, paths: Paths) -> Path:
    return settings.trace.path or paths.trace_db


def open_trace(settings: Settings, paths: Paths) -> TraceStore:
    """The trace store with the configured retention, exporting to OpenTelemetry when ``otel.enabled``."""
    from hybrid.backends import secrets

    store = TraceStore(trace_path(settings, paths), secrets=secrets(settings.backends),
                       keep_days=settings.trace.keep_days, max_mb=settings.trace.max_mb)
    if settings.otel.enabled:
        from hybrid.otel import OtelExport

        OtelExport.over_otlp(store, settings).attach()
    return store


def open_router(settings: Settings, paths: Paths, *, log: bool = True, cache: bool = True) -> Router:
    """The router as the CLI, TUI and demo use it. ``log=False`` is ``--no-log``."""
    from hybrid.backends import build_backends

    trace = open_trace(settings, paths) if (log and settings.trace.enabled) else NullTrace()
    response_cache = (
        ResponseCache(paths.response_cache_dir, size_limit_mb=settings.cache.size_limit_mb)
        if (cache and settings.cache.enabled)
        else None
    )
    return Router(settings, build_backends(settings), load_classifier(settings, paths), trace, response_cache)
