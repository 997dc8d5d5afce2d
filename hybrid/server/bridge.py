"""Runs the synchronous router in worker threads and hands its events to the async server.

Each request gets a ``Run``: a worker thread iterates ``Router.run(request, cancel=...)`` and
puts every event on an asyncio queue through ``call_soon_threadsafe``; the server reads that
queue, always with a timeout. A client that goes away sets ``cancel``; the router then ends
the request and traces it as cancelled.

Admission: each local model takes at most ``queue_size`` requests at once (running or
waiting for it). The worker checks right after the router's ``Decided`` event, before the
backend is called; a full queue ends the run with ``QueueFull`` thrown into the router's
event generator (the router traces it as ``failed``: the server refused it, nobody cancelled)
and the server answers 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from hybrid.errors import HybridError
from hybrid.events import Decided, Done, Event, Failed
from hybrid.router import Cancel
from hybrid.types import Request

_END = object()


class EventSource(Protocol):
    backends: dict[str, Any]

    def run(
        self, request: Request, *, cancel: threading.Event | None = None, buffered: bool = False
    ) -> Generator[Event, None, None]: ...


class ServerFault(HybridError):
    """Something inside the server broke while a request ran (a bug, or the router went silent)."""


class QueueFull(HybridError):
    """The server refused a request: the local model it was routed to had ``server.queue_size`` requests already."""

    def __init__(self, backend: str, queue_size: int, retry_after_s: int) -> None:
        super().__init__(f"{backend} is busy: its queue of {queue_size} is full; retry in {retry_after_s} s "
                         "(server.queue_size)")
        self.backend = backend
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Rejected:
    """The decided local model's queue was full: the request ended (traced as failed) before any backend call."""

    decided: Decided
    error: QueueFull


class Admission:
    """Counts requests per local model; ``enter`` refuses when a model has ``limit`` already."""

    def __init__(self, local: list[str], limit: int, on_change: Callable[[str, int], None]) -> None:
        self._counts = dict.fromkeys(local, 0)
        self.limit = limit
        self._lock = threading.Lock()
        self._on_change = on_change

    def enter(self, name: str) -> bool:
        with self._lock:
            if name not in self._counts:
                return True
            if self._counts[name] >= self.limit:
                return False
            self._counts[name] += 1
            count = self._counts[name]
        self._on_change(name, count)
        return True

    def leave(self, name: str) -> None:
        with self._lock:
            if name not in self._counts:
                return
            self._counts[name] -= 1
            count = self._counts[name]
        self._on_change(name, count)


class Run:
    """One request in flight: its events, in order, as an async iterator; ``cancel`` stops it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event_timeout_s: float) -> None:
        self.cancel = Cancel()
        self.request_id = ""
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._timeout = event_timeout_s
        self._finished = False

    @property
    def finished(self) -> bool:
        """The last event (or an error standing for it) has been read."""
        return self._finished

    def emit(self, item: Any) -> None:
        """Called from the worker thread."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop has closed (server shut down): nobody is listening
            self.cancel.set()

    async def next(self) -> Event | Rejected | None:
        """The next event, or None after the last. A silent router is cancelled and reported as Failed."""
        if self._finished:
            return None
        try:
            item = await asyncio.wait_for(self._queue.get(), self._timeout)
        except TimeoutError:
            self.cancel.set()
            self._finished = True
            return Failed(self.request_id, ServerFault(f"no progress from the router in {self._timeout:g} s; "
                                                       "the request was cancelled (see server.event_timeout_s)"))
        if item is _END:
            self._finished = True
            return None
        if isinstance(item, Done | Failed):
            self._finished = True
        return item

    async def events(self) -> AsyncIterator[Event]:
        while (event := await self.next()) is not None:
            yield event

    async def result(self) -> Done | Failed:
        async for event in self.events():
            if isinstance(event, Done | Failed):
                return event
        return Failed(self.request_id, ServerFault("the router ended without an answer or an error"))


class Bridge:
    """Owns the worker threads; ``start`` begins a run and returns it with its first event."""

    def __init__(self, router: EventSource, local: list[str], *, workers: int, queue_size: int,
                 event_timeout_s: float, on_queue: Callable[[str, int], None],
                 retry_after_s: int, durable: Callable[[], None] = lambda: None) -> None:
        self._router = router
        self._retry_after_s = retry_after_s
        self._durable = durable
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hybrid-request")
        self._admission = Admission(local, queue_size, on_queue)
        self._timeout = event_timeout_s
        self._runs: set[Run] = set()

    async def start(
        self, request: Request, observe: Callable[[Event], None], *, buffered: bool = False
    ) -> tuple[Run, Event | Rejected]:
        run = Run(asyncio.get_running_loop(), self._timeout)
        self._runs.add(run)
        self._executor.submit(self._drive, run, request, observe, buffered)
        first = await run.next()
        if first is None:
            first = Failed("", ServerFault("the router ended without an answer or an error"))
        run.request_id = first.decided.request_id if isinstance(first, Rejected) else getattr(first, "request_id", "")
        return run, first

    def _drive(self, run: Run, request: Request, observe: Callable[[Event], None], buffered: bool) -> None:
        admitted: str | None = None
        try:
            events = self._router.run(request, cancel=run.cancel, buffered=buffered)
            for event in events:
                observe(event)
                if isinstance(event, Decided) and admitted is None and not run.cancel.is_set():
                    if not self._admission.enter(event.decision.target):
                        full = QueueFull(event.decision.target, self._admission.limit, self._retry_after_s)
                        run.emit(Rejected(event, full))
                        event = events.throw(full)  # the router ends the request as failed and yields its Failed
                        observe(event)
                    else:
                        admitted = event.decision.target
                if isinstance(event, Done | Failed):
                    self._durable()  # the request's trace rows are committed before its client sees the end
                run.emit(event)
        except Exception as e:  # noqa: BLE001 -- a bug in the router or a backend: the client gets an error, not a hang
            run.emit(Failed(run.request_id, ServerFault(f"internal error: {type(e).__name__}: {e}")))
        finally:
            if admitted is not None:
                self._admission.leave(admitted)
            run.emit(_END)
            self._runs.discard(run)

    def close(self) -> None:
        """Cancel everything in flight and stop the workers (server shutdown)."""
        for run in list(self._runs):
            run.cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
