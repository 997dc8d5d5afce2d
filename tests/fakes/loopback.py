"""What the fake HTTP APIs share: a server on 127.0.0.1:0 in a thread, and a record of what it received."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class _Listener(ThreadingHTTPServer):
    request_queue_size = 256  # the stdlib's 5 drops connections when a load test sends dozens at once
    daemon_threads = True


class LoopbackServer:
    """Base for the fakes: ``with Fake() as api: ... api.url ...``.

    Subclasses set ``requests`` (a list), ``_lock`` and ``_server = None`` and implement ``_handler_class``.
    """

    requests: list[Recorded]
    _lock: threading.Lock
    _server: ThreadingHTTPServer | None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError  # each fake answers its own wire format

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._server = _Listener(("127.0.0.1", 0), self._handler_class())
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        serve.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body))
