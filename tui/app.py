"""The hybrid dashboard: a live view of the trace store, with routing controls.

The app reads; it never keeps its own truth. A follower worker polls
``TraceStore.changes_since`` and posts ``RequestsChanged``; every other
blocking call (feedback, config writes, training, the demo workload) runs in a
thread worker that posts a message back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input
from textual.worker import get_current_worker

from hybrid.errors import HybridError
from hybrid.events import Event, describe
from hybrid.settings import set_config_value
from hybrid.trace import RequestRecord, TraceStore
from tui.feed import FeedFilter, TraceFollower
from tui.messages import (
    DemoProgressed,
    FeedbackRecorded,
    FeedFailed,
    RequestsChanged,
    RowsLoaded,
    ThresholdSaved,
    TrainingFinished,
    TrainingProgressed,
)
from tui.rows import clock
from tui.stats import CheckTally, summarize
from tui.training import Trainer
from tui.widgets.decisions import DecisionsTable
from tui.widgets.detail import DetailScreen
from tui.widgets.status_line import StatusLine
from tui.widgets.summary import SummaryPanel
from tui.widgets.training_panel import TrainingPanel

THRESHOLD_STEP = 0.05
DemoWorkload = Callable[[threading.Event, Callable[[Event], None]], Iterable[Any]]
"""``workload(cancel, on_event)``: the demo's outcomes; ``on_event`` sees each router event as it happens."""


class HybridApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "hybrid"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "threshold(1)", "thr", key_display="+/-"),
        Binding("minus", "threshold(-1)", "threshold down", show=False),
        Binding("g", "feedback('good')", "good"),
        Binding("b", "feedback('bad')", "bad"),
        Binding("t", "train", "train"),
        Binding("f", "filter_backend", "backend"),
        Binding("s", "filter_status", "status"),
        Binding("slash", "search", "search"),
        Binding("p", "pause", "pause"),
        Binding("escape", "clear_search", "clear search", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        trace: TraceStore,
        *,
        config_file: Path,
        threshold: float,
        router: Any = None,
        trainer: Trainer | None = None,
        workload: DemoWorkload | None = None,
        now: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        poll_interval: float = 0.5,
        row_cap: int = 500,
        history: int = 2000,
        cloud_status: str | None = None,
        budget: Any = None,
    ) -> None:
        super().__init__()
        self.trace = trace
        self.config_file = config_file
        self.threshold = threshold
        self.router = router
        self.trainer = trainer
        self.workload = workload
        self.now = now
        self.fmt_time = clock(tz)
        self.poll_interval = poll_interval
        self.row_cap = row_cap
        self.history = history
        self.cloud_status = cloud_status
        self.budget = budget if budget is not None else getattr(getattr(router, "guards", None), "budget", None)
        self.filter = FeedFilter()
        self.check_tally = CheckTally(trace.steps)
        self.known: dict[str, RequestRecord] = {}
        self.pending: dict[str, RequestRecord] = {}
        self.paused = False
        self.feed_ready = False
        self.feed_error: str | None = None
        self.demo_state: str | None = None
        self.demo_idle = threading.Event()
        self.demo_idle.set()
        self._stopping = threading.Event()

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield SummaryPanel(id="summary")
        yield StatusLine(id="status")
        yield DecisionsTable(fmt_time=self.fmt_time, cap=self.row_cap, id="decisions")
        yield TrainingPanel(id="training")
        yield Input(placeholder="search prompts (Enter applies, Esc clears)", id="search")
        yield Footer(compact=True)

    def on_unmount(self) -> None:
        self._stopping.set()  # the demo stops its request in flight and starts no other

    def on_mount(self) -> None:
        self.query_one(DecisionsTable).focus()
        self._refresh()
        self._follow()
        self.set_interval(10, self._refresh_summary)
        if self.workload is not None:
            self.demo_idle.clear()
            self.demo_state = "demo starting (loading the local model)…"
            self._run_demo(self.workload)

    @property
    def table(self) -> DecisionsTable:
        return self.query_one(DecisionsTable)

    def _refresh(self) -> None:
        self._refresh_summary()
        self.query_one(StatusLine).show(
            threshold=self.threshold, paused=self.paused, pending=len(self.pending),
            filter_text=self.filter.describe(), rows=self.table.row_count, demo=self.demo_state,
            error=self.feed_error,
        )

    def _refresh_summary(self) -> None:
        caps = self.budget.status() if self.budget is not None else ()
        checks = self.check_tally.checks(self.known.values())
        summary = summarize(self.known.values(), now=self.now(), caps=caps, checks=checks)
        self.query_one(SummaryPanel).show(summary, cloud=self.cloud_status)

    # -- following the trace ----------------------------------------------------
    @work(thread=True, exclusive=True, group="follow")
    def _follow(self) -> None:
        worker = get_current_worker()
        follower = TraceFollower(self.trace, history=self.history)
        started = False
        while not worker.is_cancelled:
            try:
                if not started:
                    self.post_message(RequestsChanged(tuple(follower.start()), initial=True))
                    started = True
                else:
                    changes = follower.poll()
                    if changes:
                        self.post_message(RequestsChanged(tuple(changes)))
            except HybridError as e:  # a locked or vanished store (TraceError): report it and keep polling
                self.post_message(FeedFailed(f"cannot read the trace store: {e}"))
            worker.cancelled_event.wait(self.poll_interval)

    def on_requests_changed(self, message: RequestsChanged) -> None:
        for record in message.records:
            self.known.pop(record.id, None)
            self.known[record.id] = record
        if len(self.known) > self.history:
            newest = sorted(self.known.values(), key=lambda r: (r.created_at, r.id))[-self.history:]
            self.known = {r.id: r for r in newest}
        self.feed_error = None
        if message.initial:
            self.table.reset(r for r in message.records if self.filter.matches(r))
            self.feed_ready = True
        elif self.paused:
            self.pending.update({r.id: r for r in message.records})
        else:
            self.table.apply(message.records, self.filter)
        self._refresh()

    def on_feed_failed(self, message: FeedFailed) -> None:
        self.feed_error = message.error
        self._refresh()

    # -- filters, search, pause -----------------------------------------------
    def _set_filter(self, new: FeedFilter) -> None:
        self.filter = new
        self._refresh()
        self._load_rows(new)

    @work(thread=True, exclusive=True, group="rows")
    def _load_rows(self, wanted: FeedFilter) -> None:
        try:
            records = self.trace.recent(self.row_cap, **wanted.query())
        except HybridError as e:
            self.post_message(FeedFailed(f"cannot read the trace store: {e}"))
            return
        self.post_message(RowsLoaded(tuple(records), wanted))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        if message.filter != self.filter:
            return  # a newer filter is on its way
        latest = [max(r, self.known.get(r.id, r), key=lambda x: x.rev) for r in message.records]
        self.table.reset(r for r in latest if self.filter.matches(r))
        self._refresh()

    def action_filter_backend(self) -> None:
        names = {r.backend for r in self.known.values() if r.backend}
        if self.router is not None:
            names |= set(self.router.backends)
        self._set_filter(self.filter.next_backend(sorted(names)))

    def action_filter_status(self) -> None:
        self._set_filter(self.filter.next_status())

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = self.filter.search or ""
        box.add_class("-visible")
        box.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        message.input.remove_class("-visible")
        self.table.focus()
        self._set_filter(FeedFilter(self.filter.backend, self.filter.status, message.value.strip() or None))

    def action_clear_search(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("-visible"):
            box.remove_class("-visible")
            self.table.focus()
        elif self.filter != FeedFilter():
            self._set_filter(FeedFilter())

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.pending:
            self.table.apply(list(self.pending.values()), self.filter)
            self.pending.clear()
        self._refresh()

    # -- threshold ----------------------------------------------------------------
    def action_threshold(self, direction: int) -> None:
        value = round(min(1.0, max(0.0, self.threshold + direction * THRESHOLD_STEP)), 2)
        if value == self.threshold:
            return
        if self.router is not None:
            self.router.set_threshold(value)  # takes effect for the next request
        self.threshold = value
        self._refresh()
        self._save_threshold(value)

    @work(thread=True, exclusive=True, group="threshold")
    def _save_threshold(self, value: float) -> None:
        try:
            set_config_value(self.config_file, "routing.threshold", value)
            self.post_message(ThresholdSaved(value))
        except HybridError as e:  # ConfigError: the file cannot be parsed or written
            self.post_message(ThresholdSaved(value, str(e)))

    def on_threshold_saved(self, message: ThresholdSaved) -> None:
        if message.error:
            self.notify(f"threshold {message.value:.2f} is live but was not saved: {message.error}", severity="error")
        else:
            self.notify(f"threshold {message.value:.2f} saved to {self.config_file}", timeout=3)

    # -- feedback -----------------------------------------------------------------
    def action_feedback(self, label: str) -> None:
        request_id = self.table.selected_id
        if request_id is None:
            self.notify("no request selected", severity="warning")
            return
        self._save_feedback(request_id, label)

    @work(thread=True, group="feedback")
    def _save_feedback(self, request_id: str, label: str) -> None:
        try:
            self.trace.add_feedback(request_id, label, source="user")
            self.post_message(FeedbackRecorded(request_id, label))
        except HybridError as e:
            self.post_message(FeedbackRecorded(request_id, label, str(e)))

    def on_feedback_recorded(self, message: FeedbackRecorded) -> None:
        if message.error:
            self.notify(f"feedback not saved: {message.error}", severity="error")
        else:
            self.notify(f"marked {message.request_id[-8:]} {message.label}", timeout=3)

    # -- detail ---------------------------------------------------------------------
    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        if message.row_key.value is not None:
            self.push_screen(DetailScreen(self.trace, message.row_key.value, self.fmt_time))

    # -- training ---------------------------------------------------------------------
    def action_train(self) -> None:
        if self.trainer is None:
            self.notify("training is not available here (no trainer configured)", severity="warning")
            return
        if any(w.group == "train" and w.is_running for w in self.workers):
            self.notify("training is already running")
            return
        self.query_one(TrainingPanel).started()
        self._train(self.trainer)

    @work(thread=True, exclusive=True, group="train")
    def _train(self, trainer: Trainer) -> None:
        def progress(fraction: float, message: str) -> None:
            self.post_message(TrainingProgressed(min(1.0, max(0.0, float(fraction))), str(message)))

        try:
            self.post_message(TrainingFinished(trainer(progress)))
        except HybridError as e:  # TrainingUnavailable among them
            self.post_message(TrainingFinished(None, f"training stopped: {e}"))

    def on_training_progressed(self, message: TrainingProgressed) -> None:
        self.query_one(TrainingPanel).progressed(message.fraction, message.message)

    def on_training_finished(self, message: TrainingFinished) -> None:
        self.query_one(TrainingPanel).finished(message.outcome, message.error)

    # -- the demo workload --------------------------------------------------------------
    @work(thread=True, exclusive=True, group="demo")
    def _run_demo(self, workload: DemoWorkload) -> None:
        worker = get_current_worker()
        done = failed = 0

        def on_event(event: Event) -> None:
            note = describe(event)
            if note:
                self.post_message(DemoProgressed(done, failed, note=note))

        try:
            for outcome in workload(self._stopping, on_event):  # _stopping: set on unmount, cancels the request
                done += 1
                failed += getattr(outcome, "error", None) is not None
                self.post_message(DemoProgressed(done, failed))
                if worker.is_cancelled:
                    break
            self.post_message(DemoProgressed(done, failed, finished=True))
        except HybridError as e:
            self.post_message(DemoProgressed(done, failed, finished=True, error=f"{type(e).__name__}: {e}"))
        finally:
            self.demo_idle.set()

    def on_demo_progressed(self, message: DemoProgressed) -> None:
        state = "finished" if message.finished else "running"
        self.demo_state = f"demo {state}: {message.done} requests, {message.failed} failed"
        if message.error:
            self.demo_state += f" ({message.error})"
        if message.note:
            self.demo_state += f" · {message.note}"
        self._refresh()
