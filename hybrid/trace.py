"""The trace store: every request and every step of it, in SQLite (WAL mode).

One ``requests`` row per request, kept current as it moves through
``received -> routed -> streaming -> done | failed``, and one ``steps`` row per
step (``request``, ``classify``, ``route``, ``cache``, ``backend_call``,
``draft``, ``fallback``, ``error``). ``rev`` is a store-wide counter bumped on
every write to a request row, so followers (the TUI) read only what changed.
Several processes may write at once; SQLite serialises them.

Secrets handed to the store are scrubbed from everything it writes.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hybrid.errors import TraceError

_KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9_\-])sk-ant-[A-Za-z0-9_\-]{20,}(?![A-Za-z0-9_\-])")
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""A configured secret shorter than this is no real key: scrubbing it would mangle ordinary words."""


def _secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """The configured secrets as whole tokens (not inside a longer word), longest first."""
    plausible = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    if not plausible:
        return None
    return re.compile(r"(?<![A-Za-z0-9_\-])(?:" + "|".join(map(re.escape, plausible)) + r")(?![A-Za-z0-9_\-])")


def new_id() -> str:
    """A time-sortable id: 12 hex digits of milliseconds, then 8 random hex digits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement: ``executescript`` would commit the migration's transaction early."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _create_schema(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            rev INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            parent_id TEXT,
            task TEXT NOT NULL,
            prompt TEXT NOT NULL,
            messages TEXT NOT NULL,
            params TEXT NOT NULL,
            metadata TEXT NOT NULL,
            status TEXT NOT NULL,
            mode TEXT,
            classifier TEXT,
            score REAL,
            threshold REAL,
            escalate INTEGER,
            target TEXT,
            reasons TEXT,
            backend TEXT,
            model TEXT,
            is_local INTEGER,
            output TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost REAL,
            frontier_cost REAL,
            latency_s REAL,
            cached INTEGER NOT NULL DEFAULT 0,
            fallback INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE UNIQUE INDEX requests_rev ON requests(rev);
        CREATE INDEX requests_created ON requests(created_at);
        CREATE TABLE steps (
            id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL,
            duration_s REAL,
            backend TEXT,
            model TEXT,
            input TEXT,
            output TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost REAL,
            error TEXT
        );
        CREATE INDEX steps_request ON steps(request_id, seq);
        """
    )


def _create_feedback(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            label TEXT NOT NULL CHECK (label IN ('good', 'bad')),
            source TEXT NOT NULL,
            created_at REAL NOT NULL,
            note TEXT
        );
        CREATE INDEX feedback_request ON feedback(request_id);
        """
    )


_INDEXED_METADATA = ("conversation_id", "thread")


def _index_policy_lookups(db: sqlite3.Connection) -> None:
    """Conversations are found by metadata, budgets sum recent backend calls: index both."""
    for key in _INDEXED_METADATA:
        db.execute(f"CREATE INDEX requests_{key} ON requests(json_extract(metadata, '$.{key}'))")
    db.execute("CREATE INDEX steps_kind_created ON steps(kind, created_at)")


# Numbered migrations: MIGRATIONS[i] takes the schema from user_version i to i + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_schema, _create_feedback, _index_policy_lookups)


@dataclass(frozen=True)
class RequestRecord:
    id: str
    rev: int
    created_at: float
    updated_at: float
    parent_id: str | None
    task: str
    prompt: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    metadata: dict[str, Any]
    status: str
    mode: str | None
    classifier: str | None
    score: float | None
    threshold: float | None
    escalate: bool | None
    target: str | None
    reasons: list[str]
    backend: str | None
    model: str | None
    is_local: bool | None
    output: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    frontier_cost: float | None
    latency_s: float | None
    cached: bool
    fallback: bool
    error: str | None
    feedback: str | None = None


@dataclass(frozen=True)
class StepRecord:
    id: str
    request_id: str
    seq: int
    kind: str
    created_at: float
    duration_s: float | None
    backend: str | None
    model: str | None
    input: Any
    output: Any
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    error: str | None


_JSON_REQUEST_COLUMNS = {"messages", "params", "metadata", "reasons"}
_BOOL_REQUEST_COLUMNS = {"escalate", "is_local", "cached", "fallback"}
_REQUEST_COLUMNS = [f.name for f in fields(RequestRecord) if f.name != "feedback"]
_UPDATABLE = set(_REQUEST_COLUMNS) - {"id", "rev", "created_at", "updated_at"}
_FEEDBACK_SQL = "(SELECT label FROM feedback f WHERE f.request_id = r.id ORDER BY f.created_at DESC LIMIT 1)"


class TraceStore:
    """Reads and writes the trace database. Safe to share between threads."""

    def __init__(self, path: Path, *, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self._secrets = _secret_pattern(secrets)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise TraceError(
                f"cannot open the trace store at {self.path} ({e}). Check the path and its permissions, "
                "set trace.path in the config, or pass --no-log."
            ) from e

    # -- schema -----------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise TraceError(
                        f"{self.path} was written by a newer hybrid (schema {version}, this one knows "
                        f"{len(MIGRATIONS)}). Upgrade hybrid or point trace.path at another file."
                    )
                for step in MIGRATIONS[version:]:
                    step(self._db)
                self._db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------
    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            if self._secrets is not None:
                value = self._secrets.sub(REDACTED, value)
            return _KEY_PATTERN.sub(REDACTED, value)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

    def _json(self, value: Any) -> str | None:
        return None if value is None else json.dumps(self._scrub(value), ensure_ascii=False, default=str)

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        with self._lock:
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as e:
                raise TraceError(f"cannot write to the trace store at {self.path}: {e}") from e

    def start_request(
        self,
        request_id: str,
        *,
        task: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        parent_id: str | None = None,
        mode: str | None = None,
    ) -> None:
        now = time.time()
        prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        self._write(
            "INSERT INTO requests (id, rev, created_at, updated_at, parent_id, task, prompt, messages, params,"
            " metadata, status, mode, reasons) VALUES (?, (SELECT COALESCE(MAX(rev), 0) + 1 FROM requests),"
            " ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, '[]')",
            (
                request_id, now, now, parent_id, task, self._scrub(str(prompt)), self._json(messages),
                self._json(params), self._json(metadata or {}), mode,
            ),
        )

    def update_request(self, request_id: str, **values: Any) -> None:
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown request columns: {sorted(unknown)}")
        columns, args = [], []
        for key, value in values.items():
            if key in _JSON_REQUEST_COLUMNS:
                value = self._json(value)
            elif isinstance(value, str):
                value = self._scrub(value)
            columns.append(f"{key} = ?")
            args.append(value)
        columns.append("updated_at = ?")
        args.append(time.time())
        self._write(
            f"UPDATE requests SET {', '.join(columns)}, rev = (SELECT MAX(rev) + 1 FROM requests) WHERE id = ?",
            (*args, request_id),
        )

    def add_step(
        self,
        request_id: str,
        kind: str,
        *,
        input: Any = None,
        output: Any = None,
        backend: str | None = None,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cost: float | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> str:
        step_id = new_id()
        self._write(
            "INSERT INTO steps (id, request_id, seq, kind, created_at, duration_s, backend, model, input, output,"
            " input_tokens, output_tokens, cost, error) VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps"
            " WHERE request_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step_id, request_id, request_id, kind, time.time(), duration_s, backend, model, self._json(input),
                self._json(output), input_tokens, output_tokens, cost, self._scrub(error) if error else None,
            ),
        )
        return step_id

    def add_feedback(self, request_id: str, label: str, *, source: str = "user", note: str | None = None) -> None:
        if label not in ("good", "bad"):
            raise ValueError(f"feedback label must be 'good' or 'bad', got {label!r}")
        if self.get_request(request_id) is None:
            raise TraceError(f"no request {request_id!r} in {self.path}; `hybrid logs` lists request ids")
        self._write(
            "INSERT INTO feedback (id, request_id, label, source, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), request_id, label, source, time.time(), note),
        )
        self.update_request(request_id)  # bump rev so followers see the label

    # -- reading ------------------------------------------------------------
    def _request_rows(self, where: str, args: Sequence[Any], tail: str) -> list[RequestRecord]:
        sql = f"SELECT {', '.join('r.' + c for c in _REQUEST_COLUMNS)}, {_FEEDBACK_SQL} FROM requests r {where} {tail}"
        with self._lock:
            try:
                rows = self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise TraceError(f"cannot read the trace store at {self.path}: {e}") from e
        return [self._to_request(row) for row in rows]

    @staticmethod
    def _to_request(row: Sequence[Any]) -> RequestRecord:
        values = dict(zip([*_REQUEST_COLUMNS, "feedback"], row))
        for key in _JSON_REQUEST_COLUMNS:
            values[key] = json.loads(values[key]) if values[key] else ([] if key == "reasons" else {})
        for key in _BOOL_REQUEST_COLUMNS:
            values[key] = None if values[key] is None else bool(values[key])
        return RequestRecord(**values)

    def get_request(self, request_id: str) -> RequestRecord | None:
        rows = self._request_rows("WHERE r.id = ?", (request_id,), "")
        return rows[0] if rows else None

    def find_request(self, prefix: str) -> RequestRecord | None:
        """A request by id or unique id prefix (as `hybrid logs` prints them)."""
        rows = self._request_rows("WHERE r.id LIKE ?", (prefix.replace("%", "") + "%",), "LIMIT 2")
        return rows[0] if len(rows) == 1 else None

    def recent(
        self,
        limit: int = 50,
        *,
        backend: str | None = None,
        status: str | None = None,
        search: str | None = None,
        since: float | None = None,
    ) -> list[RequestRecord]:
        """Newest first, optionally filtered."""
        clauses, args = [], []
        if backend:
            clauses.append("r.backend = ?")
            args.append(backend)
        if status:
            clauses.append("r.status = ?")
            args.append(status)
        if search:
            clauses.append("r.prompt LIKE ? ESCAPE '\\'")
            args.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if since is not None:
            clauses.append("r.created_at >= ?")
            args.append(since)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._request_rows(where, [*args, limit], "ORDER BY r.created_at DESC, r.id DESC LIMIT ?")

    def changes_since(self, rev: int, limit: int = 500) -> list[RequestRecord]:
        """Requests written after ``rev``, oldest change first (for followers)."""
        return self._request_rows("WHERE r.rev > ?", (rev, limit), "ORDER BY r.rev LIMIT ?")

    def steps(self, request_id: str) -> list[StepRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(f.name for f in fields(StepRecord))} FROM steps WHERE request_id = ? ORDER BY seq",
                (request_id,),
            ).fetchall()
        records = []
        for row in rows:
            values = dict(zip([f.name for f in fields(StepRecord)], row))
            values["input"] = json.loads(values["input"]) if values["input"] else None
            values["output"] = json.loads(values["output"]) if values["output"] else None
            records.append(StepRecord(**values))
        return records

    def children(self, request_id: str) -> list[RequestRecord]:
        """Requests whose parent is ``request_id`` (the next steps of a chain)."""
        return self._request_rows("WHERE r.parent_id = ?", (request_id,), "ORDER BY r.created_at")

    def feedback_rows(self) -> list[tuple[str, str, str]]:
        """(request_id, label, source), newest label per request and source."""
        with self._lock:
            return self._db.execute(
                "SELECT request_id, label, source FROM feedback f WHERE created_at = (SELECT MAX(created_at) FROM"
                " feedback g WHERE g.request_id = f.request_id AND g.source = f.source) ORDER BY created_at"
            ).fetchall()

    def spend_since(self, since: float) -> dict[str, float]:
        """US dollars spent per backend on calls made since ``since`` (epoch seconds); budgets read this."""
        with self._lock:
            rows = self._db.execute(
                "SELECT backend, SUM(cost) FROM steps WHERE kind = 'backend_call' AND created_at >= ? AND cost > 0"
                " GROUP BY backend", (since,),
            ).fetchall()
        return {backend: float(total) for backend, total in rows if backend}

    def with_metadata(self, key: str, value: str, limit: int = 100) -> list[RequestRecord]:
        """Requests whose metadata holds ``key`` (``conversation_id`` or ``thread``) = ``value``, oldest first."""
        if key not in _INDEXED_METADATA:
            raise ValueError(f"metadata lookups are indexed for {_INDEXED_METADATA}, not {key!r}")
        return self._request_rows(f"WHERE json_extract(r.metadata, '$.{key}') = ?", (value, limit),
                                  "ORDER BY r.created_at, r.id LIMIT ?")
