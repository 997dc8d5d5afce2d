"""One line under the summary: the live threshold, live or paused, the filter, demo progress, trace errors."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.text import one_line


class StatusLine(Static):
    def show(
        self, *, threshold: float, paused: bool, pending: int, filter_text: str, rows: int, demo: str | None,
        error: str | None,
    ) -> None:
        text = Text("threshold ", "dim")
        text.append(f"{threshold:.2f}", "bold reverse")
        text.append(" · ")
        if paused:
            text.append(f"❚❚ paused ({pending} new)", "bold yellow")
        else:
            text.append("● live", "bold green")
        text.append(f" · {rows} rows · ")
        text.append(one_line(filter_text, 60), "bold")
        if demo:
            text.append(f" · {demo}", "cyan")
        if error:
            text.append(" · ")
            text.append(one_line(error, 80), "bold red")
        self.update(text)
