"""Spend, savings and the quality they cost, from the trace (``hybrid report``, the demo, the dashboard).

Money saved is never shown alone. Beside it:
- the share of local answers that failed an answer check (the cascade's ``draft`` steps hold
  ``checks: [{"name", "fired", "reason"}]``), and how many of those were still served locally;
- the quality retained: the share of locally served answers that judge labels and user feedback call good
  (as good as the frontier's), with its sample size and a 95% Wilson interval, or "quality unmeasured";
- spend against each budget cap.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hybrid.budget import CapStatus
from hybrid.draft_step import read_draft_step
from hybrid.errors import ConfigError
from hybrid.trace import RequestRecord, StepRecord

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> float:
    """A duration such as ``7d``, ``12h``, ``30m`` or ``2w`` as seconds."""
    match = _DURATION.match(text or "")
    if not match:
        raise ConfigError(f"--since {text!r} is not a duration; use e.g. 30m, 12h, 7d or 2w")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"--since {text!r} is an empty span; give a positive one such as 30m, 12h, 7d or 2w")
    return seconds


def since_label(text: str) -> str:
    """A ``--since`` value as the report says it back (``7d`` stays ``7d``; spaces dropped)."""
    return "".join(text.split())


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% with the default ``z``)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Quality:
    """Labels on locally served answers: good means as good as the frontier's (judge) or fine (user)."""

    good: int = 0
    bad: int = 0

    @property
    def n(self) -> int:
        return self.good + self.bad

    @property
    def retained(self) -> float | None:
        return self.good / self.n if self.n else None

    def describe(self) -> str:
        if not self.n:
            return ("quality unmeasured: no judge labels or feedback on local answers yet "
                    "(`hybrid label --judge --budget 0.50`, `hybrid feedback ID good|bad`)")
        low, high = wilson(self.good, self.n)
        return (f"quality retained {self.retained:.0%} of local answers judged good "
                f"(n={self.n}, 95% CI {low:.0%}-{high:.0%})")


@dataclass(frozen=True)
class Checks:
    """The answer checks on local answers: the cascade's drafts as judged then, other local answers checked now."""

    checked: int = 0
    failed: int = 0
    served_failed: int = 0
    by_check: tuple[tuple[str, int], ...] = ()

    def describe(self) -> str:
        if not self.checked:
            return "answer checks: no local answer to check"
        names = ", ".join(f"{name} {count}" for name, count in self.by_check)
        return (f"answer checks: {self.failed}/{self.checked} local answers failed a check "
                f"({self.failed / self.checked:.0%}){f': {names}' if names else ''}; "
                f"{self.served_failed} of them still served locally")


def is_traffic(record: RequestRecord) -> bool:
    """Whether ``record`` is one of the user's routed requests: not a pipeline run's root span (its steps count)
    and not judge labelling's own requests (``hybrid label --judge``: the frontier's reference answers and the
    comparisons), which are labelling overhead, not traffic to route."""
    return record.kind != "pipeline" and record.task != "judge"


@dataclass(frozen=True)
class Report:
    requests: int
    """The user's routed requests (:func:`is_traffic`: a pipeline's steps and subtasks each count; the run's own
    root span and judge labelling's requests do not)."""
    done: int
    failed: int
    local: int
    spent: float
    """What every request cost, answered or not (judge labelling included): money spent on a failed request is
    spent."""
    frontier: float
    """What the user's answered requests would have cost on the reference model; failed work saved nothing, and
    judge labelling is a cost of routing, not something an all-frontier setup would pay."""
    checks: Checks
    quality: Quality
    caps: tuple[CapStatus, ...] = ()
    degraded: int = 0
    """Requests a budget cap kept off the cloud."""
    private: int = 0
    """Requests kept local by a privacy rule."""
    since_s: float | None = None
    judge_spent: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    cancelled: int = 0
    unfinished: int = 0
    """Requests still running (or left unfinished) when the report was made."""
    window: str | None = None
    """The span as the user gave it (``7d``); else said from ``since_s``."""

    @property
    def saved(self) -> float:
        return self.frontier - self.spent

    def lines(self) -> list[str]:
        span = self.window or (_human(self.since_s) if self.since_s else None)
        where = f"in the last {span}" if span else "in the trace"
        if not self.requests:
            head = f"no requests {where}"
        else:
            share = self.local / self.done if self.done else 0.0
            parts = [f"{self.failed} failed"] + [f"{n} {what}" for n, what in (
                (self.cancelled, "cancelled"), (self.unfinished, "unfinished")) if n]
            head = (f"{self.requests} request{'' if self.requests == 1 else 's'} {where}: {self.done} answered "
                    f"({self.local} locally, {share:.0%}), {', '.join(parts)}")
        saved_share = self.saved / self.frontier if self.frontier else 0.0
        out = [
            head,
            (f"spent ${self.spent:.4f} vs ${self.frontier:.4f} all-frontier: saved ${self.saved:.4f} "
             f"({saved_share:.0%}), at this cost in quality:"),
            f"  {self.checks.describe()}",
            f"  {self.quality.describe()}",
        ]
        if self.judge_spent:
            out.append(f"judge labelling spent ${self.judge_spent:.4f} (included above)")
        if self.private or self.degraded:
            out.append(f"kept local: {self.private} by a privacy rule, {self.degraded} by a budget cap")
        out += [f"budget: {c.cap.name}: ${c.spent:.4f} spent, ${c.left:.4f} left"
                + (" (reached)" if c.left <= 0 else "") for c in self.caps]
        if not self.caps:
            out.append("budget: no caps set ([budget] daily / monthly in the config)")
        return out


def _human(seconds: float) -> str:
    for unit, size in (("w", _SECONDS["w"]), ("d", _SECONDS["d"]), ("h", _SECONDS["h"])):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds / 60:g}m"


def fired_checks(record: RequestRecord, steps_of: Callable[[str], list[StepRecord]]) -> list[list[str]]:
    """For each local answer of a finished request, the names of the answer checks that fired.

    A cascade's drafts carry the verdicts the router acted on; any other locally served answer (direct mode,
    a fallback, a cascade whose cloud was unavailable) is checked here with the same rules, so the report's
    quality cost covers every local answer, not only the ones the cascade judged.
    """
    if record.status != "done":
        return []
    steps = steps_of(record.id)
    drafts = [read_draft_step(s.output) for s in steps if s.kind == "draft"]
    verdicts = [d for d in drafts if d is not None and d.checked]  # older traces recorded no checks
    if verdicts:
        return [[c.name for c in d.fired] for d in verdicts]
    if not record.is_local or not record.output:
        return []
    return [fired_names(record.prompt, record.output, finish_reason_of(steps))]


def finish_reason_of(steps: Sequence[StepRecord], text: str | None = None) -> str | None:
    """The finish reason of the backend call that wrote ``text`` (the last call that did, else the last call;
    with no ``text``, the last call)."""
    outputs = [s.output for s in steps if s.kind in ("backend_call", "cache") and isinstance(s.output, dict)]
    wrote = [o for o in outputs if text is not None and o.get("text") == text] or outputs
    reason = wrote[-1].get("finish_reason") if wrote else None
    return reason if isinstance(reason, str) else None


def fired_names(prompt: str | None, answer: str, finish_reason: str | None) -> list[str]:
    """The names of the answer checks that fire on ``answer`` to ``prompt`` (pure rules: no model, no I/O)."""
    from classifiers.checks import run_checks

    return [c.name for c in run_checks(prompt or "", answer, finish_reason) if c.fired]


def tally_checks(verdicts: Iterable[tuple[bool, list[list[str]]]]) -> Checks:
    """``Checks`` from (served locally, fired names per draft) for each request."""
    checked = failed = served_failed = 0
    fired: Counter[str] = Counter()
    for is_local, drafts in verdicts:
        for names in drafts:
            checked += 1
            if names:
                failed += 1
                served_failed += is_local
                fired.update(names)
    return Checks(checked, failed, served_failed, tuple(fired.most_common()))


def quality_of(records: Iterable[RequestRecord]) -> Quality:
    """Labels on the locally served answers among ``records``."""
    labels = Counter(r.feedback for r in records if r.status == "done" and r.is_local and r.feedback)
    return Quality(labels.get("good", 0), labels.get("bad", 0))


BUDGET_REFUSAL = "budget: the"
"""How a budget refusal opens (``hybrid/budget.py``), in a decision's reasons or a fallback step's why."""


def _kept_by_budget(r: RequestRecord, reasons: str, steps_of: Callable[[str], list[StepRecord]]) -> bool:
    """Whether a budget cap kept ``r`` local: refused when routing, or at the call, the router then falling back
    to a local model (a fallback step whose ``why`` is the refusal)."""
    if BUDGET_REFUSAL in reasons:
        return True
    return bool(r.fallback and r.is_local) and any(
        s.kind == "fallback" and BUDGET_REFUSAL in str((s.output or {}).get("why", "")) for s in steps_of(r.id))


def build_report(
    records: Sequence[RequestRecord],
    steps_of: Callable[[str], list[StepRecord]],
    caps: tuple[CapStatus, ...] = (),
    *,
    since_s: float | None = None,
    window: str | None = None,
) -> Report:
    records = [r for r in records if r.kind != "pipeline"]  # a run is its steps' requests, counted once there
    judge = [r for r in records if not is_traffic(r)]
    records = [r for r in records if is_traffic(r)]
    done = [r for r in records if r.status == "done"]
    statuses = Counter(r.status for r in records)
    reasons = [" ".join(r.reasons) for r in records]
    return Report(
        requests=len(records),
        done=len(done),
        failed=statuses["failed"],
        cancelled=statuses["cancelled"],
        unfinished=len(records) - len(done) - statuses["failed"] - statuses["cancelled"],
        local=sum(1 for r in done if r.is_local),
        spent=sum(r.cost or 0.0 for r in records + judge),
        frontier=sum(r.frontier_cost or 0.0 for r in done),
        checks=tally_checks((bool(r.is_local), fired_checks(r, steps_of)) for r in done),
        quality=quality_of(records),
        caps=caps,
        degraded=sum(1 for r, text in zip(records, reasons, strict=True) if _kept_by_budget(r, text, steps_of)),
        private=sum(1 for text in reasons if "local-only:" in text and "redact:" not in text),
        since_s=since_s,
        window=window,
        judge_spent=sum(r.cost or 0.0 for r in judge),
    )


def report_from_trace(trace, caps: tuple[CapStatus, ...] = (), *, since_s: float | None = None,
                      now: float | None = None, limit: int = 100_000, window: str | None = None) -> Report:
    """The report over the trace's requests of the last ``since_s`` seconds (all of them if None); ``window``
    is that span as the user wrote it, for the report to say back."""
    since = None if since_s is None else (now if now is not None else time.time()) - since_s
    records = trace.recent(limit, since=since)
    return build_report(records, trace.steps, caps, since_s=since_s, window=window)
