"""The event stream with the real SmolLM2 (llama.cpp) drafting: agreement over two drafts, cancellation."""

from __future__ import annotations

import pytest

from hybrid.errors import RequestCancelled
from hybrid.events import DraftHeld, DraftKept, Failed, TextDelta
from hybrid.router import Router
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from models import build_backend
from tests.fakes.backend import FakeBackend
from tests.helpers import run_cancelled_at

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    settings = load_settings()
    return build_backend("smollm2", settings.backends["smollm2"])


def local_router(tmp_path, smollm2, **routing):
    settings = load_settings(routing={"threshold": 1.0, **routing})  # the prompt alone never escalates
    backends = {"smollm2": smollm2, "sonnet": FakeBackend("sonnet", is_local=False).enqueue("Cloud: Paris."),
                **{n: FakeBackend(n, is_local=False, ok=False) for n in ("haiku", "opus")}}
    classifier = load_classifier(settings, Paths.resolve())
    return Router(settings, backends, classifier, TraceStore(tmp_path / "t.db")), backends


def test_two_real_drafts_are_judged_together_and_the_streamed_text_is_the_answer(tmp_path, smollm2):
    router, _ = local_router(tmp_path, smollm2, mode="cascade", drafts=2, draft_threshold=1.0)
    events = list(router.run(Request.from_prompt("What is the capital of France?", max_tokens=12)))
    held = next(e for e in events if isinstance(e, DraftHeld))
    assert held.count == 2 and any(isinstance(e, DraftKept) for e in events)
    completion = events[-1].completion
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == completion.text
    steps = router.trace.steps(completion.request_id)
    calls = [s for s in steps if s.kind == "backend_call"]
    assert [c.input["temperature"] for c in calls] == [0.0, 0.7]  # the second draft is sampled
    (draft,) = [s for s in steps if s.kind == "draft"]
    assert draft.output["drafts"] == [c.output["text"] for c in calls]
    assert completion.text == draft.output["drafts"][draft.output["kept"]]
    assert completion.usage.output_tokens == sum(c.output_tokens for c in calls)


def test_a_rejected_real_draft_is_never_streamed(tmp_path, smollm2):
    router, _ = local_router(tmp_path, smollm2, mode="cascade", draft_threshold=0.0)
    events = list(router.run(Request.from_prompt("What is the capital of France?", max_tokens=12)))
    completion = events[-1].completion
    assert completion.backend == "sonnet"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == completion.text == "Cloud: Paris."


def test_cancelling_real_generation_stops_llama_cpp_and_frees_the_model(tmp_path, smollm2):
    router, _ = local_router(tmp_path, smollm2)
    events = run_cancelled_at(router, Request.from_prompt("Write a long story about a dragon.", max_tokens=200),
                              TextDelta)
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, RequestCancelled)
    row = router.trace.get_request(events[0].request_id)
    assert row.status == "cancelled"
    call = next(s for s in router.trace.steps(row.id) if s.kind == "backend_call")
    assert len(call.output["text"]) < 40  # it stopped after a token or two, far short of 200 tokens
    again = router.complete(Request.from_prompt("Say hi.", max_tokens=4))  # the model's lock was released
    assert again.backend == "smollm2"
