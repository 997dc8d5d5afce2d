"""The router's events over the real Anthropic SDK, faked only at the wire: incomplete streams and cancellation."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import BackendError, ContextOverflow, RequestCancelled
from hybrid.events import Done, Failed, TextDelta
from hybrid.report import report_from_trace
from hybrid.router import Router
from hybrid.settings import load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request, Usage
from models import build_backend
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI, count_input, refused_url
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import run_cancelled_at

pytest.importorskip("anthropic")


@pytest.fixture
def api():
    with FakeAnthropicAPI() as fake:
        yield fake


def cloud_router(tmp_path, base_url: str, *, max_retries: int = 0, timeout_s: float = 5.0):
    settings = load_settings(anthropic_api_key=DEFAULT_KEY, backends={
        "sonnet": {"base_url": base_url, "max_retries": max_retries, "timeout_s": timeout_s}})
    backends = {
        "smollm2": FakeBackend("smollm2").enqueue("LOCAL TEXT"),
        "sonnet": build_backend("sonnet", settings.backends["sonnet"]),
        **{n: FakeBackend(n, is_local=False, ok=False) for n in ("haiku", "opus")},
    }
    trace = TraceStore(tmp_path / "t.db")
    return Router(settings, backends, FixedClassifier(0.9), trace), backends, trace


def disconnects(api) -> int:
    """The fake API's count of streams the client closed, once it has noticed (its next write fails)."""
    deadline = time.monotonic() + 5
    while api.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    return api.disconnects


def streamed(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("fault", ["cut", "error_event", "malformed_sse"])
def test_an_incomplete_cloud_stream_after_text_is_a_failure_never_spliced_and_counted_as_far_as_it_went(
        tmp_path, api, fault):
    router, backends, trace = cloud_router(tmp_path, api.url)
    api.enqueue_fault(fault, text_before="The answer begins")
    events = list(router.run(Request.from_prompt("Prove there are infinitely many primes.")))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.text_sent and isinstance(failed.error, BackendError)
    assert failed.error.retryable
    assert streamed(events) == "The answer begins"
    assert backends["smollm2"].history == []
    row = trace.get_request(failed.request_id)
    call = next(s for s in trace.steps(row.id) if s.kind == "backend_call")
    assert call.error and call.output["text"] == "The answer begins"
    # billed from message_start: its input tokens as the API stated them, and at least one token per text chunk
    assert call.input_tokens > 0 and call.output_tokens >= 1 and call.output["usage"].startswith("stopped before")
    assert call.cost == pytest.approx(backends[call.backend].price.cost(Usage(call.input_tokens, call.output_tokens)))
    # the row says what its call used and cost, as the step does: money spent on a failed call is spent
    assert row.status == "failed" and (row.input_tokens, row.output_tokens) == (call.input_tokens, call.output_tokens)
    assert row.cost == pytest.approx(call.cost) and report_from_trace(trace).spent == pytest.approx(call.cost)


def test_a_cloud_stream_cut_before_message_stop_says_so(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api.url)
    api.enqueue_fault("cut", text_before="Half")
    events = list(router.run(Request.from_prompt("q")))
    assert isinstance(events[-1], Failed) and events[-1].text_sent
    assert "ended before message_stop" in str(events[-1].error)


def test_a_whole_answer_that_breaks_off_mid_stream_falls_back(tmp_path, api):
    """``complete`` shows nothing before the answer is whole, so a cut cloud answer is replaced, never spliced."""
    router, _, trace = cloud_router(tmp_path, api.url)
    api.enqueue_fault("cut", text_before="Half")
    c = router.complete(Request.from_prompt("q"))
    assert (c.backend, c.text) == ("smollm2", "LOCAL TEXT")
    calls = [s for s in trace.steps(c.request_id) if s.kind == "backend_call"]
    assert calls[0].backend == "sonnet" and calls[0].cost > 0  # the cut cloud attempt was billed, so it counts
    assert c.cost == pytest.approx(sum(s.cost for s in calls)) == trace.get_request(c.request_id).cost
    (fallback,) = [s for s in trace.steps(c.request_id) if s.kind == "fallback"]
    assert "ended before message_stop" in fallback.output["why"]


@pytest.mark.parametrize("fault", ["rate_limit", "overloaded", "server_error", "timeout", "drop", "cut"])
def test_a_cloud_fault_before_any_text_falls_back_to_the_local_model(tmp_path, api, fault):
    router, _, trace = cloud_router(tmp_path, api.url, max_retries=0, timeout_s=0.3)
    api.enqueue_fault(fault, text_before="", hang_s=2.0)
    events = list(router.run(Request.from_prompt("q")))
    done = events[-1]
    assert isinstance(done, Done) and done.completion.backend == "smollm2"
    assert streamed(events) == done.completion.text == "LOCAL TEXT"
    assert trace.get_request(done.completion.request_id).fallback is True


def test_a_refused_connection_falls_back_to_the_local_model(tmp_path):
    router, _, _ = cloud_router(tmp_path, refused_url())
    c = router.complete(Request.from_prompt("q"))
    assert c.backend == "smollm2" and "fell back from sonnet to smollm2" in c.notes


def test_cancelling_a_cloud_stream_closes_the_http_connection(tmp_path, api, monkeypatch):
    router, _, trace = cloud_router(tmp_path, api.url)
    api.enqueue_text(" ".join(f"word{i}" for i in range(200)), delay_s=0.01)
    events = run_cancelled_at(router, Request.from_prompt("q"), TextDelta)
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, RequestCancelled)
    assert disconnects(api) == 1  # the fake API saw the client go away mid-stream
    assert trace.get_request(events[0].request_id).status == "cancelled"
    # what was used before the cancel is counted, not $0: the prompt as message_start stated it, and the text
    # received (the budget's reservation is released with this cost, not with nothing)
    call = next(s for s in trace.steps(events[0].request_id) if s.kind == "backend_call")
    assert call.input_tokens == count_input(api.messages_requests()[-1].body) > 0
    assert 1 <= call.output_tokens < 200 and call.cost > 0 and call.output["usage"].startswith("stopped before")
    trace.close()
    monkeypatch.setenv("HYBRID_TRACE__PATH", str(trace.path))
    shown = CliRunner().invoke(main, ["logs", "--id", events[0].request_id]).output
    assert f"tokens={call.input_tokens}+{call.output_tokens} cost=${call.cost:.6f}" in shown.splitlines()[0]


def test_closing_the_events_of_a_cloud_stream_closes_the_http_connection(tmp_path, api):
    router, _, trace = cloud_router(tmp_path, api.url)
    api.enqueue_text(" ".join(f"word{i}" for i in range(200)), delay_s=0.01)
    events = router.run(Request.from_prompt("q"))
    decided = next(events)
    next(events)
    events.close()
    assert disconnects(api) == 1
    assert trace.get_request(decided.request_id).status == "cancelled"


def test_a_prompt_too_long_for_the_cloud_is_a_context_overflow(tmp_path, api):
    router, backends, _ = cloud_router(tmp_path, api.url)
    backends["smollm2"].queue.clear()
    backends["smollm2"].enqueue(ContextOverflow("smollm2", "prompt is 3000 tokens but the context window is 2048"))
    api.enqueue_error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
    with pytest.raises(ContextOverflow, match="200000 maximum"):
        router.complete(Request.from_prompt("a very long document"))
