"""`hybrid report`: savings beside their quality cost, checked against a trace built by hand; scrubbing; logs."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from click.testing import CliRunner

from hybrid.budget import BudgetGuard, worst_case_cost
from hybrid.cli import main
from hybrid.errors import ConfigError
from hybrid.pipeline import Pipeline, Step
from hybrid.report import Quality, parse_since, report_from_trace, wilson
from hybrid.settings import BudgetSettings, Paths
from hybrid.trace import TraceStore
from hybrid.types import Price, Request
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router

NOW = time.time()


def add(trace: TraceStore, rid: str, *, local: bool, cost: float, frontier: float, mode: str = "direct",
        checks: list | None = None, label: str | None = None, status: str = "done", backend: str | None = None,
        task: str = "chat", reasons: tuple[str, ...] = ()) -> None:
    trace.start_request(rid, task=task, messages=[{"role": "user", "content": f"prompt {rid}"}], params={}, mode=mode)
    backend = backend or ("smollm2" if local else "sonnet")
    if checks is not None:
        trace.add_step(rid, "draft", backend="smollm2", output={"drafts": ["d"], "kept": 0, "checks": checks})
    if status == "done":
        trace.add_step(rid, "backend_call", backend=backend, cost=cost)
    trace.update_request(rid, status=status, is_local=local, backend=backend, cost=cost, frontier_cost=frontier,
                         reasons=list(reasons))
    if label:
        trace.add_feedback(rid, label, source="judge")


@pytest.fixture
def trace(tmp_path):
    store = TraceStore(tmp_path / "trace.db")
    fired = [{"name": "cut_off", "fired": True, "reason": "draft cut off inside a code block"},
             {"name": "refusal", "fired": False, "reason": ""}]
    clean = [{"name": "cut_off", "fired": False, "reason": ""}]
    add(store, "r1", local=True, cost=0.0, frontier=0.004, label="good")
    add(store, "r2", local=True, cost=0.0, frontier=0.002, label="good")
    add(store, "r3", local=True, cost=0.0, frontier=0.003, label="bad")
    add(store, "r4", local=False, cost=0.005, frontier=0.005, label="bad")  # a cloud answer's label: not counted
    add(store, "r5", local=True, cost=0.0, frontier=0.001, mode="cascade", checks=fired)  # failed, served anyway
    add(store, "r6", local=False, cost=0.006, frontier=0.006, mode="cascade", checks=fired)  # failed, escalated
    add(store, "r7", local=True, cost=0.0, frontier=0.002, mode="cascade", checks=clean)
    add(store, "r8", local=True, cost=0.0, frontier=0.0, mode="cascade", checks="not a list")  # read defensively
    add(store, "r9", local=False, cost=0.0, frontier=0.0, status="failed")
    add(store, "r10", local=True, cost=0.0, frontier=0.003,
        reasons=("sonnet not used (budget: the daily cap $1.0000 overall would be crossed ...)",))
    add(store, "r11", local=False, cost=0.001, frontier=0.001, task="judge")
    yield store
    store.close()


def test_report_numbers_match_the_hand_built_trace(trace):
    caps = BudgetGuard(BudgetSettings(daily=0.05, backends={"sonnet": {"monthly": 0.012}}), trace).status()
    report = report_from_trace(trace, caps, since_s=7 * 86400, now=NOW + 1)
    assert (report.requests, report.done, report.failed, report.local) == (10, 9, 1, 7)  # r11 is the judge's
    assert report.spent == pytest.approx(0.012) and report.frontier == pytest.approx(0.026)
    assert report.saved == pytest.approx(0.014)
    assert (report.checks.checked, report.checks.failed, report.checks.served_failed) == (3, 2, 1)
    assert report.quality == Quality(good=2, bad=1)
    assert report.degraded == 1 and report.judge_spent == pytest.approx(0.001)
    low, high = wilson(2, 3)
    assert report.lines() == [
        "10 requests in the last 1w: 9 answered (7 locally, 78%), 1 failed",
        "spent $0.0120 vs $0.0260 all-frontier: saved $0.0140 (54%), at this cost in quality:",
        "  answer checks: 2/3 local answers failed a check (67%): cut_off 2; 1 of them still served locally",
        f"  quality retained 67% of local answers judged good (n=3, 95% CI {low:.0%}-{high:.0%})",
        "judge labelling spent $0.0010 (included above)",
        "kept local: 0 by a privacy rule, 1 by a budget cap",
        "budget: daily cap $0.0500 overall: $0.0120 spent, $0.0380 left",
        "budget: monthly cap $0.0120 for sonnet: $0.0120 spent, $0.0000 left (reached)",
    ]


def test_wilson_interval_matches_the_textbook_values():
    assert wilson(2, 3) == pytest.approx((0.2077, 0.9385), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0) and wilson(10, 10)[1] == 1.0


def test_no_labels_says_quality_unmeasured_never_saved_alone(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    add(store, "a", local=True, cost=0.0, frontier=0.01)
    lines = report_from_trace(store).lines()
    assert "saved $0.0100 (100%), at this cost in quality:" in lines[1]
    assert lines[3].startswith("  quality unmeasured")


def test_since_parses_durations_and_refuses_garbage():
    assert parse_since("7d") == 7 * 86400 and parse_since("30m") == 1800 and parse_since("2w") == 14 * 86400
    with pytest.raises(Exception, match="not a duration"):
        parse_since("yesterday")


def test_report_cli_shows_caps_from_the_config(monkeypatch):
    monkeypatch.setenv("HYBRID_BUDGET__DAILY", "0.5")
    store = TraceStore(Paths.resolve().trace_db)
    add(store, "x1", local=False, cost=0.2, frontier=0.2)
    store.close()
    result = CliRunner().invoke(main, ["report", "--since", "1d"])
    assert result.exit_code == 0, result.output
    assert "1 request in the last 1d" in result.output
    assert "budget: daily cap $0.5000 overall: $0.2000 spent, $0.3000 left" in result.output
    assert "quality unmeasured" in result.output


def test_a_short_key_does_not_mangle_prompts(tmp_path):
    store = TraceStore(tmp_path / "t.db", secrets=["fake"])
    store.start_request("s1", task="chat", messages=[{"role": "user", "content": "Is this fake news?"}], params={})
    assert store.get_request("s1").prompt == "Is this fake news?"
    keyed = TraceStore(tmp_path / "k.db", secrets=["sk-live-0123456789"])
    keyed.start_request("s2", task="chat", params={}, messages=[
        {"role": "user", "content": "key sk-live-0123456789 and sk-live-0123456789abc and xsk-live-0123456789"}])
    assert keyed.get_request("s2").prompt == "key [redacted] and sk-live-0123456789abc and xsk-live-0123456789"


def test_anthropic_keys_are_scrubbed_as_whole_tokens(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    key = "sk-ant-api03-" + "Ab3" * 10
    store.start_request("s", task="chat", params={}, messages=[{"role": "user", "content": f"use {key} and sk-ant-x"}])
    assert store.get_request("s").prompt == "use [redacted: Anthropic API key] and sk-ant-x"


def test_logs_neutralise_terminal_escapes():
    store = TraceStore(Paths.resolve().trace_db)
    store.start_request("e1", task="chat\x1b[2J", params={},
                        messages=[{"role": "user", "content": "hi \x1b]0;TITLE\x07 there"}])
    store.add_step("e1", "backend_call", backend="smollm2", output={"text": "ok\x1b[31m red"})
    store.close()
    result = CliRunner().invoke(main, ["logs"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "hi ␛]0;TITLE␇ there" in result.output and "task=chat␛[2J" in result.output


def test_logs_tree_of_a_request_lists_why_and_each_step_with_the_rejected_drafts_reason():
    store = TraceStore(Paths.resolve().trace_db)
    store.start_request("c1", task="math", params={}, mode="cascade",
                        messages=[{"role": "user", "content": "Natalia sold clips to 48 of her friends ..."}])
    store.add_step("c1", "backend_call", backend="smollm2", duration_s=1.8, input_tokens=69, output_tokens=64,
                   cost=0.0, output={"text": "So, she sold 48/2 = 16 clips in May."})
    check = {"name": "arithmetic", "fired": True, "reason": "stated arithmetic 48/2 = 16 does not re-compute (48/2 = 24)"}
    store.add_step("c1", "draft", backend="smollm2", output={"drafts": ["So, she sold 48/2 = 16 clips in May."],
                                                             "kept": 0, "score": 0.902, "escalate": True,
                                                             "checks": [check]})
    store.add_step("c1", "backend_call", backend="sonnet", input_tokens=31, output_tokens=19, cost=0.000378,
                   output={"text": "The answer is 72."})
    store.update_request("c1", status="done", is_local=False, backend="sonnet", cost=0.000378,
                         reasons=["difficulty 0.13 < threshold 0.49",
                                  "draft rejected: stated arithmetic 48/2 = 16 does not re-compute (48/2 = 24)"])
    store.close()
    result = CliRunner().invoke(main, ["logs", "--tree", "c1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [line.lstrip("│├└─ ") for line in result.output.splitlines()]
    assert lines[1] == "why:"
    assert lines[3] == "draft rejected: stated arithmetic 48/2 = 16 does not re-compute (48/2 = 24)"
    assert lines[4].startswith("1. backend_call smollm2 1800ms 69+64 tok $0.000000  'So, she sold 48/2 = 16")
    assert lines[5] == ("2. draft smollm2  1 draft(s), score 0.902, escalate=True; "
                        "stated arithmetic 48/2 = 16 does not re-compute (48/2 = 24)")
    assert lines[6] == "3. backend_call sonnet 31+19 tok $0.000378  'The answer is 72.'"


def test_a_pipeline_run_is_not_a_request_and_cancelled_ones_are_said(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.start_request("run", task="pipeline", messages=[{"role": "user", "content": "in"}], params={},
                        kind="pipeline")
    store.update_request("run", status="done", cost=0.004, frontier_cost=0.009)  # the sum of its steps below
    for rid, local, cost, frontier in (("s1", True, 0.0, 0.005), ("s2", False, 0.004, 0.004)):
        add(store, rid, local=local, cost=cost, frontier=frontier)
        store.update_request(rid, parent_id="run")
    add(store, "f1", local=False, cost=0.0, frontier=0.0, status="failed")
    add(store, "c1", local=False, cost=0.0, frontier=0.0, status="cancelled")
    lines = report_from_trace(store, since_s=86400, window="1d").lines()
    assert lines[0] == "4 requests in the last 1d: 2 answered (1 locally, 50%), 1 failed, 1 cancelled"
    assert lines[1].startswith("spent $0.0040 vs $0.0090 all-frontier: saved $0.0050 (56%)")


def test_report_says_back_the_span_asked_for_and_an_empty_window_is_not_an_empty_trace(tmp_path):
    store = TraceStore(Paths.resolve().trace_db)
    add(store, "old", local=True, cost=0.0, frontier=0.01)
    store.close()
    with sqlite3.connect(Paths.resolve().trace_db) as db:
        db.execute("UPDATE requests SET created_at = ?", (NOW - 3 * 86400,))
    week = CliRunner().invoke(main, ["report", "--since", "7d"])
    assert week.exit_code == 0, week.output
    assert week.output.splitlines()[0] == "1 request in the last 7d: 1 answered (1 locally, 100%), 0 failed"
    day = CliRunner().invoke(main, ["report", "--since", "1d"])
    assert day.exit_code == 0, day.output
    assert day.output.splitlines()[0] == "no requests in the last 1d"


@pytest.mark.parametrize("since", ["0d", "0m", "-1d"])
def test_an_empty_or_negative_span_is_an_error_naming_the_fix(since):
    with pytest.raises(ConfigError, match="give a positive one such as 30m, 12h, 7d or 2w"):
        parse_since(since)
    result = CliRunner().invoke(main, ["report", "--since", since])
    assert result.exit_code == 1 and "requests" not in result.output
    assert "is an empty span; give a positive one such as 30m" in result.output


def test_money_spent_on_a_failed_request_is_spent_and_its_frontier_cost_is_no_saving(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    add(store, "ok", local=True, cost=0.0, frontier=0.002)
    add(store, "bad", local=False, cost=0.001, frontier=0.001, status="failed")  # paid for, then failed
    assert report_from_trace(store).lines()[1].startswith("spent $0.0010 vs $0.0020 all-frontier: saved $0.0010 (50%)")


def test_a_run_whose_only_step_failed_saved_nothing_and_served_nothing(tmp_path):
    router, backends, _ = fake_router(tmp_path)
    backends["smollm2"].enqueue("refunds, " * 40)  # no JSON list, and it loops: the checks fire
    pipeline = Pipeline("sub", (Step("plan", "Plan: {input}", route="local", subtasks=True),))
    report = pipeline.run(router, "refund please").report
    assert report.lines[0].status == "failed" and report.lines[0].frontier_cost > 0
    table = report.table().splitlines()
    row = table[-4].split()  # plan's all-frontier is not in the total
    assert row[:5] == ["plan", "chat", "failed", "smollm2", "local"] and row[-2:] == ["$0.000000", "-"]
    assert table[-2] == (f"spent $0.000000; all-frontier (sonnet) $0.000000; saved $0.000000; not counted as saved: "
                         f"plan (failed), ${report.lines[0].frontier_cost:.6f} at sonnet's prices")
    assert table[-1] == "at this cost in quality: answer checks: no local answer to check"
    router.close()


class BarrierClassifier(FixedClassifier):
    """Scores hard, and holds each request until all are scored: every one passes the budget check made when
    deciding (nothing is reserved yet), so the cap can only refuse them at the call, where the router falls back."""

    def __init__(self, parties: int) -> None:
        super().__init__(prompt_score=0.9)
        self.barrier = threading.Barrier(parties, timeout=10)

    def score(self, request):
        self.barrier.wait()
        return super().score(request)


def test_requests_a_budget_cap_refused_at_the_call_count_as_kept_local_by_it(tmp_path):
    request = Request.from_prompt("Hard question", max_tokens=100)
    cap = worst_case_cost(request, Price(3.0, 15.0)) * 1.5  # room for one call to sonnet, not two
    router, backends, trace = fake_router(tmp_path, classifier=BarrierClassifier(3), budget={"daily": cap})
    results, cloud_may_answer = [], threading.Event()
    cloud_stream = backends["sonnet"].stream
    backends["sonnet"].stream = lambda req: (cloud_may_answer.wait(10), (yield from cloud_stream(req)))
    threads = [threading.Thread(target=lambda: results.append(router.complete(request))) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the cloud call holds its reservation until the other two were refused
    cloud_may_answer.set()
    for t in threads:
        t.join()
    assert sorted(r.backend for r in results) == ["smollm2", "smollm2", "sonnet"]
    for kept in (r for r in results if r.backend == "smollm2"):
        assert "budget: the" not in kept.decision.explain()  # the refusal is in the fallback step only
        (step,) = [s for s in trace.steps(kept.request_id) if s.kind == "fallback"]
        assert step.output["why"].startswith("sonnet: budget: the daily cap")
    lines = report_from_trace(trace, router.guards.budget.status()).lines()
    assert "kept local: 0 by a privacy rule, 2 by a budget cap" in lines


def test_logs_tree_shows_control_characters_as_pictures_and_the_feedback():
    store = TraceStore(Paths.resolve().trace_db)
    store.start_request("x1", task="chat", params={}, messages=[{"role": "user", "content": "colour me"}])
    store.add_step("x1", "backend_call", backend="smollm2", output={"text": "Red \x1b[31mALERT\x1b[0m nul:\x00\nend"})
    store.update_request("x1", status="done", is_local=True, backend="smollm2",
                         reasons=["difficulty 0.10 < 0.49", "task 'x\x1b[2J' is pinned to local"])
    store.add_feedback("x1", "bad", source="user")
    store.close()
    result = CliRunner().invoke(main, ["logs", "--tree", "x1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "'Red ␛[31mALERT␛[0m nul:␀\\nend'" in result.output and "\x1b" not in result.output
    assert "\\x1b" not in result.output and "feedback=bad" in result.output.splitlines()[0]
    assert "task 'x␛[2J' is pinned to local" in result.output  # a reason too, not dropped silently


def test_judge_labelling_leaves_the_request_counts_and_shares_as_they_were(tmp_path):
    """Judging (the frontier's reference answers and the comparisons, task "judge") is spent money, not traffic:
    the head line's answered/locally share stays what it was before judging; spent grows by the judge's cost."""
    store = TraceStore(tmp_path / "t.db")
    for i in range(4):
        add(store, f"u{i}", local=i < 3, cost=0.0 if i < 3 else 0.002, frontier=0.002)
    before = report_from_trace(store).lines()
    for i in range(6):
        add(store, f"j{i}", local=False, cost=0.0005, frontier=0.0005, task="judge")
    add(store, "jf", local=False, cost=0.0001, frontier=0.0, task="judge", status="failed")
    after = report_from_trace(store).lines()
    store.close()
    assert before[0] == after[0] == "4 requests in the trace: 4 answered (3 locally, 75%), 0 failed"
    assert before[1] == "spent $0.0020 vs $0.0080 all-frontier: saved $0.0060 (75%), at this cost in quality:"
    assert after[1] == "spent $0.0051 vs $0.0080 all-frontier: saved $0.0029 (36%), at this cost in quality:"
    assert "judge labelling spent $0.0031 (included above)" in after
