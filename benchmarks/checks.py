"""Benchmark the answer checks and draft agreement: false alarms, hits, speed, and routing quality.

    python benchmarks/checks.py [--data ../shared/data] [--n 0] [--timed 300] [--all-cores]

1. Per check, on known-good answers (false alarms, goal <= 2%): the GSM8K gold solutions and the MMLU-Pro
   drafts marked correct. On bad drafts (hits): MMLU-Pro drafts marked incorrect, and corrupted copies of
   GSM8K gold: one stated result changed (annotations stripped, so it reads like a model's text), the text
   cut at a random word between 30% and 80%, the final ``#### N`` line dropped.
   MMLU-Pro's scorer guesses a random letter when it cannot parse one, so some "correct" drafts are lucky
   guesses that state no answer; their count is printed beside the table.
2. Speed: ``run_checks`` per decision on one core (p50/p99), on real MMLU-Pro prompt/draft pairs and on
   20,000-character prompts and answers (prose, worked maths, one Python block, a loop).
3. Agreement on MMLU-Pro, where Mixtral-8x7B and Llama-3.1-8B both answered every question: how well each
   score ranks the questions for escalation, as APGR with weak = Mixtral's correctness and strong =
   gemini-1.5-pro's (keep local = Mixtral right; escalate = gemini right; random = 0.5).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.agreement import agreement
from classifiers.checks import CHECK_NAMES, run_checks
from classifiers.checks.extract import final_letter
from classifiers.checks.prompt_kind import option_letters
from classifiers.latency import one_core
from classifiers.metrics import apgr

WEAK, SECOND, STRONG = "Mixtral-8x7B-Instruct-v0.1", "Llama-3.1-8B-Instruct", "gemini-1.5-pro-002"
BUDGET_MS = 5.0
BIG = 20_000
SEED = 7

_ANNOTATION = re.compile(r"<<[^>]*>>")
_STATED = re.compile(r"=[ \t]*\$?(\d[\d,]*(?:\.\d+)?)")


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# -- corrupted GSM8K gold ------------------------------------------------------------------------------------


def changed_result(answer: str, rng: random.Random) -> str | None:
    """The solution, annotations stripped, with one stated result ("= 24") changed by a small amount."""
    text = _ANNOTATION.sub("", answer)
    stated = list(_STATED.finditer(text))
    if not stated:
        return None
    match = rng.choice(stated)
    value = float(match.group(1).replace(",", ""))
    wrong = value + rng.choice((1, 2, 3, 5, 10)) * rng.choice((1, -1) if value > 10 else (1,))
    shown = str(int(wrong)) if wrong == int(wrong) else f"{wrong:.2f}"
    return text[: match.start(1)] + shown + text[match.end(1) :]


def cut_text(answer: str, rng: random.Random) -> str:
    """The solution cut at a word boundary between 30% and 80% of its length (as a token limit would)."""
    lo, hi = int(len(answer) * 0.3), int(len(answer) * 0.8)
    spaces = [m.start() for m in re.finditer(r"\s", answer[lo:hi])]
    return answer[: lo + (rng.choice(spaces) if spaces else 0)]


def dropped_final_line(answer: str) -> str:
    return answer.rsplit("\n####", 1)[0]


# -- tables ----------------------------------------------------------------------------------------------------


def fire_counts(pairs: list[tuple[str, str]]) -> dict[str, int]:
    counts = dict.fromkeys((*CHECK_NAMES, "any"), 0)
    for prompt, answer in pairs:
        results = run_checks(prompt, answer)
        for r in results:
            counts[r.name] += r.fired
        counts["any"] += any(r.fired for r in results)
    return counts


def _cell(count: int, n: int) -> str:
    return f"{count:5d} {count / n:6.1%}" if n else "    -      -"


def print_check_table(columns: dict[str, list[tuple[str, str]]]) -> None:
    counts = {name: fire_counts(pairs) for name, pairs in columns.items()}
    print("  ".join([f"{'check':18}"] + [f"{name:>12}" for name in columns]))
    print("  ".join([" " * 13] + [f"{'n=' + str(len(pairs)):>12}" for pairs in columns.values()]))
    for check in (*CHECK_NAMES, "any"):
        print("  ".join([f"{check:18}"] + [_cell(counts[name][check], len(pairs)) for name, pairs in columns.items()]))


# -- speed -----------------------------------------------------------------------------------------------------


def _fill(parts: list[str], size: int) -> str:
    out, i = [], 0
    while sum(map(len, out)) < size:
        out.append(parts[i % len(parts)])
        i += 1
    return "\n\n".join(out)[:size]


def timing_sets(mmlu: list[dict], gsm: list[dict], n: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    real = [(r["prompt"], r["responses"][WEAK]) for r in rng.sample(mmlu, min(n, len(mmlu)))]
    prose = [r["responses"][SECOND] for r in mmlu[:400]]
    maths = [g["answer"] for g in gsm[:400]]
    code_lines = [
        f"def f{i}(x):\n    total = 0\n    for k in range(x):\n        total += k * {i}\n    return total\n"
        for i in range(600)
    ]
    prompts = [r["prompt"] for r in mmlu[:300]]
    k = max(10, n // 10)
    # Every 20k prompt differs (prompt kinds are cached per prompt, as within one real decision).
    big = [_fill(prompts[i:], BIG) for i in range(k)]
    return {
        "MMLU-Pro drafts": real,
        "20k prose": [(big[i], _fill(prose[i:], BIG)) for i in range(k)],
        "20k maths": [(_fill([g["question"] for g in gsm[i:]], BIG), _fill(maths[i:], BIG)) for i in range(k)],
        "20k python": [(big[i], "```python\n" + _fill(code_lines[i:], BIG - 20) + "\n```") for i in range(k)],
        "20k loop": [(big[i], _fill([f"The answer is the same as step {i}. "], BIG)) for i in range(k)],
    }


def print_timing(sets: dict[str, list[tuple[str, str]]]) -> None:
    """CPU time per decision (the process's own work) and wall time (what a caller waits, on a shared machine)."""
    print(
        f"{'texts':16} {'n':>5} {'cpu p50':>8} {'cpu p99':>8} {'wall p50':>9} {'wall p99':>9}  (ms; budget p99 {BUDGET_MS:.0f})"
    )
    for name, pairs in sets.items():
        cpu, wall = [], []
        for prompt, answer in pairs:
            start_cpu, start = time.thread_time(), time.perf_counter()
            run_checks(prompt, answer, "stop")
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
        c50, c99 = np.percentile(cpu, [50, 99]) * 1e3
        w50, w99 = np.percentile(wall, [50, 99]) * 1e3
        verdict = "ok" if c99 < BUDGET_MS else "OVER"
        print(f"{name:16} {len(pairs):5d} {c50:8.3f} {c99:8.3f} {w50:9.3f} {w99:9.3f}  {verdict}")


# -- agreement ------------------------------------------------------------------------------------------------


def print_agreement(mmlu: list[dict]) -> None:
    rows = [r for r in mmlu if WEAK in r["responses"] and SECOND in r["responses"]]
    weak = np.array([r["correct"][WEAK] for r in rows], dtype=float)
    strong = np.array([r["correct"][STRONG] for r in rows], dtype=float)
    gains = strong - weak
    disagreement = np.array(
        [1.0 - agreement(r["prompt"], [r["responses"][WEAK], r["responses"][SECOND]]).agreement for r in rows]
    )
    fired = np.array([sum(c.fired for c in run_checks(r["prompt"], r["responses"][WEAK])) for r in rows], dtype=float)
    length = np.array([len(r["prompt"]) for r in rows], dtype=float)
    scores = {
        "random (expected)": np.zeros(len(rows)),
        "prompt length": length,
        "checks (count fired)": fired,
        "disagreement": disagreement,
        "checks, then disagreement": 2.0 * fired + disagreement,
        "any check, then disagreement": 2.0 * (fired > 0) + disagreement,
        "oracle": gains,
    }
    print(
        f"MMLU-Pro, n={len(rows)}: weak {WEAK} ({weak.mean():.2f} right), strong {STRONG} ({strong.mean():.2f}),"
        f" second draft {SECOND}"
    )
    print(f"{'score':30} {'APGR':>6}")
    for name, s in scores.items():
        print(f"{name:30} {apgr(s, gains):6.3f}")
    agree = disagreement == 0.0
    print(
        f"drafts agree on {agree.mean():.0%} of questions; Mixtral is right on {weak[agree].mean():.0%} of those"
        f" and on {weak[~agree].mean():.0%} of the rest"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=0, help="items per set (0: all)")
    parser.add_argument("--timed", type=int, default=300, help="real decisions timed")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args(argv)

    rng = random.Random(SEED)
    gsm = _read(args.data / "gsm8k_train.jsonl.gz")
    mmlu = _read(args.data / "mmlu_pro_stem.jsonl.gz")
    if args.n:
        gsm, mmlu = rng.sample(gsm, min(args.n, len(gsm))), rng.sample(mmlu, min(args.n, len(mmlu)))

    drafts = [(r, m) for r in mmlu for m in (WEAK, SECOND) if m in r["responses"]]
    good = [(r["prompt"], r["responses"][m]) for r, m in drafts if r["correct"][m]]
    bad = [(r["prompt"], r["responses"][m]) for r, m in drafts if not r["correct"][m]]
    lucky = sum(final_letter(a, option_letters(p) or "ABCDEFGHIJ") is None for p, a in good)
    changed = [(g["question"], c) for g in gsm if (c := changed_result(g["answer"], rng)) is not None]
    columns = {
        "gsm8k gold": [(g["question"], g["answer"]) for g in gsm],
        "mmlu correct": good,
        "mmlu wrong": bad,
        "gsm8k +changed": changed,
        "gsm8k cut": [(g["question"], cut_text(g["answer"], rng)) for g in gsm],
        "gsm8k -final": [(g["question"], dropped_final_line(g["answer"])) for g in gsm],
    }
    print("== checks: alarms per set (count, rate); the first two columns are known-good answers (goal <= 2%)")
    print_check_table(columns)
    print(
        f"({lucky} of the {len(good)} 'correct' MMLU-Pro drafts state no letter: the scorer's random guess was right)"
    )
    print()
    print("== speed of run_checks (all checks, one decision)")
    with one_core(not args.all_cores):
        print_timing(timing_sets(mmlu, gsm, args.timed, rng))
    print()
    print("== agreement between two drafts, as a routing score")
    print_agreement(mmlu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
