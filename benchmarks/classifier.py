"""Benchmark the difficulty classifier's decision latency on one CPU core, answer checks included.

    python benchmarks/classifier.py [--data ../shared/data] [--n 300] [--all-cores]

Per decision, features included, the process pinned to one core (see
:mod:`classifiers.latency`, which the build also uses for the data card):

* prompt, cold: ``score(request)`` on a prompt not seen before;
* prompt, cached: the same prompt again (the per-instance embedding cache);
* draft: ``score_draft(request, draft)``: the answer checks, the learned answer
  score and the prompt prior, on real answers (MMLU-Pro Mixtral answers,
  GSM8K-derived drafts and AlpacaEval answers, interleaved);
* two drafts: ``assess_drafts`` with a second answer (agreement included; the
  local generation of that second draft is not counted here).

Routing quality lives in ``benchmarks/routing.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers import load_classifier
from classifiers.datasets import load_set
from classifiers.latency import decision_latency, one_core

BUDGET_MS = 5.0
LABELS = {
    "prompt_cold": "prompt (cold)",
    "prompt_cached": "prompt (cached)",
    "draft": "draft",
    "two_drafts": "two drafts",
}


def _row(name: str, t: np.ndarray) -> str:
    p50, p99 = np.percentile(t, [50, 99]) * 1e3
    verdict = "ok" if p99 < BUDGET_MS else "OVER"
    return f"{name:16} {len(t):6d} {p50:8.2f} {p99:8.2f} {1.0 / t.mean():11.0f}  {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=300, help="decisions timed per mode")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args(argv)

    sets = [load_set(name, args.data, second_draft=True) for name in ("mmlu_pro", "gsm8k", "alpacaeval")]
    drafts = [e for group in zip(*(s.drafts[:: max(len(s.drafts) // args.n, 1)] for s in sets)) for e in group]
    prompts = [e.prompt for s in sets for e in s.prompts[:: max(len(s.prompts) // args.n, 1)]]
    clf = load_classifier(None)
    pairs = [(e.prompt, e.answer) for e in drafts]
    second = [e.answers[0] if e.answers else e.answer for e in drafts]
    with one_core(not args.all_cores):
        wall = decision_latency(clf, prompts, pairs, args.n, second=second)
        cpu = decision_latency(clf, prompts, pairs, args.n, second=second, clock=time.thread_time)

    print(f"classifier {clf.version}  (one core: {not args.all_cores}; answer checks included; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for title, times in (("wall time", wall), ("CPU time (what one free core takes)", cpu)):
        print(f"\n{title}\n{'mode':16} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'decisions/s':>11}  p99 < {BUDGET_MS:g} ms")
        for mode, t in times.items():
            print(_row(LABELS[mode], t))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
