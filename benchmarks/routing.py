"""The routing evaluation suite: every mode on every labelled shared set, with leave-one-set-out runs.

    python benchmarks/routing.py [--data ../shared/data] [--sets mmlu_pro,gsm8k,alpacaeval] [--limit N]
                                 [--no-leave-out]

Prints APGR, CPT(50%) and CPT(80%) tables (Markdown): for each set and mode
(prompt-only; answer-aware with one draft; with a second cheap model's answer
as a second draft where the set has one), the packaged default and a model
refitted without that set (``smollm2_gsm8k``, real drafts of the shipped local
model, is only ever tested on), beside random, prompt length, shorter answer and
the oracle. A second table gives one draft per source (AlpacaEval's six small
models, MMLU-Pro's three origins of questions), each source's drafts alone: a
deployment ranks one local model's drafts. Scores go
through the same code as the router and ``hybrid classify`` (see
:mod:`classifiers.suite`). ``--limit`` samples N items per set
and mode for a quick look.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.datasets import smollm2_path
from classifiers.store import load_packaged
from classifiers.suite import SETS, never_below_prompt_length, run_suite, table, table_by_source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, from " + ", ".join(SETS))
    parser.add_argument("--limit", type=int, default=None, help="items per set and mode (an even sample)")
    parser.add_argument("--no-leave-out", action="store_true", help="score the packaged default only")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    names = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    if "smollm2_gsm8k" in names and not smollm2_path().is_file():
        names = tuple(n for n in names if n != "smollm2_gsm8k")  # generate it with benchmarks/smollm2_drafts.py
    rows = run_suite(args.data, names, limit=args.limit, leave_out=not args.no_leave_out,
                     say=lambda text: print(f"[{time.perf_counter() - start:5.0f}s] {text}", file=sys.stderr))
    print(f"classifier {load_packaged().version}; 'left out' = refitted on the other sets, tested on this one\n")
    for metric, title in (("apgr", "APGR (higher is better; random 0.5)"),
                          ("cpt50", "CPT(50%): share escalated to recover half the gap (lower is better)"),
                          ("cpt80", "CPT(80%) (lower is better)")):
        print(f"{title}\n{table(rows, metric)}\n")
    if any(row.by_source for row in rows):
        print("APGR with one draft, by source: each small model's drafts (AlpacaEval) or each origin of the "
              "questions (MMLU-Pro) alone; a deployment ranks one local model's drafts, and the oracle column is "
              f"the most any scorer can reach there\n{table_by_source(rows)}\n")
    below = never_below_prompt_length(rows, "left out") + never_below_prompt_length(rows, "default")
    print("prompt-only below prompt length: " + ("; ".join(below) if below else "nowhere"))
    print(f"\n{time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
