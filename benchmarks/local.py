"""The local path against its anchors, side by side and interleaved, in one run.

    python benchmarks/local.py [--trials 9] [--tokens 32] [--decisions 200]

Rows, each measured against its anchor in alternation so a busy machine slows both alike:
1. one-shot `hybrid ask` (a fresh process: imports, settings, classifier, model load, answer, trace) vs a bare
   llama-cpp-python script answering the same prompt with the same threads; wall time, goal <= 1.3x. Twice:
   in this shell's environment as it is (where PYTHONDONTWRITEBYTECODE=1, every run compiles hybrid's own
   modules, about 270 KB of source, while the bare script's imports come precompiled from site-packages), and
   with bytecode caches for both, as a pip-installed hybrid has them (a temporary PYTHONPYCACHEPREFIX). CPU
   time (user + system) is shown beside: on a shared machine it moves less with the load than wall time;
2. llama.cpp threads: SmolLM2 tokens/s with 1 thread, the default (half the cores, at most 4) and all cores;
3. routing decision latency (classifier + policy) at 50, 2,000 and 20,000 characters, direct mode (prompt
   score) and cascade mode (prompt score, then the draft's); goal p99 <= 5 ms at 20,000;
4. generation through the router vs the same model called bare: tokens/s (goal >= 0.97x) and time to first
   token (goal within 2 ms), and the router's own time before the first token around an instant model.
Runs in a temporary HYBRID_HOME; prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from router import InstantBackend, percentile  # benchmarks/router.py, beside this script

from hybrid.backends import build_backend
from hybrid.events import Done, Failed, TextDelta
from hybrid.router import NullTrace, Router
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Draft, Health, Request
from models.llamacpp import default_threads, shipped_model_path

PROMPT = "Name three colours of the rainbow."
BARE_SCRIPT = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=2048, n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[2]),
            verbose=False)
for part in llm.create_chat_completion([{"role": "user", "content": sys.argv[3]}], max_tokens=int(sys.argv[4]),
                                       temperature=0.0, stream=True):
    print(part["choices"][0]["delta"].get("content", ""), end="", flush=True)
print()
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _children_cpu() - c0


def one_shot(home: Path, trials: int, tokens: int) -> list[tuple]:
    gguf, threads = str(shipped_model_path()), str(default_threads())
    as_is = {**os.environ, "HYBRID_HOME": str(home)}
    cached = {k: v for k, v in as_is.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    hybrid = [sys.executable, "-m", "hybrid.cli", "ask", "--no-cache", "--max-tokens", str(tokens), PROMPT]
    bare = [sys.executable, "-c", BARE_SCRIPT, gguf, threads, PROMPT, str(tokens)]
    conditions = {"as is": as_is, "bytecode cached": cached}
    for env in conditions.values():
        timed_run(hybrid, env), timed_run(bare, env)  # warm the page cache (and write the bytecode caches)
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {(c, w): [] for c in conditions for w in ("bare", "hybrid")}
    for _ in range(trials):
        for condition, env in conditions.items():
            runs[condition, "bare"].append(timed_run(bare, env))
            runs[condition, "hybrid"].append(timed_run(hybrid, env))
    rows = []
    for condition in conditions:
        (direct, direct_cpu), (via, via_cpu) = (
            (statistics.median(w for w, _ in runs[condition, who]), statistics.median(c for _, c in runs[condition, who]))
            for who in ("bare", "hybrid")
        )
        rows += [(f"one-shot ({condition}): bare llama-cpp-python script", f"{direct:.2f} s", "", f"CPU {direct_cpu:.2f} s"),
                 (f"one-shot ({condition}): hybrid ask", f"{via:.2f} s", "",
                  f"{via / direct:.2f}x bare (goal <= 1.3x); CPU {via_cpu:.2f} s, {via_cpu / direct_cpu:.2f}x")]
    return rows


def threads(trials: int, tokens: int) -> list[tuple]:
    from models.llamacpp import LlamaCppBackend

    counts = sorted({1, default_threads(), os.cpu_count() or 1})
    backends = {n: LlamaCppBackend(f"t{n}", path=shipped_model_path(), n_threads=n) for n in counts}
    rates: dict[int, list[float]] = {n: [] for n in counts}
    for i in range(trials + 1):
        for n, backend in backends.items():
            t0 = time.perf_counter()
            final = list(backend.stream(Request.from_prompt(f"{PROMPT} ({i})", max_tokens=tokens)))[-1]
            if i:  # the first round loads the models
                rates[n].append(final.usage.output_tokens / (time.perf_counter() - t0))
    best = max(statistics.median(r) for r in rates.values())
    rows = []
    for n in counts:
        label = f"llama.cpp n_threads={n}" + (" (default)" if n == default_threads() else "")
        rate = statistics.median(rates[n])
        rows.append((label, "", "", f"{rate:.0f} tok/s ({rate / best:.2f}x best)"))
    return rows


def decisions(settings, classifier, n: int) -> list[tuple]:
    router = Router(settings, {}, classifier, NullTrace())
    health = {name: Health(True, "bench") for name in settings.backends}
    draft = Draft("Red, orange and yellow. " * 8, "stop")
    rows = []
    for size in (50, 2000, 20000):
        body = ("Explain the difference between a list and a tuple in Python, with examples. " * 300)[:size]
        direct, cascade = [], []
        for i in range(n):
            request = Request.from_prompt(f"{i} {body}")  # unique text: no embedding cache hits
            t0 = time.perf_counter()
            score = classifier.score(request)
            router.policy.decide(request, score, classifier.threshold, health)
            t1 = time.perf_counter()
            classifier.assess_drafts(request, (draft,))
            t2 = time.perf_counter()
            direct.append(t1 - t0)
            cascade.append(t2 - t0)
        for mode, times in (("direct", direct), ("cascade", cascade)):
            goal = " (goal p99 <= 5 ms)" if size == 20000 else ""
            rows.append((f"decision, {mode}, {size:,} chars", f"{statistics.median(times) * 1e3:.2f} ms",
                         f"{percentile(times, 0.99) * 1e3:.2f} ms", goal.strip()))
    return rows


def generation(settings, classifier, home: Path, trials: int, tokens: int) -> list[tuple]:
    from llama_cpp import Llama

    local = build_backend("smollm2", settings.backends["smollm2"])
    others = {name: build_backend(name, settings.backends[name]) for name in ("haiku", "sonnet", "opus")}
    router = Router(settings, {"smollm2": local, **others}, classifier, TraceStore(home / "bench.db"))

    def run_bare(prompt: str) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        first, count = None, 0
        for part in bare.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=tokens,
                                                temperature=0.0, stream=True):
            if part["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
                count += 1
        return first - t0, time.perf_counter() - t0, count

    def run_router(prompt: str) -> tuple[float, float, int]:
        t0, first, count = time.perf_counter(), None, 0
        for event in router.run(Request.from_prompt(prompt, max_tokens=tokens)):  # streamed, as `hybrid ask` does
            if isinstance(event, TextDelta):
                first = first or time.perf_counter()
                count += 1  # pieces of text, counted as the bare side counts them
            elif isinstance(event, Done):
                return first - t0, time.perf_counter() - t0, count
            elif isinstance(event, Failed):
                raise event.error
        raise RuntimeError("the router's event stream ended without an answer")

    def router_own_ttft() -> float:
        """The router's own time before the first token (classify, decide, trace writes), around an instant model."""
        backends = {"smollm2": InstantBackend("smollm2", True), **others}
        instant = Router(settings, backends, classifier, TraceStore(home / "own.db"))
        times = []
        for i in range(200):
            t0, first = time.perf_counter(), None
            for event in instant.run(Request.from_prompt(f"{PROMPT} {i}")):
                if isinstance(event, TextDelta) and first is None:
                    first = time.perf_counter()
            times.append(first - t0)
        instant.close()
        return statistics.median(times), percentile(times, 0.99)

    own_p50, own_p99 = router_own_ttft()
    run_router(PROMPT)  # loads the backend's model
    # Bare is the very Llama object the router's backend holds: same weights, same memory, same KV cache, so the
    # difference is the router and the backend around it, not two model instances placed differently in memory.
    bare = local._llm
    assert isinstance(bare, Llama)
    run_bare(PROMPT)
    ttft = {"bare": [], "router": []}
    rate = {"bare": [], "router": []}
    for i in range(trials):
        order = (("bare", run_bare), ("router", run_router))
        for label, fn in order if i % 2 == 0 else order[::-1]:  # who goes first alternates
            first, total, count = fn(f"{PROMPT} ({i}{label[0]})")  # neither reuses the other's whole prompt
            ttft[label].append(first)
            rate[label].append(count / total)
    router.close()
    r_rate = statistics.median(rate["router"]) / statistics.median(rate["bare"])
    d_ttft = (statistics.median(ttft["router"]) - statistics.median(ttft["bare"])) * 1e3
    return [
        ("generation: bare llama-cpp-python", f"{statistics.median(ttft['bare']) * 1e3:.1f} ms TTFT", "",
         f"{statistics.median(rate['bare']):.0f} tok/s"),
        ("generation: through the router", f"{statistics.median(ttft['router']) * 1e3:.1f} ms TTFT", "",
         f"{statistics.median(rate['router']):.0f} tok/s"),
        ("generation: router vs bare", f"{d_ttft:+.1f} ms TTFT", "",
         f"{r_rate:.2f}x tok/s (goal >= 0.97x, TTFT within 2 ms)"),
        ("router's own time to first token", f"{own_p50 * 1e3:.2f} ms", f"{own_p99 * 1e3:.2f} ms",
         "classify + decide + trace writes, instant model"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=9,
                        help="runs of each side per measure (medians; more = steadier)")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--only", choices=["oneshot", "threads", "decision", "generation"], default=None)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hybrid-bench-"))
    os.environ["HYBRID_HOME"] = str(home)
    paths = Paths.resolve()
    settings = load_settings(paths)
    classifier = load_classifier(settings, paths)
    classifier.score(Request.from_prompt("warm up"))

    rows: list[tuple] = []
    if args.only in (None, "oneshot"):
        rows += one_shot(home, args.trials, args.tokens)
    if args.only in (None, "threads"):
        rows += threads(args.trials, args.tokens)
    if args.only in (None, "decision"):
        rows += decisions(settings, classifier, args.decisions)
    if args.only in (None, "generation"):
        rows += generation(settings, classifier, home, args.trials, args.tokens)

    width = max(len(r[0]) for r in rows)
    print(f"{os.cpu_count()} logical cores; default llama.cpp threads {default_threads()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"| {'measure':{width}} | {'p50 / value':>14} | {'p99':>9} | result |")
    print(f"|{'-' * (width + 2)}|{'-' * 16}|{'-' * 11}|--------|")
    for r in rows:
        print(f"| {r[0]:{width}} | {r[1]:>14} | {r[2]:>9} | {r[3]} |")


if __name__ == "__main__":
    main()
