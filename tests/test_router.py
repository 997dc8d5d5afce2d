from __future__ import annotations

import threading

import pytest

from hybrid.cache import ResponseCache
from hybrid.errors import BackendError, BackendUnavailable, ConfigError, ContextOverflow, RequestError
from hybrid.types import Message, Request
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router


def kinds(trace, request_id):
    return [s.kind for s in trace.steps(request_id)]


def test_easy_request_is_answered_locally_and_every_step_is_traced(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.2))
    backends["smollm2"].enqueue("Positive.")
    c = router.complete(Request.from_prompt("Classify: I loved it", task="classify"))
    assert c.text == "Positive."
    assert c.backend == "smollm2" and c.cost == 0
    assert c.decision.escalate is False
    assert "difficulty 0.20 < threshold 0.50" in c.decision.explain()
    assert kinds(trace, c.request_id) == ["request", "classify", "route", "backend_call"]
    row = trace.get_request(c.request_id)
    assert (row.status, row.backend, row.is_local, row.output, row.score) == ("done", "smollm2", True, "Positive.", 0.2)
    call = trace.steps(c.request_id)[-1]
    assert call.input["messages"] == [{"role": "user", "content": "Classify: I loved it"}]
    assert call.output["text"] == "Positive." and call.output_tokens == 1


def test_a_score_just_under_the_threshold_is_shown_with_the_decimals_that_tell_them_apart(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.363085))
    router.set_threshold(0.3631)
    backends["smollm2"].enqueue("Positive.")
    c = router.complete(Request.from_prompt("Classify: I loved it", task="classify"))
    assert "difficulty 0.36308 < threshold 0.36310" in c.decision.explain()


def test_a_local_backend_that_is_down_is_named_with_why_it_was_skipped(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1), routing={"local": ["qwen", "smollm2"]},
                                      backends={"qwen": {"type": "llamacpp", "model": "qwen"}})
    backends["qwen"].ok = False
    backends["smollm2"].enqueue("Paris.")
    c = router.complete(Request.from_prompt("Capital of France?"))
    assert c.backend == "smollm2"
    assert f"qwen skipped: {backends['qwen'].health().detail}" in c.decision.reasons


def test_a_request_pinned_to_local_never_falls_back_to_the_cloud(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1), local_ok=True)
    backends["smollm2"].enqueue(ContextOverflow("smollm2", "prompt is 6031 tokens but the context window is 2048"))
    with pytest.raises(ContextOverflow, match="context window is 2048"):
        router.complete(Request.from_prompt("yak " * 3000, pin="local"))
    assert backends["sonnet"].history == [] and backends["opus"].history == []
    (row,) = trace.recent(1)
    assert row.status == "failed" and row.fallback is not True


def test_hard_request_escalates_and_is_costed_at_the_cloud_price(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.9))
    backends["sonnet"].enqueue("a long careful answer")
    c = router.complete(Request.from_prompt("Design a distributed database"))
    assert c.backend == "sonnet" and c.decision.escalate
    assert c.decision.fallbacks == ("smollm2",)
    # fake usage: 4 prompt words, 4 answer words at $3/$15 per Mtok
    assert c.cost == pytest.approx((4 * 3 + 4 * 15) / 1e6)
    row = trace.get_request(c.request_id)
    assert row.is_local is False and row.frontier_cost == pytest.approx(c.cost)


def test_task_rule_comes_before_the_threshold(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.0))
    c = router.complete(Request.from_prompt("Prove sqrt(2) is irrational", task="reason"))
    assert c.backend == "opus"
    assert "task 'reason' always escalates" in c.decision.reasons


def test_per_task_cloud_tier(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.99))
    assert router.complete(Request.from_prompt("label this", task="classify")).backend == "haiku"


def test_no_cloud_sends_hard_work_to_the_strongest_local_model_and_says_why(tmp_path):
    router, backends, _ = fake_router(tmp_path, cloud_ok=False, classifier=FixedClassifier(0.9))
    c = router.complete(Request.from_prompt("Design a distributed database"))
    assert c.backend == "smollm2"
    assert any("sonnet unavailable (fake is down)" in r and "strongest local model smollm2" in r
               for r in c.decision.reasons)


def test_no_local_sends_easy_work_to_the_cloud(tmp_path):
    router, _, _ = fake_router(tmp_path, local_ok=False, classifier=FixedClassifier(0.1))
    c = router.complete(Request.from_prompt("hi"))
    assert c.backend == "sonnet"
    assert any("no local backend available" in r for r in c.decision.reasons)


def test_cloud_failure_falls_back_to_local_and_is_recorded(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.9))
    backends["sonnet"].enqueue(BackendError("sonnet", "overloaded (529)", retryable=True))
    backends["smollm2"].enqueue("best effort")
    c = router.complete(Request.from_prompt("hard question"))
    assert (c.backend, c.text) == ("smollm2", "best effort")
    assert "fell back from sonnet to smollm2" in c.decision.reasons
    steps = trace.steps(c.request_id)
    assert [s.kind for s in steps] == ["request", "classify", "route", "backend_call", "fallback", "backend_call"]
    assert steps[3].error == "sonnet: overloaded (529)"
    assert steps[4].output == {"from": "sonnet", "to": "smollm2", "why": "sonnet: overloaded (529)",
                               "retryable": True}
    assert trace.get_request(c.request_id).fallback is True
    # the failed cloud is avoided for a while: the next hard request goes local directly
    c2 = router.complete(Request.from_prompt("another hard question"))
    assert c2.backend == "smollm2" and "failed recently" in c2.decision.explain()


def test_when_every_backend_fails_the_request_is_recorded_as_failed(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    backends["smollm2"].enqueue(BackendError("smollm2", "crashed"))
    backends["sonnet"].enqueue(BackendError("sonnet", "no network", retryable=True))
    with pytest.raises(BackendError, match="every candidate backend failed"):
        router.complete(Request.from_prompt("hi"))
    (row,) = trace.recent(5)
    assert row.status == "failed" and "crashed" in row.error and "no network" in row.error
    assert [s.kind for s in trace.steps(row.id)][-1] == "error"


def test_nothing_available_is_a_clear_failure_in_the_trace(tmp_path):
    router, _, trace = fake_router(tmp_path, cloud_ok=False, local_ok=False)
    with pytest.raises(BackendUnavailable, match="hybrid doctor"):
        router.complete(Request.from_prompt("hi"))
    assert trace.recent(1)[0].status == "failed"


@pytest.mark.parametrize(
    "request_, message",
    [
        (Request.from_prompt("   "), "the prompt is empty"),
        (Request(messages=()), "no messages"),
        (Request.from_prompt("hi", task="poetry"), "unknown task type 'poetry'; use one of: chat, classify"),
        (Request.from_prompt("hi", max_tokens=0), "max_tokens must be at least 1"),
        (Request(messages=(Message("robot", "hi"),)), "unknown message roles"),
    ],
)
def test_bad_input_fails_clearly_and_is_still_traced(tmp_path, request_, message):
    router, backends, trace = fake_router(tmp_path)
    with pytest.raises(RequestError, match=message):
        router.complete(request_)
    (row,) = trace.recent(5)
    assert row.status == "failed" and message.split(";")[0] in row.error
    assert backends["smollm2"].history == []


def test_identical_temperature_zero_request_is_a_cache_hit(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    router.cache = ResponseCache(tmp_path / "cache")
    first = router.complete(Request.from_prompt("What is 2+2?"))
    second = router.complete(Request.from_prompt("What is 2+2?"))
    assert second.text == first.text and second.cached and not first.cached
    assert "cache hit" in second.decision.reasons
    assert len(backends["smollm2"].history) == 1
    assert "cache" in kinds(trace, second.request_id)
    assert trace.get_request(second.request_id).cached is True
    router.complete(Request.from_prompt("What is 2+2?", temperature=0.7))
    assert len(backends["smollm2"].history) == 2


def test_cascade_escalates_an_inadequate_draft(tmp_path):
    router, backends, trace = fake_router(
        tmp_path, classifier=FixedClassifier(0.1, draft_score=0.8), routing={"mode": "cascade"}
    )
    backends["smollm2"].enqueue("I don't know")
    backends["sonnet"].enqueue("Here is the answer")
    c = router.complete(Request.from_prompt("tricky"))
    assert (c.backend, c.text) == ("sonnet", "Here is the answer")
    assert c.decision.mode == "cascade"
    assert "cascade: draft from smollm2 escalated to sonnet (draft score 0.80 >= 0.50)" in c.decision.reasons
    draft = next(s for s in trace.steps(c.request_id) if s.kind == "draft")
    assert draft.output["drafts"] == ["I don't know"]
    assert (draft.output["score"], draft.output["threshold"], draft.output["escalate"]) == (0.8, 0.5, True)
    assert [s.kind for s in trace.steps(c.request_id)].count("backend_call") == 2


def test_cascade_keeps_a_good_draft(tmp_path):
    router, backends, _ = fake_router(
        tmp_path, classifier=FixedClassifier(0.1, draft_score=0.2), routing={"mode": "cascade"}
    )
    c = router.complete(Request.from_prompt("easy"))
    assert c.backend == "smollm2" and backends["sonnet"].history == []
    assert "cascade: draft from smollm2 kept (draft score 0.20 < 0.50)" in c.decision.reasons
    close = FixedClassifier(0.1, draft_score=0.9, draft_threshold=0.90148)  # a threshold calibrate can write
    router, _, _ = fake_router(tmp_path / "close", classifier=close, routing={"mode": "cascade"})
    reasons = router.complete(Request.from_prompt("easy")).decision.reasons
    assert "cascade: draft from smollm2 kept (draft score 0.900 < 0.901)" in reasons  # not "0.90 < 0.90"


def test_cascade_keeps_the_draft_when_the_cloud_fails(tmp_path):
    router, backends, _ = fake_router(
        tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9), routing={"mode": "cascade"}
    )
    backends["smollm2"].enqueue("draft")
    backends["sonnet"].enqueue(BackendError("sonnet", "rate limited", retryable=True))
    c = router.complete(Request.from_prompt("q"))
    assert (c.backend, c.text) == ("smollm2", "draft")


def test_threshold_can_change_while_running(tmp_path):
    router, _, _ = fake_router(tmp_path, classifier=FixedClassifier(0.4))
    assert router.complete(Request.from_prompt("q1")).backend == "smollm2"
    router.set_threshold(0.3)
    assert router.threshold == 0.3
    assert router.complete(Request.from_prompt("q2")).backend == "sonnet"
    with pytest.raises(ConfigError, match=r"threshold must be in \[0, 1\], got 1.5; fix"):
        router.set_threshold(1.5)
    assert router.threshold == 0.3


def test_chained_steps_are_linked_in_the_trace(tmp_path):
    router, _, trace = fake_router(tmp_path)
    first = router.complete(Request.from_prompt("step one"))
    second = router.complete(Request.from_prompt(f"use: {first.text}", parent_id=first.request_id))
    assert [r.id for r in trace.children(first.request_id)] == [second.request_id]


def test_api_keys_never_reach_the_trace(tmp_path):
    router, backends, trace = fake_router(tmp_path, secrets=["my-secret-key-123"])
    backends["smollm2"].enqueue("echo sk-ant-api03-abcdefghijklmnop and my-secret-key-123")
    c = router.complete(Request.from_prompt("my key is my-secret-key-123"))
    dump = repr(trace.get_request(c.request_id)) + repr(trace.steps(c.request_id))
    assert "my-secret-key-123" not in dump and "sk-ant-api03" not in dump
    assert "[redacted]" in trace.get_request(c.request_id).prompt


def test_concurrent_requests_all_land_in_the_trace(tmp_path):
    router, _, trace = fake_router(tmp_path)
    errors = []

    def work(i):
        try:
            router.complete(Request.from_prompt(f"question {i}"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = trace.recent(50)
    assert len(rows) == 12 and {r.status for r in rows} == {"done"}
    assert len({r.rev for r in rows}) == 12


def test_a_stopped_demo_cancels_the_request_in_flight_and_starts_no_other(tmp_path):
    from hybrid.demo import run_demo
    from hybrid.events import TextDelta

    router, backends, trace = fake_router(tmp_path)
    backends["smollm2"].enqueue("one two three four")
    cancel = threading.Event()

    def on_event(event) -> None:
        if isinstance(event, TextDelta):
            cancel.set()

    outcomes = run_demo(router, cancel=cancel, on_event=on_event)
    first = next(outcomes)
    assert first.completion is None and "cancelled" in first.error
    assert list(outcomes) == []
    assert backends["smollm2"].closed  # the model stopped writing
    (row,) = trace.recent(10)
    assert row.status == "cancelled" and row.error == "the caller cancelled the request"


def test_a_promoted_classifier_takes_over_the_next_request(tmp_path):
    router, _, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    assert router.complete(Request.from_prompt("q")).backend == "smollm2"
    router.use_classifier(FixedClassifier(0.9, version="retrained"))
    c = router.complete(Request.from_prompt("q2"))
    assert c.backend == "sonnet" and trace.get_request(c.request_id).classifier == "retrained"
