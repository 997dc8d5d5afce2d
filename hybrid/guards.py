"""The policy's inputs that need I/O, and the last check before each cloud call.

The router calls three things here:
- ``tag(request)`` first: the conversation's id and turn go into the request's metadata (and so the trace);
- ``context(request, cloud)`` before deciding: the privacy verdict, the cloud backends over a budget cap, and
  where the conversation escalated; plus the request the classifier scores (a whole conversation as one);
- ``admit(request, name)`` before calling a backend: for a cloud backend, a local-only request is refused
  (``LocalOnly``), a redacted copy is made in redact mode, and the call's worst case is reserved against the
  budget (``BudgetExceeded``). Both errors are non-retryable ``BackendError``s, so the router falls back to
  the next (local) candidate. A request that pinned that cloud backend itself has no other candidate: it is
  refused as the client's mistake (``PinnedOffLimits``, a ``RequestError``; the server answers 400). The returned ``CallHold`` restores redacted text in the answer and releases the
  reservation once the call's cost is in the trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hybrid import sticky
from hybrid.budget import BudgetGuard, Reservation, worst_case_cost
from hybrid.errors import BackendError, RequestError
from hybrid.policy import PolicyContext
from hybrid.privacy import PrivacyScanner, PrivacyVerdict, Redaction, Restorer, redact
from hybrid.settings import Settings
from hybrid.types import Backend, Chunk, Request


class LocalOnly(BackendError):
    """A local-only request was about to reach a cloud backend; the router moves on to a local one."""

    def __init__(self, backend: str, rules: str) -> None:
        super().__init__(backend, f"not sent: {rules}", retryable=False)


class PinnedOffLimits(RequestError):
    """The client pinned a cloud backend for a request that must stay local: nothing else may answer it."""

    def __init__(self, backend: str, verdict: PrivacyVerdict, local: list[str]) -> None:
        why = "; ".join(rule.removeprefix("local-only: ") for rule in verdict.rules)
        fixes = ["use model 'hybrid' (routed: it stays local)"
                 + (f" or a local backend ({', '.join(local)})" if local else "")]
        if verdict.findings:
            fixes.append("remove the " + ", ".join(dict.fromkeys(f.label for f in verdict.findings)))
        if verdict.forced:
            fixes.append("drop the local-only flag or task rule if the request may leave this machine")
        super().__init__(f"model {backend!r} is a cloud backend, but this request must stay local ({why}); "
                         f"fix: {', or '.join(fixes)}")
        self.backend = backend


@dataclass(frozen=True)
class Considered:
    """The policy's context, the request the classifier scores, and any extra backend whose health matters."""

    context: PolicyContext
    scored: Request
    backends: tuple[str, ...] = ()


class CallHold:
    """One backend call's guard state: the request to send, the restorer for its answer, its reservation."""

    def __init__(self, sent: Request, redaction: Redaction | None, reservation: Reservation | None) -> None:
        self.sent = sent
        self._restorer = Restorer(redaction) if redaction is not None and redaction.originals else None
        self._reservation = reservation

    def wrap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        return iter(chunks) if self._restorer is None else self._restorer.wrap(chunks)

    def release(self, cost: float = 0.0) -> None:
        if self._reservation is not None:
            self._reservation.release(cost)
            self._reservation = None


class Guards:
    def __init__(self, settings: Settings, backends: Mapping[str, Backend], trace: object) -> None:
        self.settings = settings
        self.backends = backends
        self.privacy = PrivacyScanner(settings.privacy)
        self._trace = trace if hasattr(trace, "with_metadata") else None
        self.budget = BudgetGuard(settings.budget, trace if hasattr(trace, "spend_since") else None)

    def tag(self, request: Request) -> Request:
        return sticky.tag(request, self._trace)

    def worst_case(self, request: Request, name: str) -> float:
        return worst_case_cost(request, self.backends[name].price)

    def context(self, request: Request, cloud: str) -> Considered:
        verdict = self.privacy.verdict(request)
        escalated = sticky.escalation(request, self._trace) if self.settings.routing.sticky else None
        if escalated is not None and (escalated.backend not in self.backends
                                      or self.backends[escalated.backend].is_local):
            escalated = None
        clouds = dict.fromkeys([cloud, *([escalated.backend] if escalated else [])])
        over = {name: why for name in clouds if (why := self.budget.check(name, self.worst_case(request, name)))}
        context = PolicyContext(verdict, self.settings.privacy.mode, over, escalated)
        extra = tuple(name for name in clouds if name != cloud)
        return Considered(context, sticky.scoring_request(request), extra)

    def admit(self, request: Request, name: str) -> CallHold:
        """Check a call on backend ``name`` before it starts; raises LocalOnly, PinnedOffLimits or BudgetExceeded."""
        if self.backends[name].is_local:
            return CallHold(request, None, None)
        verdict = self.privacy.verdict(request)
        sent, redaction = request, None
        if verdict.redactable(self.settings.privacy.mode):
            sent, redaction = redact(request, verdict.findings)
            verdict = self.privacy.verdict(sent)  # what is sent is checked again: a redaction slip cannot leak
        if verdict.local_only and request.pin == name:
            raise PinnedOffLimits(name, verdict, [n for n, b in self.backends.items() if b.is_local])
        if verdict.local_only:
            raise LocalOnly(name, verdict.describe())
        reservation = self.budget.reserve(name, self.worst_case(sent, name))
        return CallHold(sent, redaction, reservation)
