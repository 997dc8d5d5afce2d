"""A router whose cloud backends are the real Anthropic backend talking to the fake Messages API on 127.0.0.1,
and whose local backend is a FakeBackend (no model time)."""

from __future__ import annotations

import json
from pathlib import Path

from hybrid.router import Router
from hybrid.trace import TraceStore
from models.anthropic import build
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_settings


def cloud_router(tmp_path: Path, api: FakeAnthropicAPI, *, score: float = 0.9, local_ok: bool = True,
                 trace: TraceStore | None = None, **overrides):
    overrides.setdefault("anthropic_api_key", DEFAULT_KEY)
    settings = fake_settings(tmp_path / "home", **overrides)
    backends = {"smollm2": FakeBackend("smollm2", ok=local_ok)}
    for name, spec in settings.backends.items():
        if spec.type == "anthropic":
            backends[name] = build(name, spec.model_copy(update={"base_url": api.url, "max_retries": 0}))
    trace = trace or TraceStore(tmp_path / "trace.db")
    return Router(settings, backends, FixedClassifier(score), trace), backends, trace


def received(api: FakeAnthropicAPI) -> str:
    """Everything the fake cloud received: paths, headers and bodies, as one text."""
    return "\n".join(f"{r.method} {r.path} {json.dumps(r.headers)} {json.dumps(r.body, ensure_ascii=False)}"
                     for r in api.requests)
