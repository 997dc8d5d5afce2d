"""The Ollama backend, through the real ``ollama`` client, against a fake Ollama server on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from hybrid.errors import BackendError, BackendUnavailable
from hybrid.router import Router
from hybrid.settings import load_settings
from hybrid.trace import TraceStore
from hybrid.types import Message, Request
from models import build_backend
from models.ollama import OllamaBackend
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.fakes.ollama_api import FakeOllamaAPI
from tests.helpers import closed_port, stream_all


@pytest.fixture
def server():
    with FakeOllamaAPI(models=["llama3.2:latest", "qwen2.5:0.5b"]) as fake:
        yield fake


def backend_for(server: FakeOllamaAPI, model: str = "llama3.2", **kwargs) -> OllamaBackend:
    return OllamaBackend("llama", model=model, host=server.url, timeout_s=5, **kwargs)


def test_streams_text_with_usage_from_the_final_chunk(server):
    server.enqueue_text("Paris is the capital of France.")
    text, final = stream_all(backend_for(server), Request.from_prompt("What is the capital of France?"))
    assert text == "Paris is the capital of France."
    assert (final.usage.input_tokens, final.usage.output_tokens, final.finish_reason) == (6, 6, "stop")
    body = server.chat_requests()[0].body
    assert body["model"] == "llama3.2" and body["stream"] is True


def test_the_whole_conversation_with_system_goes_to_ollama_in_order(server):
    request = Request(messages=(
        Message("system", "Answer in French."), Message("user", "Hi"),
        Message("assistant", "Bonjour"), Message("user", "Capital of Italy?"),
    ))
    stream_all(backend_for(server), request)
    sent = server.chat_requests()[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Answer in French."), ("user", "Hi"), ("assistant", "Bonjour"), ("user", "Capital of Italy?"),
    ]


def test_max_tokens_becomes_num_predict_and_a_cut_answer_reports_length(server):
    server.enqueue_text("one two three four five six")
    text, final = stream_all(backend_for(server), Request.from_prompt("Count", max_tokens=2, temperature=0.7))
    assert server.chat_requests()[0].body["options"] == {"temperature": 0.7, "num_predict": 2}
    assert text == "one two" and final.finish_reason == "length" and final.usage.output_tokens == 2


def test_a_model_that_was_not_pulled_says_ollama_pull(server):
    backend = backend_for(server, model="mistral")
    with pytest.raises(BackendUnavailable) as info:
        list(backend.stream(Request.from_prompt("Hi")))
    assert "`ollama pull mistral`" in str(info.value)
    health = backend.health()
    assert not health.ok and "`ollama pull mistral`" in health.detail


def test_a_stopped_server_is_unavailable_and_named(server):
    host = f"http://127.0.0.1:{closed_port()}"
    backend = OllamaBackend("llama", model="llama3.2", host=host)
    with pytest.raises(BackendUnavailable) as info:
        list(backend.stream(Request.from_prompt("Hi")))
    assert f"Ollama is not running at {host}" in str(info.value) and "ollama serve" in str(info.value)
    health = backend.health()
    assert not health.ok and host in health.detail


def test_a_server_error_is_a_retryable_backend_error(server):
    server.enqueue_error(503, "server busy, please try again.  maximum pending requests exceeded")
    with pytest.raises(BackendError) as info:
        list(backend_for(server).stream(Request.from_prompt("Hi")))
    assert not isinstance(info.value, BackendUnavailable)
    assert info.value.retryable is True and "maximum pending requests" in str(info.value)


def test_a_client_error_is_not_retryable(server):
    server.enqueue_error(400, "invalid options: num_ctx")
    with pytest.raises(BackendError) as info:
        list(backend_for(server).stream(Request.from_prompt("Hi")))
    assert info.value.retryable is False and "invalid options" in str(info.value)


def test_health_finds_the_model_under_its_full_tag(server):
    assert backend_for(server, "llama3.2").health().ok
    assert backend_for(server, "llama3.2:latest").health(deep=True).ok
    assert backend_for(server, "qwen2.5:0.5b").health().ok
    assert not backend_for(server, "qwen2.5").health().ok  # qwen2.5:latest was not pulled


def test_cheap_health_is_cached_and_deep_health_is_not(server):
    backend = backend_for(server, health_ttl_s=60)
    for _ in range(5):
        assert backend.health().ok
    assert [r.path for r in server.requests] == ["/api/tags"]
    backend.health(deep=True)
    backend.health(deep=True)
    assert len(server.requests) == 3


def test_cheap_health_gives_up_quickly_on_a_silent_host():
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host = "http://127.0.0.1:%d" % listener.getsockname()[1]
        backend = OllamaBackend("llama", model="llama3.2", host=host, probe_timeout_s=0.2)
        started = time.monotonic()
        health = backend.health()
        assert time.monotonic() - started < 2
    assert not health.ok and host in health.detail


def test_cheap_health_checks_config_without_a_model():
    health = OllamaBackend("llama", model="", host="http://127.0.0.1:1").health()
    assert not health.ok and "backends.llama.model" in health.detail


def test_build_backend_uses_ollama_host_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    settings = load_settings(backends={"llama": {"type": "ollama", "model": "llama3.2"}})
    backend = build_backend("llama", settings.backends["llama"])
    assert isinstance(backend, OllamaBackend) and backend.is_local and backend.host == server.url
    server.enqueue_text("Built.")
    assert stream_all(backend, Request.from_prompt("Hi"))[0] == "Built."


def test_the_backend_host_beats_ollama_host(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:1")
    settings = load_settings(backends={"llama": {"type": "ollama", "model": "llama3.2", "host": server.url}})
    assert build_backend("llama", settings.backends["llama"]).host == server.url


def make_router(tmp_path, host: str, score: float):
    settings = load_settings(backends={"llama": {"type": "ollama", "model": "llama3.2", "host": host}},
                             routing={"local": ["llama"], "cloud": "sonnet", "reference": "sonnet"})
    backends = {
        "llama": build_backend("llama", settings.backends["llama"]),
        "sonnet": FakeBackend("sonnet", is_local=False).enqueue("cloud answer"),
        **{n: FakeBackend(n, is_local=False, ok=False) for n in ("smollm2", "haiku", "opus")},
    }
    trace = TraceStore(tmp_path / "t.db")
    return Router(settings, backends=backends, classifier=FixedClassifier(score), trace=trace), trace


def test_the_router_answers_easy_work_on_ollama(tmp_path, server):
    router, trace = make_router(tmp_path, server.url, 0.1)
    server.enqueue_text("Four.")
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert (completion.backend, completion.text, completion.cost) == ("llama", "Four.", 0.0)
    assert completion.usage.output_tokens == 1
    assert trace.get_request(completion.request_id).is_local


def test_the_router_routes_around_a_stopped_ollama_and_says_why(tmp_path):
    host = f"http://127.0.0.1:{closed_port()}"
    router, _ = make_router(tmp_path, host, 0.1)
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert (completion.backend, completion.text) == ("sonnet", "cloud answer")
    assert f"Ollama is not running at {host}" in completion.decision.explain()


def test_the_router_falls_back_to_the_cloud_when_ollama_fails_mid_request(tmp_path, server):
    router, trace = make_router(tmp_path, server.url, 0.1)
    server.enqueue_error(500, "llama runner process has terminated: signal: killed")
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert (completion.backend, completion.text) == ("sonnet", "cloud answer")
    assert "fallback" in [s.kind for s in trace.steps(completion.request_id)]
