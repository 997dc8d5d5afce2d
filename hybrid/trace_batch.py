"""How the writer thread commits one batch of queued trace rows: few statements, whatever the batch holds.

The store queues plain rows (``Insert``, ``Update``, ``Step``, ``Statement``), already scrubbed and
serialised in the caller. ``apply`` turns a batch of them into a handful of statements inside the batch's
transaction:

- the long texts of every row, in one ``INSERT ... ON CONFLICT DO NOTHING``;
- each request row once: a request started in this batch is inserted with the values of its later updates
  already applied (nobody can read the states in between: they would have been committed together), and
  the updates of an older request are merged into one ``UPDATE``. Each row written gets one new ``rev``,
  in the order of its last write, above every ``rev`` already committed;
- every step in one multi-row ``INSERT``, numbered (``seq``) after the steps its request already has.

Few statements matter more than their SQL: SQLite releases the GIL while it works, but the writer thread
must take the GIL back after each statement, and while a request thread is busy that can take a whole
switch interval (5 ms). Rows are written exactly as before, so readers see the same trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REQUEST_INSERT_COLUMNS = (
    "id", "rev", "created_at", "updated_at", "parent_id", "task", "prompt", "messages", "params", "metadata",
    "status", "mode", "classifier", "score", "threshold", "escalate", "target", "reasons", "backend", "model",
    "is_local", "output", "input_tokens", "output_tokens", "cost", "frontier_cost", "latency_s", "cached",
    "fallback", "error", "kind", "owner", "conversation_id", "thread",
)
STEP_COLUMNS = (
    "id", "request_id", "seq", "kind", "created_at", "duration_s", "backend", "model", "input", "output",
    "input_tokens", "output_tokens", "cost", "error",
)
ROWS_PER_STATEMENT = 200
"""Rows per multi-row INSERT at most; fewer where SQLite was built with a lower limit on bound values."""


@dataclass(frozen=True, slots=True)
class Insert:
    """A new request row: ``values`` by column (``rev`` is given by ``apply``)."""

    request_id: str
    values: dict[str, Any]
    texts: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Update:
    request_id: str
    values: dict[str, Any]
    texts: dict[str, str] | None = None
    final: bool = False
    """The request reached a final status: its id is reported to the store's listener after commit."""


@dataclass(frozen=True, slots=True)
class Step:
    """A step row: every column of ``STEP_COLUMNS`` but ``seq``, in that order."""

    row: tuple[Any, ...]
    texts: dict[str, str] | None = None

    @property
    def request_id(self) -> str:
        return self.row[1]


@dataclass(frozen=True, slots=True)
class Statement:
    """Any other write (feedback): one statement, run as it is."""

    sql: str
    args: Sequence[Any]
    texts: dict[str, str] | None = None


Row = Insert | Update | Step | Statement


@dataclass(slots=True)
class _Pending:
    """One request row of the batch: its merged values, whether the batch inserts it, its last write's index."""

    values: dict[str, Any]
    inserted: bool
    last: int


def apply(db: sqlite3.Connection, batch: Sequence[Row]) -> list[str]:
    """Write ``batch`` inside the caller's transaction; returns the ids of requests that reached a final status."""
    texts: dict[str, str] = {}
    requests: dict[str, _Pending] = {}
    steps: list[Step] = []
    statements: list[Statement] = []
    finished: list[str] = []
    for i, row in enumerate(batch):
        if row.texts:
            texts.update(row.texts)
        if isinstance(row, Step):
            steps.append(row)
        elif isinstance(row, Statement):
            statements.append(row)
        elif isinstance(row, Insert):
            if row.request_id in requests:  # a second start of one id: let SQLite refuse it, row by row
                raise sqlite3.IntegrityError(f"request {row.request_id} is started twice in one batch")
            requests[row.request_id] = _Pending(dict(row.values), True, i)
        else:
            pending = requests.get(row.request_id)
            if pending is None:
                requests[row.request_id] = _Pending(dict(row.values), False, i)
            else:
                pending.values.update(row.values)
                pending.last = i
            if row.final:
                finished.append(row.request_id)
    if texts:
        _insert_many(db, "texts", ("hash", "body"), list(texts.items()), " ON CONFLICT (hash) DO NOTHING")
    if requests:
        _write_requests(db, requests)
    if steps:
        _insert_steps(db, steps)
    for statement in statements:
        db.execute(statement.sql, statement.args)
    return finished


def _write_requests(db: sqlite3.Connection, requests: dict[str, _Pending]) -> None:
    (base,) = db.execute("SELECT COALESCE(MAX(rev), 0) FROM requests").fetchone()
    ordered = sorted(requests.items(), key=lambda item: item[1].last)
    inserts = []
    for rev, (request_id, pending) in enumerate(ordered, start=base + 1):
        values = pending.values
        if pending.inserted:
            values["id"], values["rev"] = request_id, rev
            inserts.append(tuple(values.get(c) for c in REQUEST_INSERT_COLUMNS))
        else:
            columns = "".join(f"{key} = ?, " for key in values)
            db.execute(f"UPDATE requests SET {columns}rev = ? WHERE id = ?", (*values.values(), rev, request_id))
    if inserts:
        _insert_many(db, "requests", REQUEST_INSERT_COLUMNS, inserts)


def _insert_steps(db: sqlite3.Connection, steps: list[Step]) -> None:
    """Number each step after the last one its request already has (one indexed lookup per request)."""
    ids = list({s.request_id: None for s in steps})
    last: dict[str, int] = {}
    for i in range(0, len(ids), ROWS_PER_STATEMENT):
        chunk = ids[i : i + ROWS_PER_STATEMENT]
        last.update(db.execute(
            f"SELECT request_id, MAX(seq) FROM steps WHERE request_id IN ({', '.join('?' * len(chunk))})"
            " GROUP BY request_id", chunk,
        ).fetchall())
    rows = []
    for step in steps:
        seq = last[step.request_id] = last.get(step.request_id, 0) + 1
        rows.append((*step.row[:2], seq, *step.row[2:]))
    _insert_many(db, "steps", STEP_COLUMNS, rows)


def _insert_many(db: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[Iterable[Any]],
                 tail: str = "") -> None:
    one = "(" + ", ".join("?" * len(columns)) + ")"
    per = max(1, min(ROWS_PER_STATEMENT, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns)))
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))}{tail}",
                   [value for row in chunk for value in row])
