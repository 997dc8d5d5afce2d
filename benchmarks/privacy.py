"""How often a clean prompt is flagged local-only: the privacy scan's false-alarm rate on the shared prompts.

    python benchmarks/privacy.py [--data ../shared/data] [--limit 0] [--show 5]

The shared prompts (AlpacaEval, MT-bench turns, Arena-hard, MMLU-Pro, GSM8K questions) are public benchmark
text: none holds a real secret or a real person's contact data, so every flag is a false alarm. Prints, per
set, the prompts scanned, the ones flagged, the rate and the scan time per prompt, then what fired (the
labels, never the text). The goal is under 1% on every set. Asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from hybrid.privacy import PrivacyScanner
from hybrid.settings import PrivacySettings
from hybrid.types import Request

SETS = {
    "alpacaeval": ("alpacaeval_preferences.jsonl", lambda row: [row["prompt"]]),
    "mt_bench": ("mt_bench_questions.jsonl", lambda row: list(row["turns"])),
    "arena_hard": ("arena_hard_v0.1_prompts.jsonl", lambda row: [row["prompt"]]),
    "mmlu_pro": ("mmlu_pro_stem.jsonl.gz", lambda row: [row["prompt"]]),
    "gsm8k": ("gsm8k_train.jsonl.gz", lambda row: [row["question"]]),
}


def prompts(path: Path, pick) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield from pick(json.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--limit", type=int, default=0, help="Prompts per set (0: all).")
    parser.add_argument("--show", type=int, default=5, help="How many flagged prompts to name (id and labels).")
    args = parser.parse_args()
    scanner = PrivacyScanner(PrivacySettings())
    print(f"{'set':12} {'prompts':>8} {'flagged':>8} {'rate':>7} {'ms/prompt':>10}")
    total = flagged_total = 0
    shown: list[str] = []
    fired: Counter[str] = Counter()
    for name, (file, pick) in SETS.items():
        path = args.data / file
        if not path.exists():
            print(f"{name:12} missing: {path}")
            continue
        n = flagged = 0
        t0 = time.perf_counter()
        for i, text in enumerate(prompts(path, pick)):
            if args.limit and i >= args.limit:
                break
            n += 1
            verdict = scanner.verdict(Request.from_prompt(text))
            if verdict.local_only:
                flagged += 1
                fired.update(f.label for f in verdict.findings)
                if len(shown) < args.show:
                    shown.append(f"{name} #{i}: {verdict.describe()}")
        elapsed = time.perf_counter() - t0
        total, flagged_total = total + n, flagged_total + flagged
        print(f"{name:12} {n:8d} {flagged:8d} {flagged / max(n, 1):7.2%} {elapsed / max(n, 1) * 1000:10.2f}")
    print(f"{'all':12} {total:8d} {flagged_total:8d} {flagged_total / max(total, 1):7.2%}")
    if fired:
        print("what fired: " + ", ".join(f"{label} {count}" for label, count in fired.most_common()))
    for line in shown:
        print("  " + line)


if __name__ == "__main__":
    main()
