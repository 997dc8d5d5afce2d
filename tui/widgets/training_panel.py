"""Training progress and its result: promoted or not, and why."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from tui.text import safe
from tui.training import TrainOutcome


class TrainingPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="train-progress")
        yield Static(id="train-status")

    def started(self) -> None:
        self.add_class("-visible")
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#train-status", Static).update(Text("training: starting…", "bold"))

    def progressed(self, fraction: float, message: str) -> None:
        self.query_one(ProgressBar).update(progress=round(100 * fraction, 1))
        text = Text("training: ", "bold")
        text.append_text(safe(message))
        self.query_one("#train-status", Static).update(text)

    def finished(self, outcome: TrainOutcome | None, error: str | None) -> None:
        status = self.query_one("#train-status", Static)
        if outcome is None:
            status.update(safe(error or "training failed", "bold red", multiline=True))
            return
        self.query_one(ProgressBar).update(progress=100)
        style = "bold green" if outcome.promoted else "bold yellow"
        status.update(safe(outcome.describe(), style, multiline=True))
