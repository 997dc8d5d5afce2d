"""Agreement between drafts of the same question, on real answers from ../shared/data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from classifiers.agreement import agreement
from hybrid.errors import ClassifierError

from .test_checks import (
    NATALIA_GOLD,
    NATALIA_Q,
    SMOL_FRANCE,
    STOCK_MIXTRAL,
    STOCK_Q,
    TAPE_LLAMA,
    TAPE_MIXTRAL,
    TAPE_Q,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# MMLU-Pro mmlupro-137, Llama-3.1-8B's draft (wrong, but it names a letter).
STOCK_LLAMA = (
    " We refer to Wikipedia articles on finance for help. The formula for the fair value of a stock is: P = D1 /"
    " (r - g) where P is the price of the stock, D1 is the dividend in the first year, r is the expected rate of"
    " return, and g is the expected growth rate of the dividend. The answer is (B).\n\n"
)


def test_two_real_drafts_that_agree():
    found = agreement(TAPE_Q, [TAPE_MIXTRAL, TAPE_LLAMA])
    assert (found.agreement, found.keep, found.reason) == (1.0, 0, "2 of 2 drafts answer (F)")
    assert found.answers == ("F", "F")


def test_a_draft_with_no_answer_abstains_and_the_one_with_an_answer_is_kept():
    found = agreement(STOCK_Q, [STOCK_MIXTRAL, STOCK_LLAMA])
    assert (found.agreement, found.keep) == (0.5, 1)
    assert found.reason == "1 of 2 drafts answer (B); 1 states no answer"
    # Two answers that disagree rank above an answer and an abstention, which rank above two that agree.
    disagree = agreement(TAPE_Q, ["The answer is (B).", "The answer is (D)."]).agreement
    agree = agreement(TAPE_Q, ["The answer is (D).", "Answer: D"]).agreement
    assert disagree < found.agreement < agree
    assert agreement(TAPE_Q, ["The answer is (D).", "Answer: D", STOCK_MIXTRAL]).agreement == 0.75


def test_numbers_are_compared_for_word_problems():
    wrong = NATALIA_GOLD.replace("72", "70")
    found = agreement(NATALIA_Q, [NATALIA_GOLD, wrong])
    assert (found.agreement, found.reason) == (0.0, "drafts disagree: 72 vs 70")
    same = agreement(NATALIA_Q, [NATALIA_GOLD, "She sold 24 in May, so 48 + 24 = 72 clips in all."])
    assert (same.agreement, same.reason) == (1.0, "2 of 2 drafts answer 72")


def test_the_majority_draft_is_kept():
    drafts = ["The answer is (B).", "The answer is (D).", "Answer: D"]
    found = agreement(TAPE_Q, drafts)
    assert (found.agreement, found.keep, found.reason) == (0.5, 1, "2 of 3 drafts answer (D)")


def test_json_answers_agree_whatever_the_key_order():
    prompt = "Extract the name and age from this text and return them as JSON: Ann is 31."
    found = agreement(prompt, ['{"name": "Ann", "age": 31}', 'Here you go:\n```json\n{"age": 31, "name": "Ann"}\n```'])
    assert found.agreement == 1.0


def test_open_answers_are_compared_by_similarity():
    # SmolLM2's real answer to "Capital of France?" against two drafts that name the capital.
    drafts = ["The capital of France is Paris.", "Paris is the capital of France.", SMOL_FRANCE]
    found = agreement("Capital of France?", drafts)
    assert found.keep in (0, 1)
    assert found.reason.startswith("drafts are") and found.reason.endswith("similar (word overlap)")
    assert agreement("Capital of France?", drafts[:2]).agreement > agreement("Capital of France?", drafts[1:]).agreement


def test_one_draft_has_nothing_to_compare_and_none_is_an_error():
    assert agreement(TAPE_Q, [TAPE_MIXTRAL]).reason == "one draft: nothing to compare"
    with pytest.raises(ClassifierError, match="at least one draft"):
        agreement(TAPE_Q, [])


def test_when_two_models_agree_the_weak_one_is_right_far_more_often():
    path = DATA / "mmlu_pro_stem.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sets live beside the repository (../shared/data)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][::5]
    weak, second = "Mixtral-8x7B-Instruct-v0.1", "Llama-3.1-8B-Instruct"
    right = {True: [], False: []}
    for row in rows:
        found = agreement(row["prompt"], [row["responses"][weak], row["responses"][second]])
        right[found.agreement == 1.0].append(row["correct"][weak])
    agree, disagree = (sum(v) / len(v) for v in (right[True], right[False]))
    assert agree > disagree + 0.4  # measured on all 5,201 questions: 78% against 17%


def test_of_two_open_answers_the_fuller_is_kept():
    """Two drafts are always equally close to each other; the fuller answer is kept, whichever came first."""
    short = "Paris."
    full = "The capital of France is Paris, on the Seine; it has been the capital for most of the last thousand years."
    assert agreement("Capital of France?", [short, full]).keep == 1
    assert agreement("Capital of France?", [full, short]).keep == 0
    # A multiple-choice question whose drafts name no letter keeps the first: length is no virtue there.
    assert agreement(TAPE_Q, ["I am not sure.", "It could be several of the options, depending on the rate."]).keep == 0
