"""Prometheus metrics for one server, in its own ``CollectorRegistry`` (no process-wide globals).

Two feeds. Each request's router events (``RequestMetrics``) give requests by API, outcome and
backend, escalations, fallbacks, latency, and requests turned away with 429. Tokens and cost
come from each backend call as the router traces it (``MeteredTrace`` sees every ``backend_call``
step): a cascade's rejected draft counts for the local model that wrote it, a cancelled or failed
call that was billed counts for its backend, and a cache hit, never sent to a model, counts in
``hybrid_cache_tokens_total`` and not in ``hybrid_tokens_total``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hybrid.errors import RequestCancelled
from hybrid.events import Decided, Done, DraftDiscarded, Event, Failed, FellBack
from hybrid.server.bridge import QueueFull

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("hybrid_requests", "Requests by API, outcome and backend (the one that answered, "
                                "else the one it was routed to)", ["api", "outcome", "backend"], registry=r)
        self.escalations = Counter("hybrid_escalations", "Requests sent to the cloud (decided or cascaded)",
                                   ["backend"], registry=r)
        self.fallbacks = Counter("hybrid_fallbacks", "Backend failures handed to the next backend",
                                 ["from_backend", "to_backend"], registry=r)
        self.cost = Counter("hybrid_cost_usd", "US dollars billed by each backend's calls (failed and cancelled "
                            "ones included)", ["backend"], registry=r)
        self.tokens = Counter("hybrid_tokens", "Tokens of each backend's calls, by direction (cache hits excluded)",
                              ["backend", "direction"], registry=r)
        self.cache_tokens = Counter("hybrid_cache_tokens", "Tokens of answers served from the response cache "
                                    "(never sent to the backend), by backend and direction",
                                    ["backend", "direction"], registry=r)
        self.latency = Histogram("hybrid_request_latency_seconds", "Time to the whole answer, by backend",
                                 ["backend"], buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("hybrid_rejected", "Requests turned away with 429 (a local model's queue was full)",
                                ["backend"], registry=r)
        self.queued = Gauge("hybrid_local_queue", "Requests admitted per local model (running or waiting)",
                            ["backend"], registry=r)

    def request(self, api: str) -> RequestMetrics:
        """The observer of one request's router events."""
        return RequestMetrics(self, api)

    def refused(self, api: str) -> None:
        """A request the server refused before the router saw it (a 400 or 404 for its body)."""
        self.requests.labels(api, "failed", "").inc()

    def step(self, kind: str, backend: str | None, input_tokens: int | None, output_tokens: int | None,
             cost: float | None) -> None:
        """Count one traced step: a backend call's tokens and cost, or a cache hit's tokens."""
        if kind == "backend_call" and backend:
            self.cost.labels(backend).inc(cost or 0.0)
            self.tokens.labels(backend, "input").inc(input_tokens or 0)
            self.tokens.labels(backend, "output").inc(output_tokens or 0)
        elif kind == "cache" and backend:
            self.cache_tokens.labels(backend, "input").inc(input_tokens or 0)
            self.cache_tokens.labels(backend, "output").inc(output_tokens or 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts one request's events (called from the worker thread that runs it); remembers where it was routed."""

    def __init__(self, metrics: Metrics, api: str) -> None:
        self.metrics = metrics
        self.api = api
        self.target = ""

    def __call__(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, Decided):
            self.target = event.decision.target
            if event.decision.escalate:
                m.escalations.labels(event.decision.target).inc()
        elif isinstance(event, DraftDiscarded):
            self.target = event.escalate_to
            m.escalations.labels(event.escalate_to).inc()
        elif isinstance(event, FellBack):
            m.fallbacks.labels(event.from_backend, event.to_backend).inc()
        elif isinstance(event, Failed):
            if isinstance(event.error, QueueFull):
                m.rejected.labels(event.error.backend).inc()  # refused by the server: counted once, as rejected
                return
            outcome = "cancelled" if isinstance(event.error, RequestCancelled) else "failed"
            m.requests.labels(self.api, outcome, self.target).inc()
        elif isinstance(event, Done):
            c = event.completion
            m.requests.labels(self.api, "done", c.backend).inc()
            m.latency.labels(c.backend).observe(c.latency_s)


class MeteredTrace:
    """The router's trace, seen by the metrics: every step is counted (``Metrics.step``), then written as before."""

    def __init__(self, trace: Any, metrics: Metrics) -> None:
        self.inner = trace
        self._metrics = metrics

    def add_step(self, request_id: str, kind: str, **values: Any) -> str:
        self._metrics.step(kind, values.get("backend"), values.get("input_tokens"), values.get("output_tokens"),
                           values.get("cost"))
        return self.inner.add_step(request_id, kind, **values)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
