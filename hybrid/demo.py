"""A small built-in workload: a mix of easy and hard requests, and a two-step chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hybrid.errors import HybridError, RequestCancelled
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
    on_text: Callable[[str], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[DemoOutcome]:
    """Route each demo item, repeat the first (a cache hit), then a chained step that consumes its answer.

    ``stop`` is polled before each request and while one streams: when it turns true the request in
    flight ends as cancelled (and is traced so) and no further request starts.
    """

    def run(item: DemoItem, request: Request) -> DemoOutcome:
        def text(chunk: str) -> None:
            if stop():
                raise RequestCancelled("the demo was stopped")
            if on_text:
                on_text(chunk)

        try:
            return DemoOutcome(item, router.complete(request, on_text=text), None)
        except HybridError as e:
            return DemoOutcome(item, None, str(e))

    first_item = DEMO_WORKLOAD[0]
    plan = [*DEMO_WORKLOAD, first_item]
    outcome = None
    for item in plan:
        if stop():
            return
        outcome = run(item, Request.from_prompt(item.prompt, task=item.task, max_tokens=max_tokens))
        yield outcome
    first = outcome.completion if outcome else None
    if first is not None and not stop():
        chained = DemoItem(f"Explain in one sentence why a reviewer would write: {first.text.strip()[:200]}")
        yield run(chained, Request.from_prompt(chained.prompt, max_tokens=max_tokens, parent_id=first.request_id))
