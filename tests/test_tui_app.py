"""Pilot tests: the dashboard's keys against a real trace store filled by a router over fake backends."""

from __future__ import annotations

import asyncio
import functools
import threading
import tomllib

import pytest
from rich.console import Console

from hybrid.types import Request
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tui.app import HybridApp
from tui.training import TrainingUnavailable, TrainOutcome, learning_trainer
from tui.widgets.decisions import DecisionsTable
from tui.widgets.detail import DetailScreen
from tui.widgets.status_line import StatusLine
from tui.widgets.training_panel import TrainingPanel

SIZE = (120, 36)


def sync(test):
    """Run an async test with asyncio.run (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


async def until(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


def plain(widget) -> str:
    """What a Static shows, as plain text (its content rendered wide, no wrapping surprises)."""
    console = Console(width=200, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


def make_app(tmp_path, *, scores=(0.1, 0.9, 0.1), prompts=None, **kwargs):
    classifier = FixedClassifier()
    router, backends, trace = fake_router(tmp_path, classifier=classifier)
    prompts = prompts or [f"question number {i}" for i in range(len(scores))]
    for prompt, score in zip(prompts, scores):
        classifier.prompt_score = score
        router.complete(Request.from_prompt(prompt))
    options = {"config_file": tmp_path / "home" / "config.toml", "threshold": router.threshold,
               "router": router, "poll_interval": 0.05} | kwargs
    return HybridApp(trace, **options), router, trace


async def ready(pilot) -> DecisionsTable:
    await until(pilot, lambda: pilot.app.feed_ready)
    return pilot.app.table


def row_ids(table: DecisionsTable) -> list[str]:
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


@sync
async def test_rows_show_newest_first_with_backend_and_status(tmp_path):
    app, router, trace = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = await ready(pilot)
        assert row_ids(table) == [r.id for r in trace.recent(10)]
        newest = trace.recent(1)[0]
        assert table.get_cell(newest.id, "backend").plain == "⌂ smollm2"
        assert table.get_cell(trace.recent(2)[1].id, "backend").plain == "☁ sonnet"
        assert table.get_cell(newest.id, "status").plain == "done"


@sync
async def test_threshold_keys_change_router_screen_and_config(tmp_path):
    app, router, trace = make_app(tmp_path)
    config = tmp_path / "home" / "config.toml"
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert router.threshold == 0.5
        await pilot.press("plus", "plus")
        assert router.threshold == pytest.approx(0.6)
        assert "threshold 0.60" in app.query_one(StatusLine).content.plain
        await until(pilot, lambda: config.exists() and tomllib.loads(config.read_text())["routing"]["threshold"] == 0.6)
        await pilot.press("minus")
        assert router.threshold == pytest.approx(0.55)
        await until(pilot, lambda: tomllib.loads(config.read_text())["routing"]["threshold"] == 0.55)
        assert "threshold 0.55" in app.query_one(StatusLine).content.plain


@sync
async def test_a_config_that_cannot_be_written_is_said_on_screen_and_the_threshold_stays_live(tmp_path):
    config = tmp_path / "home" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[routing]\nthreshold = 0.5\n")
    (tmp_path / "home" / "config.toml.tmp").mkdir()  # where the new file is written first: the write fails
    app, router, trace = make_app(tmp_path)
    said: list[tuple[str, str]] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append((message, kw.get("severity", ""))), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("plus")
        await until(pilot, lambda: any(severity == "error" for _, severity in said))
        assert router.threshold == pytest.approx(0.55)
        (message,) = [m for m, severity in said if severity == "error"]
        assert message.startswith("threshold 0.55 is live but was not saved: cannot write routing.threshold to ")
        assert "writable" in message
    assert tomllib.loads(config.read_text())["routing"]["threshold"] == 0.5


@sync
async def test_feedback_keys_label_the_selected_request(tmp_path):
    app, router, trace = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = await ready(pilot)
        await pilot.press("down")
        chosen = table.selected_id
        assert chosen == trace.recent(2)[1].id
        await pilot.press("g")
        await until(pilot, lambda: trace.get_request(chosen).feedback == "good")
        await until(pilot, lambda: table.get_cell(chosen, "marks").plain == "✓")  # the follower saw it
        await pilot.press("b")
        await until(pilot, lambda: trace.get_request(chosen).feedback == "bad")
        await until(pilot, lambda: table.get_cell(chosen, "marks").plain == "✗")
        assert table.selected_id == chosen
        assert trace.get_request(trace.recent(1)[0].id).feedback is None


@sync
async def test_filters_by_backend_status_and_search(tmp_path):
    app, router, trace = make_app(tmp_path, scores=(0.1, 0.9, 0.1), prompts=["easy one", "hard one", "capital city"])
    app.router = None  # backends to cycle through come from the trace only: smollm2, sonnet
    async with app.run_test(size=SIZE) as pilot:
        table = await ready(pilot)
        assert table.row_count == 3
        await pilot.press("f")
        await until(pilot, lambda: table.row_count == 2)
        assert {table.get_cell(k, "backend").plain for k in row_ids(table)} == {"⌂ smollm2"}
        await pilot.press("f")
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_cell(row_ids(table)[0], "prompt").plain == "hard one"
        await pilot.press("f", "s")  # backend back to all; status=routed matches nothing
        await until(pilot, lambda: table.row_count == 0)
        assert "status=routed" in app.query_one(StatusLine).content.plain
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 3)
        await pilot.press("slash", *"capital", "enter")
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_cell(row_ids(table)[0], "prompt").plain == "capital city"


@sync
async def test_pause_holds_new_rows_until_resumed(tmp_path):
    app, router, trace = make_app(tmp_path, scores=(0.1,))
    async with app.run_test(size=SIZE) as pilot:
        table = await ready(pilot)
        await pilot.press("p")
        await asyncio.to_thread(router.complete, Request.from_prompt("arrives while paused"))
        await until(pilot, lambda: len(app.pending) == 1)
        assert table.row_count == 1
        assert "paused (1 new)" in app.query_one(StatusLine).content.plain
        await pilot.press("p")
        assert table.row_count == 2
        assert table.get_cell(row_ids(table)[0], "prompt").plain == "arrives while paused"


@sync
async def test_enter_opens_the_trace_tree_with_steps_and_reasons(tmp_path):
    app, router, trace = make_app(tmp_path, scores=(0.9,), prompts=["a hard question"])
    parent = trace.recent(1)[0]
    router.complete(Request.from_prompt("follow-up step", parent_id=parent.id))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("down", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.request_id == parent.id
        await until(pilot, lambda: app.screen.loaded)
        text = plain(app.screen.query_one("#detail-body"))
        for expected in ("a hard question", "1. request", "2. classify", "3. route", "4. backend_call",
                         "sonnet answer", "claude-sonnet-4-6", "escalate", "chained requests (1)", "follow-up step"):
            assert expected in text
        for reason in parent.reasons:
            assert reason in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


@sync
async def test_training_shows_progress_then_the_result(tmp_path):
    release = threading.Event()

    def trainer(progress):
        progress(0.5, "fitting 200 labels")
        release.wait(5)
        progress(1.0, "done")
        return TrainOutcome(True, "holdout AUC 0.84 > 0.79", {"auc": 0.84},
                            ("routing.threshold 0.22 in config.toml was calibrated for the previous classifier",))

    app, router, trace = make_app(tmp_path, scores=(0.1,), trainer=trainer)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        panel = app.query_one(TrainingPanel)
        assert not panel.display
        await pilot.press("t")
        await until(pilot, lambda: "fitting 200 labels" in plain(panel.query_one("#train-status")))
        assert panel.display
        assert panel.query_one("#train-progress").progress == 50
        release.set()
        await until(pilot, lambda: "promoted" in plain(panel.query_one("#train-status")))
        text = plain(panel.query_one("#train-status"))
        assert "holdout AUC 0.84 > 0.79" in text and "auc 0.84" in text and "not promoted" not in text
        assert "note: routing.threshold 0.22 in config.toml was calibrated for the previous classifier" in text
        assert panel.query_one("#train-progress").progress == 100


@sync
async def test_training_unavailable_is_explained(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hybrid.learning", None)  # `import hybrid.learning` now fails
    trainer = learning_trainer(fake_router(tmp_path)[0].settings, None)
    with pytest.raises(TrainingUnavailable, match="training is not available"):
        trainer(lambda f, m: None)
    app, router, trace = make_app(tmp_path / "app", scores=(0.1,), trainer=trainer)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t")
        panel = app.query_one(TrainingPanel)
        await until(pilot, lambda: "training is not available" in plain(panel.query_one("#train-status")))


@sync
async def test_summary_shows_spend_against_the_budget_caps(tmp_path):
    from hybrid.budget import BudgetGuard
    from hybrid.settings import BudgetSettings
    from tui.sample import sample_app
    from tui.widgets.summary import SummaryPanel

    app = sample_app(tmp_path / "trace.db")
    app.budget = BudgetGuard(BudgetSettings(daily=50.0, backends={"opus": {"monthly": 0.0}}), app.trace)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.feed_ready)
        app._refresh_summary()
        await pilot.pause()
        text = str(app.query_one(SummaryPanel).query_one("#summary-numbers").render())
        assert "budget daily $" in text and "/$50.000" in text and "monthly opus" in text
