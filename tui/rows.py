"""One decisions-table row per request: the columns and how each cell is drawn.

Every cell is a ``rich.text.Text`` (a plain string would be parsed as markup by
``DataTable``), and the prompt goes through ``tui.text`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from rich.text import Text

from hybrid.trace import RequestRecord
from tui.text import one_line

# (key, label, width); width None lets the prompt take what is left.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "time", 8),
    ("prompt", "prompt", 22),
    ("score", "score/thr", 9),
    ("backend", "backend", 11),
    ("status", "status", 9),
    ("marks", "marks", 5),
    ("latency", "latency", 7),
    ("tokens", "tokens", 7),
    ("cost", "cost", 9),
    ("task", "task", 9),
)


# backend cell: ⌂ local, ☁ cloud, ▸ answering now, → routed there (not started)
STATUS_STYLE = {"received": "dim", "routed": "yellow", "streaming": "cyan", "done": "green", "failed": "bold red",
                "cancelled": "magenta"}


def clock(tz: tzinfo | None) -> Callable[[float], str]:
    return lambda ts: datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")


def money(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 0.01 else f"${value:.3f}"


def marks(r: RequestRecord) -> Text:
    text = Text()
    flags = [
        ("F", "magenta", r.fallback),
        ("C", "blue", r.cached),
        ("K", "cyan", r.mode == "cascade"),
        ("✓", "green", r.feedback == "good"),
        ("✗", "red", r.feedback == "bad"),
    ]
    for letter, style, on in flags:
        if on:
            text.append(letter, style)
    return text


def backend_cell(r: RequestRecord) -> Text:
    if r.backend and r.is_local is None:  # streaming: the router records local/cloud when the answer is done
        return Text("▸ " + one_line(r.backend), "cyan")
    if r.backend:
        where = "⌂ " if r.is_local else "☁ "
        return Text(where + one_line(r.backend), "green" if r.is_local else "bright_blue")
    if r.target:
        return Text("→ " + one_line(r.target), "dim")
    return Text("-", "dim")


def score_cell(r: RequestRecord) -> Text:
    if r.score is None:
        return Text("-", "dim")
    threshold = "-" if r.threshold is None else f"{r.threshold:.2f}"
    return Text(f"{r.score:.2f}/{threshold}", "bold yellow" if r.escalate else "")


def cells(r: RequestRecord, fmt_time: Callable[[float], str], prompt_width: int = 22) -> dict[str, Text]:
    tokens = "-" if r.input_tokens is None else f"{r.input_tokens}+{r.output_tokens or 0}"
    return {
        "time": Text(fmt_time(r.created_at), "dim"),
        "prompt": Text(one_line(r.prompt, prompt_width)),
        "task": Text(one_line(r.task, 9)),
        "score": score_cell(r),
        "backend": backend_cell(r),
        "marks": marks(r),
        "status": Text(one_line(r.status), STATUS_STYLE.get(r.status, "")),
        "latency": Text("-" if r.latency_s is None else f"{r.latency_s:.2f}s", justify="right"),
        "tokens": Text(tokens, justify="right"),
        "cost": Text(money(r.cost), justify="right"),
    }
