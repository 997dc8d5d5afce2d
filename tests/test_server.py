from __future__ import annotations

import json
import threading

import httpx
import pytest

from hybrid.errors import BackendError
from hybrid.server import make_server
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router


@pytest.fixture
def served(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    server = make_server(router, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    yield base, backends, trace
    server.shutdown()
    server.server_close()


def test_chat_completion_is_routed_and_traced(served):
    base, backends, trace = served
    backends["smollm2"].enqueue("Paris is the capital")
    r = httpx.post(f"{base}/v1/chat/completions", json={
        "model": "hybrid", "messages": [{"role": "user", "content": "Capital of France?"}], "task": "chat",
        "max_tokens": 20})
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Paris is the capital"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert body["x_hybrid"]["backend"] == "smollm2" and r.headers["X-Hybrid-Backend"] == "smollm2"
    row = trace.get_request(body["x_hybrid"]["request_id"])
    assert row.status == "done" and row.metadata["client_model"] == "hybrid" and row.metadata["turn"] == "1"


def test_streaming_uses_openai_chunks_and_ends_with_done(served):
    base, backends, _ = served
    backends["smollm2"].enqueue("one two three")
    with httpx.stream("POST", f"{base}/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "count"}], "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "one two three"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["completion_tokens"] == 3


def test_task_header_routes_by_rule(served):
    base, _, _ = served
    r = httpx.post(f"{base}/v1/chat/completions", headers={"X-Hybrid-Task": "reason"},
                   json={"messages": [{"role": "user", "content": "prove it"}]})
    assert r.json()["x_hybrid"]["backend"] == "opus"


@pytest.mark.parametrize("body, message", [
    ({"messages": []}, "'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}, "'max_tokens' must be an integer"),
    ({"messages": [{"role": "user", "content": "hi"}], "task": "poetry"}, "unknown task type 'poetry'"),
])
def test_bad_requests_get_400_with_the_reason(served, body, message):
    base, _, _ = served
    r = httpx.post(f"{base}/v1/chat/completions", json=body)
    assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_backend_failure_is_503_and_traced(served):
    base, backends, trace = served
    backends["smollm2"].enqueue(BackendError("smollm2", "boom", retryable=True))
    backends["sonnet"].enqueue(BackendError("sonnet", "down", retryable=True))
    r = httpx.post(f"{base}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 503 and "every candidate backend failed" in r.json()["error"]["message"]
    assert trace.recent(1)[0].status == "failed"


def test_models_and_health(served):
    base, _, _ = served
    assert httpx.get(f"{base}/v1/models").json()["data"][0]["id"] == "hybrid"
    health = httpx.get(f"{base}/health").json()
    assert health["backends"]["smollm2"]["ok"] is True
