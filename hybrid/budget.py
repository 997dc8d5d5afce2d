"""Spending caps: daily and monthly, overall and per backend, never overshot.

Before each cloud call the router asks ``BudgetGuard.reserve`` for the call's worst case: an upper bound on
its input tokens (one token per character, plus a few per message: no tokenizer yields more tokens than
characters) plus ``max_tokens`` of output, at the backend's prices. The reservation is refused when spend
so far (read from the trace's ``backend_call`` steps) plus what other calls in flight have reserved plus
this worst case would cross any cap that applies. A lock makes check-and-reserve one step, so two parallel
calls cannot both take the last dollar. The reservation is released once the call's real cost is in the
trace. Periods follow the local calendar: a day starts at midnight, a month on its first day.

Caps hold within one process (the CLI, one server); separate processes see each other's finished calls
through the trace but not each other's calls in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hybrid.errors import BackendError
from hybrid.settings import BudgetSettings
from hybrid.types import Price, Request

PERIODS = ("daily", "monthly")
TOKENS_PER_MESSAGE = 8


class BudgetExceeded(BackendError):
    """A cloud call would cross a spending cap; the router moves on to a local model."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(backend, message, retryable=False)


class SpendSource(Protocol):
    def spend_since(self, since: float) -> Mapping[str, float]:
        """US dollars spent per backend since ``since`` (epoch seconds)."""
        ...


@dataclass(frozen=True)
class Cap:
    period: str
    limit: float
    backend: str | None = None
    """None: all cloud backends together."""

    @property
    def name(self) -> str:
        return f"{self.period} cap ${self.limit:.4f}" + (f" for {self.backend}" if self.backend else " overall")

    def covers(self, backend: str) -> bool:
        return self.backend is None or self.backend == backend


@dataclass(frozen=True)
class CapStatus:
    cap: Cap
    spent: float

    @property
    def left(self) -> float:
        return max(self.cap.limit - self.spent, 0.0)


def caps(settings: BudgetSettings) -> tuple[Cap, ...]:
    found = [Cap(p, getattr(settings, p)) for p in PERIODS if getattr(settings, p) is not None]
    for backend, cap in sorted(settings.backends.items()):
        found += [Cap(p, getattr(cap, p), backend) for p in PERIODS if getattr(cap, p) is not None]
    return tuple(found)


def period_start(period: str, now: float) -> float:
    """Local midnight today (daily) or on the first of this month (monthly), as epoch seconds."""
    moment = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "monthly":
        moment = moment.replace(day=1)
    return moment.timestamp()


def input_token_bound(request: Request) -> int:
    """At least as many tokens as any tokenizer makes of the request: its characters, plus framing."""
    return sum(len(m.content) + TOKENS_PER_MESSAGE for m in request.messages) + TOKENS_PER_MESSAGE


def worst_case_cost(request: Request, price: Price) -> float:
    return (input_token_bound(request) * price.input_per_mtok + request.max_tokens * price.output_per_mtok) / 1e6


class Reservation:
    """Money held for one call in flight; ``release`` once its real cost is in the trace."""

    def __init__(self, guard: BudgetGuard | None, backend: str, amount: float) -> None:
        self._guard, self.backend, self.amount = guard, backend, amount

    def release(self, cost: float = 0.0) -> None:
        if self._guard is not None:
            self._guard._release(self, cost)
            self._guard = None


class BudgetGuard:
    """Checks and reserves cloud spend against the configured caps."""

    def __init__(self, settings: BudgetSettings, spend: SpendSource | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.caps = caps(settings)
        self._spend = spend
        self._clock = clock
        self._lock = threading.Lock()
        self._held: list[Reservation] = []
        self._unlogged: list[tuple[float, str, float]] = []  # (when, backend, cost) when there is no trace

    def _spent(self) -> dict[str, list[float]]:
        """Spend per backend in each period, [daily, monthly]."""
        now = self._clock()
        spent: dict[str, list[float]] = {}
        for i, period in enumerate(PERIODS):
            since = period_start(period, now)
            by_backend = dict(self._spend.spend_since(since)) if self._spend is not None else {}
            for when, backend, cost in self._unlogged:
                if when >= since:
                    by_backend[backend] = by_backend.get(backend, 0.0) + cost
            for backend, cost in by_backend.items():
                spent.setdefault(backend, [0.0, 0.0])[i] += cost
        return spent

    def _total(self, cap: Cap, spent: dict[str, list[float]]) -> float:
        index = PERIODS.index(cap.period)
        logged = sum(v[index] for b, v in spent.items() if cap.covers(b))
        return logged + sum(r.amount for r in self._held if cap.covers(r.backend))

    def _refusal(self, backend: str, amount: float) -> str | None:
        if not self.caps:
            return None
        spent = self._spent()
        for cap in self.caps:
            if cap.covers(backend):
                total = self._total(cap, spent)
                if total + amount > cap.limit:
                    # Cents to four decimals, unless at four the two amounts would seem to fit under the cap.
                    d = next((d for d in (4, 6) if round(total, d) + round(amount, d) > round(cap.limit, d)), 8)
                    return (f"budget: the {cap.name} would be crossed (${total:.{d}f} spent or reserved, "
                            f"this call's worst case ${amount:.{d}f})")
        return None

    def check(self, backend: str, amount: float) -> str | None:
        """Why a call of worst case ``amount`` on ``backend`` may not start now, or None if it may."""
        with self._lock:
            return self._refusal(backend, amount)

    def reserve(self, backend: str, amount: float) -> Reservation:
        """Hold ``amount`` for a call on ``backend``, or raise BudgetExceeded naming the cap."""
        if not self.caps:
            return Reservation(None, backend, amount)
        with self._lock:
            why = self._refusal(backend, amount)
            if why is not None:
                raise BudgetExceeded(backend, why)
            reservation = Reservation(self, backend, amount)
            self._held.append(reservation)
            return reservation

    def _release(self, reservation: Reservation, cost: float) -> None:
        with self._lock:
            self._held.remove(reservation)
            if self._spend is None and cost:
                self._unlogged.append((self._clock(), reservation.backend, cost))

    def status(self) -> tuple[CapStatus, ...]:
        """Each cap with what has been spent against it in its current period."""
        if not self.caps:
            return ()
        with self._lock:
            spent = self._spent()
            return tuple(CapStatus(cap, self._total(cap, spent)) for cap in self.caps)
