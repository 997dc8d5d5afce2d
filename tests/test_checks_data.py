"""False alarms of each answer check on known-good answers from ../shared/data stay at or under 2%.

Known-good, on a fixed sample (every 4th GSM8K gold solution, the MMLU-Pro drafts of every 3rd question that are
marked correct; ``benchmarks/checks.py`` measures all of them).
MMLU-Pro's scorer guesses a random letter when it cannot parse one, so a few "correct" drafts are lucky
guesses that loop or break off; they count here as false alarms, which makes the bound conservative.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from classifiers.checks import CHECK_NAMES, run_checks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MAX_FALSE_ALARMS = 0.02
GSM8K_STEP, MMLU_STEP = 4, 3


def _read(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sets live beside the repository (../shared/data)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def alarm_rates() -> dict[str, dict[str, float]]:
    gold = [(g["question"], g["answer"]) for g in _read("gsm8k_train.jsonl.gz")[::GSM8K_STEP]]
    good = [
        (row["prompt"], text)
        for row in _read("mmlu_pro_stem.jsonl.gz")[::MMLU_STEP]
        for model, text in row["responses"].items()
        if row["correct"][model]
    ]
    rates = {}
    for name, pairs in (("gsm8k gold", gold), ("mmlu correct", good)):
        counts = dict.fromkeys(CHECK_NAMES, 0)
        for prompt, answer in pairs:
            for result in run_checks(prompt, answer):
                counts[result.name] += result.fired
        rates[name] = {check: n / len(pairs) for check, n in counts.items()}
    return rates


@pytest.mark.parametrize("check", CHECK_NAMES)
@pytest.mark.parametrize("known_good", ["gsm8k gold", "mmlu correct"])
def test_false_alarms_at_most_two_percent(alarm_rates, known_good, check):
    assert alarm_rates[known_good][check] <= MAX_FALSE_ALARMS
