"""The summary panel: local share, spend vs all-frontier, latency per backend, escalations, sparklines."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from tui.rows import money
from tui.stats import Summary
from tui.text import one_line


def summary_text(s: Summary, *, cloud: str | None) -> Text:
    text = Text()
    text.append(f"{s.requests}", "bold")
    text.append(" req · ")
    text.append(f"{s.local_share:.0%} local", "bold green")
    text.append(f" ({s.local}/{s.finished}) · ")
    text.append(f"{s.escalation_rate:.0%} escalated", "bold yellow")
    text.append(f" · {s.failed} failed", "red" if s.failed else "")
    text.append(f" · {s.cancelled} cancelled\n" if s.cancelled else "\n", "magenta")
    text.append(f"spent {money(s.spent)} vs {money(s.frontier)} all-frontier: saved ")
    text.append(f"{money(s.saved)} ({s.saved_share:.0%})\n", "bold green" if s.saved > 0 else "bold")
    text.append("p50/p95 ", "dim")
    if not s.latency:
        text.append("no finished requests yet", "dim")
    for i, b in enumerate(s.latency):
        text.append(" · " if i else "")
        text.append(one_line(b.backend, 16), "green" if b.is_local else "bright_blue")
        text.append(f" {b.p50:.2f}/{b.p95:.2f}s")
    text.append("\nclassifier ", "dim")
    text.append(one_line(s.classifier or "-", 28))
    if cloud:
        text.append(" · cloud ", "dim")
        text.append(one_line(cloud, 40), "green" if cloud.startswith("ok") else "yellow")
    return text


class SummaryPanel(Horizontal):
    def compose(self) -> ComposeResult:
        yield Static(id="summary-numbers")
        with Vertical(id="summary-sparks"):
            with Horizontal():
                yield Label("req/min")
                yield Sparkline([], id="spark-rate")
            with Horizontal():
                yield Label("escal. ")
                yield Sparkline([], id="spark-escalation")
            yield Label("last 30 minutes", id="spark-caption")

    def show(self, summary: Summary, *, cloud: str | None) -> None:
        self.query_one("#summary-numbers", Static).update(summary_text(summary, cloud=cloud))
        self.query_one("#spark-rate", Sparkline).data = list(summary.per_minute)
        self.query_one("#spark-escalation", Sparkline).data = list(summary.escalation_share)
