"""``hybrid serve``: OpenAI- and Anthropic-compatible HTTP endpoints in front of the router.

- ``POST /v1/chat/completions`` (OpenAI chat format) and ``POST /v1/messages`` (Anthropic Messages),
  streaming or not. ``model``: ``hybrid`` routes, ``hybrid:local`` / ``hybrid:cloud`` pin a tier,
  a backend's name pins it. Routing hints: body ``task`` / ``parent_id`` / ``metadata`` or the
  ``X-Hybrid-Task`` / ``X-Hybrid-Parent`` headers; ``X-Hybrid-Conversation`` and ``X-Hybrid-Local-Only`` set the
  metadata ``conversation_id`` and ``local_only``.
- ``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus text).

Starlette on uvicorn: uvicorn answers malformed HTTP, sets TCP_NODELAY, keeps a 2048 backlog
and closes idle kept-alive connections; the app limits body size and body read time and maps
its own errors to each API's error shape (see ``app.py``).
"""

from __future__ import annotations

import math
from typing import Any

from hybrid.server.app import Server
from hybrid.server.auth import check_exposure
from hybrid.server.bridge import EventSource
from hybrid.server.protocol import with_header_timeout
from hybrid.settings import ServerSettings

BACKLOG = 2048
MAX_HEADER_BYTES = 64 * 1024


def create_app(router: EventSource, settings: ServerSettings, *, local: list[str]) -> Server:
    """The server over ``router``; ``local`` names the local backends (each gets a bounded queue)."""
    return Server(router, settings, local=local)


def uvicorn_config(server: Server, **overrides: Any):
    import uvicorn

    s = server.settings
    options: dict[str, Any] = {
        "host": s.host, "port": s.port, "backlog": BACKLOG, "timeout_keep_alive": max(1, math.ceil(s.keep_alive_s)),
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "log_level": "warning", "access_log": False,
        "server_header": False, "lifespan": "on", "timeout_graceful_shutdown": 5,
        "http": with_header_timeout(s.read_timeout_s),
    }
    return uvicorn.Config(server.app, **(options | overrides))


def serve(router: EventSource, settings: ServerSettings, *, local: list[str]) -> None:
    """Run until Ctrl-C. Refuses a non-loopback host without ``settings.token``."""
    import uvicorn

    check_exposure(settings.host, settings.token)
    uvicorn.Server(uvicorn_config(create_app(router, settings, local=local))).run()


__all__ = ["Server", "create_app", "serve", "uvicorn_config"]
