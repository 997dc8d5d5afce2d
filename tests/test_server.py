"""hybrid serve's endpoints over a real router with fake backends, through real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from hybrid.errors import BackendError, ConfigError, ContextOverflow
from hybrid.server.auth import check_exposure
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import GatedBackend, serving

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def routed(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    with serving(router) as (base, server):
        yield base, backends, trace, server


def sse_data(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_chat_completion_answers_with_the_trace_id_and_usage(routed):
    base, backends, trace, _ = routed
    backends["smollm2"].enqueue("Paris is the capital")
    r = httpx.post(base + CHAT, json={"model": "hybrid", "messages": user("Capital of France?"), "max_tokens": 20})
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "Paris is the capital"
    assert body["choices"][0]["finish_reason"] == "stop" and body["model"] == "hybrid"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    request_id = r.headers["x-hybrid-request-id"]
    assert body["id"] == f"chatcmpl-{request_id}" and r.headers["x-hybrid-backend"] == "smollm2"
    row = trace.get_request(request_id)
    assert row.status == "done" and row.metadata["client_model"] == "hybrid" and row.metadata["turn"] == "1"


def test_chat_stream_has_the_same_id_model_and_text_as_the_trace(routed):
    base, backends, trace, _ = routed
    backends["smollm2"].enqueue("one two three")
    body = {"model": "hybrid", "messages": user("count"), "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", base + CHAT, json=body) as r:
        data = sse_data(r)
        request_id = r.headers["x-hybrid-request-id"]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["id"] for c in chunks} == {f"chatcmpl-{request_id}"} and {c["model"] for c in chunks} == {"hybrid"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three" == trace.get_request(request_id).output
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_anthropic_messages_whole_and_streamed(routed):
    base, backends, _trace, _ = routed
    backends["smollm2"].enqueue("Lima", "Lima is the capital")
    r = httpx.post(base + MESSAGES, json={"model": "hybrid", "max_tokens": 50, "system": "Be brief.",
                                          "messages": user("Capital of Peru?")})
    body = r.json()
    assert r.status_code == 200 and body["type"] == "message" and body["content"] == [{"type": "text", "text": "Lima"}]
    assert body["id"] == f"msg_{r.headers['x-hybrid-request-id']}" and body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 3, "output_tokens": 1}
    with httpx.stream("POST", base + MESSAGES, json={"model": "hybrid", "max_tokens": 50, "stream": True,
                                                     "messages": user("Capital of Peru?")}) as r:
        lines = list(r.iter_lines())
    names = [line[7:] for line in lines if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta",
                     "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    payloads = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta") == "Lima is the capital"
    assert payloads[-2]["usage"]["output_tokens"] == 4 and payloads[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize("model, backend", [("hybrid:cloud", "sonnet"), ("opus", "opus"), ("hybrid:local", "smollm2")])
def test_the_model_field_pins_a_tier_or_a_backend(routed, model, backend):
    base, *_ = routed
    r = httpx.post(base + CHAT, json={"model": model, "messages": user("hi")})
    assert r.status_code == 200 and r.json()["x_hybrid"]["backend"] == backend and r.json()["model"] == model


def test_task_header_and_body_hints_route_by_rule(routed):
    base, _, trace, _ = routed
    r = httpx.post(base + CHAT, headers={"X-Hybrid-Task": "reason"}, json={"messages": user("prove it")})
    assert r.json()["x_hybrid"]["backend"] == "opus"
    parent = r.headers["x-hybrid-request-id"]
    r = httpx.post(base + MESSAGES, json={"model": "hybrid", "max_tokens": 9, "messages": user("go on"),
                                          "parent_id": parent, "metadata": {"user_id": "u1"}})
    row = trace.get_request(r.headers["x-hybrid-request-id"])
    assert row.parent_id == parent and row.metadata["user_id"] == "u1" and row.metadata["client_model"] == "hybrid"


@pytest.mark.parametrize("body, status, fragment", [
    ({"messages": []}, 400, "messages: List should have at least 1 item"),
    ({"messages": user("hi"), "max_tokens": "ten"}, 400, "max_tokens: Input should be a valid integer"),
    ({"messages": user("hi"), "task": "poetry"}, 400, "unknown task type 'poetry'"),
    ({"messages": [{"role": ["user"], "content": "hi"}]}, 400, "messages.0.role"),
    ({"messages": user("hi"), "parent_id": {"a": 1}}, 400, "parent_id: Input should be a valid string"),
    ({"messages": user("hi"), "n": 2}, 400, "n > 1 (several choices) is not supported"),
    ({"messages": user("hi"), "tools": [{"type": "function"}]}, 400, "tools (function calling) is not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400,
     "messages[0].content: 'image_url' parts are not supported (only 'text' parts are); fix: send the text only"),
    ({"messages": user("hi"), "frobnicate": 1}, 400, "unrecognized request argument supplied: frobnicate"),
    ({"model": "gpt-4o", "messages": user("hi")}, 404, "the model 'gpt-4o' does not exist"),
    ({"messages": user("\ud800"), "stream": True}, 400, "not valid JSON: unexpected end of hex escape"),
])
def test_bad_chat_requests_get_a_4xx_in_openai_shape(routed, body, status, fragment):
    base, *_ = routed
    r = httpx.post(base + CHAT, content=json.dumps(body))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert fragment in error["message"] and set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("body, fragment", [
    ({"model": "hybrid", "messages": user("hi")}, "max_tokens: Field required"),
    ({"model": "hybrid", "max_tokens": 5, "messages": user("hi"), "tools": []}, None),
    ({"model": "hybrid", "max_tokens": 5, "messages": user("hi"), "tools": [{"name": "x"}]}, "tools (tool use)"),
    ({"model": "hybrid", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image"}]}]},
     "messages[0].content: 'image' blocks are not supported (only 'text' blocks are); fix: send the text only"),
    ({"model": "hybrid", "max_tokens": 5, "messages": user("hi"), "temperature": 1.5}, "temperature"),
])
def test_bad_messages_requests_get_400_in_anthropic_shape(routed, body, fragment):
    base, *_ = routed
    r = httpx.post(base + MESSAGES, json=body)
    if fragment is None:
        assert r.status_code == 200
        return
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "invalid_request_error" and fragment in r.json()["error"]["message"]


def test_backend_failure_is_503_in_each_shape_and_traced(routed):
    base, backends, trace, _ = routed
    for name in ("smollm2", "sonnet", "smollm2", "sonnet"):
        backends[name].enqueue(BackendError(name, "down", retryable=True))
    r = httpx.post(base + CHAT, json={"messages": user("hi")})
    assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable"
    assert trace.get_request(r.headers["x-hybrid-request-id"]).status == "failed"
    r = httpx.post(base + MESSAGES, json={"model": "hybrid", "max_tokens": 5, "messages": user("hi")})
    assert r.status_code == 503 and r.json()["error"]["type"] == "overloaded_error"


def test_a_prompt_no_backend_can_fit_is_a_400_in_each_shape(routed):
    base, backends, trace, _ = routed
    for _ in range(2):
        backends["smollm2"].enqueue(ContextOverflow("smollm2", "prompt is 9000 tokens but the context window is 2048"))
        backends["sonnet"].enqueue(ContextOverflow("sonnet", "prompt is too long: 250000 tokens > 200000 maximum"))
    r = httpx.post(base + CHAT, json={"messages": user("a very long prompt")})
    error = r.json()["error"]
    assert r.status_code == 400 and (error["type"], error["code"]) == ("invalid_request_error", "context_length_exceeded")
    assert "context window" in error["message"] and error["param"] == "messages"
    r = httpx.post(base + MESSAGES, json={"model": "hybrid", "max_tokens": 5, "messages": user("a very long prompt")})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert trace.get_request(r.headers["x-hybrid-request-id"]).status == "failed"


def test_a_pinned_backend_that_is_down_is_503_not_another_backend(routed):
    base, backends, *_ = routed
    backends["opus"].ok = False
    r = httpx.post(base + CHAT, json={"model": "opus", "messages": user("hi")})
    assert r.status_code == 503 and "pinned by the request but unavailable" in r.json()["error"]["message"]


def test_body_over_the_limit_is_413(tmp_path):
    router, *_ = fake_router(tmp_path)
    with serving(router, max_body_bytes=2048) as (base, _):
        r = httpx.post(base + CHAT, json={"messages": user("x" * 4000)})
        assert r.status_code == 413 and "server.max_body_bytes" in r.json()["error"]["message"]
        r = httpx.post(base + MESSAGES, json={"model": "hybrid", "max_tokens": 5, "messages": user("x" * 4000)})
        assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_a_full_local_queue_answers_429_with_retry_after_and_frees_up(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    gated = backends["smollm2"] = router.backends["smollm2"] = GatedBackend("smollm2")
    with serving(router, queue_size=1, retry_after_s=3) as (base, _server), httpx.Client() as client:
        first = threading.Thread(target=client.post, args=(base + CHAT,), kwargs={"json": {"messages": user("a")}})
        first.start()
        assert gated.started.acquire(timeout=5)
        r = client.post(base + CHAT, json={"messages": user("b")})
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        assert r.json()["error"]["type"] == "rate_limit_error"
        message = "smollm2 is busy: its queue of 1 is full; retry in 3 s (server.queue_size)"
        assert r.json()["error"]["message"] == message
        row = trace.get_request(r.headers["x-hybrid-request-id"])
        assert (row.status, row.error) == ("failed", message)  # the server refused it; nobody cancelled anything
        gated.gate.set()
        first.join(5)
        assert client.post(base + CHAT, json={"messages": user("c")}).status_code == 200
        metrics = client.get(base + "/metrics").text
        assert 'hybrid_rejected_total{backend="smollm2"} 1.0' in metrics  # counted once, as rejected
        assert 'outcome="cancelled"' not in metrics and 'outcome="failed"' not in metrics
        assert 'hybrid_requests_total{api="openai",backend="smollm2",outcome="done"} 2.0' in metrics


def test_a_client_that_disconnects_cancels_its_request(tmp_path):
    router, _backends, trace = fake_router(tmp_path)
    gated = router.backends["smollm2"] = GatedBackend("smollm2")
    with serving(router) as (base, _):
        for stream in (False, True):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(base + CHAT, json={"messages": user("slow"), "stream": stream}, timeout=0.5)
            deadline = time.monotonic() + 5
            while trace.recent(1)[0].status != "cancelled":
                assert time.monotonic() < deadline, trace.recent(1)[0].status
                time.sleep(0.05)
    assert not gated.gate.is_set()


def test_models_health_and_metrics(routed):
    base, backends, _, _ = routed
    ids = [m["id"] for m in httpx.get(base + "/v1/models").json()["data"]]
    assert ids[:3] == ["hybrid", "hybrid:local", "hybrid:cloud"] and {"smollm2", "sonnet", "opus"} <= set(ids)
    anthropic = httpx.get(base + "/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert anthropic["data"][0]["type"] == "model" and anthropic["has_more"] is False
    health = httpx.get(base + "/health").json()
    assert health["backends"]["smollm2"] == {"ok": True, "local": True}  # no details, so no file paths
    backends["sonnet"].enqueue("deep answer")
    httpx.post(base + CHAT, json={"model": "hybrid:cloud", "messages": user("hard")})
    text = httpx.get(base + "/metrics").text
    assert 'hybrid_requests_total{api="openai",backend="sonnet",outcome="done"} 1.0' in text
    assert 'hybrid_escalations_total{backend="sonnet"} 1.0' in text
    assert 'hybrid_request_latency_seconds_count{backend="sonnet"} 1.0' in text


def test_unknown_paths_and_methods_answer_in_api_shape(routed):
    base, *_ = routed
    with httpx.Client() as client:
        r = client.post(base + "/v1/embeddings", content=b'{"input": "unread"}')
        assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
        assert client.get(base + CHAT).status_code == 405
        assert client.get(base + "/health").status_code == 200  # the connection is still in sync


def test_a_token_is_required_when_set_and_compared_exactly(tmp_path):
    router, *_ = fake_router(tmp_path)
    with serving(router, token="s3cret-token") as (base, _):
        assert httpx.post(base + CHAT, json={"messages": user("hi")}).status_code == 401
        r = httpx.post(base + MESSAGES, headers={"x-api-key": "s3cret-tokeN"},
                       json={"model": "hybrid", "max_tokens": 5, "messages": user("hi")})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        ok = httpx.post(base + CHAT, headers={"Authorization": "Bearer s3cret-token"}, json={"messages": user("hi")})
        assert ok.status_code == 200
        assert httpx.get(base + "/metrics").status_code == 401
        assert "detail" not in httpx.get(base + "/health").json()["backends"]["smollm2"]
        detailed = httpx.get(base + "/health", headers={"x-api-key": "s3cret-token"}).json()
        assert detailed["backends"]["smollm2"]["detail"] == "fake is up"


def test_the_token_comes_from_config_or_environment(monkeypatch):
    from hybrid.settings import load_settings

    monkeypatch.setenv("HYBRID_SERVER__TOKEN", "from-env")
    settings = load_settings()
    assert settings.server.token.get_secret_value() == "from-env" and "from-env" not in repr(settings)


def test_binding_beyond_loopback_needs_a_token():
    from click.testing import CliRunner
    from pydantic import SecretStr

    from hybrid.cli import main

    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "Set server.token in the config (or HYBRID_SERVER__TOKEN)" in result.output

    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without a token"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", SecretStr("t"))
    check_exposure("::1", None)
    check_exposure("localhost", None)
