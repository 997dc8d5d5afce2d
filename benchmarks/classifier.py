"""Benchmark the difficulty classifier: decision latency and routing quality in one run.

    python benchmarks/classifier.py [--data ../shared/data] [--n 300] [--all-cores]

Latency is per decision, features included, on one CPU core (the process is
pinned to one core), over prompts and answers from the sealed test split (see
:mod:`classifiers.latency`, which the build also uses for the data card):

* prompt, cold: ``score(request)`` on a prompt not seen before (tokenise,
  static embedding, text features, model);
* prompt, cached: the same prompt again (the per-instance embedding cache);
* draft: ``score_draft(request, draft)`` (text features + model, no embedding).

Quality: AUC, APGR, CPT(50%), CPT(80%) of the packaged default on the sealed
test split of the AlpacaEval preferences (prompts it never trained on), with
random, prompt-length, answer-shortness and oracle baselines from the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers import evaluate_examples, load_classifier
from classifiers.data import alpacaeval_split, load_alpacaeval
from classifiers.latency import decision_latency, one_core

BUDGET_MS = 5.0
LABELS = {"prompt_cold": "prompt (cold)", "prompt_cached": "prompt (cached)", "draft": "draft"}


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

    rows = load_alpacaeval(args.data / "alpacaeval_preferences.jsonl")
    prompt_ex, draft_ex = alpacaeval_split(rows, ["test"])
    clf = load_classifier(None)
    prompts = [e.prompt for e in prompt_ex]
    with one_core(not args.all_cores):
        times = decision_latency(clf, prompts, [(e.prompt, e.answer) for e in draft_ex], args.n)
    lengths = [clf.embedder.token_count(p) for p in prompts]

    print(
        f"classifier {clf.version}  (one core: {not args.all_cores}; static embedding max_tokens="
        f"{clf.embedder.max_tokens}, prompt tokens p50={int(np.median(lengths))} max={max(lengths)})"
    )
    print(f"\n{'mode':16} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'decisions/s':>11}  p99 < {BUDGET_MS:g} ms")
    for mode, t in times.items():
        print(_row(LABELS[mode], t))

    prompt_report = evaluate_examples(clf, prompt_ex).prompt
    draft_report = evaluate_examples(clf, draft_ex).draft
    print(f"\nrouting quality on the sealed test split ({len(prompt_ex)} prompts, {len(draft_ex)} answers)")
    print(f"{'mode':7} {'scorer':13} {'n':>5} {'AUC':>6} {'APGR':>6} {'CPT50':>6} {'CPT80':>6}")
    for mode in (prompt_report, draft_report):
        for name, r in mode.rows():
            print(f"{mode.mode:7} {name:13} {r.n:5d} {r.auc:6.3f} {r.apgr:6.3f} {r.cpt50:6.3f} {r.cpt80:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
