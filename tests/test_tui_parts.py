"""The dashboard's pure parts: summary numbers, filters, the follower, and the `hybrid tui` command."""

from __future__ import annotations

import click
import pytest

from hybrid.trace import TraceStore
from tui.cli import command
from tui.feed import FeedFilter, TraceFollower
from tui.sample import SAMPLE_NOW, write_sample_trace
from tui.stats import percentile, summarize


def test_percentile_is_nearest_rank():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([7.0], 95) == 7.0


def test_summary_of_the_sample_trace(tmp_path):
    trace = write_sample_trace(tmp_path / "trace.db")
    s = summarize(trace.recent(100), now=SAMPLE_NOW)
    assert (s.requests, s.finished, s.local, s.failed) == (14, 11, 8 + 1, 1)
    assert s.escalated == 5 and s.decided == 14
    assert s.spent == pytest.approx(sum(r.cost or 0 for r in trace.recent(100) if r.status == "done"))
    assert s.saved == pytest.approx(s.frontier - s.spent) and 0 < s.saved_share < 1
    by_name = {b.backend: b for b in s.latency}
    assert by_name["smollm2"].is_local and not by_name["sonnet"].is_local
    assert by_name["smollm2"].p95 == 1.94
    assert sum(s.per_minute) == 14 and s.per_minute[-1] >= 1
    assert max(s.escalation_share) <= 1
    assert s.classifier == "minilm-logreg-v3"


def test_filter_cycles_and_matches(tmp_path):
    f = FeedFilter().next_backend(["sonnet", "smollm2"])
    assert f.backend == "smollm2"
    assert f.next_backend(["sonnet", "smollm2"]).next_backend(["sonnet", "smollm2"]).backend is None
    assert FeedFilter().next_status().status == "routed"
    records = write_sample_trace(tmp_path / "trace.db").recent(100)
    searched = FeedFilter(search="CAPITAL")
    assert [r.prompt for r in records if searched.matches(r)] == ["What is the capital of France?"]


def test_follower_reads_only_changes_latest_version_once(tmp_path):
    trace = TraceStore(tmp_path / "trace.db")
    trace.start_request("a", task="chat", messages=[{"role": "user", "content": "a"}], params={})
    follower = TraceFollower(trace, history=10)
    assert [r.id for r in follower.start()] == ["a"]
    assert follower.poll() == []
    trace.start_request("b", task="chat", messages=[{"role": "user", "content": "b"}], params={})
    trace.update_request("b", status="routed")
    trace.update_request("b", status="done")
    changes = follower.poll()
    assert [(r.id, r.status) for r in changes] == [("b", "done")]
    assert follower.poll() == []


def test_the_command_is_a_click_plugin_with_demo_options():
    assert isinstance(command, click.Command) and command.name == "tui"
    options = {o.name: o for o in command.params}
    assert options["demo"].default is False and options["max_tokens"].default == 48


def test_demo_refuses_no_log(tmp_path):
    from click.testing import CliRunner

    from hybrid.cli import Context

    result = CliRunner().invoke(command, ["--demo"], obj=Context(no_log=True))
    assert result.exit_code != 0
    assert "drop --no-log" in str(result.exception)


def test_summary_shows_savings_beside_quality_and_budget_caps(tmp_path):
    from hybrid.budget import BudgetGuard
    from hybrid.settings import BudgetSettings
    from tui.widgets.summary import summary_text

    trace = write_sample_trace(tmp_path / "trace.db")
    records = trace.recent(100)
    labelled = [r for r in records if r.status == "done" and r.is_local and r.feedback]
    caps = BudgetGuard(BudgetSettings(daily=100.0), trace).status()
    s = summarize(records, now=SAMPLE_NOW, caps=caps)
    assert s.quality.n == len(labelled) > 0
    good = sum(r.feedback == "good" for r in labelled)
    text = summary_text(s, cloud=None).plain
    assert f"quality {good / len(labelled):.0%} good (n={len(labelled)}," in text
    assert "budget daily $" in text and "/$100.000" in text
    unlabelled = summarize([r for r in records if not r.feedback], now=SAMPLE_NOW)
    assert "quality unmeasured" in summary_text(unlabelled, cloud=None).plain


def test_summary_counts_local_answers_that_failed_a_check_reading_each_request_once(tmp_path):
    from tests.test_report import add
    from tui.stats import CheckTally
    from tui.widgets.summary import summary_text

    store = TraceStore(tmp_path / "t.db")
    fired = [{"name": "cut_off", "fired": True, "reason": "draft cut off"}]
    add(store, "c1", local=True, cost=0.0, frontier=0.001, mode="cascade", checks=fired)
    add(store, "c2", local=True, cost=0.0, frontier=0.001, mode="cascade", checks=[])
    reads = []
    tally = CheckTally(lambda rid: reads.append(rid) or store.steps(rid))
    for _ in range(2):
        checks = tally.checks(store.recent(10))
    assert (checks.checked, checks.failed, checks.served_failed) == (2, 1, 1) and sorted(reads) == ["c1", "c2"]
    text = summary_text(summarize(store.recent(10), now=SAMPLE_NOW, checks=checks), cloud=None).plain
    assert "quality unmeasured · 1/2 local answers failed a check" in text
