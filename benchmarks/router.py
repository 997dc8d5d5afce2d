"""Router overhead and local inference speed, side by side in one run.

    python benchmarks/router.py [--requests 200] [--tokens 32] [--threads 1] [--skip-local] [--draft-rounds 6]
                                [--no-sticky]

Rows:
- routing overhead: classify + decide + trace writes around an instant backend (no model time), with the
  trace on and off (``--no-log``), interleaved in rounds, so the cost of logging every step shows as a ratio;
  CPU per request, and how much of the trace's is its writer thread (Linux);
- trace size: bytes on disk per traced request (prompts of realistic length, 400-800 characters);
- SmolLM2-135M through llama.cpp, called directly vs through the router: tokens/s and the router's share;
- cascade agreement: the local time of a request with k=2 drafts vs k=1 (interleaved, drafts always kept, so
  the cloud costs nothing and only local generation is timed).
Runs in a temporary HYBRID_HOME; prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from proxy import cpu_seconds  # benchmarks/proxy.py, beside this script

from hybrid.router import NullTrace, Router
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Chunk, Health, Price, Request, Usage

PADDING = " Context: the customer has been with us for three years and writes in about their invoice." * 5
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


def overhead(router: Router, start: int, n: int, threads: int = 1) -> tuple[list[float], float]:
    """Per-request latencies and the wall time of ``n`` requests sent by ``threads`` callers at once."""

    def one(i: int) -> float:
        request = Request.from_prompt(f"{PROMPTS[i % len(PROMPTS)]} #{i}{PADDING}")  # unique: no classifier cache
        t0 = time.perf_counter()
        router.complete(request)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    if threads == 1:
        times = [one(i) for i in range(start, start + n)]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            times = list(pool.map(one, range(start, start + n)))
    return times, time.perf_counter() - t0


def draft_cost(paths, classifier, local, rounds: int, tokens: int) -> dict[int, list[float]]:
    """Seconds per cascade request with k = 1 and k = 2 local drafts, interleaved round by round."""
    cloud = {n: InstantBackend(n, False) for n in ("haiku", "sonnet", "opus")}
    routers = {
        k: Router(load_settings(paths, routing={"mode": "cascade", "drafts": k, "threshold": 1.0,
                                                "draft_threshold": 1.0}), {"smollm2": local, **cloud},
                  classifier, NullTrace())
        for k in (1, 2)
    }
    times: dict[int, list[float]] = {1: [], 2: []}
    for i in range(rounds):
        for k in ((1, 2) if i % 2 == 0 else (2, 1)):
            c = routers[k].complete(Request.from_prompt(f"{PROMPTS[i % len(PROMPTS)]} ({i})", max_tokens=tokens))
            times[k].append(c.latency_s)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="Concurrent callers (the server's case).")
    parser.add_argument("--skip-local", action="store_true", help="Skip the SmolLM2 rows.")
    parser.add_argument("--draft-rounds", type=int, default=6)
    parser.add_argument("--no-sticky", action="store_true",
                        help="routing.sticky off: no conversation lookup (a trace read) before each route.")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hybrid-bench-"))
    os.environ["HYBRID_HOME"] = str(home)
    paths = Paths.resolve()
    settings = load_settings(paths, routing={"sticky": not args.no_sticky})
    classifier = load_classifier(settings, paths)
    classifier.score(Request.from_prompt("warm up"))

    rows = []
    backends = {name: InstantBackend(name, spec.type == "llamacpp") for name, spec in settings.backends.items()}
    store = TraceStore(home / "bench.db")
    on, off = Router(settings, backends, classifier, store), Router(settings, backends, classifier, NullTrace())
    traced: list[float] = []
    untraced: list[float] = []
    wall = {"on": 0.0, "off": 0.0}
    cpu = {"on": 0.0, "off": 0.0}  # CPU seconds of the whole process (writer thread included): robust to a busy machine
    # a benchmark may look inside: where the trace's CPU goes
    writer_stat = f"/proc/self/task/{store._writer._thread.native_id}/stat"
    writer_cpu = 0.0
    per_round = max(1, args.requests // args.rounds)
    for router in (on, off):  # warm up both alike: lazy imports (the privacy scanner's) must not count as the trace's
        overhead(router, 10**6 + (router is off) * per_round, per_round, args.threads)
    getattr(store, "flush", lambda: None)()
    rounds: list[float] = []  # throughput with the trace on / off, per round
    for r in range(args.rounds):  # interleaved (trace on first, then off first), so machine noise hits both alike
        took = {}
        for key in ("on", "off") if r % 2 == 0 else ("off", "on"):
            c0, w0, k0 = time.process_time(), time.perf_counter(), cpu_seconds(writer_stat)
            times, _ = overhead(on if key == "on" else off, (2 * r + (key == "off")) * per_round, per_round,
                                args.threads)
            if key == "on":
                getattr(store, "flush", lambda: None)()  # the writer's work for this round counts here
            took[key] = time.perf_counter() - w0
            cpu[key] += time.process_time() - c0
            k1 = cpu_seconds(writer_stat)
            writer_cpu += (k1 - k0) if (key == "on" and k0 is not None and k1 is not None) else 0.0
            wall[key] += took[key]
            (traced if key == "on" else untraced).extend(times)
        rounds.append(took["off"] / took["on"])
    t0 = time.perf_counter()
    store.close()  # commits whatever is still queued: counted against the trace
    wall["on"] += time.perf_counter() - t0
    size = sum(p.stat().st_size for p in home.glob("bench.db*"))
    for label, times, key in (("routing overhead, trace on", traced, "on"),
                              ("routing overhead, trace off", untraced, "off")):
        rows.append((label, f"{statistics.median(times) * 1e3:.2f} ms", f"{percentile(times, 0.99) * 1e3:.2f} ms",
                     f"{len(times) / wall[key]:.0f} req/s"))
    rows.append(("CPU per request, trace on", "", "", f"{cpu['on'] / len(traced) * 1e3:.2f} ms"))
    rows.append(("  of which the trace's writer thread", "", "", f"{writer_cpu / len(traced) * 1e3:.2f} ms"))
    rows.append(("CPU per request, trace off", "", "", f"{cpu['off'] / len(untraced) * 1e3:.2f} ms"))
    rows.append(("trace size per request", "", "", f"{size / (len(traced) + per_round):.0f} B"))  # warm-up too
    ratio = statistics.median(traced) / statistics.median(untraced)
    throughput = (len(traced) / wall["on"]) / (len(untraced) / wall["off"])
    summary = (f"\ntrace-on / trace-off median overhead: {ratio:.2f}x; throughput with the trace on: {throughput:.0%} "
               f"of --no-log (by CPU time: {cpu['off'] / cpu['on']:.0%}; median of rounds {statistics.median(rounds):.0%},"
               f" {min(rounds):.0%}-{max(rounds):.0%}; load average {os.getloadavg()[0]:.1f})")
    if args.skip_local:
        _print(rows)
        print(summary)
        return

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
    drafts = draft_cost(paths, classifier, local, args.draft_rounds, args.tokens)
    for k, times in drafts.items():
        rows.append((f"cascade, {k} local draft{'s' if k > 1 else ''}", f"{statistics.median(times):.2f} s",
                     f"{percentile(times, 0.99):.2f} s", f"{len(times) / sum(times):.2f} req/s"))

    _print(rows)
    print(summary)
    print(f"router / direct SmolLM2 throughput: {statistics.median(via) / statistics.median(direct):.2f}x")
    print(f"cascade local time, k=2 / k=1 drafts (median): {statistics.median(drafts[2]) / statistics.median(drafts[1]):.2f}x")


def _print(rows: list[tuple[str, str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'p50':>10}  {'p99':>10}  {'rate':>12}")
    for r in rows:
        print(f"{r[0]:{width}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>12}")


if __name__ == "__main__":
    main()
