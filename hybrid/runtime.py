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
    from classifiers.store import resolve_current

    return classifiers.DifficultyModel(resolve_current(settings.classifier.path, paths.artifacts_dir).artifact)


def trace_path(settings: Settings, paths: Paths) -> Path:
    return settings.trace.path or paths.trace_db


def open_trace(settings: Settings, paths: Paths) -> TraceStore:
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
    return TraceStore(trace_path(settings, paths), secrets=[key])


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
