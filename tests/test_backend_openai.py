"""The OpenAI-compatible backend, through the official openai SDK, against a REAL server on loopback:
llama-cpp-python's own server (``python -m llama_cpp.server``) on the shipped SmolLM2 GGUF."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import BackendError, BackendUnavailable, ConfigError
from hybrid.router import Router
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from models import build_backend
from models.openai_compat import OpenAICompatBackend
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import closed_port, stream_all
from tests.llama_server import API_KEY, MODEL_ALIAS, start_llama_server

KEY_ENV = "MY_GATEWAY_KEY"


@pytest.fixture(scope="module")
def server():
    srv = start_llama_server()
    yield srv
    srv.stop()


def openai_table(base_url: str, **extra) -> dict:
    return {"type": "openai", "base_url": base_url, "model": MODEL_ALIAS, "local": True, "api_key_env": KEY_ENV,
            "max_retries": 0} | extra


def backend_for(base_url: str, monkeypatch, **extra) -> OpenAICompatBackend:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    settings = load_settings(backends={"srv": openai_table(base_url, **extra)})
    return build_backend("srv", settings.backends["srv"])


# -- options, validated by the type's own model (no server needed) ---------------------------------

def test_an_unknown_key_in_an_openai_table_is_named(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text(
        '[backends.vllm]\ntype = "openai"\nmodel = "qwen"\napi_base = "http://127.0.0.1:8000/v1"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "backends.vllm.api_base: Extra inputs are not permitted" in message
    assert "backends.vllm.base_url: Field required" in message and "config.toml" in message


def test_openai_options_are_local_and_priced_by_config(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-gw")
    settings = load_settings(backends={
        "gateway": {"type": "openai", "base_url": "https://gw.example/v1", "model": "gpt-x", "api_key_env": KEY_ENV,
                    "price_input": 2.0, "price_output": 8.0, "headers": {"X-Tenant": "team-a"}},
        "lmstudio": {"type": "openai", "base_url": "http://127.0.0.1:1234/v1", "model": "qwen", "local": True},
    })
    gateway, lmstudio = build_backend("gateway", settings.backends["gateway"]), build_backend(
        "lmstudio", settings.backends["lmstudio"])
    assert (gateway.is_local, gateway.price.input_per_mtok, gateway.price.output_per_mtok) == (False, 2.0, 8.0)
    assert lmstudio.is_local and lmstudio.price.input_per_mtok == 0
    assert settings.backends["gateway"].api_key.get_secret_value() == "sk-gw" and "sk-gw" not in repr(settings)
    assert gateway.health().ok and lmstudio.health().ok


def test_a_missing_key_names_its_variable_and_stays_off_the_network():
    settings = load_settings(backends={"gw": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
                                              "api_key_env": KEY_ENV}})
    backend = build_backend("gw", settings.backends["gw"])
    health = backend.health(deep=True)
    assert not health.ok and KEY_ENV in health.detail and "backends.gw.api_key_env" in health.detail
    with pytest.raises(BackendUnavailable, match=KEY_ENV):
        list(backend.stream(Request.from_prompt("hi")))


def test_a_stopped_server_is_a_retryable_error_naming_the_url():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAICompatBackend("srv", model="m", base_url=url, local=True, max_retries=0)
    with pytest.raises(BackendError) as info:
        list(backend.stream(Request.from_prompt("hi")))
    assert info.value.retryable and url in str(info.value) and "is the server running" in str(info.value)
    deep = backend.health(deep=True)
    assert not deep.ok and url in deep.detail


# -- against the real llama-cpp-python server ----------------------------------------------------

@pytest.mark.slow
def test_streams_text_with_usage_and_finish_reason(server, monkeypatch):
    backend = backend_for(server.base_url, monkeypatch)
    chunks = list(backend.stream(Request.from_prompt("Name a colour.", max_tokens=6)))
    text, final = "".join(c.text for c in chunks), chunks[-1]
    assert text.strip() and len(chunks) > 2 and all(c.usage is None for c in chunks[:-1])
    assert final.finish_reason in ("stop", "length")
    assert 1 <= final.usage.output_tokens <= 6


@pytest.mark.slow
def test_deep_health_lists_the_served_models(server, monkeypatch):
    up = backend_for(server.base_url, monkeypatch).health(deep=True)
    assert up.ok and f"serves {MODEL_ALIAS}" in up.detail
    down = backend_for(server.base_url, monkeypatch, model="llama-3-70b").health(deep=True)
    assert not down.ok and "does not serve 'llama-3-70b'" in down.detail and MODEL_ALIAS in down.detail
    assert "backends.srv.model" in down.detail


@pytest.mark.slow
def test_a_wrong_key_is_refused_and_extra_headers_reach_the_server(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong")
    settings = load_settings(backends={"srv": openai_table(server.base_url)})
    with pytest.raises(BackendUnavailable, match="refused the key") as info:
        list(build_backend("srv", settings.backends["srv"]).stream(Request.from_prompt("hi", max_tokens=2)))
    assert info.value.retryable is False
    # a gateway that takes its credentials in a header of its own: here, the server's own bearer header
    headers = {"Authorization": f"Bearer {API_KEY}"}
    settings = load_settings(backends={"srv": openai_table(server.base_url, api_key_env=None, headers=headers)})
    text, _ = stream_all(build_backend("srv", settings.backends["srv"]), Request.from_prompt("hi", max_tokens=3))
    assert text


class StopsServerAfterFirstChunk:
    """The real backend, with the server killed as soon as the first words arrive."""

    def __init__(self, backend, server) -> None:
        self._backend, self._server = backend, server
        self.name, self.model, self.is_local, self.price = backend.name, backend.model, True, backend.price

    def health(self, deep: bool = False):
        return self._backend.health(deep)

    def stream(self, request):
        for i, chunk in enumerate(self._backend.stream(request)):
            yield chunk
            if i == 0:
                self._server.stop()


@pytest.mark.slow
def test_the_router_falls_back_when_the_server_stops_mid_stream(tmp_path, monkeypatch):
    own = start_llama_server()
    try:
        backend = StopsServerAfterFirstChunk(backend_for(own.base_url, monkeypatch), own)
        settings = load_settings(backends={"srv": openai_table(own.base_url)},
                                 routing={"local": ["srv", "smollm2"]})
        backends = {"srv": backend, "smollm2": FakeBackend("smollm2").enqueue("the fallback answer"),
                    **{n: FakeBackend(n, is_local=False, ok=False) for n in ("haiku", "sonnet", "opus")}}
        trace = TraceStore(tmp_path / "t.db")
        router = Router(settings, backends, FixedClassifier(0.1), trace)
        completion = router.complete(Request.from_prompt("Tell me a long story about a dragon.", max_tokens=200))
    finally:
        own.stop()
    assert (completion.backend, completion.text) == ("smollm2", "the fallback answer")
    assert "fell back from srv to smollm2" in completion.decision.explain()
    (fallback,) = [s for s in trace.steps(completion.request_id) if s.kind == "fallback"]
    assert fallback.output["from"] == "srv" and fallback.output["retryable"] is True
    assert own.base_url in fallback.output["why"]
    # the next request routes around the stopped server without trying it again
    again = router.complete(Request.from_prompt("And another?"))
    assert again.backend == "smollm2" and "fallback" not in [s.kind for s in trace.steps(again.request_id)]


@pytest.mark.slow
def test_doctor_shows_one_openai_backend_up_and_one_down(server, isolated_home, monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    isolated_home.mkdir(parents=True)
    stopped = f"http://127.0.0.1:{closed_port()}/v1"
    Paths.resolve().config_file.write_text(
        "[routing]\nlocal = [\"llama-server\", \"smollm2\"]\n\n"
        f"[backends.llama-server]\ntype = \"openai\"\nbase_url = \"{server.base_url}\"\nmodel = \"{MODEL_ALIAS}\"\n"
        f"local = true\napi_key_env = \"{KEY_ENV}\"\n\n"
        f"[backends.vllm]\ntype = \"openai\"\nbase_url = \"{stopped}\"\nmodel = \"qwen2.5-7b\"\nlocal = true\n"
    )
    result = CliRunner().invoke(main, ["doctor"], catch_exceptions=False, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    up = next(line for line in result.output.splitlines() if "llama-server" in line)
    down = next(line for line in result.output.splitlines() if "vllm" in line)
    assert "openai" in up and "ok" in up and f"serves {MODEL_ALIAS}" in up
    assert "unavailable" in down and f"cannot reach {stopped}" in down


def test_every_backends_key_is_scrubbed_from_the_trace(monkeypatch):
    from hybrid.runtime import open_trace

    monkeypatch.setenv(KEY_ENV, "sk-gateway-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    settings = load_settings(backends={"gw": {"type": "openai", "base_url": "https://gw.example/v1", "model": "m",
                                              "api_key_env": KEY_ENV}})
    trace = open_trace(settings, Paths.resolve())
    trace.start_request("r1", task="chat", messages=[], params={}, metadata={}, parent_id=None, mode="direct")
    trace.add_step("r1", "error", error="gw said: bad key sk-gateway-secret; sonnet said: sk-ant-secret")
    (step,) = trace.steps("r1")
    trace.close()
    assert "sk-gateway-secret" not in step.error and "sk-ant-secret" not in step.error
