"""hybrid: a local-first hybrid inference router.

    from hybrid import Paths, Request, load_settings, open_router

    paths = Paths.resolve()
    router = open_router(load_settings(paths), paths)
    completion = router.complete(Request.from_prompt("Classify the sentiment: I loved it", task="classify"))
    print(completion.text, completion.backend, completion.decision.explain())

The names below are imported on first use, so ``import hybrid.trace`` (the dashboard, ``hybrid logs``) does not
load the router, its privacy scanner and settings models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BackendError": "hybrid.errors",
    "BackendUnavailable": "hybrid.errors",
    "ClassifierError": "hybrid.errors",
    "ConfigError": "hybrid.errors",
    "HybridError": "hybrid.errors",
    "RequestError": "hybrid.errors",
    "Router": "hybrid.router",
    "open_router": "hybrid.runtime",
    "Paths": "hybrid.settings",
    "Settings": "hybrid.settings",
    "load_settings": "hybrid.settings",
    "Completion": "hybrid.types",
    "Decision": "hybrid.types",
    "Message": "hybrid.types",
    "Request": "hybrid.types",
    "Usage": "hybrid.types",
}

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ClassifierError",
    "Completion",
    "ConfigError",
    "Decision",
    "HybridError",
    "Message",
    "Paths",
    "Request",
    "RequestError",
    "Router",
    "Settings",
    "Usage",
    "load_settings",
    "open_router",
]

if TYPE_CHECKING:
    from hybrid.errors import BackendError, BackendUnavailable, ClassifierError, ConfigError, HybridError, RequestError
    from hybrid.router import Router
    from hybrid.runtime import open_router
    from hybrid.settings import Paths, Settings, load_settings
    from hybrid.types import Completion, Decision, Message, Request, Usage


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hybrid' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
