"""The router's event stream as a caller sees it: order, held drafts, no splicing, cancellation."""

from __future__ import annotations

import threading

import pytest

from hybrid.errors import BackendError, ContextOverflow, RequestCancelled
from hybrid.events import Decided, Done, DraftDiscarded, DraftHeld, DraftKept, Failed, FellBack, TextDelta
from hybrid.router import Cancel
from hybrid.types import CheckResult, Request
from tests.fakes.backend import FailAfter
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router, run_cancelled_at

CASCADE = {"mode": "cascade"}


def names(events):
    return [type(e).__name__ for e in events]


def squeeze(events):
    """Event names with runs of TextDelta folded into one, so orders read as sentences."""
    out = []
    for name in names(events):
        if not (name == "TextDelta" and out and out[-1] == "TextDelta"):
            out.append(name)
    return out


def streamed(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_direct_answer_streams_its_text_between_the_decision_and_done(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.2))
    backends["smollm2"].enqueue("Paris is the capital.")
    events = list(router.run(Request.from_prompt("Capital of France?")))
    assert squeeze(events) == ["Decided", "TextDelta", "Done"]
    assert names(events).count("TextDelta") == 4
    done = events[-1].completion
    assert streamed(events) == done.text == "Paris is the capital."
    assert events[0].request_id == done.request_id == trace.recent(1)[0].id
    assert all(e.backend == "smollm2" for e in events if isinstance(e, TextDelta))


def test_a_backend_that_fails_before_any_text_falls_back_and_says_so(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.9))
    backends["sonnet"].enqueue(BackendError("sonnet", "overloaded (529)", retryable=True))
    backends["smollm2"].enqueue("best effort")
    events = list(router.run(Request.from_prompt("hard question")))
    assert squeeze(events) == ["Decided", "FellBack", "TextDelta", "Done"]
    fell = events[1]
    assert (fell.from_backend, fell.to_backend, fell.why) == ("sonnet", "smollm2", "sonnet: overloaded (529)")
    assert streamed(events) == events[-1].completion.text == "best effort"
    assert trace.get_request(events[0].request_id).fallback is True


def test_a_failure_after_text_was_sent_ends_the_stream_and_is_never_spliced(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.9))
    backends["sonnet"].enqueue(FailAfter("The first half", BackendError("sonnet", "overloaded", retryable=True)))
    backends["smollm2"].enqueue("LOCAL TEXT")
    events = list(router.run(Request.from_prompt("hard question")))
    assert squeeze(events) == ["Decided", "TextDelta", "Failed"]
    failed = events[-1]
    assert failed.text_sent is True and "overloaded" in str(failed.error)
    assert streamed(events) == "The first half"
    assert backends["smollm2"].history == []  # no other model's text was tried, let alone spliced
    row = trace.get_request(failed.request_id)
    assert row.status == "failed" and "overloaded" in row.error and row.output == "The first half"
    router.health.mark_up("sonnet")
    backends["sonnet"].enqueue(FailAfter("Again half", BackendError("sonnet", "overloaded", retryable=True)))
    backends["smollm2"].enqueue("LOCAL TEXT")
    whole = router.complete(Request.from_prompt("hard question"))  # buffered: nothing was shown, so it falls back
    assert (whole.backend, whole.text) == ("smollm2", "LOCAL TEXT") and "Again half" not in whole.text


def test_cascade_holds_the_draft_until_it_is_kept(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.2), routing=CASCADE)
    backends["smollm2"].enqueue("Lima is the capital of Peru.")
    events = list(router.run(Request.from_prompt("Capital of Peru?")))
    assert names(events) == ["Decided", "DraftHeld", "DraftKept", "TextDelta", "Done"]
    held, kept = events[1], events[2]
    assert (held.backend, held.count) == ("smollm2", 1)
    assert kept.assessment.score == 0.2
    completion = events[-1].completion
    assert streamed(events) == completion.text == "Lima is the capital of Peru."
    assert "cascade: draft from smollm2 kept (draft score 0.20 < 0.50)" in completion.decision.reasons
    assert backends["sonnet"].history == []


def test_cascade_never_shows_a_discarded_draft(tmp_path):
    classifier = FixedClassifier(0.1, draft_score=0.8, checks=(
        CheckResult("cut_off", True, "cut off inside a code block"), CheckResult("refusal", False, "")))
    router, backends, trace = fake_router(tmp_path, classifier=classifier, routing=CASCADE)
    backends["smollm2"].enqueue("The capital of Peru is Lima.")
    backends["sonnet"].enqueue("CLOUD answer about Peru")
    events = list(router.run(Request.from_prompt("Capital of Peru?")))
    assert squeeze(events) == ["Decided", "DraftHeld", "DraftDiscarded", "TextDelta", "Done"]
    discarded = events[2]
    assert discarded.escalate_to == "sonnet" and discarded.backend == "smollm2"
    completion = events[-1].completion
    assert streamed(events) == completion.text == "CLOUD answer about Peru"
    assert "Lima" not in streamed(events)
    assert "draft rejected: cut off inside a code block" in completion.decision.reasons
    (draft,) = [s for s in trace.steps(completion.request_id) if s.kind == "draft"]
    assert draft.output == {
        "drafts": ["The capital of Peru is Lima."], "kept": 0, "score": 0.8, "threshold": 0.5, "escalate": True,
        "checks": [{"name": "cut_off", "fired": True, "reason": "cut off inside a code block"},
                   {"name": "refusal", "fired": False, "reason": ""}],
        "agreement": None, "reasons": ["fixed draft score 0.80"],
    }
    row = trace.get_request(completion.request_id)
    assert (row.status, row.backend, row.output) == ("done", "sonnet", "CLOUD answer about Peru")


def test_cascade_sends_the_draft_when_the_cloud_fails_before_any_text(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9), routing=CASCADE)
    backends["smollm2"].enqueue("the draft")
    backends["sonnet"].enqueue(BackendError("sonnet", "rate limited", retryable=True))
    events = list(router.run(Request.from_prompt("q")))
    assert names(events) == ["Decided", "DraftHeld", "DraftDiscarded", "FellBack", "TextDelta", "Done"]
    assert (events[3].from_backend, events[3].to_backend) == ("sonnet", "smollm2")
    assert streamed(events) == events[-1].completion.text == "the draft"
    assert router.trace.get_request(events[0].request_id).fallback is True


def test_cascade_cloud_failing_mid_answer_is_not_followed_by_the_draft(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9), routing=CASCADE)
    backends["smollm2"].enqueue("the draft")
    backends["sonnet"].enqueue(FailAfter("cloud begins", BackendError("sonnet", "connection lost", retryable=True)))
    events = list(router.run(Request.from_prompt("q")))
    assert squeeze(events) == ["Decided", "DraftHeld", "DraftDiscarded", "TextDelta", "Failed"]
    assert streamed(events) == "cloud begins" and events[-1].text_sent
    assert trace.get_request(events[0].request_id).status == "failed"


def test_two_drafts_sample_the_local_model_again_and_keep_the_one_the_classifier_picks(tmp_path):
    classifier = FixedClassifier(0.1, draft_score=0.3, keep=1, agreement=0.5)
    router, backends, trace = fake_router(tmp_path, classifier=classifier, routing={**CASCADE, "drafts": 2})
    backends["smollm2"].enqueue("first draft", "second draft")
    events = list(router.run(Request.from_prompt("Capital of Peru?")))
    assert names(events) == ["Decided", "DraftHeld", "DraftKept", "TextDelta", "Done"]
    assert events[1].count == 2
    assert [d.text for d in classifier.assessed[0]] == ["first draft", "second draft"]
    assert [r.temperature for r in backends["smollm2"].history] == [0.0, 0.7]
    completion = events[-1].completion
    assert streamed(events) == completion.text == "second draft"
    assert any("2 drafts agree 50%" in r for r in completion.decision.reasons)
    (draft,) = [s for s in trace.steps(completion.request_id) if s.kind == "draft"]
    assert draft.output["drafts"] == ["first draft", "second draft"] and draft.output["kept"] == 1
    assert draft.output["agreement"] == 0.5


def test_further_drafts_come_from_the_configured_draft_backends(tmp_path):
    classifier = FixedClassifier(0.1, draft_score=0.2)
    routing = {**CASCADE, "drafts": 2, "local": ["smollm2", "qwen"], "draft_backends": ["qwen"]}
    router, backends, _ = fake_router(tmp_path, classifier=classifier, routing=routing,
                                      backends={"qwen": {"type": "llamacpp", "model": "qwen"}})
    backends["qwen"].enqueue("qwen draft")
    c = router.complete(Request.from_prompt("q"))
    assert [r.temperature for r in backends["qwen"].history] == [0.0]  # a second model needs no sampling
    assert [d.text for d in classifier.assessed[0]] == ["smollm2 answer", "qwen draft"]
    assert (c.text, c.backend) == ("smollm2 answer", "smollm2")


def test_a_cancelled_request_stops_the_backend_stream_and_is_traced_as_cancelled(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.2))
    backends["smollm2"].enqueue("one two three four five")
    events = run_cancelled_at(router, Request.from_prompt("count"), TextDelta)
    assert squeeze(events) == ["Decided", "TextDelta", "Failed"]
    assert isinstance(events[-1].error, RequestCancelled) and events[-1].text_sent
    assert streamed(events) == "one"
    assert len(backends["smollm2"].closed) == 1  # the backend's generator saw GeneratorExit
    row = trace.get_request(events[0].request_id)
    assert row.status == "cancelled" and "cancelled" in row.error
    call = next(s for s in trace.steps(row.id) if s.kind == "backend_call")
    assert call.output["text"] == "one" and "cancelled" in call.error


def test_closing_the_event_iterator_cancels_the_request(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.2))
    backends["smollm2"].enqueue("one two three four five")
    events = router.run(Request.from_prompt("count"))
    decided = next(events)
    assert isinstance(next(events), TextDelta)
    events.close()
    assert len(backends["smollm2"].closed) == 1
    row = trace.get_request(decided.request_id)
    assert row.status == "cancelled" and row.error == "the caller stopped reading the answer"


def test_a_request_cancelled_before_it_starts_calls_no_backend(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    cancel = threading.Event()
    cancel.set()
    events = list(router.run(Request.from_prompt("hi"), cancel=cancel))
    assert names(events) == ["Failed"] and not events[0].text_sent
    assert backends["smollm2"].history == []
    assert trace.get_request(events[0].request_id).status == "cancelled"
    with pytest.raises(RequestCancelled):
        router.complete(Request.from_prompt("hi"), cancel=cancel)


def test_cancelling_a_held_draft_sends_nothing(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9), routing=CASCADE)
    backends["smollm2"].enqueue("draft words here")
    events = run_cancelled_at(router, Request.from_prompt("q"), DraftHeld)
    assert names(events) == ["Decided", "DraftHeld", "Failed"] and not events[-1].text_sent
    assert backends["sonnet"].history == [] and backends["smollm2"].history == []  # not even started
    assert trace.get_request(events[0].request_id).status == "cancelled"


def test_every_event_carries_the_trace_request_id(tmp_path):
    router, _, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9), routing=CASCADE)
    events = list(router.run(Request.from_prompt("q")))
    ids = {e.completion.request_id if isinstance(e, Done) else e.request_id for e in events}
    assert ids == {trace.recent(1)[0].id}
    assert isinstance(events[0], Decided) and isinstance(events[-1], Done)
    assert not any(isinstance(e, (DraftKept, FellBack, Failed)) for e in events)
    assert any(isinstance(e, DraftDiscarded) for e in events)


def test_a_prompt_too_long_for_the_local_model_goes_to_the_cloud(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    backends["smollm2"].enqueue(ContextOverflow("smollm2", "prompt is 3000 tokens but the context window is 2048"))
    c = router.complete(Request.from_prompt("a very long document"))
    assert c.backend == "sonnet" and "fell back from smollm2 to sonnet" in c.notes


def test_a_prompt_too_long_for_every_backend_is_a_context_overflow(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    backends["smollm2"].enqueue(ContextOverflow("smollm2", "prompt is 3000 tokens but the context window is 2048"))
    backends["sonnet"].enqueue(ContextOverflow("sonnet", "prompt is too long: 300000 tokens > 200000 maximum"))
    events = list(router.run(Request.from_prompt("a very long document")))
    failed = events[-1]
    assert isinstance(failed.error, ContextOverflow) and not failed.error.retryable
    assert "context window is 2048" in str(failed.error) and "200000 maximum" in str(failed.error)
    assert trace.get_request(failed.request_id).status == "failed"


def test_a_cancel_can_say_why_and_the_trace_keeps_it(tmp_path):
    router, _, trace = fake_router(tmp_path)
    cancel = Cancel()
    cancel.cancel("the server is busy: smollm2 has 16 requests waiting")
    (failed,) = router.run(Request.from_prompt("hi"), cancel=cancel)
    assert str(failed.error) == "the server is busy: smollm2 has 16 requests waiting"
    row = trace.get_request(failed.request_id)
    assert (row.status, row.error) == ("cancelled", "the server is busy: smollm2 has 16 requests waiting")
