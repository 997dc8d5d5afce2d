"""Router overhead and local inference speed, side by side in one run.

    python benchmarks/router.py [--requests 200] [--tokens 32]

Rows:
- routing overhead: classify + decide + trace writes around an instant backend (no model time), with the
  trace on and off, so the cost of logging every step shows as a ratio;
- SmolLM2-135M through llama.cpp, called directly vs through the router: tokens/s and the router's share.
Runs in a temporary HYBRID_HOME; prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hybrid.router import NullTrace, Router
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Chunk, Health, Price, Request, Usage

PROMPTS = [
    "Classify the sentiment: I loved it",
    "What is the capital of France?",
    "Prove that the square root of 2 is irrational.",
    "Write a Python function that merges two sorted lists.",
    "Summarize: the meeting moved from Tuesday to Thursday.",
]


class InstantBackend:
    """Answers at once, so only the router's own work is timed."""

    def __init__(self, name: str, is_local: bool) -> None:
        self.name, self.model, self.is_local, self.price = name, "instant", is_local, Price(3, 15)

    def health(self, deep: bool = False) -> Health:
        return Health(True, "instant")

    def stream(self, request: Request) -> Iterator[Chunk]:
        yield Chunk(text="ok")
        yield Chunk(usage=Usage(10, 1), finish_reason="stop")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def overhead(settings, classifier, trace, n: int) -> list[float]:
    backends = {name: InstantBackend(name, spec.type == "llamacpp") for name, spec in settings.backends.items()}
    router = Router(settings, backends, classifier, trace)
    times = []
    for i in range(n):
        request = Request.from_prompt(f"{PROMPTS[i % len(PROMPTS)]} #{i}")  # unique: no classifier cache hits
        t0 = time.perf_counter()
        router.complete(request)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hybrid-bench-"))
    os.environ["HYBRID_HOME"] = str(home)
    paths = Paths.resolve()
    settings = load_settings(paths)
    classifier = load_classifier(settings, paths)
    classifier.score(Request.from_prompt("warm up"))

    rows = []
    traced = overhead(settings, classifier, TraceStore(home / "bench.db"), args.requests)
    untraced = overhead(settings, classifier, NullTrace(), args.requests)
    for label, times in (("routing overhead, trace on", traced), ("routing overhead, trace off", untraced)):
        rows.append((label, f"{statistics.median(times) * 1e3:.2f} ms", f"{percentile(times, 0.99) * 1e3:.2f} ms",
                     f"{len(times) / sum(times):.0f} req/s"))
    ratio = statistics.median(traced) / statistics.median(untraced)

    from models import build_backend

    local = build_backend("smollm2", settings.backends["smollm2"])
    prompt = "Write a short story about a lighthouse keeper."
    request = Request.from_prompt(prompt, max_tokens=args.tokens)
    list(local.stream(request))  # load and warm
    direct, via = [], []
    pinned = load_settings(paths, routing={"tasks": {"write": {"route": "local"}}})
    router = Router(pinned, {"smollm2": local, **{n: InstantBackend(n, False) for n in ("haiku", "sonnet", "opus")}},
                    classifier, TraceStore(home / "bench.db"))
    for i in range(5):
        t0 = time.perf_counter()
        tokens = list(local.stream(Request.from_prompt(f"{prompt} ({i})", max_tokens=args.tokens)))[-1].usage
        direct.append(tokens.output_tokens / (time.perf_counter() - t0))
        c = router.complete(Request.from_prompt(f"{prompt} [{i}]", max_tokens=args.tokens, task="write"))
        via.append(c.usage.output_tokens / c.latency_s)
    rows.append(("SmolLM2 direct", "", "", f"{statistics.median(direct):.0f} tok/s"))
    rows.append(("SmolLM2 via router", "", "", f"{statistics.median(via):.0f} tok/s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'p50':>10}  {'p99':>10}  {'rate':>12}")
    for r in rows:
        print(f"{r[0]:{width}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>12}")
    print(f"\ntrace-on / trace-off median overhead: {ratio:.2f}x")
    print(f"router / direct SmolLM2 throughput: {statistics.median(via) / statistics.median(direct):.2f}x")


if __name__ == "__main__":
    main()
