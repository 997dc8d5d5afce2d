"""The summary panel: local share, spend vs all-frontier, latency per backend, escalations, sparklines."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from hybrid.report import wilson
from tui.rows import money
from tui.stats import Summary
from tui.text import one_line


def quality_words(s: Summary) -> tuple[str, str]:
    """What the savings cost: the labelled share of good local answers with its interval, or unmeasured."""
    q = s.quality
    if not q.n:
        return "quality unmeasured", "yellow"
    low, high = wilson(q.good, q.n)
    return f"quality {q.retained:.0%} good (n={q.n}, {low:.0%}-{high:.0%})", "bold" if q.retained >= 0.8 else "yellow"


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
    text.append(f"{money(s.saved)} ({s.saved_share:.0%})", "bold green" if s.saved > 0 else "bold")
    text.append(" · ")
    text.append(*quality_words(s))
    if s.checks.checked:
        text.append(f" · {s.checks.failed}/{s.checks.checked} local answers failed a check",
                    "yellow" if s.checks.failed else "")
    text.append("\n")
    for i, c in enumerate(s.caps):
        text.append(" · " if i else "budget ", "dim")
        text.append(f"{c.cap.period}{' ' + one_line(c.cap.backend, 12) if c.cap.backend else ''} "
                    f"{money(c.spent)}/{money(c.cap.limit)}", "bold red" if c.left <= 0 else "")
    if s.caps:
        text.append("\n")
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
