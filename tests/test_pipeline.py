"""Pipelines over fake backends: data flow, routing per step, concurrency, failure, coordinators, the trace tree."""

from __future__ import annotations

import threading
import time

import pytest

from hybrid.errors import BackendError, PipelineFailed
from hybrid.pipeline import Pipeline, Step
from hybrid.span_tree import load_tree
from tests.fakes.backend import FakeBackend
from tests.helpers import fake_router

TRIAGE = Pipeline("triage", (
    Step("classify", "Classify: {input}", task="classify"),
    Step("summarize", "Summarize: {input}", task="summarize"),
    Step("reason", "Kind {steps.classify.output}; gist {steps.summarize.output}. Reply.", task="reason"),
))


def test_three_steps_route_on_their_own_and_form_a_tree(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    backends["smollm2"].enqueue("billing", "customer was charged twice")
    backends["opus"].enqueue("We will refund the second charge.")
    result = TRIAGE.run(router, "I was charged twice for my plan")
    assert result.ok and result.output == "We will refund the second charge."
    assert {n: s.completion.backend for n, s in result.steps.items()} == {
        "classify": "smollm2", "summarize": "smollm2", "reason": "opus"}
    (opus_request,) = backends["opus"].history
    assert opus_request.prompt in ("Kind billing; gist customer was charged twice. Reply.",
                                   "Kind customer was charged twice; gist billing. Reply.")
    root = trace.get_request(result.run_id)
    assert (root.kind, root.task, root.status, root.parent_id) == ("pipeline", "pipeline", "done", None)
    tree = load_tree(trace, root)
    assert sorted(c.name for c in tree.children) == ["classify", "reason", "summarize"]
    assert all(c.record.parent_id == root.id and c.record.kind == "request" for c in tree.children)
    reason = next(c for c in tree.children if c.name == "reason")
    assert (reason.record.backend, reason.record.is_local) == ("opus", False)
    assert result.critical_path[-1] == "reason" and result.critical_path[0] in ("classify", "summarize")
    assert root.cost == pytest.approx(result.report.cost) and root.cost > 0


class SleepyBackend(FakeBackend):
    """Answers after a pause, recording when each call ran."""

    def __init__(self, name: str, pause: float) -> None:
        super().__init__(name)
        self.pause = pause
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def stream(self, request):
        start = time.monotonic()
        time.sleep(self.pause)
        yield from super().stream(request)
        with self._lock:
            self.spans.append((start, time.monotonic()))


def test_independent_steps_really_overlap_in_time(tmp_path):
    router, _, trace = fake_router(tmp_path)
    sleepy = SleepyBackend("smollm2", 0.3)
    router.backends["smollm2"] = sleepy
    pipeline = Pipeline("fan", (Step("a", "A {input}"), Step("b", "B {input}"), Step("c", "C {input}"),
                                Step("join", "{steps.a.output} {steps.b.output} {steps.c.output}")))
    result = pipeline.run(router, "x")
    assert result.ok
    first_three = sorted(sleepy.spans)[:3]
    assert max(s for s, _ in first_three) < min(e for _, e in first_three)  # all three were running at once
    rows = {c.name: c.record for c in load_tree(trace, trace.get_request(result.run_id)).children}
    join_start = rows["join"].created_at
    assert all(rows[n].created_at + rows[n].latency_s <= join_start + 0.05 for n in "abc")


def test_a_failing_middle_step_stops_its_dependents_and_the_rest_completes(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    pipeline = Pipeline("chain", (
        Step("first", "one {input}"),
        Step("middle", "two {steps.first.output}", route="local"),
        Step("last", "three {steps.middle.output}"),
        Step("side", "side {input}", route="cloud", task="summarize"),
    ))
    backends["smollm2"].enqueue("first answer", BackendError("smollm2", "model crashed"))
    backends["sonnet"].enqueue(BackendError("sonnet", "overloaded"))
    result = pipeline.run(router, "go")
    assert not result.ok
    assert {n: s.status for n, s in result.steps.items()} == {
        "first": "done", "middle": "failed", "last": "cancelled", "side": "done"}
    assert "model crashed" in result.steps["middle"].error
    assert "'middle'" in result.steps["last"].error
    with pytest.raises(PipelineFailed, match=r"step 'middle' \(task chat\) failed: .*model crashed.*not run because "
                                             r"of it: last.*hybrid logs --tree"):
        result.raise_for_failure()
    root = trace.get_request(result.run_id)
    assert root.status == "failed" and "middle" in root.error
    rows = {c.name: c.record for c in load_tree(trace, root).children}
    assert {n: r.status for n, r in rows.items()} == {
        "first": "done", "middle": "failed", "last": "cancelled", "side": "done"}
    assert rows["middle"].prompt == "two first answer"  # the failed step's input is in the trace
    assert rows["side"].backend == "haiku"


def test_a_coordinator_fans_out_typed_subtasks_and_gathers_their_results(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    plan = '[{"task": "summarize", "prompt": "gist of part 1"}, {"task": "reason", "prompt": "why part 2"}]'
    backends["smollm2"].enqueue(plan, "part one gist", "final answer")
    backends["opus"].enqueue("because")
    pipeline = Pipeline("coord", (
        Step("plan", "Split into subtasks: {input}", task="classify", subtasks=True),
        Step("answer", "Combine:\n{steps.plan.results}"),
    ))
    result = pipeline.run(router, "a long question")
    assert result.ok, result.steps
    subtasks = result.steps["plan"].subtasks
    assert [(s.task, s.completion.backend) for s in subtasks] == [("summarize", "smollm2"), ("reason", "opus")]
    final_prompt = backends["smollm2"].history[-1].prompt
    assert "[1] summarize: gist of part 1\npart one gist" in final_prompt and "[2] reason: why part 2\nbecause" \
        in final_prompt
    tree = load_tree(trace, trace.get_request(result.run_id))
    plan_node = next(c for c in tree.children if c.name == "plan")
    assert sorted(c.name for c in plan_node.children) == ["plan[1]", "plan[2]"]
    assert [line.step for line in result.report.lines] == ["plan", "plan[1]", "plan[2]", "answer"]


def test_a_coordinator_that_returns_garbage_fails_naming_the_step_and_model(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    backends["smollm2"].enqueue("sure! here are some ideas")
    pipeline = Pipeline("coord", (Step("plan", "Split: {input}", subtasks=True), Step("answer", "{steps.plan.results}")))
    result = pipeline.run(router, "q")
    assert result.steps["plan"].status == "failed" and result.steps["answer"].status == "cancelled"
    with pytest.raises(PipelineFailed, match=r"step 'plan' \(task chat\) on smollm2 \(fake-model\) failed: it was "
                                             r"asked for subtasks but no JSON list in its answer"):
        result.raise_for_failure()
    row = next(c.record for c in load_tree(trace, trace.get_request(result.run_id)).children if c.name == "plan")
    assert row.status == "failed" and row.output == "sure! here are some ideas" and row.model == "fake-model"


def test_per_step_overrides_change_only_that_step(tmp_path):
    router, backends, _ = fake_router(tmp_path)
    pipeline = Pipeline("o", (
        Step("local", "x {input}", task="classify"),
        Step("pinned", "y {input}", task="classify", route="cloud", max_tokens=7),
        Step("strict", "z {input}", task="chat", threshold=0.05),
    ))
    result = pipeline.run(router, "q")
    assert {n: s.completion.backend for n, s in result.steps.items()} == {
        "local": "smollm2", "pinned": "haiku", "strict": "sonnet"}
    assert backends["haiku"].history[0].max_tokens == 7
    assert router.policy.rule("classify").route == "auto"  # the shared router is unchanged


def test_cost_report_compares_with_the_reference_model(tmp_path):
    router, _, _ = fake_router(tmp_path)
    result = TRIAGE.run(router, "hello there")
    report = result.report
    assert [line.backend for line in report.lines] == ["smollm2", "smollm2", "opus"]
    assert report.lines[0].cost == 0 and report.lines[0].frontier_cost > 0
    assert report.saving == pytest.approx(report.frontier_cost - report.cost)
    table = report.table()
    assert "all-frontier" in table and "sonnet" in table and "saved $" in table
    assert "at this cost in quality: answer checks: 0/2 local answers failed a check" in table


def test_cost_report_puts_the_local_answers_that_failed_a_check_beside_the_saving(tmp_path):
    router, backends, _ = fake_router(tmp_path)
    backends["smollm2"].enqueue("billing", "refunds, " * 40)  # the summary loops (a real SmolLM2 failure)
    result = TRIAGE.run(router, "I was charged twice for my plan")
    by_step = {line.step: line for line in result.report.lines}
    assert by_step["reason"].fired is None  # the cloud answer is not checked
    # classify and summarize run at once, so either may get the looping answer
    assert sorted(by_step[n].fired for n in ("classify", "summarize")) == [(), ("cut_off", "repetition")]
    assert result.report.table().splitlines()[-1] == (
        "at this cost in quality: answer checks: 1/2 local answers failed a check (50%): cut_off 1, repetition 1; "
        "1 of them still served locally")


def _failing_run(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    backends["smollm2"].enqueue("billing", "not json at all")
    pipeline = Pipeline("tree", (
        Step("classify", "Classify: {input}", task="classify"),
        Step("plan", "Plan for {steps.classify.output}", subtasks=True),
        Step("reply", "{steps.plan.results}"),
    ))
    return pipeline.run(router, "refund please"), trace


def test_logs_tree_prints_the_run_with_costs_the_critical_path_and_the_failed_step(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hybrid.cli import main

    result, trace = _failing_run(tmp_path)
    monkeypatch.setenv("HYBRID_TRACE__PATH", str(trace.path))
    out = CliRunner().invoke(main, ["logs", "--tree", result.run_id[:16]], terminal_width=200).output
    lines = out.splitlines()
    assert lines[0].startswith(f"pipeline tree  failed  {result.run_id}")
    classify = next(line for line in lines if "classify  done" in line)
    assert "local smollm2 (fake-model)" in classify and "★ critical path" in classify and "$0.000000" in classify
    plan_at = next(i for i, line in enumerate(lines) if "plan  failed" in line)
    detail = "\n".join(lines[plan_at:plan_at + 5])
    assert "input: Plan for billing" in detail and "output: not json at all" in detail
    assert "error: it was asked for subtasks but no JSON list in its answer" in detail
    assert any("reply  cancelled" in line for line in lines)


def test_the_dashboard_detail_shows_the_pipeline_tree(tmp_path):
    from rich.console import Console

    from tui.trace_tree import load_node, render_detail

    result, trace = _failing_run(tmp_path)
    console = Console(width=200, record=True)
    console.print(render_detail(load_node(trace, trace.get_request(result.run_id)), lambda t: "12:00:00"))
    text = console.export_text()
    assert "pipeline steps (per-step cost and latency; ★ marks the critical path)" in text
    assert "plan  failed" in text and "★ critical path" in text and "reply  cancelled" in text
    assert "pipeline step requests (3)" in text


def test_the_dashboard_summary_counts_a_pipeline_runs_cost_once(tmp_path):
    from tui.stats import summarize

    router, _, trace = fake_router(tmp_path)
    result = TRIAGE.run(router, "hello there")
    summary = summarize(trace.recent(10), now=time.time())
    assert summary.requests == 3 and summary.spent == pytest.approx(result.report.cost) and summary.spent > 0
