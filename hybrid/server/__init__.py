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

import errno
import math
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hybrid.errors import ConfigError
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


LISTEN_FIXES = {
    errno.EADDRINUSE: "stop the other server or pass --port N",
    errno.EACCES: "pass --port above 1023 (lower ports need root)",
    errno.EADDRNOTAVAIL: "pass --host an address of this machine (127.0.0.1, or 0.0.0.0 for all of them)",
}


@contextmanager
def listening(host: str, port: int) -> Iterator[list[socket.socket]]:
    """Listening sockets on every address ``host`` names (as asyncio's ``create_server`` binds them), so that the URL ``hybrid serve``
    announces already accepts connections; closed on exit. Port 0 picks a free port, the same one on each address.

    Raises ConfigError naming the address and the fix (port in use, no permission, not this machine's address).
    """
    sockets: list[socket.socket] = []
    try:
        try:
            for family, kind, proto, _, address in dict.fromkeys(
                    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                sock.listen(BACKLOG)  # connections wait in the backlog until uvicorn accepts them
                port = sock.getsockname()[1]
        except OSError as e:  # only binding: an OSError inside the caller's block stays what it is
            reason = (e.strerror or str(e)).lower()
            fix = LISTEN_FIXES[errno.EADDRNOTAVAIL] if isinstance(e, socket.gaierror) else LISTEN_FIXES.get(
                e.errno, "pass another --host or --port")
            raise ConfigError(f"cannot listen on {host}:{port}: {reason}; fix: {fix}") from e
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def serve(router: EventSource, settings: ServerSettings, *, local: list[str], sockets: list[socket.socket]) -> None:
    """Run on ``sockets`` (from :func:`listening`) until Ctrl-C. Refuses a non-loopback host without ``settings.token``."""
    import uvicorn

    check_exposure(settings.host, settings.token)
    uvicorn.Server(uvicorn_config(create_app(router, settings, local=local))).run(sockets=sockets)


__all__ = ["Server", "create_app", "listening", "serve", "uvicorn_config"]
