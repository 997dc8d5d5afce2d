"""A small built-in workload: a mix of easy and hard requests, and a two-step chain."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hybrid.events import Done, Event, Failed
from hybrid.router import Router
from hybrid.types import Completion, Request


@dataclass(frozen=True)
class DemoItem:
    prompt: str
    task: str = "chat"


DEMO_WORKLOAD: tuple[DemoItem, ...] = (
    DemoItem("Classify the sentiment of this review as positive or negative: I loved it", "classify"),
    DemoItem("What is the capital of France?"),
    DemoItem("Summarize in one sentence: The meeting moved from Tuesday to Thursday at 3pm.", "summarize"),
    DemoItem("Translate to French: good morning"),
    DemoItem("Extract the email address: contact me at ada@example.com tomorrow", "extract"),
    DemoItem("Write a haiku about autumn leaves."),
    DemoItem("Prove that the square root of 2 is irrational.", "reason"),
    DemoItem(
        "Design a rate limiter for a multi-region API gateway. Explain the trade-offs between token bucket "
        "and sliding window algorithms, and how you would keep counters consistent across regions.",
        "code",
    ),
    DemoItem("Implement a thread-safe LRU cache in Python with O(1) get and put, and analyze its complexity.", "code"),
)


@dataclass(frozen=True)
class DemoOutcome:
    item: DemoItem
    completion: Completion | None
    error: str | None


def run_demo(
    router: Router,
    *,
    max_tokens: int = 48,
    cancel: threading.Event | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Iterator[DemoOutcome]:
    """Route each demo item, repeat the first (a cache hit), then a chained step that consumes its answer.

    ``on_event`` sees every router event as it happens. Setting ``cancel`` stops the request in flight
    (it ends as cancelled in the trace) and starts no further one.
    """
    cancel = cancel or threading.Event()

    def run(item: DemoItem, request: Request) -> DemoOutcome:
        completion, error = None, None
        for event in router.run(request, cancel=cancel):
            if on_event:
                on_event(event)
            if isinstance(event, Done):
                completion = event.completion
            elif isinstance(event, Failed):
                error = str(event.error)
        return DemoOutcome(item, completion, error)

    first_item = DEMO_WORKLOAD[0]
    plan = [*DEMO_WORKLOAD, first_item]
    outcome = None
    for item in plan:
        if cancel.is_set():
            return
        outcome = run(item, Request.from_prompt(item.prompt, task=item.task, max_tokens=max_tokens))
        yield outcome
    first = outcome.completion if outcome else None
    if first is not None and not cancel.is_set():
        chained = DemoItem(f"Explain in one sentence why a reviewer would write: {first.text.strip()[:200]}")
        yield run(chained, Request.from_prompt(chained.prompt, max_tokens=max_tokens, parent_id=first.request_id))
