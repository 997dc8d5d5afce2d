"""The cloud failing in every way the fake Anthropic API can inject, seen through hybrid serve.

The cloud backend is the real AnthropicBackend (official SDK, no retries) against the fake API on
127.0.0.1; the local model is a fake. A fault before any text reaches the client is answered by
the local fallback; a fault after text was sent ends the reply with an explicit error. Never
spliced, never recorded as a complete answer, always in the trace.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from pydantic import SecretStr

from models.anthropic import AnthropicBackend
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI, refused_url
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import serving

LOCAL = "local fallback answer"
PARTIAL = "Partial answer"
BEFORE_TEXT = ["rate_limit", "overloaded", "server_error", "timeout", "refused", "drop"]
AFTER_TEXT = ["error_event", "cut", "malformed_sse"]


def ask(base: str, stream: bool) -> tuple[int, str, dict]:
    """(status, text the client received, the error it received or {})."""
    body = {"model": "hybrid:cloud", "messages": [{"role": "user", "content": "Explain monads"}], "stream": stream}
    if not stream:
        r = httpx.post(base + "/v1/chat/completions", json=body, timeout=20)
        if r.status_code != 200:
            return r.status_code, "", r.json()["error"]
        return 200, r.json()["choices"][0]["message"]["content"], {}
    text, error = "", {}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=20) as r:
        if r.status_code != 200:
            return r.status_code, "", json.loads(r.read())["error"]
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                error = chunk["error"]
            elif chunk["choices"]:
                text += chunk["choices"][0]["delta"].get("content") or ""
        return r.status_code, text, error


@pytest.fixture
def cloud_router(tmp_path):
    with FakeAnthropicAPI() as api:
        router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
        backends["smollm2"].enqueue(*[LOCAL] * 4)

        def use(url: str) -> None:
            router.backends["sonnet"] = AnthropicBackend(
                "sonnet", model="claude-sonnet-4-6", api_key=SecretStr(DEFAULT_KEY), base_url=url, max_retries=0,
                timeout_s=0.5, price=backends["sonnet"].price)

        use(api.url)
        yield router, api, trace, use


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", BEFORE_TEXT + AFTER_TEXT)
def test_every_cloud_fault_is_answered_by_the_fallback_or_failed_clearly(cloud_router, fault, stream):
    router, api, trace, use = cloud_router
    if fault == "refused":
        use(refused_url())
    else:
        api.enqueue_fault(fault, text_before=PARTIAL, hang_s=2.0)
    with serving(router) as (base, _):
        status, text, error = ask(base, stream)
    row = trace.recent(1)[0]
    kinds = [s.kind for s in trace.steps(row.id)]
    assert kinds.count("backend_call") >= 1 and kinds[0] == "request"
    if fault in BEFORE_TEXT:
        # nothing was answered yet: the local model answers, and the trace says why
        assert (status, text, error) == (200, LOCAL, {})
        assert (row.status, row.backend, row.fallback, row.output) == ("done", "smollm2", True, LOCAL)
        assert "fallback" in kinds
        return
    if not stream:
        # a whole reply shows nothing until it is complete: the broken cloud answer is dropped, the local one sent
        assert (status, text, error) == (200, LOCAL, {})
        assert (row.status, row.backend, row.fallback, row.output) == ("done", "smollm2", True, LOCAL)
        assert row.cost > 0  # the cloud call cut mid-answer was billed: the request's cost counts it
        assert "fallback" in kinds and PARTIAL not in text
        return
    # the cloud's text had reached the client: the stream fails clearly and the local answer is never glued on
    assert row.status == "failed" and row.output in (None, "", PARTIAL) and row.backend != "smollm2"
    assert "fallback" not in kinds and "error" in kinds
    assert status == 200 and text == PARTIAL and error["code"] == "backend_unavailable"
    assert error["message"].startswith("sonnet: ")


def test_a_stream_that_fails_before_any_text_gets_an_error_status_not_a_200(cloud_router):
    router, api, trace, _ = cloud_router
    router.backends["smollm2"].ok = False
    api.enqueue_fault("overloaded")
    with serving(router) as (base, _):
        status, text, error = ask(base, stream=True)
    assert status == 503 and text == "" and error["code"] == "backend_unavailable"
    assert trace.recent(1)[0].status == "failed"


@pytest.mark.parametrize("draft_score, answer", [(0.9, "The cloud's careful answer."), (0.1, "The local draft.")])
def test_cascade_streams_exactly_the_final_answer_never_the_rejected_draft(tmp_path, draft_score, answer):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=draft_score),
                                          routing={"mode": "cascade"})
    backends["smollm2"].enqueue("The local draft.")
    backends["sonnet"].enqueue("The cloud's careful answer.")
    with serving(router) as (base, _):
        body = {"model": "hybrid", "stream": True, "messages": [{"role": "user", "content": "Capital of Peru?"}]}
        with httpx.stream("POST", base + "/v1/chat/completions", json=body) as r:
            chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        anthropic_body = {**body, "max_tokens": 50}
        backends["smollm2"].enqueue("The local draft.")
        backends["sonnet"].enqueue("The cloud's careful answer.")
        with httpx.stream("POST", base + "/v1/messages", json=anthropic_body) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert streamed == answer == trace.get_request(chunks[0]["id"].removeprefix("chatcmpl-")).output
    deltas = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert deltas == answer == trace.get_request(events[0]["message"]["id"].removeprefix("msg_")).output


@pytest.mark.parametrize("fault", AFTER_TEXT)
def test_the_anthropic_sdk_sees_the_partial_text_then_an_error_never_a_clean_end(cloud_router, fault):
    router, api, trace, _ = cloud_router
    api.enqueue_fault(fault, text_before=PARTIAL)
    received = []
    with serving(router) as (base, _):
        client = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
        ask_ = {"model": "hybrid:cloud", "max_tokens": 50, "messages": [{"role": "user", "content": "Explain monads"}]}
        with pytest.raises(anthropic.APIStatusError, match="sonnet: "), client.messages.stream(**ask_) as stream:
            received.extend(stream.text_stream)
    assert "".join(received) == PARTIAL and trace.recent(1)[0].status == "failed"
