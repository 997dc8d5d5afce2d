"""Prometheus metrics for one server, in its own ``CollectorRegistry`` (no process-wide globals).

Fed from the router's events as they pass through the server, so the numbers are what
clients were answered: requests by outcome and backend, escalations, fallbacks, cost,
tokens, latency histograms per backend, and requests turned away with 429.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hybrid.errors import RequestCancelled
from hybrid.events import Decided, Done, DraftDiscarded, Event, Failed, FellBack

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("hybrid_requests", "Requests answered, by API, outcome and answering backend",
                                ["api", "outcome", "backend"], registry=r)
        self.escalations = Counter("hybrid_escalations", "Requests sent to the cloud (decided or cascaded)",
                                   ["backend"], registry=r)
        self.fallbacks = Counter("hybrid_fallbacks", "Backend failures handed to the next backend",
                                 ["from_backend", "to_backend"], registry=r)
        self.cost = Counter("hybrid_cost_usd", "US dollars spent, by backend", ["backend"], registry=r)
        self.tokens = Counter("hybrid_tokens", "Tokens, by backend and direction", ["backend", "direction"],
                              registry=r)
        self.latency = Histogram("hybrid_request_latency_seconds", "Time to the whole answer, by backend",
                                 ["backend"], buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("hybrid_rejected", "Requests turned away with 429 (a local model's queue was full)",
                                ["backend"], registry=r)
        self.queued = Gauge("hybrid_local_queue", "Requests admitted per local model (running or waiting)",
                            ["backend"], registry=r)

    def observe(self, api: str, event: Event) -> None:
        """Count one router event (called from the worker thread that runs the request)."""
        if isinstance(event, Decided):
            if event.decision.escalate:
                self.escalations.labels(event.decision.target).inc()
        elif isinstance(event, DraftDiscarded):
            self.escalations.labels(event.escalate_to).inc()
        elif isinstance(event, FellBack):
            self.fallbacks.labels(event.from_backend, event.to_backend).inc()
        elif isinstance(event, Failed):
            outcome = "cancelled" if isinstance(event.error, RequestCancelled) else "failed"
            self.requests.labels(api, outcome, getattr(event.error, "backend", "")).inc()
        elif isinstance(event, Done):
            c = event.completion
            self.requests.labels(api, "done", c.backend).inc()
            self.cost.labels(c.backend).inc(c.cost)
            self.tokens.labels(c.backend, "input").inc(c.usage.input_tokens)
            self.tokens.labels(c.backend, "output").inc(c.usage.output_tokens)
            self.latency.labels(c.backend).observe(c.latency_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
