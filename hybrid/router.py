"""The router: classify -> decide -> call -> check -> fall back, timing and tracing every step.

``Router.run(request, cancel=...)`` yields the typed events of ``hybrid.events``
(the order is drawn there); every surface renders them. ``Router.complete``
drains the same stream. Backends only produce chunks; the router owns timing,
cost, the cache, health, the cascade's held drafts and fallback.

Every request that reaches the router ends as a row in the trace store:
``done``, ``failed`` or ``cancelled`` (the caller set ``cancel``, closed the
iterator, or pressed Ctrl-C). A cancelled or abandoned request closes the
backend's stream, so the model stops writing and the cloud stops billing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hybrid.cache import CachedAnswer, ResponseCache
from hybrid.display import score_and_threshold
from hybrid.errors import (
    BackendError,
    ClassifierError,
    ConfigError,
    ContextOverflow,
    HybridError,
    RequestCancelled,
    RequestError,
)
from hybrid.events import (
    Decided,
    Done,
    DraftDiscarded,
    DraftHeld,
    DraftKept,
    Event,
    Failed,
    FellBack,
    TextDelta,
)
from hybrid.fallback import with_classifier_note
from hybrid.guards import Guards
from hybrid.policy import Policy
from hybrid.settings import Settings
from hybrid.trace import TraceStore, new_id
from hybrid.types import (
    ROLES,
    Backend,
    Completion,
    Decision,
    DifficultyClassifier,
    Draft,
    DraftAssessment,
    Health,
    Request,
    Usage,
)

DOWN_FOR_S = 30.0
CANCELLED = "the caller cancelled the request"
#: How a backend call's tokens were counted when it stopped before the backend's final count.
PARTIAL_USAGE = ("stopped before the backend's final count: input tokens as stated when the answer began, output "
                 "tokens at least the text chunks received")
ABANDONED = "the caller stopped reading the answer"


@dataclass(frozen=True)
class CallResult:
    backend: str
    model: str
    text: str
    usage: Usage
    cost: float
    finish_reason: str | None
    logprobs: tuple[float, ...]
    cached: bool


class Cancel(threading.Event):
    """A cancel event that says why: ``cancel.cancel("the server is busy")`` puts the reason in the trace.

    ``Router.run`` takes any ``threading.Event``; a plain one records "the caller cancelled the request".
    """

    reason = CANCELLED

    def cancel(self, reason: str) -> None:
        self.reason = reason
        self.set()


class NullTrace:
    """Stands in for the trace store under ``--no-log``: accepts writes, keeps nothing."""

    def start_request(self, *args, **kwargs) -> None:
        pass

    def update_request(self, *args, **kwargs) -> None:
        pass

    def add_step(self, *args, **kwargs) -> str:
        return ""


class HealthBook:
    """Backend health: each backend's own cheap check, overridden for a while after a live failure."""

    def __init__(self, backends: Mapping[str, Backend], *, down_for_s: float = DOWN_FOR_S) -> None:
        self._backends = backends
        self._down_for_s = down_for_s
        self._down: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def mark_down(self, name: str, why: str) -> None:
        with self._lock:
            self._down[name] = (time.monotonic() + self._down_for_s, why)

    def mark_up(self, name: str) -> None:
        with self._lock:
            self._down.pop(name, None)

    def check(self, name: str) -> Health:
        with self._lock:
            until, why = self._down.get(name, (0.0, ""))
        if time.monotonic() < until:
            return Health(False, f"failed recently: {why}")
        return self._backends[name].health()

    def snapshot(self, names: list[str]) -> dict[str, Health]:
        return {name: self.check(name) for name in dict.fromkeys(names)}


def validate(request: Request) -> None:
    if not request.messages:
        raise RequestError("the request has no messages; give a prompt, e.g. hybrid ask \"What is 2+2?\"")
    bad_roles = {m.role for m in request.messages} - set(ROLES)
    if bad_roles:
        raise RequestError(f"unknown message roles {sorted(bad_roles)}; use system, user or assistant")
    if not request.prompt.strip():
        raise RequestError("the prompt is empty; give the text to answer, e.g. hybrid ask \"What is 2+2?\"")
    if request.max_tokens < 1:
        raise RequestError(f"max_tokens must be at least 1, got {request.max_tokens}")
    if not 0 <= request.temperature <= 2:
        raise RequestError(f"temperature must be between 0 and 2, got {request.temperature}")


class Router:
    def __init__(
        self,
        settings: Settings,
        backends: Mapping[str, Backend],
        classifier: DifficultyClassifier,
        trace: TraceStore | NullTrace,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.backends = dict(backends)
        self.classifier = classifier
        self.trace = trace
        self.cache = cache
        self.policy = Policy(settings.routing)
        self.health = HealthBook(self.backends)
        self.guards = Guards(settings, self.backends, trace)

    # -- configuration that may change while running (the TUI's keys) --
    def use_classifier(self, classifier: DifficultyClassifier) -> None:
        """Route the next requests with ``classifier`` (after a retrained one is promoted)."""
        self.classifier = classifier

    def set_threshold(self, threshold: float) -> None:
        if not 0 <= threshold <= 1:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold}; fix: pass a number from 0 to 1")
        self.policy = Policy(self.settings.routing.model_copy(update={"threshold": threshold}))

    @property
    def threshold(self) -> float:
        return self.policy.threshold_for("chat", self.classifier.threshold)

    @property
    def draft_threshold(self) -> float:
        configured = self.settings.routing.draft_threshold
        return self.classifier.draft_threshold if configured is None else configured

    # -- the entry points ----------------------------------------------------
    def run(
        self, request: Request, *, cancel: threading.Event | None = None, buffered: bool = False
    ) -> Iterator[Event]:
        """The request's events, ``Decided`` first and ``Done`` or ``Failed`` last (see ``hybrid.events``).

        Setting ``cancel`` (from any thread) or closing the iterator stops the
        backend call in flight; the stream then ends with ``Failed(RequestCancelled)``
        (closing yields nothing more) and the trace says ``cancelled``.

        ``buffered``: the caller shows nothing until the answer is whole (a non-streaming HTTP reply,
        ``complete``), so each backend's text is held until its call ends: a backend that breaks off
        mid-answer then falls back like one that failed before its first token.
        """
        return _Run(self, request, cancel or threading.Event(), buffered=buffered).events()

    def complete(self, request: Request, *, cancel: threading.Event | None = None) -> Completion:
        """Drain ``run`` (buffered): the ``Completion``, or the ``Failed`` event's error raised."""
        for event in self.run(request, cancel=cancel, buffered=True):
            if isinstance(event, Done):
                return event.completion
            if isinstance(event, Failed):
                raise event.error
        raise HybridError("the router's event stream ended without an answer or an error")

    def close(self) -> None:
        if isinstance(self.trace, TraceStore):
            self.trace.close()
        if self.cache is not None:
            self.cache.close()


def _close(stream: Iterator) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


class _Run:
    """One request going through the router: its id, its trace rows and whether text reached the caller."""

    def __init__(self, router: Router, request: Request, cancel: threading.Event, *, buffered: bool = False) -> None:
        self.router = router
        self.buffered = buffered
        self.trace = router.trace
        self.request = router.guards.tag(request)  # the conversation id and turn go into the metadata
        self.cancel = cancel
        self.id = new_id()
        self.started = time.perf_counter()
        self.sent: list[str] = []
        self.notes: list[str] = []
        self.fell_back = False
        self.billed: list[tuple[Usage, float]] = []  # every backend call's usage and cost, as its step records them
        self.cache = router.cache  # None for a request holding a credential (see _decide)

    @property
    def billed_cost(self) -> float:
        """What every backend call of this request cost, failed attempts included."""
        return sum(cost for _, cost in self.billed)

    @property
    def text_sent(self) -> bool:
        return bool(self.sent)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise RequestCancelled(self.cancel.reason if isinstance(self.cancel, Cancel) else CANCELLED)

    # -- the whole request -------------------------------------------------
    def events(self) -> Iterator[Event]:
        request = self.request
        messages = request.message_dicts()
        self.trace.start_request(
            self.id,
            task=request.task,
            messages=messages,
            params={"max_tokens": request.max_tokens, "temperature": request.temperature},
            metadata=dict(request.metadata),
            parent_id=request.parent_id,
            mode=self.router.settings.routing.mode,
        )
        self.trace.add_step(self.id, "request", input={"messages": messages, "task": request.task})
        try:
            validate(request)
            self.router.policy.rule(request.task)
            self._check_cancel()
            decision = self._decide()
            yield Decided(self.id, decision)
            candidates = [decision.target, *decision.fallbacks]
            calls = yield from self._answer(decision, candidates)
            completion = self._finish(decision, calls)
        except HybridError as e:
            self._record_failure(e)
            yield Failed(self.id, e, text_sent=self.text_sent)
            return
        except (GeneratorExit, KeyboardInterrupt):  # the caller closed the stream, or Ctrl-C
            self._record_failure(RequestCancelled(ABANDONED))
            raise
        except Exception as e:  # a bug or an unwrapped library error: still recorded, then re-raised
            self._record_failure(e)
            raise
        yield Done(completion)

    def _record_failure(self, e: BaseException) -> None:
        cancelled = isinstance(e, RequestCancelled)
        message = str(e) if isinstance(e, HybridError) else f"{type(e).__name__}: {e}"
        self.trace.add_step(self.id, "error", error=message, output={"type": type(e).__name__,
                                                                      "text_sent": self.text_sent})
        extra = {"output": "".join(self.sent)} if self.sent else {}
        if self.billed:  # the row counts what its calls used and cost: money spent on a failed call is spent
            extra |= {"input_tokens": sum(u.input_tokens for u, _ in self.billed),
                      "output_tokens": sum(u.output_tokens for u, _ in self.billed),
                      "cost": self.billed_cost}
        self.trace.update_request(self.id, status="cancelled" if cancelled else "failed", error=message,
                                  latency_s=time.perf_counter() - self.started, **extra)

    def _decide(self) -> Decision:
        router, request = self.router, self.request
        t0 = time.perf_counter()
        cloud = router.policy.cloud_for(request.task)
        considered = router.guards.context(request, cloud)  # privacy, budget, sticky
        if any(f.kind == "secret" for f in considered.context.privacy.findings):
            self.cache = None  # the trace scrubs a credential; the response cache would keep the answer that quotes it
        score = float(router.classifier.score(considered.scored))
        self.trace.add_step(
            self.id,
            "classify",
            input={"prompt": request.prompt, "task": request.task},
            output={"score": score, "classifier": router.classifier.version},
            duration_s=time.perf_counter() - t0,
        )
        names = [*router.settings.routing.local, cloud, *considered.backends]
        names += [request.pin] if request.pin in router.backends else []  # a pinned backend is health-checked too
        decision = router.policy.decide(request, score, router.classifier.threshold, router.health.snapshot(names),
                                        considered.context)
        decision = with_classifier_note(decision, router.classifier)
        self.trace.add_step(self.id, "route", output=vars(decision))  # its fields, as asdict gives them, uncopied
        self.trace.update_request(
            self.id,
            status="routed",
            classifier=router.classifier.version,
            score=score,
            threshold=decision.threshold,
            escalate=decision.escalate,
            target=decision.target,
            reasons=list(decision.reasons),
            mode=decision.mode,
        )
        return decision

    def _answer(self, decision: Decision, candidates: list[str]) -> Iterator[Event]:
        """Try each candidate until one answers; only before any text was sent may the next one take over.

        Returns (through ``yield from``) every call that went into the answer, the one answering last.
        """
        failures: list[BackendError] = []
        for i, name in enumerate(candidates):
            backend = self.router.backends[name]
            try:
                if decision.mode == "cascade" and backend.is_local:
                    return (yield from self._cascade(name))
                return [(yield from self._call(name, self.request, show=True))]
            except BackendError as e:
                if e.retryable:
                    self.router.health.mark_down(name, str(e))
                if self.text_sent:
                    raise
                failures.append(e)
                nxt = candidates[i + 1] if i + 1 < len(candidates) else None
                self.trace.add_step(
                    self.id, "fallback", output={"from": name, "to": nxt, "why": str(e), "retryable": e.retryable}
                )
                if nxt is not None:
                    self.fell_back = True
                    self.notes.append(f"fell back from {name} to {nxt}")
                    yield FellBack(self.id, name, nxt, str(e))
        if failures and all(isinstance(f, ContextOverflow) for f in failures):
            raise ContextOverflow("router", "the prompt fits no backend's context window: "
                                  + " | ".join(str(f) for f in failures))
        raise BackendError(
            "router", "every candidate backend failed: " + " | ".join(str(f) for f in failures),
            retryable=any(f.retryable for f in failures),
        )

    # -- the cascade ---------------------------------------------------------
    def _draft_plan(self, name: str) -> list[tuple[str, Request]]:
        """Which backend writes each draft, at what temperature: the drafter, then the draft backends in turn."""
        routing = self.router.settings.routing
        sources = [name, *(b for b in routing.draft_backends if b != name and self.router.health.check(b).ok)]
        plan, used = [], set()
        for i in range(routing.drafts):
            source = sources[i % len(sources)]
            request = self.request
            if source in used:
                request = dataclasses.replace(request, temperature=routing.draft_temperature)
            used.add(source)
            plan.append((source, request))
        return plan

    def _cascade(self, name: str) -> Iterator[Event]:
        """Write the drafts held back, judge them, then send the kept one or the cloud's answer."""
        plan = self._draft_plan(name)
        yield DraftHeld(self.id, name, len(plan))
        drafts = [(yield from self._call(name, plan[0][1], show=False))]  # its failure falls back as usual
        for source, request in plan[1:]:
            try:
                drafts.append((yield from self._call(source, request, show=False)))
            except BackendError as e:  # the drafts written so far are judged without it
                self.notes.append(f"cascade: a further draft from {source} failed ({e})")
        t0 = time.perf_counter()
        assessment, threshold = self._assess(drafts)
        kept = drafts[assessment.keep]
        others = [d for d in drafts if d is not kept]
        escalate = assessment.score >= threshold
        cloud = self.router.policy.cloud_for(self.request.task)
        self.trace.add_step(
            self.id,
            "draft",
            backend=kept.backend,
            output={
                "drafts": [d.text for d in drafts], "kept": assessment.keep, "score": assessment.score,
                "threshold": threshold, "escalate": escalate,
                "checks": [dataclasses.asdict(c) for c in assessment.checks], "agreement": assessment.agreement,
                "reasons": list(assessment.reasons),
            },
            duration_s=time.perf_counter() - t0,
        )
        relation = ">=" if escalate else "<"
        shown, limit = score_and_threshold(assessment.score, threshold)
        verdict = f"draft score {shown} {relation} {limit}"
        if assessment.agreement is not None:
            verdict += f", {len(drafts)} drafts agree {assessment.agreement:.0%}"
        fired = [f"draft {'rejected' if escalate else 'kept despite'}: {c.reason or c.name}" for c in assessment.fired]
        if not escalate:
            self.notes.extend([f"cascade: draft from {kept.backend} kept ({verdict})", *fired])
            yield DraftKept(self.id, kept.backend, assessment)
            yield from self._send(kept)
            return [*others, kept]
        self.notes.extend([f"cascade: draft from {kept.backend} escalated to {cloud} ({verdict})", *fired])
        yield DraftDiscarded(self.id, kept.backend, assessment, cloud)
        self.trace.update_request(self.id, status="routed", target=cloud, escalate=True)
        try:
            answer = yield from self._call(cloud, self.request, show=True)
        except BackendError as e:
            if e.retryable:
                self.router.health.mark_down(cloud, str(e))
            if self.text_sent:
                raise
            self.trace.add_step(
                self.id, "fallback", output={"from": cloud, "to": kept.backend, "why": str(e), "kept": "draft"}
            )
            self.fell_back = True
            self.notes.append(f"{cloud} failed ({e}); the draft from {kept.backend} answers")
            yield FellBack(self.id, cloud, kept.backend, str(e))
            yield from self._send(kept)
            return [*others, kept]
        return [*drafts, answer]

    def _assess(self, drafts: list[CallResult]) -> tuple[DraftAssessment, float]:
        router = self.router
        assessment = router.classifier.assess_drafts(
            self.request, tuple(Draft(d.text, d.finish_reason, d.logprobs) for d in drafts)
        )
        if not 0 <= assessment.keep < len(drafts):
            raise ClassifierError(
                f"{router.classifier.version} kept draft {assessment.keep} of {len(drafts)}; "
                "retrain it or remove classifier.path from the config"
            )
        return assessment, router.draft_threshold

    def _send(self, call: CallResult) -> Iterator[Event]:
        self.sent.append(call.text)
        yield TextDelta(self.id, call.backend, call.text)

    # -- one backend call ------------------------------------------------------
    def _call(self, name: str, request: Request, *, show: bool) -> Iterator[Event]:
        """Stream one backend's answer (as ``TextDelta`` when ``show``); returns its ``CallResult``."""
        self._check_cancel()
        backend = self.router.backends[name]
        cache = self.cache
        if cache is not None:
            hit = cache.get(name, backend.model, request)
            if hit is not None:
                self.trace.add_step(
                    self.id, "cache", backend=name, model=backend.model, input={"messages": request.message_dicts()},
                    output={"text": hit.text}, input_tokens=hit.usage.input_tokens,
                    output_tokens=hit.usage.output_tokens, cost=0.0,
                )
                result = CallResult(name, backend.model, hit.text, hit.usage, 0.0, hit.finish_reason, (), True)
                if show:
                    yield from self._send(result)
                return result

        hold = self.router.guards.admit(request, name)  # local-only refusal, redaction, budget reservation
        t0 = time.perf_counter()
        first_token_s: float | None = None
        parts: list[str] = []
        usage, finish_reason, logprobs = Usage(), None, []
        error: BaseException | None = None
        final_usage = False
        stream = hold.wrap(backend.stream(hold.sent))  # closing it closes the backend's stream
        try:
            for chunk in stream:
                self._check_cancel()
                logprobs.extend(chunk.logprobs)
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish_reason = chunk.finish_reason
                    final_usage = chunk.usage is not None
                if chunk.text:
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - t0
                        self.trace.update_request(self.id, status="streaming", backend=name, model=backend.model,
                                                  is_local=backend.is_local)
                    parts.append(chunk.text)
                    if show and not self.buffered:
                        self.sent.append(chunk.text)
                        yield TextDelta(self.id, name, chunk.text)
        except HybridError as e:
            error = e
            raise
        except (GeneratorExit, KeyboardInterrupt):
            error = RequestCancelled(ABANDONED)
            raise
        finally:
            _close(stream)  # stops a backend still writing: the SDK closes its HTTP stream, llama.cpp stops
            text = "".join(parts)
            counted = None
            if not final_usage and (parts or usage.input_tokens):
                # Stopped before the backend's final count (cancelled, broke mid-answer): what it stated early (the
                # prompt's tokens) stands, and every text chunk received held at least one generated token, so
                # count those (a lower bound) rather than none.
                usage = Usage(usage.input_tokens, max(usage.output_tokens, len(parts)))
                counted = PARTIAL_USAGE
            cost = backend.price.cost(usage)
            self.trace.add_step(
                self.id,
                "backend_call",
                backend=name,
                model=backend.model,
                input={"messages": request.message_dicts(), "max_tokens": request.max_tokens,
                       "temperature": request.temperature},
                output={"text": text, "finish_reason": finish_reason, "time_to_first_token_s": first_token_s,
                        **({"usage": counted} if counted else {})},
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost=cost,
                duration_s=time.perf_counter() - t0,
                error=str(error) if error else None,
            )
            self.billed.append((usage, cost))
            hold.release(cost)  # the cost is in the trace now
        self.router.health.mark_up(name)
        if cache is not None:
            cache.put(name, backend.model, request, CachedAnswer(text, usage, finish_reason))
        result = CallResult(name, backend.model, text, usage, cost, finish_reason, tuple(logprobs), False)
        if show and self.buffered and text:
            yield from self._send(result)  # held until the call was whole
        return result

    # -- the answer ------------------------------------------------------------
    def _finish(self, decision: Decision, calls: list[CallResult]) -> Completion:
        router = self.router
        final = calls[-1]
        notes = [*self.notes, *(["cache hit"] if final.cached else [])]
        usage = Usage(sum(c.usage.input_tokens for c in calls), sum(c.usage.output_tokens for c in calls))
        # Every call's cost, a failed attempt's included (a cloud stream cut mid-answer is billed): what the
        # request cost, as the budget (which reads the steps) counts it. Tokens are the answer's calls'.
        cost = self.billed_cost  # a cache hit costs nothing and is not billed
        reference = router.backends[router.settings.routing.reference].price
        latency = time.perf_counter() - self.started
        decision = dataclasses.replace(decision, reasons=(*decision.reasons, *notes))
        is_local = router.backends[final.backend].is_local
        self.trace.update_request(
            self.id,
            status="done",
            backend=final.backend,
            model=final.model,
            is_local=is_local,
            output=final.text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
            frontier_cost=reference.cost(final.usage),
            latency_s=latency,
            cached=final.cached,
            fallback=self.fell_back,
            reasons=list(decision.reasons),
        )
        return Completion(
            request_id=self.id,
            text=final.text,
            backend=final.backend,
            model=final.model,
            usage=usage,
            cost=cost,
            latency_s=latency,
            decision=decision,
            cached=final.cached,
            finish_reason=final.finish_reason,
            notes=tuple(notes),
            answer_usage=final.usage,  # what the client is told it used: the answering call's tokens alone
        )
