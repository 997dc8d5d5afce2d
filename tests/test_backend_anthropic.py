"""The Anthropic backend, through the real SDK, against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from hybrid.errors import BackendError, BackendUnavailable
from hybrid.router import Router
from hybrid.settings import load_settings
from hybrid.trace import TraceStore
from hybrid.types import Message, Request
from models import build_backend
from models.anthropic import AnthropicBackend
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import closed_port, stream_all


@pytest.fixture
def api():
    with FakeAnthropicAPI() as fake:
        yield fake


def backend_for(api: FakeAnthropicAPI, *, key: str | None = DEFAULT_KEY, max_retries: int = 2) -> AnthropicBackend:
    return AnthropicBackend(
        "sonnet", model="claude-sonnet-4-6", api_key=SecretStr(key) if key else None,
        base_url=api.url, max_retries=max_retries, timeout_s=5,
    )


def test_streams_text_with_real_usage_and_stop(api):
    api.enqueue_text("Paris is the capital of France.", input_tokens=17)
    text, final = stream_all(backend_for(api), Request.from_prompt("What is the capital of France?"))
    assert text == "Paris is the capital of France."
    assert (final.usage.input_tokens, final.usage.output_tokens, final.finish_reason) == (17, 6, "stop")
    body = api.messages_requests()[0].body
    assert body["stream"] is True and body["model"] == "claude-sonnet-4-6"


def test_system_messages_go_to_system_and_the_rest_to_messages(api):
    request = Request(messages=(
        Message("system", "Answer in French."), Message("user", "Hi"),
        Message("assistant", "Bonjour"), Message("user", "Capital of Italy?"),
    ))
    stream_all(backend_for(api), request)
    body = api.messages_requests()[0].body
    assert body["system"] == "Answer in French."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "temperature" not in body  # this API version has no temperature parameter


def test_no_system_prompt_sends_no_system_field(api):
    stream_all(backend_for(api), Request.from_prompt("Hi"))
    assert "system" not in api.messages_requests()[0].body


def test_max_tokens_is_sent_and_a_cut_answer_reports_length(api):
    api.enqueue_text("one two three four five six seven eight")
    text, final = stream_all(backend_for(api), Request.from_prompt("Count", max_tokens=3))
    assert api.messages_requests()[0].body["max_tokens"] == 3
    assert text == "one two three" and final.finish_reason == "length" and final.usage.output_tokens == 3


def test_a_429_then_success_is_retried_by_the_sdk(api):
    api.enqueue_error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
    api.enqueue_text("Recovered.")
    text, _ = stream_all(backend_for(api), Request.from_prompt("Hi"))
    assert text == "Recovered."
    retries = [r.headers["x-stainless-retry-count"] for r in api.messages_requests()]
    assert retries == ["0", "1"]


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded_error"), (500, "api_error")])
def test_a_persistent_server_error_is_retryable_after_the_sdk_gives_up(api, status, kind):
    api.enqueue_error(status, kind, "Overloaded" if status == 529 else "Internal server error", times=3)
    with pytest.raises(BackendError) as info:
        list(backend_for(api, max_retries=2).stream(Request.from_prompt("Hi")))
    assert info.value.retryable is True and not isinstance(info.value, BackendUnavailable)
    assert kind in str(info.value) and str(status) in str(info.value)
    assert len(api.messages_requests()) == 3  # one call plus the SDK's two retries


def test_an_error_event_mid_stream_is_retryable(api):
    api.enqueue_stream_error("The answer is", "overloaded_error", "Overloaded")
    seen: list[str] = []
    with pytest.raises(BackendError) as info:
        for chunk in backend_for(api).stream(Request.from_prompt("Hi")):
            seen.append(chunk.text)
    assert "".join(seen) == "The answer is"
    assert info.value.retryable is True and "overloaded_error mid-answer" in str(info.value)


def test_a_bad_request_is_not_retryable_and_carries_the_api_message(api):
    api.enqueue_error(400, "invalid_request_error", "messages: roles must alternate between user and assistant")
    with pytest.raises(BackendError) as info:
        list(backend_for(api).stream(Request.from_prompt("Hi")))
    assert info.value.retryable is False
    assert "roles must alternate" in str(info.value)
    assert len(api.messages_requests()) == 1


def test_a_wrong_key_is_a_clear_non_retryable_error_that_never_shows_the_key(api, caplog):
    wrong = "sk-ant-wrong-SECRET-42"
    backend = backend_for(api, key=wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendUnavailable) as info:
        list(backend.stream(Request.from_prompt("Hi")))
    error = info.value
    assert error.retryable is False and "ANTHROPIC_API_KEY" in str(error)
    assert api.requests[0].headers["authorization"] == f"Bearer {wrong}"  # it was sent, and refused
    shown = [str(error), repr(error), repr(backend), str(backend.health()), caplog.text]
    assert not any(wrong in s for s in shown)
    assert backend.health().ok is False  # the router routes around it from now on


def test_the_fake_accepts_x_api_key_as_well_as_bearer(api):
    import httpx

    ok = httpx.get(f"{api.url}/v1/models", headers={"x-api-key": DEFAULT_KEY})
    bad = httpx.get(f"{api.url}/v1/models", headers={"x-api-key": "nope"})
    assert ok.status_code == 200 and bad.status_code == 401
    assert bad.json()["error"]["type"] == "authentication_error"


def test_no_key_means_unhealthy_with_the_fix_and_stream_refuses(api):
    backend = backend_for(api, key=None)
    health = backend.health()
    assert health == backend.health(deep=True)
    assert not health.ok and health.detail == (
        "no API key; set ANTHROPIC_API_KEY in the environment (backends.sonnet.api_key_env names the variable)")
    with pytest.raises(BackendUnavailable, match="ANTHROPIC_API_KEY"):
        list(backend.stream(Request.from_prompt("Hi")))
    assert api.requests == []


def test_deep_health_contacts_the_server_once_without_retries(api):
    backend = backend_for(api)
    assert backend.health().ok and api.requests == []  # the cheap check stays off the network
    deep = backend.health(deep=True)
    assert deep.ok and "reachable" in deep.detail
    assert [r.path for r in api.requests] == ["/v1/models?limit=1"]


def test_deep_health_says_unreachable_for_a_closed_port():
    port = closed_port()
    backend = AnthropicBackend("sonnet", model="m", api_key=SecretStr(DEFAULT_KEY), base_url=f"http://127.0.0.1:{port}")
    deep = backend.health(deep=True)
    assert not deep.ok and f"127.0.0.1:{port}" in deep.detail and "unreachable" in deep.detail


def test_a_closed_port_on_stream_is_retryable_and_names_the_url():
    port = closed_port()
    backend = AnthropicBackend("sonnet", model="m", api_key=SecretStr(DEFAULT_KEY),
                               base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(BackendError) as info:
        list(backend.stream(Request.from_prompt("Hi")))
    assert info.value.retryable is True and f"127.0.0.1:{port}" in str(info.value)


def test_build_backend_with_loaded_settings(api):
    overrides = {"sonnet": {"base_url": api.url, "max_retries": 0}}
    settings = load_settings(anthropic_api_key=DEFAULT_KEY, backends=overrides)
    backend = build_backend("sonnet", settings.backends["sonnet"])
    assert isinstance(backend, AnthropicBackend) and backend.is_local is False
    assert backend.price.input_per_mtok == 3.0 and DEFAULT_KEY not in repr(backend)
    api.enqueue_text("Built.")
    text, _ = stream_all(backend, Request.from_prompt("Hi"))
    assert text == "Built." and api.requests[0].headers["authorization"] == f"Bearer {DEFAULT_KEY}"


def test_the_key_comes_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_KEY)
    settings = load_settings(backends={"sonnet": {"base_url": api.url}})
    backend = build_backend("sonnet", settings.backends["sonnet"])
    assert backend.health().ok
    assert stream_all(backend, Request.from_prompt("Hi"))[0]


def make_router(tmp_path, api, *, max_retries: int = 2):
    settings = load_settings(anthropic_api_key=DEFAULT_KEY,
                             backends={"sonnet": {"base_url": api.url, "max_retries": max_retries}})
    backends = {
        "smollm2": FakeBackend("smollm2").enqueue("local answer"),
        "sonnet": build_backend("sonnet", settings.backends["sonnet"]),
        **{n: FakeBackend(n, is_local=False, ok=False) for n in ("haiku", "opus")},
    }
    trace = TraceStore(tmp_path / "t.db")
    return Router(settings, backends=backends, classifier=FixedClassifier(0.9), trace=trace), trace


def test_the_router_escalates_to_anthropic_and_prices_real_usage(tmp_path, api):
    router, trace = make_router(tmp_path, api)
    api.enqueue_text("A careful cloud answer.", input_tokens=1000)
    completion = router.complete(Request.from_prompt("Prove that there are infinitely many primes."))
    assert (completion.backend, completion.text) == ("sonnet", "A careful cloud answer.")
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (1000, 4)
    assert completion.cost == pytest.approx((1000 * 3.0 + 4 * 15.0) / 1e6)
    assert "fallback" not in [s.kind for s in trace.steps(completion.request_id)]


def test_the_router_falls_back_to_local_when_anthropic_is_overloaded(tmp_path, api):
    router, trace = make_router(tmp_path, api, max_retries=1)
    api.enqueue_error(529, "overloaded_error", "Overloaded", times=2)
    completion = router.complete(Request.from_prompt("Prove that there are infinitely many primes."))
    assert (completion.backend, completion.text) == ("smollm2", "local answer")
    assert "fell back from sonnet to smollm2" in completion.notes
    steps = trace.steps(completion.request_id)
    assert "fallback" in [s.kind for s in steps]
    failed = [s for s in steps if s.kind == "backend_call" and s.backend == "sonnet"][0]
    assert "overloaded_error" in failed.error
    assert len(api.messages_requests()) == 2
