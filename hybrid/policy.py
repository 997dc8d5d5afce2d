"""The policy: turns a difficulty score, the task's rule and backend health into a Decision.

Order of precedence:
1. the task rule (``routing.tasks.<task>.route``: ``local`` or ``cloud`` pins it);
2. the threshold (task threshold, else ``routing.threshold``, else the classifier's calibrated one);
3. availability: an unavailable choice falls to the next tier, and the decision says why.

With no cloud at all, hard work goes to the strongest local model. With no
local model, easy work goes to the cloud. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hybrid.errors import BackendUnavailable, RequestError
from hybrid.settings import RoutingSettings, TaskRule
from hybrid.types import Decision, Health, Request


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
    ) -> Decision:
        rule = self.rule(request.task)
        threshold = self.threshold_for(request.task, classifier_threshold)
        cloud = self.cloud_for(request.task)
        reasons: list[str] = []
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
            reasons.append(f"difficulty {score:.2f} {relation} threshold {threshold:.2f}")

        local_up = [name for name in self.routing.local if health[name].ok]
        cloud_up = health[cloud].ok
        mode = "direct"

        if escalate and cloud_up:
            target, fallbacks = cloud, tuple(reversed(local_up))
            reasons.append(f"escalated to {cloud}")
        elif escalate and local_up:
            target = local_up[-1]
            fallbacks = tuple(reversed(local_up[:-1]))
            reasons.append(f"{cloud} unavailable ({health[cloud].detail}); strongest local model {target} used instead")
        elif not escalate and local_up:
            target = local_up[0]
            fallbacks = (*local_up[1:], cloud) if cloud_up else tuple(local_up[1:])
            reasons.append(f"answered locally by {target}")
            if self.routing.mode == "cascade" and rule.route == "auto":
                mode = "cascade"
                reasons.append(f"cascade: {target} drafts, {cloud} takes over if the draft looks inadequate"
                               if cloud_up else f"cascade off: {cloud} unavailable ({health[cloud].detail})")
                if not cloud_up:
                    mode = "direct"
        elif cloud_up:
            target, fallbacks = cloud, ()
            down = "; ".join(f"{n}: {health[n].detail}" for n in self.routing.local)
            reasons.append(f"no local backend available ({down}); sent to {cloud}")
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

    def _pinned(self, backend: str, score: float, threshold: float, health: Mapping[str, Health]) -> Decision:
        """The client named one backend: it answers or the request fails; no fallback, no cascade."""
        if backend in health and not health[backend].ok:
            raise BackendUnavailable(backend, f"pinned by the request but unavailable ({health[backend].detail})")
        return Decision(target=backend, score=score, threshold=threshold, escalate=backend not in self.routing.local,
                        reasons=(f"pinned to {backend} by the request",))
