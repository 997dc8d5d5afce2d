"""Messages that workers post back to the app, named for what happened.

Textual messages set their own state while being handled (``stop()``,
``prevent_default()``), so they cannot be frozen dataclasses; each one is a
plain ``@dataclass`` (Textual's supported form) whose fields are immutable
values: tuples and frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from hybrid.trace import RequestRecord
from tui.feed import FeedFilter
from tui.trace_tree import TraceNode
from tui.training import TrainOutcome


@dataclass(eq=False)
class _Posted(Message):
    """Base of the app's messages (``Message.__post_init__`` sets up the handling state)."""


@dataclass(eq=False)
class RequestsChanged(_Posted):
    """The follower read these new or changed requests (one message per poll, latest version of each)."""

    records: tuple[RequestRecord, ...]
    initial: bool = False


@dataclass(eq=False)
class FeedFailed(_Posted):
    """The follower could not read the trace store; it keeps trying."""

    error: str


@dataclass(eq=False)
class RowsLoaded(_Posted):
    """The table's rows for ``filter``, newest first, read after the filter changed."""

    records: tuple[RequestRecord, ...]
    filter: FeedFilter


@dataclass(eq=False)
class FeedbackRecorded(_Posted):
    request_id: str
    label: str
    error: str | None = None


@dataclass(eq=False)
class ThresholdSaved(_Posted):
    value: float
    error: str | None = None


@dataclass(eq=False)
class TrainingProgressed(_Posted):
    fraction: float
    message: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainingProgressed)  # only the latest progress matters


@dataclass(eq=False)
class TrainingFinished(_Posted):
    outcome: TrainOutcome | None
    error: str | None = None


@dataclass(eq=False)
class DemoProgressed(_Posted):
    done: int
    failed: int
    finished: bool = False
    error: str | None = None
    note: str | None = None
    """What the request in flight is going through (a held draft, a fallback), from the router's events."""


@dataclass(eq=False)
class TraceLoaded(_Posted):
    """The detail screen's request, its steps and its chained children, read from the store."""

    node: TraceNode | None
    error: str | None = None
