"""The trace's writer thread: callers queue writes, one thread commits them in batches.

What is guaranteed (README "The trace"):

- Writes take effect in the order they were queued, by one connection, in batched transactions; a batch is
  written in a few statements (``hybrid/trace_batch.py``), which leaves the rows that applying its writes one
  by one would. If a batch fails, its writes are applied one by one, so the others still land.
- The queue is bounded: when it is full, a caller waits (back-pressure), so no row is ever dropped.
- ``flush()`` returns once everything queued before it is committed. Flushes do not split batches: the rows
  queued around many concurrent flushes go in one transaction and its commit answers them all (group commit;
  the server flushes once per answered request). Every read flushes first every writer
  of the same database file in this process (``flush_all``), so a process always reads its own writes,
  whichever ``TraceStore`` object made them. A flush with nothing left to commit returns at once; one that
  finds the writer lingering for more writes wakes it. The router's read of a conversation's settled turns
  waits only for the writes that can change them (``Settled``), and for every other writer of the file.
- ``close()`` flushes and stops the thread; the store registers it with ``atexit``, so a process that exits
  normally commits every queued row. A crash (SIGKILL, power loss) can lose the rows of the last few
  milliseconds: those not yet committed.
- A write that fails (disk full, a locked database past the busy timeout) is reported as a ``TraceError``
  by the next write, flush or close of the same store.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hybrid.errors import TraceError

Apply = Callable[[sqlite3.Connection, list[Any]], list[str]]
"""Writes one batch of queued rows inside its transaction (``hybrid/trace_batch.py``); returns the ids of
requests that reached a final status (for listeners such as the OpenTelemetry exporter)."""

Maintenance = Callable[[sqlite3.Connection], None]
"""Work that must run alone, outside any transaction (pruning, VACUUM)."""

QUEUE_SIZE = 4096
BATCH_SIZE = 1024
LINGER_S = 0.02
"""After the first write of a batch, wait this long for more: fewer, larger transactions, and far fewer
wake-ups competing with the request threads for the GIL. A flush (every read) cuts the wait short."""
GROUP_DELAY_S = 0.005
"""A grouped flush (the server's, before a request's last event) waits this long for other requests' flushes
when other requests are open, so that they share one commit, as PostgreSQL's ``commit_delay`` does when
``commit_siblings`` transactions are active. Without open requests it commits at once; a plain flush (a read)
cuts the wait short."""


@dataclass(frozen=True)
class _Alone:
    work: Maintenance


class _Stop:
    pass


_STOP = _Stop()
_CONTROL = (_Alone, _Stop, threading.Event)
"""Queued items that are not rows."""
_ALONE = (_Alone, _Stop)
"""Control items handled alone, between batches; a flush marker (an Event) is set after the batch it ends."""


class Writer:
    _open: ClassVar[weakref.WeakSet[Writer]] = weakref.WeakSet()
    """Every live writer of this process, so a read through one store sees the writes queued by another."""
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def flush_all(self, *, own_up_to: int | None = None) -> None:
        """Flush every writer of this database in this process; raise only this writer's own errors.

        ``own_up_to``: this writer need only have committed its writes up to that number (the caller knows
        that later ones cannot change what it reads)."""
        with self._open_lock:
            writers = [w for w in self._open if w._where == self._where]
        if any(w._thread is threading.current_thread() for w in writers):
            return  # a writer thread (an export listener) reading: its own rows are committed; never wait on others
        for writer in writers:
            if writer is not self or own_up_to is None or not self.committed(own_up_to):
                writer._wait()
        self._raise_error()

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        apply: Apply,
        *,
        where: str,
        on_finished: Callable[[list[str]], None] | None = None,
        queue_size: int = QUEUE_SIZE,
        siblings: Callable[[], int] = lambda: 0,
    ) -> None:
        self._connect = connect
        self._apply_rows = apply
        self._where = where
        self._on_finished = on_finished
        self._queue_size = queue_size
        self._siblings = siblings  # how many requests are open, for a grouped flush
        self._lock = threading.Lock()  # guards _items and _submitted
        self._items: list[Any] = []  # queued, oldest first
        self._ready = threading.Condition(self._lock)  # the writer waits here for a first item
        self._room = threading.Condition(self._lock)  # a caller waits here while the queue is full
        self._error: TraceError | None = None
        self._closed = False
        self._flushing = 0  # readers waiting: the writer then commits at once instead of lingering
        self._grouped = 0  # of them, grouped flushes (they may wait GROUP_DELAY_S for company)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()  # set by a flush: stop lingering, commit now
        self._urgent = threading.Event()  # set by a plain flush: stop a grouped flush's wait too
        self._submitted = 0  # writes queued so far
        self._applied = 0  # writes committed (or failed) so far: when equal, a flush has nothing to wait for
        self._thread = threading.Thread(target=self._loop, name="hybrid-trace-writer", daemon=True)
        self._thread.start()
        with self._open_lock:
            self._open.add(self)

    # -- callers -----------------------------------------------------------
    def submit(self, item: Any) -> int:
        """Queue ``item``; returns its number (1, 2, ...: queue order), for ``committed``."""
        self._raise_error()
        if self._closed:
            raise TraceError(f"the trace store at {self._where} is closed; open a new TraceStore to write")
        with self._lock:  # numbered in queue order
            while len(self._items) >= self._queue_size:
                self._room.wait()
            self._items.append(item)
            if len(self._items) == 1:
                self._ready.notify()
            self._submitted += 1
            return self._submitted

    def submit_alone(self, work: Maintenance) -> int:
        """Queue ``work`` to run by itself between batches."""
        return self.submit(_Alone(work))

    def committed(self, number: int) -> bool:
        """Whether the write numbered ``number`` (and so every one queued before it) is committed."""
        return self._applied >= number

    def run_alone(self, work: Maintenance) -> None:
        """Queue ``work`` to run by itself between batches, and wait for it."""
        self.submit(_Alone(work))
        self.flush()

    def flush(self, *, grouped: bool = False) -> None:
        """Wait until everything queued before this call is committed (a marker travels the queue).

        ``grouped``: the commit may wait ``GROUP_DELAY_S`` while other requests are open, to be shared with
        their flushes (group commit)."""
        self._wait(grouped=grouped)
        self._raise_error()

    def _wait(self, *, grouped: bool = False) -> None:
        if threading.current_thread() is self._thread or not self._thread.is_alive() or self._closed:
            return
        if self._applied == self._submitted:
            return  # every write queued before this call is committed already: no round trip to the writer
        marker = threading.Event()
        with self._flush_lock:
            self._flushing += 1
            self._grouped += grouped
        try:
            self._put(marker)
            self._wake.set()
            if not grouped:
                self._urgent.set()
            while not marker.wait(0.5):
                if not self._thread.is_alive():
                    break
        finally:
            with self._flush_lock:
                self._flushing -= 1
                self._grouped -= grouped

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        with self._open_lock:
            self._open.discard(self)
        self._put(_STOP)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    # -- the thread --------------------------------------------------------
    def _put(self, item: Any) -> None:
        """Queue a control item (a flush marker, the stop): never waits for room, so a flush cannot block."""
        with self._lock:
            self._items.append(item)
            self._ready.notify()

    def _loop(self) -> None:
        db = self._connect()
        try:
            while True:
                with self._lock:
                    while not self._items:
                        self._ready.wait()
                    first = self._items[0]
                if isinstance(first, _CONTROL):
                    with self._lock:
                        del self._items[0]
                        self._room.notify_all()
                    if first is _STOP:
                        return
                    if isinstance(first, threading.Event):
                        first.set()
                    else:
                        self._guard(first.work, db)
                        self._applied += 1
                    continue
                self._wake.clear()  # before reading _flushing: a flush counted after this also sets it again
                if len(self._items) < BATCH_SIZE and not self._flushing:
                    self._wake.wait(LINGER_S)
                self._urgent.clear()  # before reading the counts, as above
                if len(self._items) < BATCH_SIZE and self._flushing == self._grouped > 0 and self._siblings() > 0:
                    self._urgent.wait(GROUP_DELAY_S)  # group commit: others' rows and flushes join this batch
                with self._lock:
                    taken = self._items[:BATCH_SIZE]
                    end = next((i for i, item in enumerate(taken) if isinstance(item, _ALONE)), len(taken))
                    del self._items[:end]
                    self._room.notify_all()
                # Flush markers do not cut the batch: every row before each of them is in it, so one commit
                # answers them all (group commit: concurrent requests that each wait for their rows share it).
                batch = [item for item in taken[:end] if not isinstance(item, threading.Event)]
                finished = self._commit(db, batch)
                self._applied += len(batch)
                if finished and self._on_finished is not None:
                    self._on_finished(finished)  # before the flushes return, as when each flush had its own turn
                for item in taken[:end]:
                    if isinstance(item, threading.Event):
                        item.set()
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, batch: list[Any]) -> list[str]:
        try:
            return self._apply(db, batch)
        except (sqlite3.Error, UnicodeEncodeError):
            if db.in_transaction:
                db.execute("ROLLBACK")
        # One write failed: apply them one by one so the others still land, and report the failure.
        finished: list[str] = []
        for write in batch:
            try:
                try:
                    finished += self._apply(db, [write])
                except UnicodeEncodeError:  # a lone surrogate ("\ud800") is no UTF-8: stored as U+FFFD instead
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    finished += self._apply(db, [valid_text(write)])
            except sqlite3.Error as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._error = TraceError(f"cannot write to the trace store at {self._where}: {e}")
        return finished

    def _apply(self, db: sqlite3.Connection, writes: list[Any]) -> list[str]:
        db.execute("BEGIN IMMEDIATE")
        finished = self._apply_rows(db, writes)
        db.execute("COMMIT")
        return finished

    def _guard(self, work: Maintenance, db: sqlite3.Connection) -> None:
        try:
            work(db)
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._error = TraceError(f"trace store maintenance failed at {self._where}: {e}")
        except TraceError as e:
            self._error = e



def valid_text(value: Any) -> Any:
    """``value`` (a queued write, or any string, dict, list or tuple in it) with every lone surrogate replaced by
    U+FFFD: Python strings can hold them (``json.loads('"\\ud800"')``, bytes read with ``surrogateescape``),
    UTF-8 and so SQLite cannot. Only a write that failed to encode pays for this walk."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(valid_text(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: valid_text(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


class Settled:
    """Which queued writes can change the settled (finished) requests of each conversation.

    A settled request changes only through ``update_request``; the store notes here the number of each such
    write under the request's conversation (``"*"`` when it does not know the conversation, or for
    maintenance, which deletes rows). A read of one conversation's settled requests then waits only until
    those writes are committed, not for the whole queue: the router reads them before routing every request.
    """

    ANY = "*"
    LIMIT = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conversation: dict[str, str | None] = {}  # request id -> conversation, while the request runs
        self._last: dict[str, int] = {}  # conversation -> number of its last queued write

    def started(self, request_id: str, conversation: str | None) -> None:
        with self._lock:
            if len(self._conversation) >= self.LIMIT:
                self._conversation.clear()  # forgotten requests count under ANY: slower reads, never wrong ones
            self._conversation[request_id] = conversation

    def conversation(self, request_id: str, *, final: bool) -> str | None:
        """The conversation an update of ``request_id`` touches (``ANY`` if unknown); forgets a finished one."""
        with self._lock:
            if request_id not in self._conversation:
                return self.ANY
            return self._conversation.pop(request_id) if final else self._conversation[request_id]

    def touched(self, conversation: str, number: int, committed: Callable[[int], bool]) -> None:
        with self._lock:
            if len(self._last) >= self.LIMIT:
                self._last = {c: n for c, n in self._last.items() if not committed(n)}
            self._last[conversation] = max(number, self._last.get(conversation, 0))

    def running(self) -> int:
        """How many requests started in this store have not reached a final status (a grouped flush's company)."""
        return len(self._conversation)

    def wait_for(self, conversation: str) -> int:
        """The number of the last queued write that can change ``conversation``'s settled requests."""
        with self._lock:
            return max(self._last.get(conversation, 0), self._last.get(self.ANY, 0))
