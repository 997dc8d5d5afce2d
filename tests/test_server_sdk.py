"""The official openai and anthropic SDKs, unmodified, against hybrid serve on loopback."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import HybridServe, serving

ASK = [{"role": "user", "content": "Capital of France?"}]


@pytest.fixture
def served(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    with serving(router, token="tok-123") as (base, _):
        yield base, backends, trace


def test_openai_sdk_whole_and_streamed(served):
    base, backends, trace = served
    client = openai.OpenAI(base_url=base + "/v1", api_key="tok-123", max_retries=0)
    backends["smollm2"].enqueue("Paris.", "Paris is the capital.")
    reply = client.chat.completions.create(model="hybrid", messages=ASK, max_tokens=20)
    assert reply.choices[0].message.content == "Paris." and reply.usage.completion_tokens == 1
    assert trace.get_request(reply.id.removeprefix("chatcmpl-")).status == "done"
    stream = client.chat.completions.create(model="hybrid", messages=ASK, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital."
    assert chunks[-1].usage.total_tokens == 3 + 4 and len({c.id for c in chunks}) == 1
    assert [m.id for m in client.models.list()][:3] == ["hybrid", "hybrid:local", "hybrid:cloud"]


def test_openai_sdk_stream_has_the_routing_info_on_the_finish_chunk_with_or_without_usage(served):
    """``x_hybrid`` rides on the chunk with ``finish_reason``, which every stream has; the usage chunk that
    ``include_usage`` adds after it has no choices and only the usage."""
    base, backends, _ = served
    client = openai.OpenAI(base_url=base + "/v1", api_key="tok-123", max_retries=0)
    backends["smollm2"].enqueue("Lima.", "Lima.")
    with_usage = list(client.chat.completions.create(model="hybrid", messages=ASK, stream=True,
                                                     stream_options={"include_usage": True}))
    without = list(client.chat.completions.create(model="hybrid", messages=ASK, stream=True))
    for chunks in (with_usage, without):
        finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
        assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
        info = finish[0].model_extra["x_hybrid"]
        assert info["backend"] == "smollm2" and info["request_id"] == finish[0].id.removeprefix("chatcmpl-")
        assert [c for c in chunks if "x_hybrid" in c.model_extra] == finish
    assert with_usage[-1].choices == [] and with_usage[-1].usage.total_tokens == 3 + 1
    assert with_usage[-2] is next(c for c in with_usage if "x_hybrid" in c.model_extra)
    assert without[-1] is next(c for c in without if "x_hybrid" in c.model_extra) and without[-1].usage is None


def test_openai_sdk_raises_its_own_errors(served):
    base, *_ = served
    client = openai.OpenAI(base_url=base + "/v1", api_key="tok-123", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="n > 1"):
        client.chat.completions.create(model="hybrid", messages=ASK, n=3)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).models.list()


def test_anthropic_sdk_whole_and_streamed(served):
    base, backends, trace = served
    client = anthropic.Anthropic(base_url=base, api_key="tok-123", max_retries=0)
    backends["sonnet"].enqueue("Paris.", "Paris is the capital.")
    message = client.messages.create(model="hybrid:cloud", max_tokens=20, messages=ASK)
    assert message.content[0].text == "Paris." and message.stop_reason == "end_turn"
    assert trace.get_request(message.id.removeprefix("msg_")).backend == "sonnet"
    with client.messages.stream(model="hybrid:cloud", max_tokens=20, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Paris is the capital." == final.content[0].text
    assert final.usage.output_tokens == 4 and final.model == "hybrid:cloud"
    with pytest.raises(anthropic.BadRequestError, match="stop_sequences is not supported"):
        client.messages.create(model="hybrid", max_tokens=20, messages=ASK, extra_body={"stop_sequences": ["."]})


@pytest.fixture
def hybrid_serve(tmp_path):
    """``hybrid serve`` as a subprocess: real SmolLM2 locally, the cloud faked at its wire."""
    with FakeAnthropicAPI() as cloud:
        server = HybridServe(tmp_path / "home", cloud.url, api_key=DEFAULT_KEY).start()
        try:
            yield server.base, cloud, server.trace_db
        finally:
            server.stop()


@pytest.mark.slow
def test_both_sdks_against_hybrid_serve_with_real_smollm2(hybrid_serve):
    from hybrid.trace import TraceStore

    base, cloud, trace_db = hybrid_serve
    oa = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    local = oa.chat.completions.create(model="hybrid:local", messages=ASK, max_tokens=12)
    assert local.choices[0].message.content.strip() and local.usage.completion_tokens > 0
    streamed = oa.chat.completions.create(model="smollm2", messages=ASK, max_tokens=12, stream=True)
    chunks = list(streamed)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    trace = TraceStore(trace_db)
    assert text and text == trace.get_request(chunks[0].id.removeprefix("chatcmpl-")).output

    cloud.enqueue_text("Paris, from the cloud.")
    an = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
    with an.messages.stream(model="hybrid:cloud", max_tokens=30, messages=ASK) as stream:
        assert "".join(stream.text_stream) == "Paris, from the cloud."
        final = stream.get_final_message()
    row = trace.get_request(final.id.removeprefix("msg_"))
    assert (row.status, row.backend, row.output) == ("done", "sonnet", "Paris, from the cloud.") and row.cost > 0


@pytest.mark.slow
def test_a_cascade_through_both_sdks_streams_exactly_the_answer_it_returns(tmp_path):
    """Cascade mode behind a live ``hybrid serve``: real SmolLM2 drafts, the cloud faked at its wire. A draft cut
    off by max_tokens is rejected and the cloud answers; streamed or whole, through either SDK, the text the client
    gets is the answer the trace records, and the draft never leaks into the stream."""
    from hybrid.trace import TraceStore

    question = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                "How many clips did Natalia sell altogether?")

    def maths(n: int) -> list[dict]:  # a new request each time, so none is answered from the response cache
        return [{"role": "user", "content": f"{question} ({n})"}]

    answer = "She sold 72 clips in all."  # fits max_tokens (the fake counts words); the draft does not
    with FakeAnthropicAPI() as cloud:
        server = HybridServe(tmp_path / "home", cloud.url, api_key=DEFAULT_KEY,
                             extra_env={"HYBRID_ROUTING__MODE": "cascade"}).start()
        try:
            for _ in range(4):
                cloud.enqueue_text(answer)
            trace = TraceStore(server.trace_db)
            oa = openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0)
            whole = oa.chat.completions.create(model="hybrid", messages=maths(1), max_tokens=8)
            chunks = list(oa.chat.completions.create(model="hybrid", messages=maths(2), max_tokens=8, stream=True))
            streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
            assert whole.choices[0].message.content == streamed == answer
            for request_id in (whole.id, chunks[0].id):
                row = trace.get_request(request_id.removeprefix("chatcmpl-"))
                assert (row.status, row.backend, row.output) == ("done", "sonnet", answer)

            an = anthropic.Anthropic(base_url=server.base, api_key="unused", max_retries=0)
            message = an.messages.create(model="hybrid", max_tokens=8, messages=maths(3))
            with an.messages.stream(model="hybrid", max_tokens=8, messages=maths(4)) as stream:
                streamed = "".join(stream.text_stream)
                final = stream.get_final_message()
            assert message.content[0].text == streamed == final.content[0].text == answer
            steps = [s.kind for s in trace.steps(final.id.removeprefix("msg_"))]
            assert "draft" in steps and steps.count("backend_call") == 2
        finally:
            server.stop()
