"""The whole product with the cloud reachable: CLI -> router -> anthropic SDK -> fake Messages API on 127.0.0.1."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.learning import labels_from_trace
from hybrid.settings import Paths
from hybrid.trace import TraceStore
from tests.fakes.anthropic_api import DEFAULT_KEY


def trace() -> TraceStore:
    return TraceStore(Paths.resolve().trace_db)


def test_reason_task_escalates_to_opus_and_is_costed(cloud):
    cloud.enqueue_text("Suppose sqrt(2) = p/q in lowest terms; then p and q are both even, a contradiction.")
    result = CliRunner().invoke(main, ["ask", "--task", "reason", "Prove that sqrt(2) is irrational"])
    assert result.exit_code == 0, result.output
    assert "Suppose sqrt(2) = p/q" in result.output
    assert "→ cloud opus (claude-opus-4-6)" in result.output and "task 'reason' always escalates" in result.output
    (sent,) = cloud.messages_requests()
    assert sent.body["model"] == "claude-opus-4-6" and sent.body["stream"] is True
    (row,) = trace().recent(5)
    assert (row.backend, row.is_local, row.status) == ("opus", False, "done")
    assert row.cost == pytest.approx((row.input_tokens * 5 + row.output_tokens * 25) / 1e6) and row.cost > 0
    dump = repr(row) + repr(trace().steps(row.id))
    assert DEFAULT_KEY not in dump


def test_cloud_overload_falls_back_to_local_and_the_decision_says_so(cloud):
    cloud.enqueue_error(529, "overloaded_error", times=3)
    result = CliRunner().invoke(main, ["ask", "--task", "reason", "--max-tokens", "8", "Prove it"])
    assert result.exit_code == 0, result.output
    assert "→ local smollm2" in result.output and "fell back from opus to smollm2" in result.output
    assert len(cloud.messages_requests()) == 3  # the SDK's own two retries, then the router's fallback
    (row,) = trace().recent(5)
    assert row.fallback is True
    assert [s.kind for s in trace().steps(row.id)].count("fallback") == 1


def _local_answers(n: int, monkeypatch) -> list[str]:
    monkeypatch.setenv("HYBRID_ROUTING__TASKS__CLASSIFY__ROUTE", "local")
    ids = []
    for i in range(n):
        result = CliRunner().invoke(main, ["ask", "--task", "classify", "--max-tokens", "6", f"Label {i}: I loved it"])
        assert result.exit_code == 0, result.output
        ids.append(trace().recent(1)[0].id)
    return ids


@pytest.mark.slow
def test_judge_labelling_compares_answers_within_budget_and_feeds_training(cloud, monkeypatch):
    first, second = _local_answers(2, monkeypatch)
    cloud.enqueue_text("Positive.")  # the frontier's own answer to the first prompt
    cloud.enqueue_text("Both answers are equally right.\n[[C]]")
    cloud.enqueue_text("Positive.")
    cloud.enqueue_text("I cannot decide.")  # no verdict: skipped, not guessed
    result = CliRunner().invoke(main, ["label", "--judge", "--sample", "5", "--budget", "1.0"])
    assert result.exit_code == 0, result.output
    assert "labelled 1 request(s)" in result.output and "1 unparseable" in result.output
    judged = [s for rid in (first, second) for s in trace().steps(rid) if s.kind == "judge"]
    assert len(judged) == 2
    calls = [s for step in judged for rid in step.output["judge_requests"] for s in trace().steps(rid)
             if s.kind == "backend_call"]  # each judge call went through the router: a traced, costed call
    assert len(calls) == 4 and all(s.backend == "sonnet" and s.cost > 0 for s in calls)
    examples = labels_from_trace(trace())
    assert [(e.label, e.source) for e in examples] == [(0, "judge")]


@pytest.mark.slow
def test_judge_labelling_stops_at_the_budget(cloud, monkeypatch):
    _local_answers(2, monkeypatch)
    for _ in range(2):
        cloud.enqueue_text("Positive.")
        cloud.enqueue_text("[[A]]")
    result = CliRunner().invoke(main, ["label", "--judge", "--sample", "5", "--budget", "0.000001"])
    assert result.exit_code == 0, result.output
    assert "labelled 0 request(s)" in result.output and "stopped at the budget" in result.output
    assert "spent $0.0000" in result.output and cloud.messages_requests() == []  # never a call past the budget


def test_doctor_reaches_the_cloud(cloud):
    result = CliRunner().invoke(main, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("ok") >= 4


@pytest.mark.slow
def test_key_set_but_no_network_still_answers_locally_and_says_why(monkeypatch):
    from tests.helpers import closed_port

    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("HYBRID_BACKENDS__OPUS__BASE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HYBRID_BACKENDS__OPUS__MAX_RETRIES", "0")
    result = CliRunner().invoke(main, ["ask", "--task", "reason", "--max-tokens", "8", "Prove it"])
    assert result.exit_code == 0, result.output
    assert "→ local smollm2" in result.output and "fell back from opus to smollm2" in result.output
    (row,) = trace().recent(1)
    fallback = [s for s in trace().steps(row.id) if s.kind == "fallback"][0]
    assert fallback.output["from"] == "opus" and fallback.output["retryable"] is True
    assert "connect" in fallback.output["why"].lower()


@pytest.mark.slow
@pytest.mark.parametrize("draft_threshold, escalated", [(0.0, True), (1.0, False)])
def test_cascade_with_real_local_draft_and_real_classifier(cloud, monkeypatch, draft_threshold, escalated):
    monkeypatch.setenv("HYBRID_ROUTING__MODE", "cascade")
    monkeypatch.setenv("HYBRID_ROUTING__THRESHOLD", "1.0")  # the prompt alone never escalates
    monkeypatch.setenv("HYBRID_ROUTING__DRAFT_THRESHOLD", str(draft_threshold))
    cloud.enqueue_text("The capital of France is Paris.")
    result = CliRunner().invoke(main, ["ask", "--max-tokens", "12", "What is the capital of France?"])
    assert result.exit_code == 0, result.output
    (row,) = trace().recent(1)
    (draft,) = [s for s in trace().steps(row.id) if s.kind == "draft"]
    (text,) = draft.output["drafts"]
    assert draft.backend == "smollm2" and text.strip()
    assert 0.0 <= draft.output["score"] <= 1.0 and draft.output["escalate"] is escalated
    assert result.stdout == row.output + "\n"  # what streamed is the final answer, never the held draft too
    if escalated:
        assert row.backend == "sonnet" and row.output == "The capital of France is Paris."
        assert "cascade: draft from smollm2 escalated to sonnet" in result.stderr
        assert "draft rejected" in result.stderr and text not in result.stdout
    else:
        assert row.backend == "smollm2" and row.output == text
        assert "cascade: draft from smollm2 kept" in result.stderr and "draft kept" in result.stderr
        assert cloud.messages_requests() == []
