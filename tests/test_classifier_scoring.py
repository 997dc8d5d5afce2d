"""One scoring path: classify, eval and the cascade give the same score; checks and disagreement come first."""

from __future__ import annotations

import json

import pytest

from classifiers import DraftRules, classify_file, load_classifier
from classifiers.data import read_labels
from classifiers.evaluation import draft_scores, prompt_scores
from classifiers.scoring import verdict
from hybrid.types import CheckResult, Draft, Request

MATHS = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
RIGHT = "In May she sold 48/2 = 24 clips.\nAltogether she sold 48 + 24 = 72 clips.\nThe answer is 72."
MISCOMPUTED = "In May she sold 48/2 = 26 clips.\nAltogether she sold 48 + 26 = 74 clips.\nThe answer is 74."
OTHER = "In May she sold 48 clips.\nAltogether she sold 48 + 48 = 96 clips.\nThe answer is 96."


@pytest.fixture(scope="module")
def clf():
    return load_classifier(None)


LINES = [
    {"id": "prompt-only", "prompt": MATHS, "label": 0},
    {"id": "one", "prompt": MATHS, "answer": RIGHT, "label": 0},
    {"id": "cut", "prompt": MATHS, "answer": RIGHT[:40], "finish_reason": "length", "label": 1},
    {"id": "two", "prompt": MATHS, "answer": RIGHT, "answers": [OTHER], "label": 1},
]


def test_classify_eval_and_the_cascade_give_the_same_score(tmp_path, clf):
    src = tmp_path / "lines.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    classified = {r.id: r.score for r in classify_file(clf, src).results}
    examples, errors = read_labels(src)
    assert errors == []
    evaluated_prompt = prompt_scores(clf, examples[:1])
    evaluated_drafts = draft_scores(clf, examples[1:])
    request = Request.from_prompt(MATHS)
    assert classified["prompt-only"] == pytest.approx(clf.score(request)) == pytest.approx(evaluated_prompt[0])
    for line, evaluated in zip(LINES[1:], evaluated_drafts):
        drafts = (Draft(line["answer"], line.get("finish_reason")), *(Draft(a) for a in line.get("answers", [])))
        routed = clf.assess_drafts(request, drafts).score
        assert classified[line["id"]] == pytest.approx(routed) == pytest.approx(evaluated), line["id"]
    assert classified["one"] == pytest.approx(clf.score_draft(request, Draft(RIGHT)))


def test_a_fired_check_dominates_and_gives_its_reason(clf):
    request = Request.from_prompt(MATHS)
    clean = clf.assess_drafts(request, (Draft(RIGHT, "stop"),))
    wrong = clf.assess_drafts(request, (Draft(MISCOMPUTED, "stop"),))
    assert not clean.fired and clean.score < DraftRules().check_floor
    assert [c.name for c in wrong.fired] == ["arithmetic"]
    assert wrong.score >= DraftRules().check_floor > clean.score
    assert "48/2" in wrong.reasons[0] and "24" in wrong.reasons[0]


def test_disagreeing_drafts_raise_the_score_and_the_majority_is_kept(clf):
    request = Request.from_prompt(MATHS)
    agree = clf.assess_drafts(request, (Draft(RIGHT), Draft(RIGHT.replace("sold", "sells"))))
    disagree = clf.assess_drafts(request, (Draft(RIGHT), Draft(OTHER)))
    assert agree.agreement == pytest.approx(1.0) and disagree.agreement == pytest.approx(0.0)
    assert disagree.score > agree.score + 0.2
    assert any("disagree" in r for r in disagree.reasons)
    three = clf.assess_drafts(request, (Draft(OTHER), Draft(RIGHT), Draft(RIGHT.replace("sold", "sells"))))
    assert three.keep in (1, 2)


def test_disagreement_outranks_the_learned_score_with_and_without_a_fired_check():
    rules = DraftRules()
    cut = (CheckResult("truncated", True, "draft cut off"),)
    for checks in ((), cut):
        sure_but_split = verdict(0.0, checks, 0.0, 0, "drafts disagree", rules)
        doubtful_but_agreed = verdict(1.0, checks, 1.0, 0, "drafts agree", rules)
        assert sure_but_split.score > doubtful_but_agreed.score
    assert verdict(0.0, cut, 1.0, 0, "", rules).score >= rules.check_floor > verdict(0.9, (), 0.0, 0, "", rules).score
    one_draft = [verdict(b, (), None, 0, "", rules).score for b in (0.2, 0.6)]
    assert one_draft == pytest.approx([rules.check_floor * 0.2, rules.check_floor * 0.6])


def test_prompt_only_never_ranks_below_prompt_length_on_a_left_out_set():
    from pathlib import Path

    from classifiers.suite import never_below_prompt_length, run_suite

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "mmlu_pro_stem.jsonl.gz").is_file():
        pytest.skip(f"the shared data is not at {data}")
    rows = run_suite(data, ("mmlu_pro", "alpacaeval"), limit=400, only=("prompt",))
    assert {(r.dataset, r.mode) for r in rows} == {("mmlu_pro", "prompt"), ("alpacaeval", "prompt")}
    assert never_below_prompt_length(rows, "left out", slack=0.005) == []
    assert never_below_prompt_length(rows, "default", slack=0.005) == []


def test_real_smollm2_drafts_that_fail_a_check_are_rejected_with_its_reason(clf):
    from classifiers.datasets import smollm2_gsm8k

    examples = smollm2_gsm8k().drafts
    verdicts = [clf.assess(e.prompt, e.drafts()) for e in examples]
    rejected = [v for v in verdicts if v.fired]
    assert len(rejected) >= len(examples) // 4  # the 135M model's maths drafts often fail a check
    for v in rejected:
        assert v.score >= DraftRules().check_floor > clf.draft_threshold
        assert v.reasons == tuple(c.reason for c in v.fired) and all(v.reasons)
    wrong_rejected = sum(1 for e, v in zip(examples, verdicts) if v.fired and e.weak_quality == 0)
    assert wrong_rejected == len(rejected) or wrong_rejected >= len(rejected) - 1
