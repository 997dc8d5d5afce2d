"""The detail screen: the full trace tree of one request (Enter on a row opens it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from hybrid.errors import HybridError
from hybrid.trace import TraceStore
from tui.messages import TraceLoaded
from tui.text import safe
from tui.trace_tree import load_node, render_detail


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss_detail", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, trace: TraceStore, request_id: str, fmt_time: Callable[[float], str]) -> None:
        super().__init__()
        self.trace = trace
        self.request_id = request_id
        self.fmt_time = fmt_time
        self.loaded = False

    def compose(self) -> ComposeResult:
        title = Text("trace of ", "bold")
        title.append_text(safe(self.request_id, "bold"))
        yield Static(title, id="detail-title")
        with VerticalScroll(id="detail-scroll"):
            yield Static(Text("loading…", "dim"), id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    def action_dismiss_detail(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, group="detail")
    def _load(self) -> None:
        try:
            record = self.trace.get_request(self.request_id)
            if record is None:
                self.post_message(TraceLoaded(None, f"request {self.request_id} is not in the trace store"))
                return
            self.post_message(TraceLoaded(load_node(self.trace, record)))
        except HybridError as e:  # the store may be busy or gone (TraceError); say so on screen
            self.post_message(TraceLoaded(None, f"cannot read the trace: {e}"))

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        body = self.query_one("#detail-body", Static)
        if message.node is None:
            body.update(safe(message.error or "not found", "bold red"))
        else:
            body.update(render_detail(message.node, self.fmt_time))
        self.loaded = True
