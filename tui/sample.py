"""A fixed, realistic trace for screenshots and snapshot tests: fixed ids, timestamps and clock.

``python -m tui.sample docs/tui.svg`` redraws the README screenshot from it.
Rows are written through ``TraceStore``'s API; only the timestamps are then
pinned with one UPDATE, since the store stamps rows with the wall clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from hybrid.trace import TraceStore

SAMPLE_NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
PRICES = {"smollm2": (0.0, 0.0), "haiku": (1.0, 5.0), "sonnet": (3.0, 15.0), "opus": (5.0, 25.0)}
MODELS = {"smollm2": "SmolLM2-135M-Instruct-Q4_1", "haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-6",
          "opus": "claude-opus-4-6"}


@dataclass(frozen=True)
class Sample:
    prompt: str
    task: str
    score: float
    target: str
    backend: str | None = None
    output: str = ""
    tokens: tuple[int, int] = (0, 0)
    latency: float = 0.0
    status: str = "done"
    reasons: tuple[str, ...] = ()
    cached: bool = False
    failed_first: str | None = None
    feedback: str | None = None
    parent: int | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


SAMPLES: tuple[Sample, ...] = (
    Sample("Classify the sentiment of this review as positive or negative: I loved it", "classify", 0.12, "smollm2",
           "smollm2", "positive", (64, 2), 0.41),
    Sample("What is the capital of France?", "chat", 0.08, "smollm2", "smollm2", "Paris.", (30, 12), 0.32,
           feedback="good"),
    Sample("Summarize in one sentence: The meeting moved from Tuesday to Thursday at 3pm.", "summarize", 0.21,
           "smollm2", "smollm2", "The meeting is now on Thursday at 3pm.", (210, 28), 0.88),
    Sample("Translate to French: good morning", "chat", 0.15, "smollm2", "smollm2", "Bonjour.", (24, 6), 0.29),
    Sample("Extract the email address: contact me at ada@example.com tomorrow", "extract", 0.18, "smollm2",
           "smollm2", "ada@example.com", (48, 10), 0.37),
    Sample("Write a haiku about autumn leaves.", "chat", 0.44, "smollm2", "smollm2",
           "Leaves fall down / red and gold on the cold ground / autumn says goodbye", (30, 40), 1.12, feedback="bad"),
    Sample("Prove that the square root of 2 is irrational.", "reason", 0.81, "opus", "opus",
           "Suppose √2 = p/q in lowest terms. Then p² = 2q², so p is even; write p = 2k…", (12, 120), 6.93,
           reasons=("task 'reason' always routes to the cloud (opus)",)),
    Sample("Design a rate limiter for a multi-region API gateway. Explain the trade-offs between token bucket and "
           "sliding window algorithms.", "code", 0.77, "sonnet", "sonnet",
           "Use a token bucket per key in each region, with asynchronous reconciliation…", (38, 480), 9.41),
    Sample("Implement a thread-safe LRU cache in Python with O(1) get and put.", "code", 0.72, "sonnet", "smollm2",
           "class LRUCache:\n    def __init__(self, capacity):\n        ...", (60, 200), 1.94,
           failed_first="sonnet: no ANTHROPIC_API_KEY set; export it or run local-only"),
    Sample("Classify the sentiment of this review as positive or negative: I loved it", "classify", 0.12, "smollm2",
           "smollm2", "positive", (64, 2), 0.01, cached=True),
    Sample("Explain in one sentence why a reviewer would write: positive", "chat", 0.35, "smollm2", "smollm2",
           "Because they enjoyed the product.", (40, 20), 0.52, parent=9),
    Sample("Compare the consistency trade-offs of Spanner and DynamoDB for a global ledger.", "chat", 0.68,
           "sonnet", "sonnet", status="streaming"),
    Sample("Why does my C extension segfault when the GIL is released?", "code", 0.59, "sonnet", status="routed"),
    Sample("Draft a polite reply declining the meeting.", "write", 0.31, "smollm2", status="failed",
           error="every candidate backend failed: smollm2: model file not found | sonnet: no ANTHROPIC_API_KEY"),
)


def sample_id(index: int) -> str:
    return f"0197{index:04x}a1b2c3d4e5f6"


def sample_time(index: int) -> float:
    return SAMPLE_NOW - 20 - (len(SAMPLES) - 1 - index) * 41.0


def _cost(backend: str, tokens: tuple[int, int]) -> float:
    price_in, price_out = PRICES[backend]
    return (tokens[0] * price_in + tokens[1] * price_out) / 1_000_000


def _write(store: TraceStore, index: int, s: Sample) -> None:
    rid = sample_id(index)
    messages = [{"role": "user", "content": s.prompt}]
    store.start_request(rid, task=s.task, messages=messages, params={"max_tokens": 256, "temperature": 0.0},
                        parent_id=None if s.parent is None else sample_id(s.parent), mode="direct")
    store.add_step(rid, "request", input={"messages": messages, "task": s.task})
    store.add_step(rid, "classify", input={"prompt": s.prompt, "task": s.task},
                   output={"score": s.score, "classifier": "minilm-logreg-v3"}, duration_s=0.004)
    escalate = s.score >= 0.5 or s.task == "reason"
    action = f"escalate to {s.target}" if escalate else f"answer locally on {s.target}"
    reasons = s.reasons or (f"score {s.score:.2f} {'>=' if escalate else '<'} threshold 0.50: {action}",)
    store.add_step(rid, "route", output={"target": s.target, "score": s.score, "threshold": 0.5,
                                         "escalate": escalate, "reasons": list(reasons)})
    store.update_request(rid, status="routed", classifier="minilm-logreg-v3", score=s.score, threshold=0.5,
                         escalate=escalate, target=s.target, reasons=list(reasons))
    if s.status == "routed":
        return
    if s.status == "streaming":
        store.update_request(rid, status="streaming", backend=s.backend, model=MODELS[s.backend])
        return
    if s.status == "failed":
        store.add_step(rid, "error", error=s.error, output={"type": "BackendError"})
        store.update_request(rid, status="failed", error=s.error, latency_s=0.05)
        return
    notes: list[str] = []
    if s.failed_first:
        store.add_step(rid, "backend_call", backend=s.target, model=MODELS[s.target], input={"messages": messages},
                       duration_s=0.002, error=s.failed_first)
        store.add_step(rid, "fallback", output={"from": s.target, "to": s.backend, "why": s.failed_first})
        notes.append(f"fell back from {s.target} to {s.backend}")
    cost = 0.0 if s.cached else _cost(s.backend, s.tokens)
    kind = "cache" if s.cached else "backend_call"
    store.add_step(rid, kind, backend=s.backend, model=MODELS[s.backend], input={"messages": messages},
                   output={"text": s.output, "finish_reason": "stop"}, input_tokens=s.tokens[0],
                   output_tokens=s.tokens[1], cost=cost, duration_s=None if s.cached else s.latency - 0.01)
    if s.cached:
        notes.append("cache hit")
    store.update_request(
        rid, status="done", backend=s.backend, model=MODELS[s.backend], is_local=s.backend == "smollm2",
        output=s.output, input_tokens=s.tokens[0], output_tokens=s.tokens[1], cost=cost,
        frontier_cost=_cost("sonnet", s.tokens), latency_s=s.latency, cached=s.cached,
        fallback=bool(s.failed_first), reasons=[*reasons, *notes],
    )
    if s.feedback:
        store.add_feedback(rid, s.feedback)


def write_sample_trace(path: Path, samples: tuple[Sample, ...] = SAMPLES) -> TraceStore:
    """Write ``samples`` to a new trace at ``path`` with pinned timestamps; returns the open store."""
    store = TraceStore(path)
    for index, sample in enumerate(samples):
        _write(store, index, sample)
    store.flush()
    with sqlite3.connect(path) as db:
        for index in range(len(samples)):
            t = sample_time(index)
            db.execute("UPDATE requests SET created_at = ?, updated_at = ? WHERE id = ?", (t, t, sample_id(index)))
            db.execute("UPDATE steps SET created_at = ? + seq * 0.01 WHERE request_id = ?", (t, sample_id(index)))
            db.execute("UPDATE feedback SET created_at = ? WHERE request_id = ?", (t + 5, sample_id(index)))
    db.close()
    return store


def sample_app(path: Path, **kwargs):
    """The dashboard over the sample trace, on the sample clock, in UTC."""
    from tui.app import HybridApp

    store = write_sample_trace(path)
    options = {"config_file": path.parent / "config.toml", "threshold": 0.5, "now": lambda: SAMPLE_NOW,
               "tz": UTC, "cloud_status": "ok (sonnet)"} | kwargs
    return HybridApp(store, **options)


async def screenshot(target: Path, size: tuple[int, int] = (120, 32)) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = sample_app(Path(tmp) / "trace.db")
        async with app.run_test(size=size) as pilot:
            while not app.feed_ready:
                await pilot.pause(0.05)
            await pilot.pause()
            app.save_screenshot(target.name, str(target.parent))
        app.trace.close()


if __name__ == "__main__":
    asyncio.run(screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/tui.svg")))
