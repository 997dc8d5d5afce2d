"""Builders shared by the router tests."""

from __future__ import annotations

from pathlib import Path

from hybrid.router import Router
from hybrid.settings import Paths, Settings, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Price
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier


def fake_settings(home: Path, **overrides) -> Settings:
    return load_settings(Paths.resolve({"HYBRID_HOME": str(home)}), **overrides)


def fake_router(tmp_path: Path, *, cloud_ok: bool = True, local_ok: bool = True, classifier=None, secrets=(),
                **overrides):
    """A router over fake backends named like the defaults: smollm2 (local) and haiku/sonnet/opus (cloud)."""
    settings = fake_settings(tmp_path / "home", **overrides)
    backends = {"smollm2": FakeBackend("smollm2", ok=local_ok)}
    for name, spec in settings.backends.items():
        if name != "smollm2":
            backends[name] = FakeBackend(
                name, is_local=spec.type == "llamacpp", ok=cloud_ok, model=spec.model,
                price=Price(spec.price_input, spec.price_output),
            )
    trace = TraceStore(tmp_path / "trace.db", secrets=secrets)
    router = Router(settings, backends, classifier or FixedClassifier(), trace)
    return router, backends, trace


def stream_all(backend, request):
    """Drain a backend's stream: (text, final chunk), checking that the final count comes last, with the finish
    reason, and that a usage chunk before it (the prompt's count, known early) carries no text."""
    chunks = list(backend.stream(request))
    assert chunks[-1].text == "" and chunks[-1].usage is not None and chunks[-1].finish_reason
    assert all(c.finish_reason is None and (c.usage is None or not c.text) for c in chunks[:-1])
    return "".join(c.text for c in chunks), chunks[-1]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cancelled_at(router, request, event_type):
    """All the events of ``router.run(request)``, setting its cancel event as soon as one of ``event_type`` arrives."""
    import threading

    cancel = threading.Event()
    events = []
    for event in router.run(request, cancel=cancel):
        events.append(event)
        if isinstance(event, event_type):
            cancel.set()
    return events
