"""Per-decision latency of a classifier on one CPU core, features included.

Used by ``benchmarks/classifier.py`` and by ``classifiers.build_default``
(which writes the numbers into the data card), so both time the same thing:

* ``prompt_cold``: ``score(request)`` on a prompt not seen before (tokenise,
  embed, text features, model);
* ``prompt_cached``: the same prompt again (the per-instance embedding cache);
* ``draft``: ``score_draft(request, draft)`` (answer checks, text features, models);
* ``two_drafts``: ``assess_drafts`` with a second draft (agreement included), when ``second`` is given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from hybrid.types import Draft, Request

from .difficulty import DifficultyModel


@contextmanager
def one_core(enabled: bool = True) -> Iterator[None]:
    """Pin this process to its lowest-numbered allowed core, and restore the affinity after."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def timings(fn: Callable, items: Iterable, clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """Seconds each ``fn(item)`` took by ``clock`` (wall time, or ``time.thread_time`` for CPU time)."""
    out = []
    for item in items:
        start = clock()
        fn(item)
        out.append(clock() - start)
    return np.asarray(out)


def summary(seconds: np.ndarray) -> dict[str, float]:
    p50, p99 = np.percentile(seconds, [50, 99]) * 1e3
    return {"n": len(seconds), "p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}


def decision_latency(
    classifier: DifficultyModel,
    prompts: Sequence[str],
    drafts: Sequence[tuple[str, str]],
    n: int = 300,
    second: Sequence[str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, np.ndarray]:
    """Timings of ``n`` decisions per mode; cold prompts are made unique by a suffix once ``prompts`` run out.

    ``clock=time.thread_time`` counts CPU time only: on a shared machine it is what one free core would take.
    """
    classifier.score(Request.from_prompt("warm up the embedder"))
    classifier.assess_drafts(Request.from_prompt("Warm up: what is 2+2?"), (Draft("4"), Draft("4")))
    cold = [prompts[i % len(prompts)] + ("" if i < len(prompts) else f" ({i})") for i in range(n)]
    pairs = [(Request.from_prompt(p), Draft(a, "stop")) for p, a in drafts[:n]]
    out = {
        "prompt_cold": timings(lambda p: classifier.score(Request.from_prompt(p)), cold, clock),
        "prompt_cached": timings(lambda p: classifier.score(Request.from_prompt(p)), cold[-min(n, 256) :], clock),
        "draft": timings(lambda pair: classifier.score_draft(*pair), pairs, clock),
    }
    if second is not None:
        triples = [(r, (d, Draft(b, "stop"))) for (r, d), b in zip(pairs, second)]
        out["two_drafts"] = timings(lambda t: classifier.assess_drafts(*t), triples, clock)
    return out
