"""Builds a ready Router from settings: backends, classifier, trace store and cache."""

from __future__ import annotations

from pathlib import Path

from hybrid.cache import ResponseCache
from hybrid.router import NullTrace, Router
from hybrid.settings import Paths, Settings
from hybrid.trace import TraceStore
from hybrid.types import DifficultyClassifier


def load_classifier(settings: Settings, paths: Paths) -> DifficultyClassifier:
    """``classifier.path`` if set, else the user's promoted artifact, else the one shipped in the package."""
    import classifiers

    if settings.classifier.path is not None:
        from classifiers.store import load_file

        return classifiers.DifficultyModel(load_file(settings.classifier.path))
    return classifiers.load_classifier(paths.artifacts_dir)


def trace_path(settings: Settings, paths: Paths) -> Path:
    return settings.trace.path or paths.trace_db


def open_trace(settings: Settings, paths: Paths) -> TraceStore:
    """The trace store with the configured retention, exporting to OpenTelemetry when ``otel.enabled``."""
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
    store = TraceStore(trace_path(settings, paths), secrets=[key], keep_days=settings.trace.keep_days,
                       max_mb=settings.trace.max_mb)
    if settings.otel.enabled:
        from hybrid.otel import OtelExport

        OtelExport.over_otlp(store, settings).attach()
    return store


def open_router(settings: Settings, paths: Paths, *, log: bool = True, cache: bool = True) -> Router:
    """The router as the CLI, TUI and demo use it. ``log=False`` is ``--no-log``."""
    from models import build_backends

    trace = open_trace(settings, paths) if (log and settings.trace.enabled) else NullTrace()
    response_cache = (
        ResponseCache(paths.response_cache_dir, size_limit_mb=settings.cache.size_limit_mb)
        if (cache and settings.cache.enabled)
        else None
    )
    return Router(settings, build_backends(settings), load_classifier(settings, paths), trace, response_cache)
