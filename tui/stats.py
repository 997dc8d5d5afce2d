"""The summary panel's numbers, computed from the requests the dashboard follows."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hybrid.budget import CapStatus
from hybrid.report import Checks, Quality, fired_checks, quality_of, tally_checks
from hybrid.trace import RequestRecord, StepRecord

SPARK_MINUTES = 30


@dataclass(frozen=True)
class BackendLatency:
    backend: str
    is_local: bool
    count: int
    p50: float
    p95: float


@dataclass(frozen=True)
class Summary:
    requests: int
    finished: int
    local: int
    failed: int
    escalated: int
    decided: int
    spent: float
    frontier: float
    latency: tuple[BackendLatency, ...]
    per_minute: tuple[float, ...]
    escalation_share: tuple[float, ...]
    classifier: str | None
    cancelled: int = 0
    quality: Quality = field(default_factory=Quality)
    """Judge labels and feedback on the locally served answers: what the savings cost."""
    caps: tuple[CapStatus, ...] = ()
    checks: Checks = field(default_factory=Checks)
    """The answer checks on local answers."""

    @property
    def local_share(self) -> float:
        return self.local / self.finished if self.finished else 0.0

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.decided if self.decided else 0.0

    @property
    def saved(self) -> float:
        return self.frontier - self.spent

    @property
    def saved_share(self) -> float:
        return self.saved / self.frontier if self.frontier else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summarize(records: Iterable[RequestRecord], *, now: float, minutes: int = SPARK_MINUTES,
              caps: tuple[CapStatus, ...] = (), checks: Checks | None = None) -> Summary:
    records = [r for r in records if r.kind != "pipeline"]  # a run's cost is its steps', counted once there
    done = [r for r in records if r.status == "done"]
    decided = [r for r in records if r.escalate is not None]
    latencies: dict[str, list[float]] = {}
    local_of: dict[str, bool] = {}
    for r in done:
        if r.backend and r.latency_s is not None:
            latencies.setdefault(r.backend, []).append(r.latency_s)
            local_of[r.backend] = bool(r.is_local)
    per_minute = [0.0] * minutes
    escalated_per_minute = [0.0] * minutes
    for r in records:
        age = int((now - r.created_at) // 60)
        if 0 <= age < minutes:
            per_minute[minutes - 1 - age] += 1
            escalated_per_minute[minutes - 1 - age] += bool(r.escalate)
    classifier = next((r.classifier for r in sorted(records, key=lambda r: -r.created_at) if r.classifier), None)
    return Summary(
        requests=len(records),
        finished=len(done),
        local=sum(1 for r in done if r.is_local),
        failed=sum(1 for r in records if r.status == "failed"),
        escalated=sum(1 for r in decided if r.escalate),
        decided=len(decided),
        spent=sum(r.cost or 0.0 for r in done),
        frontier=sum(r.frontier_cost or 0.0 for r in done),
        latency=tuple(
            BackendLatency(name, local_of[name], len(v), percentile(v, 50), percentile(v, 95))
            for name, v in sorted(latencies.items(), key=lambda kv: (not local_of[kv[0]], kv[0]))
        ),
        per_minute=tuple(per_minute),
        escalation_share=tuple(e / n if n else 0.0 for e, n in zip(escalated_per_minute, per_minute)),
        classifier=classifier,
        cancelled=sum(1 for r in records if r.status == "cancelled"),
        quality=quality_of(records),
        caps=caps,
        checks=checks or Checks(),
    )


class CheckTally:
    """The answer checks of followed requests: each finished cascade request's steps are read once."""

    def __init__(self, steps_of: Callable[[str], list[StepRecord]]) -> None:
        self._steps_of = steps_of
        self._seen: dict[str, tuple[bool, list[list[str]]]] = {}

    def checks(self, records: Iterable[RequestRecord]) -> Checks:
        current = {}
        for r in records:
            if r.status == "done" and (r.mode == "cascade" or r.is_local):
                if r.id not in self._seen:
                    self._seen[r.id] = (bool(r.is_local), fired_checks(r, self._steps_of))
                current[r.id] = self._seen[r.id]
        self._seen = current
        return tally_checks(current.values())
