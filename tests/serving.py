"""Running ``hybrid serve``'s app for tests: uvicorn in a thread on 127.0.0.1, over any router."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
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


class HybridServe:
    """``hybrid serve`` as a real subprocess on a free loopback port, its cloud backends at ``cloud_url``."""

    def __init__(self, home: Path, cloud_url: str, *, api_key: str, extra_env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        from tests.helpers import closed_port

        env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_", "ANTHROPIC_"))}
        env |= {"HYBRID_HOME": str(home), "ANTHROPIC_API_KEY": api_key, **(extra_env or {})}
        for name in ("HAIKU", "SONNET", "OPUS"):
            env |= {f"HYBRID_BACKENDS__{name}__BASE_URL": cloud_url, f"HYBRID_BACKENDS__{name}__MAX_RETRIES": "0"}
        self.env = env
        self.port = closed_port() if port is None else port
        self.base = f"http://127.0.0.1:{self.port}"
        self.announced = ""
        self.trace_db = home / "data" / "trace.db"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90) -> HybridServe:
        self.proc = subprocess.Popen([sys.executable, "-m", "hybrid.cli", "serve", "--port", str(self.port)],
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if self.port == 0:  # the port it picked is only in its first line, printed once the socket is bound
            self.announced = self.proc.stdout.readline()
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+) ", self.announced)
            assert found and found[1] != "0", self.announced + self.proc.stdout.read()
            self.port = int(found[1])
            self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, self.proc.stdout.read()
            assert time.monotonic() < deadline, "hybrid serve did not come up"
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
