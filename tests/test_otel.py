"""OpenTelemetry export with the SDK's in-memory exporter: the same tree, GenAI attributes, ids from the trace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hybrid.cli import main
from hybrid.errors import BackendError, ConfigError
from hybrid.otel import OtelExport
from hybrid.pipeline import Pipeline, Step
from hybrid.settings import load_settings
from hybrid.types import Request
from tests.helpers import closed_port, fake_router

ROOT = str(Path(__file__).parent.parent)


def exporting_router(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    exporter = InMemorySpanExporter()
    types = {name: spec.type for name, spec in router.settings.backends.items()}
    OtelExport(trace, SimpleSpanProcessor(exporter), backend_types=types).attach()
    return router, backends, trace, exporter


def test_a_pipeline_run_is_exported_as_one_tree_with_gen_ai_attributes(tmp_path):
    router, backends, trace, exporter = exporting_router(tmp_path)
    backends["smollm2"].enqueue("billing")
    backends["opus"].enqueue("We will refund you.")
    result = Pipeline("triage", (Step("classify", "Classify: {input}", task="classify"),
                                 Step("reason", "Reply to a {steps.classify.output} ticket", task="reason"),
                                 )).run(router, "charged twice")
    trace.flush()
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "pipeline triage" and root.attributes["hybrid.run_id"] == result.run_id
    assert len({s.context.trace_id for s in spans}) == 1
    calls = {s.attributes["hybrid.step"]: s for s in spans if s.kind == SpanKind.CLIENT and s.name.startswith("chat")}
    assert set(calls) == {"classify", "reason"}
    assert all(s.parent.span_id == root.context.span_id for s in calls.values())
    opus = calls["reason"]
    assert opus.name == "chat claude-opus-4-6"
    assert opus.attributes["gen_ai.operation.name"] == "chat"
    assert opus.attributes["gen_ai.system"] == "anthropic"
    assert opus.attributes["gen_ai.request.model"] == "claude-opus-4-6"
    assert opus.attributes["gen_ai.usage.output_tokens"] == 4
    assert opus.attributes["gen_ai.request.max_tokens"] == 256
    assert calls["classify"].attributes["gen_ai.system"] == "llama.cpp"
    steps = [s for s in spans if s.parent is not None and s.parent.span_id == opus.context.span_id]
    assert [s.name for s in sorted(steps, key=lambda s: s.start_time)][:3] == [
        "hybrid.request", "hybrid.classify", "hybrid.route"]
    assert all(s.end_time >= s.start_time for s in spans)
    assert not any("charged twice" in str(s.attributes) for s in spans)  # content is not exported


def test_a_single_failed_request_is_exported_with_an_error_status(tmp_path):
    router, backends, trace, exporter = exporting_router(tmp_path)
    for name in ("smollm2", "sonnet"):
        backends[name].enqueue(BackendError(name, "down"))
    with pytest.raises(BackendError):
        router.complete(Request.from_prompt("hello"))
    trace.flush()
    (request,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert request.status.status_code == StatusCode.ERROR and "every candidate backend failed" in \
        request.status.description
    assert request.attributes["hybrid.status"] == "failed"


def test_export_is_off_by_default():
    assert load_settings().otel.enabled is False


def test_an_endpoint_that_is_not_an_http_url_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"otel\.endpoint: must be an http\(s\) URL such as http://127\.0\.0\.1:4318"
                                          r"/v1/traces, not 'notaurl'"):
        load_settings(otel={"enabled": True, "endpoint": "notaurl"})


def test_a_collector_that_is_down_costs_one_line_naming_the_endpoint_and_the_fix(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    env = {**os.environ, "HYBRID_OTEL__ENABLED": "true", "HYBRID_OTEL__ENDPOINT": endpoint, "PYTHONPATH": ROOT}
    # an empty prompt fails at once, without a model, and is traced (and so exported) all the same
    done = subprocess.run([sys.executable, "-c", "from hybrid.cli import main; main()", "ask", ""], env=env,
                          capture_output=True, check=False, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("otel: ")] == [
        (f"otel: could not export 3 spans to {endpoint} (connection refused); is the collector running? "
         "check otel.endpoint")]
    assert "Transient error" not in done.stderr and "Failed to export" not in done.stderr
    assert len(lines) == 2 and any(line.startswith("error: the prompt is empty") for line in lines)


def test_doctor_shows_the_otel_endpoint_and_whether_it_answers(monkeypatch):
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("HYBRID_OTEL__ENABLED", "true")
    monkeypatch.setenv("HYBRID_OTEL__ENDPOINT", endpoint)
    result = CliRunner().invoke(main, ["doctor", "--quick"])
    assert (f"otel        : {endpoint} not reachable (connection refused); start the collector or fix "
            "otel.endpoint") in result.output
    with socket.create_server(("127.0.0.1", 0)) as listening:
        endpoint = f"http://127.0.0.1:{listening.getsockname()[1]}/v1/traces"
        monkeypatch.setenv("HYBRID_OTEL__ENDPOINT", endpoint)
        result = CliRunner().invoke(main, ["doctor", "--quick"])
    assert f"otel        : {endpoint} reachable" in result.output
