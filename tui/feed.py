"""Following the trace store: what changed since the last look, and which rows a filter keeps.

The TUI never keeps its own copy of the truth: it asks the store for the newest
requests once, then for ``changes_since(rev)`` on every poll. Any process may be
writing (the demo worker, ``hybrid ask`` in another terminal); SQLite's WAL
lets this reader see each committed write.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hybrid.trace import RequestRecord, TraceStore

STATUSES = ("routed", "streaming", "done", "failed", "cancelled")
PAGE = 500


@dataclass(frozen=True)
class FeedFilter:
    backend: str | None = None
    status: str | None = None
    search: str | None = None

    def matches(self, record: RequestRecord) -> bool:
        if self.backend and record.backend != self.backend:
            return False
        if self.status and record.status != self.status:
            return False
        return not self.search or self.search.lower() in record.prompt.lower()

    def query(self) -> dict[str, str | None]:
        return {"backend": self.backend, "status": self.status, "search": self.search}

    def next_backend(self, known: list[str]) -> FeedFilter:
        return replace(self, backend=_cycle([None, *sorted(known)], self.backend))

    def next_status(self) -> FeedFilter:
        return replace(self, status=_cycle([None, *STATUSES], self.status))

    def describe(self) -> str:
        parts = [f"backend={self.backend}" if self.backend else "", f"status={self.status}" if self.status else ""]
        parts.append(f"search={self.search!r}" if self.search else "")
        return " ".join(p for p in parts if p) or "all requests"


def _cycle(options: list[str | None], current: str | None) -> str | None:
    index = options.index(current) if current in options else 0
    return options[(index + 1) % len(options)]


class TraceFollower:
    """Reads the newest requests, then only what changed. Call from a worker thread."""

    def __init__(self, trace: TraceStore, *, history: int) -> None:
        self.trace = trace
        self.history = history
        self.rev = 0

    def start(self) -> list[RequestRecord]:
        records = self.trace.recent(self.history)
        self.rev = max((r.rev for r in records), default=0)
        return records

    def poll(self) -> list[RequestRecord]:
        """Requests written since the last call, the latest version of each, oldest change first."""
        latest: dict[str, RequestRecord] = {}
        while True:
            page = self.trace.changes_since(self.rev, limit=PAGE)
            for record in page:
                latest.pop(record.id, None)
                latest[record.id] = record
                self.rev = max(self.rev, record.rev)
            if len(page) < PAGE:
                return list(latest.values())
