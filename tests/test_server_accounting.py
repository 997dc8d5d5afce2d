"""What ``hybrid serve`` tells clients and ``/metrics`` about tokens, cost and refusals, through the official SDKs."""

from __future__ import annotations

import re
import threading
import time

import anthropic
import httpx
import openai
import pytest

from hybrid.cache import ResponseCache
from hybrid.errors import BackendError, ContextOverflow
from hybrid.types import Chunk
from tests.fakes.backend import FailAfter, FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import serving

ASK = [{"role": "user", "content": "Capital of Peru please?"}]  # 4 tokens to the fake backends
DRAFT = "The capital might be Cusco I think"  # 7 tokens
ANSWER = "Lima."  # 1 token


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text, 0 when absent."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and dict(re.findall(r'(\w+)="([^"]*)"', found[1])) == labels:
            return float(found[2])
    return 0.0


@pytest.fixture
def cascade(tmp_path):
    """A cascade whose local draft is always rejected, so sonnet answers after smollm2 wrote a draft."""
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9),
                                          routing={"mode": "cascade"})
    with serving(router) as (base, _):
        yield base, backends, trace


def test_usage_after_a_rejected_draft_is_the_answering_calls_in_both_sdks_whole_and_streamed(cascade):
    base, backends, trace = cascade
    oai = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    ant = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
    backends["smollm2"].enqueue(*[DRAFT] * 4)
    backends["sonnet"].enqueue(*[ANSWER] * 4)

    reply = oai.chat.completions.create(model="hybrid", messages=ASK)
    assert reply.choices[0].message.content == ANSWER
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (4, 1, 5)
    # the routing info still says what the whole request used and cost, the rejected draft included
    assert reply.model_extra["x_hybrid"]["total_usage"] == {"input_tokens": 8, "output_tokens": 8}
    row = trace.get_request(reply.id.removeprefix("chatcmpl-"))
    assert (row.input_tokens, row.output_tokens) == (8, 8)  # the trace keeps every call

    chunks = list(oai.chat.completions.create(model="hybrid", messages=ASK, stream=True,
                                              stream_options={"include_usage": True}))
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 1)

    message = ant.messages.create(model="hybrid", max_tokens=50, messages=ASK)
    assert message.content[0].text == ANSWER
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 1)
    with ant.messages.stream(model="hybrid", max_tokens=50, messages=ASK) as stream:
        assert "".join(stream.text_stream) == ANSWER
        final = stream.get_final_message()
    assert final.usage.output_tokens == 1


def test_metrics_count_each_backend_calls_own_tokens_and_cache_hits_apart(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9),
                                      routing={"mode": "cascade"})
    router.cache = ResponseCache(tmp_path / "cache")
    backends["smollm2"].enqueue(DRAFT)
    backends["sonnet"].enqueue(ANSWER)
    with serving(router) as (base, _):
        client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        for _ in range(2):  # the second time both the draft and the answer come from the cache
            assert client.chat.completions.create(model="hybrid", messages=ASK).choices[0].message.content == ANSWER
        text = httpx.get(base + "/metrics").text
    assert metric(text, "hybrid_tokens_total", backend="smollm2", direction="output") == 7  # its draft, once
    assert metric(text, "hybrid_tokens_total", backend="sonnet", direction="output") == 1  # its answer, once
    assert metric(text, "hybrid_tokens_total", backend="sonnet", direction="input") == 4
    assert metric(text, "hybrid_cache_tokens_total", backend="smollm2", direction="output") == 7
    assert metric(text, "hybrid_cache_tokens_total", backend="sonnet", direction="output") == 1
    assert metric(text, "hybrid_requests_total", api="openai", outcome="done", backend="sonnet") == 2


class HangingCloud(FakeBackend):
    """A cloud model that states its prompt's tokens, writes a word, then waits until the caller stops it."""

    def stream(self, request):
        from hybrid.types import Usage

        yield Chunk(usage=Usage(4, 0))
        yield Chunk(text="Lima")
        while True:
            time.sleep(0.01)
            yield Chunk()


def test_billed_failed_and_cancelled_cloud_calls_are_in_the_metrics_under_their_backend(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    sonnet = backends["sonnet"]
    client_kwargs = {"api_key": "x", "max_retries": 0}
    with serving(router) as (base, _):
        client = openai.OpenAI(base_url=base + "/v1", **client_kwargs)
        sonnet.enqueue(FailAfter("Lima is the", BackendError("sonnet", "the answer broke off")))
        with pytest.raises(openai.APIError):
            list(client.chat.completions.create(model="sonnet", messages=ASK, stream=True))
        router.backends["sonnet"] = HangingCloud("sonnet", is_local=False, price=sonnet.price, model=sonnet.model)
        stream = client.chat.completions.create(model="sonnet", messages=ASK, stream=True)
        next(iter(stream))
        stream.close()  # the client goes away mid-answer: the cloud call is cancelled, and was billed
        deadline = time.monotonic() + 5
        while (rows := [r.status for r in trace.recent(2)]).count("cancelled") != 1:
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)
        text = httpx.get(base + "/metrics").text
    billed = sum(r.cost for r in trace.recent(2))
    assert billed > 0 and metric(text, "hybrid_cost_usd_total", backend="sonnet") == pytest.approx(billed)
    assert metric(text, "hybrid_tokens_total", backend="sonnet", direction="output") == 3 + 1
    assert metric(text, "hybrid_requests_total", api="openai", outcome="failed", backend="sonnet") == 1
    assert metric(text, "hybrid_requests_total", api="openai", outcome="cancelled", backend="sonnet") == 1


def test_a_failure_no_backend_answered_is_labelled_by_the_backend_it_was_routed_to(tmp_path):
    router, backends, _ = fake_router(tmp_path)
    backends["smollm2"].enqueue(ContextOverflow("smollm2", "the prompt has 9000 tokens; the context holds 8192"))
    with serving(router) as (base, _):
        client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="context"):
            client.messages.create(model="smollm2", max_tokens=20, messages=ASK)
        text = httpx.get(base + "/metrics").text
    assert metric(text, "hybrid_requests_total", api="anthropic", outcome="failed", backend="smollm2") == 1
    assert 'backend="router"' not in text


def test_a_queue_refusal_is_one_failed_row_and_one_rejection_not_a_cancellation(tmp_path):
    from tests.serving import GatedBackend

    router, _, trace = fake_router(tmp_path)
    gated = router.backends["smollm2"] = GatedBackend("smollm2")
    with serving(router, queue_size=1, retry_after_s=2) as (base, _):
        client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
        first = threading.Thread(target=client.messages.create,
                                 kwargs={"model": "hybrid", "max_tokens": 5, "messages": ASK})
        first.start()
        assert gated.started.acquire(timeout=5)
        with pytest.raises(anthropic.RateLimitError) as refused:
            client.messages.create(model="hybrid", max_tokens=5, messages=ASK)
        gated.gate.set()
        first.join(5)
        text = httpx.get(base + "/metrics").text
    message = "smollm2 is busy: its queue of 1 is full; retry in 2 s (server.queue_size)"
    assert refused.value.response.headers["retry-after"] == "2" and refused.value.body["error"]["message"] == message
    row = trace.get_request(refused.value.response.headers["x-hybrid-request-id"])
    assert (row.status, row.error) == ("failed", message)
    assert metric(text, "hybrid_rejected_total", backend="smollm2") == 1
    assert metric(text, "hybrid_requests_total", api="anthropic", outcome="cancelled", backend="smollm2") == 0
    assert metric(text, "hybrid_requests_total", api="anthropic", outcome="failed", backend="smollm2") == 0


NO_USER_TEXT = "no user message with text in messages; fix: end messages with a user message holding the text to answer"


@pytest.fixture
def served(tmp_path):
    router, _, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    with serving(router) as (base, _):
        yield base, trace


@pytest.mark.parametrize("messages, error", [
    ([{"role": "system", "content": "Be brief."}], NO_USER_TEXT),
    ([{"role": "assistant", "content": "Hello"}], NO_USER_TEXT),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": " "}],
     "messages[1].content is empty; fix: put the text to answer in it"),
])
def test_openai_no_user_text_is_explained_in_api_terms_and_traced(served, messages, error):
    base, trace = served
    client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="hybrid", messages=messages)
    assert refused.value.body["message"] == error and "hybrid ask" not in str(refused.value)
    row = trace.get_request(refused.value.response.headers["x-hybrid-request-id"])
    assert (row.status, row.error) == ("failed", error)


@pytest.mark.parametrize("messages, error", [
    ([{"role": "assistant", "content": "Hello"}], NO_USER_TEXT),
    ([{"role": "user", "content": ""}], "messages[0].content is empty; fix: put the text to answer in it"),
])
def test_anthropic_no_user_text_is_explained_in_api_terms(served, messages, error):
    base, _ = served
    client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="hybrid", max_tokens=5, system="Be brief.", messages=messages)
    assert refused.value.body["error"]["message"] == error


def test_an_image_block_is_refused_with_where_and_the_fix(served):
    base, trace = served
    client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="hybrid", max_tokens=5, messages=[{"role": "user", "content": [image]}])
    error = "messages[0].content: 'image' blocks are not supported (only 'text' blocks are); fix: send the text only"
    assert refused.value.body["error"]["message"] == error
    row = trace.get_request(refused.value.response.headers["x-hybrid-request-id"])
    assert (row.status, row.error, row.messages) == ("failed", error, [{"role": "user", "content": [image]}])


@pytest.mark.parametrize("options, error_type, fragment", [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, openai.BadRequestError,
     "tools (function calling)"),
    ({"n": 2}, openai.BadRequestError, "n > 1"),
    ({"logprobs": True}, openai.BadRequestError, "logprobs"),
    ({"response_format": {"type": "json_object"}}, openai.BadRequestError, "response_format"),
    ({"stop": ["\n"]}, openai.BadRequestError, "stop sequences"),
    ({"model": "gpt-4o"}, openai.NotFoundError, "does not exist"),
    ({"max_tokens": 0}, openai.BadRequestError, "max_tokens"),
])
def test_every_refused_request_is_a_failed_trace_row_with_its_error(served, options, error_type, fragment):
    base, trace = served
    client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    with pytest.raises(error_type) as refused:
        client.chat.completions.create(**{"model": "hybrid", "messages": ASK, **options},
                                       extra_body={"task": "extract"})
    assert fragment in refused.value.body["message"]
    row = trace.get_request(refused.value.response.headers["x-hybrid-request-id"])
    assert (row.status, row.error, row.task) == ("failed", refused.value.body["message"], "extract")
    assert row.messages == ASK


def test_a_refused_requests_row_holds_no_credential(served):
    base, trace = served
    client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
    prompt = "Why does boto3 reject aws_access_key_id=AKIAZ7QX3MPLR2TB9KWE?"
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="hybrid", max_tokens=5, stop_sequences=["."], messages=[{"role": "user", "content": prompt}])
    row = trace.get_request(refused.value.response.headers["x-hybrid-request-id"])
    assert row.status == "failed" and "stop_sequences is not supported" in row.error
    assert row.messages == [{"role": "user", "content": prompt.replace("AKIAZ7QX3MPLR2TB9KWE",
                                                                        "[redacted: AWS Access Key]")}]


@pytest.mark.parametrize("body", [b"{not json", b'{"messages": [{"role": "user", "content": "\\ud800"}]}'])
def test_a_body_that_is_not_json_is_refused_without_a_trace_row(served, body):
    base, trace = served
    r = httpx.post(base + "/v1/chat/completions", content=body)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    assert "x-hybrid-request-id" not in r.headers and trace.recent(5) == []
    assert httpx.post(base + "/v1/chat/completions", json={"messages": ASK}).status_code == 200
    assert [row.status for row in trace.recent(5)] == ["done"]  # the trace goes on
