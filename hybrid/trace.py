"""The trace store: every request and every step of it, as a tree of spans, in SQLite (WAL mode).

Spans are the one shape of the trace. A ``requests`` row is a span with a ``kind`` (``request`` for one
routed call, ``pipeline`` for a pipeline run) and a ``parent_id``: a pipeline run is a root span, each
step's request hangs under it, a coordinator's subtasks under their step. A request row is kept current as
it moves through ``received -> routed -> streaming -> done | failed | cancelled``. Its ``steps`` rows are
its child spans (``request``, ``classify``, ``route``, ``cache``, ``backend_call``, ``draft``,
``fallback``, ``error``), each with a start and a duration. ``rev`` is a store-wide counter bumped on every
write to a request row, so followers (the TUI) read only what changed. Several processes may write at once;
SQLite serialises them. Each open store owns the rows it starts (``owner``) and holds a lock file while
it is open; opening a store marks failed the unfinished rows whose owner is gone (a process killed
mid-request), see ``recover_unfinished``.

Each long text is stored once (``hybrid/trace_texts.py``); writes are queued to one writer thread and
committed in batches (``hybrid/trace_writer.py`` says exactly what is guaranteed); ``prune`` keeps the
store within ``trace.keep_days`` and ``trace.max_mb`` (``hybrid/retention.py``). ``TraceStoreProtocol``
(``hybrid/trace_api.py``) is the seam for a second store (PostgreSQL); the SQL here is kept portable for it.

Secrets are scrubbed from everything the store writes: those handed to it, Anthropic-shaped keys, and the
credentials the privacy scan finds in each request, from all of that request's rows (``hybrid/trace_scrub.py``).
"""

from __future__ import annotations

import atexit
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hybrid import retention, trace_batch
from hybrid.errors import TraceError
from hybrid.owner import OwnerLock
from hybrid.trace_scrub import KEY_PATTERN, KEY_PREFIX, REDACTED, Found, PerRequest, secret_pattern, secret_words
from hybrid.trace_texts import REF, REF_PATTERN, Digests, Interner, fetch, resolve
from hybrid.trace_writer import Settled, Writer


def new_id() -> str:
    """A time-sortable id: 12 hex digits of milliseconds, then 8 random hex digits.

    Ids need to be unique, not unguessable: Python's own generator (seeded from the OS, reseeded after a fork)
    costs a fraction of an ``os.urandom`` system call, and a request takes five."""
    return f"{int(time.time() * 1000):012x}{random.getrandbits(32):08x}"


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


def _spans_and_texts(db: sqlite3.Connection) -> None:
    """Span kinds, an index to walk trees, and the content-addressed texts (existing rows stay inline)."""
    _run_script(
        db,
        """
        ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'request';
        CREATE INDEX requests_parent ON requests(parent_id);
        CREATE TABLE texts (
            hash TEXT PRIMARY KEY,
            body TEXT NOT NULL
        )
        """
    )


def _add_owner(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        ALTER TABLE requests ADD COLUMN owner TEXT;
        CREATE INDEX requests_unfinished ON requests(owner) WHERE status IN ('received', 'routed', 'streaming')
        """,
    )


_INDEXED_METADATA = ("conversation_id", "thread")


def _index_policy_lookups(db: sqlite3.Connection) -> None:
    """Conversations are found by metadata, budgets sum recent backend calls: index both."""
    for key in _INDEXED_METADATA:
        db.execute(f"CREATE INDEX requests_{key} ON requests(json_extract(metadata, '$.{key}'))")
    db.execute("CREATE INDEX steps_kind_created ON steps(kind, created_at)")


def _lookup_columns(db: sqlite3.Connection) -> None:
    """Conversations are found by plain columns, not by an index over the metadata JSON (parsed again for every
    row written), and the spend index holds only backend calls, the only steps budgets sum."""
    _run_script(
        db,
        """
        ALTER TABLE requests ADD COLUMN conversation_id TEXT;
        ALTER TABLE requests ADD COLUMN thread TEXT;
        UPDATE requests SET conversation_id = json_extract(metadata, '$.conversation_id'),
            thread = json_extract(metadata, '$.thread') WHERE json_valid(metadata);
        DROP INDEX requests_conversation_id;
        DROP INDEX requests_thread;
        CREATE INDEX requests_conversation_id ON requests(conversation_id);
        CREATE INDEX requests_thread ON requests(thread);
        DROP INDEX steps_kind_created;
        CREATE INDEX steps_spend ON steps(created_at) WHERE kind = 'backend_call'
        """,
    )


# Numbered migrations: MIGRATIONS[i] takes the schema from user_version i to i + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_schema, _create_feedback, _spans_and_texts, _add_owner, _index_policy_lookups, _lookup_columns,
)
UNFINISHED = ("received", "routed", "streaming")
PROCESS_ENDED = "the process ended before the request finished"


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
    kind: str = "request"


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
_TEXT_REQUEST_COLUMNS = {"prompt", "output"}
_BOOL_REQUEST_COLUMNS = {"escalate", "is_local", "cached", "fallback"}
_REQUEST_COLUMNS = [f.name for f in fields(RequestRecord) if f.name != "feedback"]
_UPDATABLE = set(_REQUEST_COLUMNS) - {"id", "rev", "created_at", "updated_at", "kind"}
_STEP_COLUMNS = trace_batch.STEP_COLUMNS  # StepRecord's fields, read as they are written
_FEEDBACK_SQL = "(SELECT label FROM feedback f WHERE f.request_id = r.id ORDER BY f.created_at DESC LIMIT 1)"
FINAL_STATUSES = ("done", "failed", "cancelled")
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, check_circular=False)
"""Trace values are plain data, never circular: the encoder keeps no record of the containers it is inside."""


def _fast_encode(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` without its setup on every call: CPython's C encoder, made once (it keeps no state
    between calls when nothing is checked for cycles). Elsewhere, ``encoder.encode`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.check_circular or encoder.indent is not None:
        return encoder.encode
    strings = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    try:
        c_encode = make(None, encoder.default, strings, None, encoder.key_separator, encoder.item_separator,
                        encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)
    except TypeError:  # an interpreter whose C encoder takes other arguments: the documented path
        return encoder.encode
    return lambda value: "".join(c_encode(value, 0))


_encode = _fast_encode(_ENCODER)


class TraceStore:
    """Reads and writes the trace database. Safe to share between threads.

    Writes go through a queue to one writer thread (see ``hybrid/trace_writer.py`` for the guarantees);
    reads flush that queue first. ``keep_days``/``max_mb`` set retention: a store opened over its limits
    prunes itself once, in the writer thread. ``listen`` registers a callback for finished root spans.
    """

    def __init__(
        self,
        path: Path,
        *,
        secrets: Iterable[str] = (),
        keep_days: float | None = None,
        max_mb: float | None = None,
    ) -> None:
        self.path = Path(path)
        secrets = tuple(secrets)
        self._secrets = secret_pattern(secrets)
        self._secret_words = secret_words(secrets)
        self._found = PerRequest()
        self._lock = threading.RLock()
        self._listener: Callable[[list[str]], None] | None = None
        self._on_close: Callable[[], None] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            self._migrate()
            self._owner = OwnerLock(self.path)
        except (sqlite3.Error, OSError) as e:
            raise TraceError(
                f"cannot open the trace store at {self.path} ({e}). Check the path and its permissions, "
                "set trace.path in the config, or pass --no-log."
            ) from e
        self._digests = Digests()
        self._settled = Settled()
        self._where = str(self.path.resolve())
        self._writer = Writer(self._connect, trace_batch.apply, where=self._where, on_finished=self._finished,
                              siblings=self._settled.running)
        atexit.register(self.close)
        self.recover_unfinished()
        self._opening_prune: list[retention.Pruned] = []
        if retention.needed(self._db, self.path, keep_days=keep_days, max_mb=max_mb):
            number = self._writer.submit_alone(lambda db: self._opening_prune.append(
                retention.prune(db, self.path, keep_days=keep_days, max_mb=max_mb)))
            self._settled.touched(Settled.ANY, number, self._writer.committed)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file; prune VACUUMs older ones
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

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

    def flush(self, *, grouped: bool = False) -> None:
        """Wait until every write queued so far is committed (reads do this themselves).

        ``grouped``: while other requests are open, the commit may wait a few milliseconds to be shared with
        theirs (group commit); the server's wait before a request's last event is grouped."""
        self._writer.flush(grouped=grouped)

    def close(self) -> None:
        """Commit every queued write, stop the writer thread and close the database. Idempotent."""
        atexit.unregister(self.close)
        try:
            self._writer.close()
            if self._on_close is not None:
                self._on_close()
                self._on_close = None
        finally:
            with self._lock:
                self._db.close()
                self._owner.release()

    def recover_unfinished(self) -> list[str]:
        """Mark failed the requests left unfinished by a store that is gone; returns their ids."""
        unfinished = "SELECT id, owner FROM requests WHERE status IN ('received', 'routed', 'streaming')"
        with self._lock:
            rows = self._db.execute(unfinished).fetchall()
        gone = {owner for owner in {owner for _, owner in rows} if self._owner.is_gone(owner)}
        recovered = [rid for rid, owner in rows if owner in gone]
        for request_id in recovered:
            self.update_request(request_id, status="failed", error=PROCESS_ENDED)
            self.add_step(request_id, "error", error=PROCESS_ENDED, output={"type": "ProcessEnded"})
        self.flush()
        for owner in gone - {None}:
            self._owner.forget(owner)
        return recovered

    def prune(self, *, keep_days: float | None = None, max_mb: float | None = None) -> retention.Pruned:
        """Delete whole request trees older than ``keep_days`` / beyond ``max_mb``, then shrink the file."""
        result: list[retention.Pruned] = []
        self._writer.run_alone(
            lambda db: result.append(retention.prune(db, self.path, keep_days=keep_days, max_mb=max_mb))
        )
        if not result:
            raise TraceError(f"pruning {self.path} did not finish; see the error above and retry")
        return result[0]

    def pruned_on_open(self) -> retention.Pruned | None:
        """What the prune this store ran when it was opened over its limits removed (None: it ran none)."""
        self.flush()
        return self._opening_prune[0] if self._opening_prune else None

    def size_bytes(self) -> int:
        self.flush()
        return retention.file_bytes(self.path)

    def listen(self, on_finished: Callable[[list[str]], None], on_close: Callable[[], None] | None = None) -> None:
        """Call ``on_finished`` (in the writer thread, after commit) with the ids of root spans (no parent) that
        reached a final status; ``on_close`` when the store closes. Used by the OpenTelemetry export."""
        self._listener, self._on_close = on_finished, on_close

    def _finished(self, ids: list[str]) -> None:
        if self._listener is None:
            return
        marks = ", ".join("?" * len(ids))
        with self._lock:
            roots = [row[0] for row in self._db.execute(
                f"SELECT id FROM requests WHERE id IN ({marks}) AND parent_id IS NULL", ids
            ).fetchall()]
        if roots:
            self._listener(roots)

    # -- writing ------------------------------------------------------------
    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            if self._secrets is not None:
                value = self._secrets.sub(REDACTED, value)
            return KEY_PATTERN.sub(REDACTED, value) if KEY_PREFIX in value else value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

    def _json(self, value: Any, texts: Interner, found: Found | None = None) -> str | None:
        if value is None:
            return None
        if found is not None:
            value = found.deep(value)
        encoded = _encode(value)
        if not self._may_hold_secret(encoded):  # the common case: no walk over the value in Python
            interned = texts.json_text(encoded)
            if interned is not None:
                return interned
        return _encode(texts.deep(value, self._scrub))

    def _may_hold_secret(self, text: str) -> bool:
        """Whether scrubbing could change a string written as (part of) ``text``."""
        return KEY_PREFIX in text or (bool(self._secret_words) and any(s in text for s in self._secret_words))

    def _submit(self, row: trace_batch.Row) -> int:
        """Queue one row (already scrubbed and serialised, here in the caller's thread); returns its number."""
        return self._writer.submit(row)

    def _text(self, value: Any, texts: Interner, found: Found | None) -> Any:
        if not isinstance(value, str):
            return value
        return texts.text(value if found is None else found(value), self._scrub)

    def _plain(self, value: str, found: Found | None) -> str:
        """A short string column (an error, a lookup value): scrubbed, never interned."""
        return self._scrub(value if found is None else found(value))

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
        kind: str = "request",
    ) -> None:
        now = time.time()
        conversation = (metadata or {}).get("conversation_id")
        self._settled.started(request_id, None if conversation is None else str(conversation))
        prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        texts = Interner(self._digests)
        found = self._found.scan(request_id, messages)
        self._submit(trace_batch.Insert(request_id, {
            "created_at": now, "updated_at": now, "parent_id": parent_id, "task": task,
            "prompt": self._text(str(prompt), texts, found), "messages": self._json(messages, texts, found),
            "params": self._json(params, texts, found), "metadata": self._json(metadata or {}, texts, found),
            "status": "received", "mode": mode, "reasons": "[]", "cached": 0, "fallback": 0, "kind": kind,
            "owner": self._owner.token, **self._lookup_values(metadata or {}, found),
        }, texts.texts))

    def _lookup_values(self, metadata: dict[str, Any], found: Found | None) -> dict[str, str | None]:
        """The metadata the trace is searched by, as its own columns (``with_metadata``)."""
        return {key: None if metadata.get(key) is None else self._plain(str(metadata[key]), found)
                for key in _INDEXED_METADATA}

    def update_request(self, request_id: str, **values: Any) -> None:
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise TraceError(f"unknown request columns: {sorted(unknown)}; fix: update only {sorted(_UPDATABLE)}")
        texts = Interner(self._digests)
        found = self._found.scan(request_id, values["messages"] or ()) if "messages" in values else \
            self._found.get(request_id)
        row: dict[str, Any] = {}
        for key, value in values.items():
            if key in _JSON_REQUEST_COLUMNS:
                value = self._json(value, texts, found)
            elif key in _TEXT_REQUEST_COLUMNS:
                value = self._text(value, texts, found)
            elif isinstance(value, str):
                value = self._plain(value, found)
            row[key] = value
        if "metadata" in values:
            row |= self._lookup_values(values["metadata"] or {}, found)
        row["updated_at"] = time.time()
        final = values.get("status") in FINAL_STATUSES
        number = self._submit(trace_batch.Update(request_id, row, texts.texts, final))
        conversation = self._settled.conversation(request_id, final=final)
        if "metadata" in values:
            conversation = Settled.ANY
        if conversation is not None:
            self._settled.touched(conversation, number, self._writer.committed)

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
        texts = Interner(self._digests)
        found = self._found.get(request_id)
        self._submit(trace_batch.Step((
            step_id, request_id, kind, time.time(), duration_s, backend, model, self._json(input, texts, found),
            self._json(output, texts, found), input_tokens, output_tokens, cost,
            self._plain(error, found) if error else None,
        ), texts.texts))
        return step_id

    def add_feedback(self, request_id: str, label: str, *, source: str = "user", note: str | None = None) -> None:
        if label not in ("good", "bad"):
            raise TraceError(f"feedback label must be 'good' or 'bad', got {label!r}; fix: pass 'good' or 'bad'")
        if self.get_request(request_id) is None:
            raise TraceError(f"no request {request_id!r} in {self.path}; `hybrid logs` lists request ids")
        self._submit(trace_batch.Statement(
            "INSERT INTO feedback (id, request_id, label, source, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), request_id, label, source, time.time(),
             self._plain(note, self._found.get(request_id)) if note else None),
        ))
        self.update_request(request_id)  # bump rev so followers see the label

    # -- reading ------------------------------------------------------------
    def _read(self, sql: str, args: Sequence[Any], own_up_to: int | None = None) -> list[Sequence[Any]]:
        self._writer.flush_all(own_up_to=own_up_to)
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise TraceError(f"cannot read the trace store at {self.path}: {e}") from e

    def _texts_for(self, values: Iterable[Any]) -> dict[str, str]:
        wanted: set[str] = set()
        for value in values:
            if isinstance(value, str) and ("\\u0001" in value or REF in value):
                wanted.update(REF_PATTERN.findall(value))
        if not wanted:
            return {}
        with self._lock:
            return fetch(self._db, wanted)

    def _request_rows(self, where: str, args: Sequence[Any], tail: str,
                      own_up_to: int | None = None) -> list[RequestRecord]:
        sql = f"SELECT {', '.join('r.' + c for c in _REQUEST_COLUMNS)}, {_FEEDBACK_SQL} FROM requests r {where} {tail}"
        rows = self._read(sql, args, own_up_to)
        texts = self._texts_for(v for row in rows for v in row)
        return [self._to_request(row, texts) for row in rows]

    @staticmethod
    def _to_request(row: Sequence[Any], texts: dict[str, str]) -> RequestRecord:
        values = dict(zip([*_REQUEST_COLUMNS, "feedback"], row))
        for key in _JSON_REQUEST_COLUMNS:
            values[key] = resolve(json.loads(values[key]), texts) if values[key] else ([] if key == "reasons" else {})
        for key in _TEXT_REQUEST_COLUMNS:
            values[key] = resolve(values[key], texts)
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
        kind: str | None = None,
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
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(r.prompt LIKE ? ESCAPE '\\' OR r.prompt IN"
                           " (SELECT ? || t.hash FROM texts t WHERE t.body LIKE ? ESCAPE '\\'))")
            args += [pattern, REF, pattern]
        if since is not None:
            clauses.append("r.created_at >= ?")
            args.append(since)
        if kind:
            clauses.append("r.kind = ?")
            args.append(kind)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._request_rows(where, [*args, limit], "ORDER BY r.created_at DESC, r.id DESC LIMIT ?")

    def changes_since(self, rev: int, limit: int = 500) -> list[RequestRecord]:
        """Requests written after ``rev``, oldest change first (for followers)."""
        return self._request_rows("WHERE r.rev > ?", (rev, limit), "ORDER BY r.rev LIMIT ?")

    def steps(self, request_id: str) -> list[StepRecord]:
        rows = self._read(
            f"SELECT {', '.join(_STEP_COLUMNS)} FROM steps WHERE request_id = ? ORDER BY seq", (request_id,)
        )
        texts = self._texts_for(v for row in rows for v in row)
        records = []
        for row in rows:
            values = dict(zip(_STEP_COLUMNS, row))
            values["input"] = resolve(json.loads(values["input"]), texts) if values["input"] else None
            values["output"] = resolve(json.loads(values["output"]), texts) if values["output"] else None
            records.append(StepRecord(**values))
        return records

    def children(self, request_id: str) -> list[RequestRecord]:
        """Requests whose parent is ``request_id``: a pipeline's steps, a step's subtasks, a chain's next step."""
        return self._request_rows("WHERE r.parent_id = ?", (request_id,), "ORDER BY r.created_at, r.id")

    def feedback_rows(self) -> list[tuple[str, str, str]]:
        """(request_id, label, source), newest label per request and source."""
        return [tuple(row) for row in self._read(
            "SELECT request_id, label, source FROM feedback f WHERE created_at = (SELECT MAX(created_at) FROM"
            " feedback g WHERE g.request_id = f.request_id AND g.source = f.source) ORDER BY created_at", ()
        )]

    def spend_since(self, since: float) -> dict[str, float]:
        """US dollars spent per backend on calls made since ``since`` (epoch seconds); budgets read this."""
        rows = self._read(
            "SELECT backend, SUM(cost) FROM steps WHERE kind = 'backend_call' AND created_at >= ? AND cost > 0"
            " GROUP BY backend", (since,),
        )
        return {backend: float(total) for backend, total in rows if backend}

    def with_metadata(self, key: str, value: str, limit: int = 100) -> list[RequestRecord]:
        """Requests whose metadata holds ``key`` (``conversation_id`` or ``thread``) = ``value``, oldest first."""
        if key not in _INDEXED_METADATA:
            raise TraceError(
                f"metadata lookups are indexed for {_INDEXED_METADATA}, not {key!r}; fix: look up one of them"
            )
        return self._request_rows(f"WHERE r.{key} = ?", (value, limit),
                                  "ORDER BY r.created_at, r.id LIMIT ?")

    def settled_in_conversation(self, conversation_id: str, limit: int = 100) -> list[RequestRecord]:
        """The finished requests (done, failed, cancelled) of a conversation, oldest first. It waits only for
        the queued writes that can change them (``Settled``), so the router's check before each route does not
        wait for the writer to commit everything queued."""
        return self._request_rows(
            "WHERE r.conversation_id = ? AND r.status IN ('done', 'failed', 'cancelled')",
            (conversation_id, limit), "ORDER BY r.created_at, r.id LIMIT ?",
            own_up_to=self._settled.wait_for(conversation_id),
        )
