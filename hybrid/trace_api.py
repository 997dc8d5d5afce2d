"""The trace store as an interface: what a second store (PostgreSQL, for several replicas) must provide."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hybrid.retention import Pruned
    from hybrid.trace import RequestRecord, StepRecord


@runtime_checkable
class TraceStoreProtocol(Protocol):
    """What the router, the pipeline, the CLI, the TUI and the learning loop need from a trace store.

    SQLite (``TraceStore``) is the embedded default. A second store (PostgreSQL, for several ``hybrid serve``
    replicas) provides these methods over the same tables (``requests``, ``steps``, ``feedback``, ``texts``)
    with the same meaning: writes may be queued but ``flush`` makes them visible; ``rev`` increases on every
    request write across all writers; ids are the caller's (``new_id``).
    """

    def start_request(
        self, request_id: str, *, task: str, messages: list[dict[str, str]], params: dict[str, Any],
        metadata: dict[str, Any] | None = None, parent_id: str | None = None, mode: str | None = None,
        kind: str = "request",
    ) -> None: ...

    def update_request(self, request_id: str, **values: Any) -> None: ...

    def add_step(self, request_id: str, kind: str, **values: Any) -> str: ...

    def add_feedback(self, request_id: str, label: str, *, source: str = "user", note: str | None = None) -> None: ...

    def get_request(self, request_id: str) -> RequestRecord | None: ...

    def find_request(self, prefix: str) -> RequestRecord | None: ...

    def recent(self, limit: int = 50, **filters: Any) -> list[RequestRecord]: ...

    def changes_since(self, rev: int, limit: int = 500) -> list[RequestRecord]: ...

    def steps(self, request_id: str) -> list[StepRecord]: ...

    def children(self, request_id: str) -> list[RequestRecord]: ...

    def feedback_rows(self) -> list[tuple[str, str, str]]: ...

    def with_metadata(self, key: str, value: str, limit: int = 100) -> list[RequestRecord]: ...

    def settled_in_conversation(self, conversation_id: str, limit: int = 100) -> list[RequestRecord]:
        """Finished requests of a conversation, oldest first; read before every route (sticky routing)."""
        ...

    def flush(self, *, grouped: bool = False) -> None:
        """Wait until every write so far is committed; ``grouped`` may wait briefly to share the commit."""
        ...

    def prune(self, *, keep_days: float | None = None, max_mb: float | None = None) -> Pruned: ...

    def close(self) -> None: ...
