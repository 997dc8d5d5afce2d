"""Running ``hybrid serve``'s app for tests: uvicorn in a thread on 127.0.0.1, over any router."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from hybrid.server import create_app, uvicorn_config
from hybrid.server.app import Server
from hybrid.settings import ServerSettings
from hybrid.types import Chunk
from tests.fakes.backend import FakeBackend


class GatedBackend(FakeBackend):
    """A fake local model that holds every answer until ``gate`` is set (to fill queues, or cancel mid-answer)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def stream(self, request):
        self.started.release()
        while not self.gate.wait(0.01):
            yield Chunk()  # nothing yet: lets the router look at its cancel flag
        yield from super().stream(request)


@contextmanager
def serving(router: Any, *, local: list[str] | None = None, **settings: Any) -> Iterator[tuple[str, Server]]:
    """Yield (base URL, Server) for ``router`` served by uvicorn on a free loopback port."""
    server = create_app(router, ServerSettings(**settings), local=local if local is not None else ["smollm2"])
    uv = uvicorn.Server(uvicorn_config(server, port=0))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        uv.should_exit = True
        thread.join(10)
