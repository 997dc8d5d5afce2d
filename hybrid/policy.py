"""The policy: turns a difficulty score, the task's rule, privacy, budgets, stickiness and backend health
into a Decision.

Order of precedence:
1. privacy: a local-only request (hybrid/privacy.py) never gets a cloud target, fallback or cascade; in
   redact mode, found secrets and personal data are replaced before a cloud call instead;
2. the task rule (``routing.tasks.<task>.route``: ``local`` or ``cloud`` pins it);
3. stickiness: a conversation that escalated stays on the backend it escalated to (``routing.sticky``);
4. the threshold (task threshold, else ``routing.threshold``, else the classifier's calibrated one);
5. budgets and availability: a cloud backend over a spending cap or down falls to the strongest local
   model, and the decision says why.

With no cloud at all, hard work goes to the strongest local model. With no
local model, easy work goes to the cloud. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hybrid.display import score_and_threshold
from hybrid.errors import BackendUnavailable, RequestError
from hybrid.privacy import PrivacyVerdict
from hybrid.settings import RoutingSettings, TaskRule
from hybrid.sticky import Escalation
from hybrid.types import Decision, Health, Request


@dataclass(frozen=True)
class PolicyContext:
    """What the policy knows about a request beyond its score: found by hybrid/guards.py, which does the I/O."""

    privacy: PrivacyVerdict = field(default_factory=PrivacyVerdict)
    privacy_mode: str = "local"
    over_budget: Mapping[str, str] = field(default_factory=dict)
    """Cloud backends a call to which would cross a spending cap, with the cap's words."""
    sticky: Escalation | None = None
    """Where this request's conversation escalated earlier, if it did."""


@dataclass(frozen=True)
class Policy:
    routing: RoutingSettings

    def rule(self, task: str) -> TaskRule:
        try:
            return self.routing.tasks[task]
        except KeyError:
            known = ", ".join(sorted(self.routing.tasks))
            raise RequestError(
                f"unknown task type {task!r}; use one of: {known} (or add [routing.tasks.{task}] to the config)"
            ) from None

    def threshold_for(self, task: str, classifier_threshold: float) -> float:
        rule = self.rule(task)
        if rule.threshold is not None:
            return rule.threshold
        if self.routing.threshold is not None:
            return self.routing.threshold
        return classifier_threshold

    def cloud_for(self, task: str) -> str:
        return self.rule(task).cloud or self.routing.cloud

    def decide(
        self,
        request: Request,
        score: float,
        classifier_threshold: float,
        health: Mapping[str, Health],
        context: PolicyContext | None = None,
    ) -> Decision:
        context = context or PolicyContext()
        rule = self.rule(request.task)
        threshold = self.threshold_for(request.task, classifier_threshold)
        cloud = self.cloud_for(request.task)
        reasons: list[str] = []
        local_only = context.privacy.local_only and not context.privacy.redactable(context.privacy_mode)
        if local_only:  # in redact mode a redactable finding is said below ("redact: ..."), not as local-only
            reasons.append(context.privacy.describe())
        if request.pin in ("local", "cloud"):
            rule = rule.model_copy(update={"route": request.pin})
        elif request.pin is not None:
            return self._pinned(request.pin, score, threshold, health)

        if rule.route == "local":
            escalate = False
            reasons.append("pinned to local by the request" if request.pin else f"task {request.task!r} is pinned to local")
        elif rule.route == "cloud":
            escalate = True
            reasons.append("pinned to cloud by the request" if request.pin else f"task {request.task!r} always escalates")
        else:
            escalate = score >= threshold
            relation = ">=" if escalate else "<"
            shown, limit = score_and_threshold(score, threshold)
            reasons.append(f"difficulty {shown} {relation} threshold {limit}")
        if context.sticky is not None and self.routing.sticky and rule.route == "auto" and not local_only:
            cloud, escalate = context.sticky.backend, True
            reasons.append(f"kept on {cloud}: this conversation escalated at turn {context.sticky.turn}")

        local_up = [name for name in self.routing.local if health[name].ok]
        refused = "the request is local-only" if local_only else context.over_budget.get(cloud)
        cloud_up = health[cloud].ok and refused is None
        if refused is None and context.privacy.local_only:
            labels = dict.fromkeys(f.label for f in context.privacy.findings)
            reasons.append(f"redact: {len(context.privacy.findings)} item(s) ({', '.join(labels)}) replaced by "
                           "placeholders before any cloud call")
        mode = "direct"

        if escalate and cloud_up:
            target, fallbacks = cloud, tuple(reversed(local_up))
            reasons.append(f"escalated to {cloud}")
        elif escalate and local_up:
            target = local_up[-1]
            fallbacks = tuple(reversed(local_up[:-1]))
            why = f"not used ({refused})" if refused else f"unavailable ({health[cloud].detail})"
            reasons.append(f"{cloud} {why}; strongest local model {target} used instead")
            reasons.extend(self._skipped(self.routing.local, health))
        elif not escalate and local_up:
            target = local_up[0]
            reasons.extend(self._skipped(self.routing.local[: self.routing.local.index(target)], health))
            # Pinned to local (by the request or the task's rule): the cloud is no fallback either.
            fallbacks = (*local_up[1:], cloud) if cloud_up and rule.route != "local" else tuple(local_up[1:])
            if self.routing.mode == "cascade" and rule.route == "auto" and cloud_up:
                mode = "cascade"
                reasons.append(f"cascade: {target} drafts, {cloud} takes over if the draft looks inadequate")
            else:
                reasons.append(f"answered locally by {target}")
                if self.routing.mode == "cascade" and rule.route == "auto":
                    reasons.append(f"cascade off: {cloud} " + (f"not used ({refused})" if refused
                                                               else f"unavailable ({health[cloud].detail})"))
        elif cloud_up:
            target, fallbacks = cloud, ()
            down = "; ".join(f"{n}: {health[n].detail}" for n in self.routing.local)
            reasons.append(f"no local backend available ({down}); sent to {cloud}")
        elif refused:
            down = "; ".join(f"{n}: {health[n].detail}" for n in self.routing.local)
            raise BackendUnavailable(
                "router", f"{cloud} may not take this request ({refused}) and no local backend is available "
                f"({down}). Run `hybrid doctor` to bring a local model up.", retryable=False,
            )
        else:
            details = "; ".join(f"{n}: {health[n].detail}" for n in [*self.routing.local, cloud])
            raise BackendUnavailable(
                "router", f"no backend can take this request ({details}). Run `hybrid doctor` to see how to fix each."
            )

        return Decision(
            target=target,
            score=score,
            threshold=threshold,
            escalate=escalate,
            reasons=tuple(reasons),
            fallbacks=fallbacks,
            mode=mode,
        )

    @staticmethod
    def _skipped(names: Sequence[str], health: Mapping[str, Health]) -> list[str]:
        """Why each of ``names`` that is down was passed over, e.g. "olldead skipped: Ollama is not running ..."."""
        return [f"{name} skipped: {health[name].detail}" for name in names if not health[name].ok]

    def _pinned(self, backend: str, score: float, threshold: float, health: Mapping[str, Health]) -> Decision:
        """The client named one backend: it answers or the request fails; no fallback, no cascade."""
        if backend in health and not health[backend].ok:
            raise BackendUnavailable(backend, f"pinned by the request but unavailable ({health[backend].detail})")
        return Decision(target=backend, score=score, threshold=threshold, escalate=backend not in self.routing.local,
                        reasons=(f"pinned to {backend} by the request",))
