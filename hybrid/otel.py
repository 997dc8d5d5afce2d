"""OpenTelemetry export of the trace (the ``otel`` extra; off unless ``[otel] enabled = true``).

When a root span finishes (a request with no parent, or a pipeline run), its whole tree is read back from the
trace store and handed to an OpenTelemetry span processor, so Jaeger, Phoenix or Langfuse show the same trees:

- a pipeline run: span ``pipeline NAME`` (``hybrid.pipeline``);
- each routed request: span ``chat MODEL`` of kind CLIENT with the GenAI semantic conventions
  (``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.request.max_tokens``, ``gen_ai.request.temperature``,
  ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``) plus ``hybrid.*`` routing facts;
- each step inside a request (``classify``, ``route``, ``backend_call``, ...): span ``hybrid.KIND``.

Span and trace ids derive from the trace's own ids, so a re-export gives the same ids. Prompts and answers
are not exported (the GenAI conventions make content opt-in).

A collector that is down costs little: one export takes at most ``otel.timeout_s`` (retries included), so it
adds at most that when a command exits, and instead of the exporter library's log lines on each retry, hybrid
writes one line naming the endpoint and the fix (``WatchedExporter``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from hybrid.span_tree import SpanNode, load_tree
from hybrid.trace import StepRecord, TraceStore

SYSTEMS = {"anthropic": "anthropic", "ollama": "ollama", "openai": "openai", "llamacpp": "llama.cpp"}
SCOPE = InstrumentationScope("hybrid")
EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")
"""Where the OTLP/HTTP exporter logs each retry and failure; ``WatchedExporter`` takes those records over."""
_CAUSES = (("Connection refused", "connection refused"), ("timed out", "timed out"),
           ("Name or service not known", "host not found"), ("nodename nor servname", "host not found"),
           ("Failed to resolve", "host not found"))


def _cause(message: str) -> str:
    """A short reason from one of the exporter's log messages."""
    for needle, cause in _CAUSES:
        if needle in message:
            return cause
    if status := re.search(r"batch code: (\d+), reason: (.*)", message):
        return f"HTTP {status[1]} {status[2]}".strip()
    return " ".join(message.split())[:160]


class _Quieted(logging.Filter):
    """Drops the exporter's own records, keeping the reason the last one gave for hybrid's single line."""

    def __init__(self) -> None:
        super().__init__()
        self.cause: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and "due to timeout, max retries or shutdown" not in message:
            self.cause = _cause(message)  # that last one names no reason
        return False


class WatchedExporter(SpanExporter):
    """Wraps the OTLP exporter: its retry and failure log lines become at most one line from hybrid, written with
    ``warn`` (stderr by default), naming the endpoint and the fix."""

    def __init__(self, inner: SpanExporter, endpoint: str, warn: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.warned = False
        self._quieted = _Quieted()
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self._quieted)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._quieted.cause = None
        result = self.inner.export(spans)
        if result is SpanExportResult.FAILURE and not self.warned:
            self.warned = True
            # the exporter gives up without naming the error when no retry fits in its timeout: ask the socket
            cause = self._quieted.cause or _connect(self.endpoint, timeout_s=0.3) or "export failed"
            self.warn(f"otel: could not export {len(spans)} spans to {self.endpoint} ({cause}); "
                      "is the collector running? check otel.endpoint")
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        finally:
            for name in EXPORTER_LOGGERS:
                logging.getLogger(name).removeFilter(self._quieted)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _connect(endpoint: str, *, timeout_s: float) -> str | None:
    """Why nothing accepts a connection at ``endpoint``'s host and port, or None when something does."""
    url = urlsplit(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout_s):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return "timed out"
    except OSError as e:
        return e.strerror or str(e)


def doctor_line(settings: Any) -> str:
    """``hybrid doctor``'s OpenTelemetry line when the export is on: the endpoint and whether it answers."""
    why = _connect(settings.otel.endpoint, timeout_s=1.0)
    reach = "reachable" if why is None else f"not reachable ({why}); start the collector or fix otel.endpoint"
    return f"otel        : {settings.otel.endpoint} {reach}"


def _id(text: str, bits: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[: bits // 4], 16) or 1


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class OtelExport:
    """Turns finished trees of the trace store into OpenTelemetry spans for ``processor``."""

    def __init__(
        self, store: TraceStore, processor: SpanProcessor, *, backend_types: Mapping[str, str],
        service_name: str = "hybrid",
    ) -> None:
        self.store = store
        self.processor = processor
        self.backend_types = dict(backend_types)
        self.resource = Resource.create({"service.name": service_name})

    @classmethod
    def over_otlp(cls, store: TraceStore, settings: Any) -> OtelExport:
        """Batched OTLP/HTTP export to ``otel.endpoint``, each export bounded by ``otel.timeout_s``."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        otlp = OTLPSpanExporter(endpoint=settings.otel.endpoint, timeout=settings.otel.timeout_s)
        processor = BatchSpanProcessor(WatchedExporter(otlp, settings.otel.endpoint))
        types = {name: spec.type for name, spec in settings.backends.items()}
        return cls(store, processor, backend_types=types, service_name=settings.otel.service_name)

    def attach(self) -> OtelExport:
        self.store.listen(self.finished, self.processor.shutdown)
        return self

    def finished(self, root_ids: list[str]) -> None:
        for root_id in root_ids:
            record = self.store.get_request(root_id)
            if record is not None:
                for span in self.spans(load_tree(self.store, record)):
                    self.processor.on_end(span)

    def spans(self, root: SpanNode) -> Iterator[ReadableSpan]:
        trace_id = _id(root.record.id, 128)
        yield from self._walk(root, trace_id, None)

    def _context(self, trace_id: int, key: str) -> SpanContext:
        return SpanContext(trace_id, _id(key, 64), is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    def _walk(self, node: SpanNode, trace_id: int, parent: SpanContext | None) -> Iterator[ReadableSpan]:
        r = node.record
        context = self._context(trace_id, r.id)
        start, end = _ns(r.created_at), _ns(r.created_at + (r.latency_s or 0.0))
        status = Status(StatusCode.ERROR, r.error) if r.status == "failed" else Status(StatusCode.UNSET)
        if r.kind == "pipeline":
            attributes = {"hybrid.pipeline": r.metadata.get("pipeline", ""), "hybrid.run_id": r.id,
                          "hybrid.cost_usd": r.cost or 0.0, "hybrid.frontier_cost_usd": r.frontier_cost or 0.0}
            yield self._span(f"pipeline {r.metadata.get('pipeline', '')}", context, parent, attributes, status,
                             start, end, SpanKind.INTERNAL)
        else:
            yield self._span(f"chat {r.model}" if r.model else "chat", context, parent, self._request_attributes(r),
                             status, start, end, SpanKind.CLIENT)
            for step in self.store.steps(r.id):
                yield self._step_span(step, trace_id, context)
        for child in node.children:
            yield from self._walk(child, trace_id, context)

    def _gen_ai(self, backend: str | None, model: str | None, input_tokens: int | None,
                output_tokens: int | None) -> dict[str, Any]:
        system = SYSTEMS.get(self.backend_types.get(backend or "", ""), self.backend_types.get(backend or "", ""))
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if system:
            attributes["gen_ai.system"] = attributes["gen_ai.provider.name"] = system
        if model:
            attributes["gen_ai.request.model"] = attributes["gen_ai.response.model"] = model
        if input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = output_tokens
        return attributes

    def _request_attributes(self, r) -> dict[str, Any]:
        attributes = self._gen_ai(r.backend, r.model, r.input_tokens, r.output_tokens)
        if "max_tokens" in r.params:
            attributes["gen_ai.request.max_tokens"] = r.params["max_tokens"]
        if "temperature" in r.params:
            attributes["gen_ai.request.temperature"] = r.params["temperature"]
        facts = {"hybrid.request_id": r.id, "hybrid.task": r.task, "hybrid.status": r.status,
                 "hybrid.backend": r.backend, "hybrid.is_local": r.is_local, "hybrid.score": r.score,
                 "hybrid.threshold": r.threshold, "hybrid.escalate": r.escalate, "hybrid.cost_usd": r.cost,
                 "hybrid.route.reasons": list(r.reasons) or None, "hybrid.step": r.metadata.get("step"),
                 "error.type": "HybridError" if r.status == "failed" else None}
        return attributes | {k: v for k, v in facts.items() if v is not None}

    def _step_span(self, step: StepRecord, trace_id: int, parent: SpanContext) -> ReadableSpan:
        end = step.created_at
        start = end - (step.duration_s or 0.0)
        attributes: dict[str, Any] = {"hybrid.step.kind": step.kind}
        if step.kind in ("backend_call", "cache"):
            attributes |= self._gen_ai(step.backend, step.model, step.input_tokens, step.output_tokens)
        if step.cost is not None:
            attributes["hybrid.cost_usd"] = step.cost
        status = Status(StatusCode.ERROR, step.error) if step.error else Status(StatusCode.UNSET)
        kind = SpanKind.CLIENT if step.kind == "backend_call" else SpanKind.INTERNAL
        return self._span(f"hybrid.{step.kind}", self._context(trace_id, step.id), parent, attributes, status,
                          _ns(start), _ns(end), kind)

    def _span(self, name, context, parent, attributes, status, start, end, kind) -> ReadableSpan:
        return ReadableSpan(name=name, context=context, parent=parent, resource=self.resource,
                            attributes=attributes, kind=kind, status=status, start_time=start, end_time=end,
                            instrumentation_scope=SCOPE)
