"""hybrid: a local-first hybrid inference router.

    from hybrid import Paths, Request, load_settings, open_router

    paths = Paths.resolve()
    router = open_router(load_settings(paths), paths)
    completion = router.complete(Request.from_prompt("Classify the sentiment: I loved it", task="classify"))
    print(completion.text, completion.backend, completion.decision.explain())
"""

from hybrid.errors import BackendError, BackendUnavailable, ClassifierError, ConfigError, HybridError, RequestError
from hybrid.router import Router
from hybrid.runtime import open_router
from hybrid.settings import Paths, Settings, load_settings
from hybrid.types import Completion, Decision, Message, Request, Usage

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
