"""The router: classify -> decide -> call -> fall back, timing and tracing every step.

Every request that reaches ``Router.complete`` ends as rows in the trace
store, answered or failed. Backends only produce text and usage; the router
owns timing, cost, the cache, health and fallback.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hybrid.cache import CachedAnswer, ResponseCache
from hybrid.errors import BackendError, HybridError, RequestError
from hybrid.fallback import with_classifier_note
from hybrid.policy import Policy
from hybrid.settings import Settings
from hybrid.trace import TraceStore, new_id
from hybrid.types import ROLES, Backend, Completion, Decision, DifficultyClassifier, Draft, Health, Request, Usage

TextCallback = Callable[[str], None]
DOWN_FOR_S = 30.0


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
        self._threshold_override: float | None = None

    # -- configuration that may change while running (the TUI's keys) --
    def use_classifier(self, classifier: DifficultyClassifier) -> None:
        """Route the next requests with ``classifier`` (after a retrained one is promoted)."""
        self.classifier = classifier

    def set_threshold(self, threshold: float) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.policy = Policy(self.settings.routing.model_copy(update={"threshold": threshold}))

    @property
    def threshold(self) -> float:
        return self.policy.threshold_for("chat", self.classifier.threshold)

    @property
    def draft_threshold(self) -> float:
        configured = self.settings.routing.draft_threshold
        return self.classifier.draft_threshold if configured is None else configured

    # -- the main entry point ---------------------------------------------
    def complete(self, request: Request, *, on_text: TextCallback | None = None) -> Completion:
        request_id = new_id()
        started = time.perf_counter()
        self.trace.start_request(
            request_id,
            task=request.task,
            messages=request.message_dicts(),
            params={"max_tokens": request.max_tokens, "temperature": request.temperature},
            metadata=dict(request.metadata),
            parent_id=request.parent_id,
            mode=self.settings.routing.mode,
        )
        self.trace.add_step(request_id, "request", input={"messages": request.message_dicts(), "task": request.task})
        try:
            validate(request)
            self.policy.rule(request.task)
            decision = self._decide(request_id, request)
            completion = self._execute(request_id, request, decision, started, on_text)
        except HybridError as e:
            self.trace.add_step(request_id, "error", error=str(e), output={"type": type(e).__name__})
            self.trace.update_request(
                request_id, status="failed", error=str(e), latency_s=time.perf_counter() - started
            )
            raise
        except Exception as e:  # a bug or an unwrapped library error: still recorded, then re-raised
            self.trace.add_step(request_id, "error", error=f"{type(e).__name__}: {e}")
            self.trace.update_request(
                request_id, status="failed", error=f"{type(e).__name__}: {e}", latency_s=time.perf_counter() - started
            )
            raise
        return completion

    def _decide(self, request_id: str, request: Request) -> Decision:
        t0 = time.perf_counter()
        score = float(self.classifier.score(request))
        self.trace.add_step(
            request_id,
            "classify",
            input={"prompt": request.prompt, "task": request.task},
            output={"score": score, "classifier": self.classifier.version},
            duration_s=time.perf_counter() - t0,
        )
        names = [*self.settings.routing.local, self.policy.cloud_for(request.task)]
        decision = self.policy.decide(request, score, self.classifier.threshold, self.health.snapshot(names))
        decision = with_classifier_note(decision, self.classifier)
        self.trace.add_step(request_id, "route", output=dataclasses.asdict(decision))
        self.trace.update_request(
            request_id,
            status="routed",
            classifier=self.classifier.version,
            score=score,
            threshold=decision.threshold,
            escalate=decision.escalate,
            target=decision.target,
            reasons=list(decision.reasons),
            mode=decision.mode,
        )
        return decision

    def _execute(
        self, request_id: str, request: Request, decision: Decision, started: float, on_text: TextCallback | None
    ) -> Completion:
        result, used_fallback = self._call_with_fallback(
            request_id, request, [decision.target, *decision.fallbacks], on_text
        )
        calls = [result]
        notes: list[str] = []
        if used_fallback:
            notes.append(f"fell back from {decision.target} to {result.backend}")
        if decision.mode == "cascade" and self.backends[result.backend].is_local:
            escalated = self._cascade(request_id, request, decision, result, on_text)
            if escalated is not None:
                calls.append(escalated)
                notes.append(f"cascade: draft from {result.backend} escalated to {escalated.backend}")
            else:
                notes.append(f"cascade: draft from {result.backend} kept")
        final = calls[-1]
        if final.cached:
            notes.append("cache hit")
        usage = Usage(sum(c.usage.input_tokens for c in calls), sum(c.usage.output_tokens for c in calls))
        cost = sum(c.cost for c in calls)
        reference = self.backends[self.settings.routing.reference].price
        latency = time.perf_counter() - started
        decision = dataclasses.replace(decision, reasons=(*decision.reasons, *notes))
        self.trace.update_request(
            request_id,
            status="done",
            backend=final.backend,
            model=final.model,
            is_local=self.backends[final.backend].is_local,
            output=final.text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
            frontier_cost=reference.cost(final.usage),
            latency_s=latency,
            cached=final.cached,
            fallback=used_fallback,
            reasons=list(decision.reasons),
        )
        return Completion(
            request_id=request_id,
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
        )

    def _cascade(
        self, request_id: str, request: Request, decision: Decision, draft: CallResult, on_text: TextCallback | None
    ) -> CallResult | None:
        t0 = time.perf_counter()
        score = float(self.classifier.score_draft(request, Draft(draft.text, draft.finish_reason, draft.logprobs)))
        threshold = self.draft_threshold
        escalate = score >= threshold
        cloud = self.policy.cloud_for(request.task)
        self.trace.add_step(
            request_id,
            "draft",
            backend=draft.backend,
            output={"draft": draft.text, "score": score, "threshold": threshold, "escalate": escalate},
            duration_s=time.perf_counter() - t0,
        )
        if not escalate:
            return None
        self.trace.update_request(request_id, status="routed", target=cloud, escalate=True)
        try:
            result, _ = self._call_with_fallback(request_id, request, [cloud], on_text)
        except BackendError as e:
            self.trace.add_step(
                request_id, "fallback", output={"from": cloud, "to": draft.backend, "why": str(e), "kept": "draft"}
            )
            return None
        return result

    def _call_with_fallback(
        self, request_id: str, request: Request, candidates: list[str], on_text: TextCallback | None
    ) -> tuple[CallResult, bool]:
        failures: list[BackendError] = []
        for i, name in enumerate(candidates):
            try:
                return self._call(request_id, request, name, on_text), i > 0
            except BackendError as e:
                failures.append(e)
                if e.retryable:
                    self.health.mark_down(name, str(e))
                nxt = candidates[i + 1] if i + 1 < len(candidates) else None
                self.trace.add_step(
                    request_id,
                    "fallback",
                    output={"from": name, "to": nxt, "why": str(e), "retryable": e.retryable},
                )
        raise BackendError(
            "router", "every candidate backend failed: " + " | ".join(str(f) for f in failures),
            retryable=any(f.retryable for f in failures),
        )

    def _call(self, request_id: str, request: Request, name: str, on_text: TextCallback | None) -> CallResult:
        backend = self.backends[name]
        if self.cache is not None:
            hit = self.cache.get(name, backend.model, request)
            if hit is not None:
                self.trace.add_step(
                    request_id,
                    "cache",
                    backend=name,
                    model=backend.model,
                    input={"messages": request.message_dicts()},
                    output={"text": hit.text},
                    input_tokens=hit.usage.input_tokens,
                    output_tokens=hit.usage.output_tokens,
                    cost=0.0,
                )
                if on_text:
                    on_text(hit.text)
                return CallResult(name, backend.model, hit.text, hit.usage, 0.0, hit.finish_reason, (), True)

        t0 = time.perf_counter()
        first_token_s: float | None = None
        parts: list[str] = []
        usage = Usage()
        finish_reason = None
        logprobs: list[float] = []
        error: HybridError | None = None
        try:
            for chunk in backend.stream(request):
                if chunk.text:
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - t0
                        self.trace.update_request(
                            request_id, status="streaming", backend=name, model=backend.model,
                            is_local=backend.is_local,
                        )
                    parts.append(chunk.text)
                    if on_text:
                        on_text(chunk.text)
                logprobs.extend(chunk.logprobs)
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish_reason = chunk.finish_reason
        except HybridError as e:  # a backend failure, or the caller cancelling from on_text
            error = e
        text = "".join(parts)
        cost = backend.price.cost(usage)
        self.trace.add_step(
            request_id,
            "backend_call",
            backend=name,
            model=backend.model,
            input={"messages": request.message_dicts(), "max_tokens": request.max_tokens,
                   "temperature": request.temperature},
            output={"text": text, "finish_reason": finish_reason, "time_to_first_token_s": first_token_s},
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
            duration_s=time.perf_counter() - t0,
            error=str(error) if error else None,
        )
        if error is not None:
            raise error
        self.health.mark_up(name)
        if self.cache is not None:
            self.cache.put(name, backend.model, request, CachedAnswer(text, usage, finish_reason))
        return CallResult(name, backend.model, text, usage, cost, finish_reason, tuple(logprobs), False)

    def close(self) -> None:
        if isinstance(self.trace, TraceStore):
            self.trace.close()
        if self.cache is not None:
            self.cache.close()
