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


def test_the_suite_reports_each_small_models_drafts_on_their_own():
    from pathlib import Path

    from classifiers.suite import run_suite, table_by_source

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "alpacaeval_preferences.jsonl").is_file():
        pytest.skip(f"the shared data is not at {data}")
    (row,) = run_suite(data, ("alpacaeval",), limit=120, leave_out=False, only=("draft",))
    models = [source.split(":", 1)[1] for source, _ in row.by_source]
    assert len(models) == 6 and "Mistral-7B-Instruct-v0.2" in models
    assert sum(reports["default"].model.n for _, reports in row.by_source) == row.reports["default"].model.n == 120
    printed = table_by_source([row])
    assert all(f"| alpacaeval | draft | {model} | 20 |" in printed for model in models)


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


# AlpacaEval-style open prompt and a numeric multiple-choice one (MMLU-Pro style).
OPEN_PROMPT = "Write a short note to a colleague thanking them for covering my shift on Friday."
SHORT_OPEN = "Thanks for Friday!"
LONG_OPEN = (
    "Hi Sam,\n\nThank you so much for covering my shift on Friday. I know it was short notice and that you had "
    "plans of your own, and I really appreciate you stepping in. Everything went smoothly thanks to you, and the "
    "team mentioned how calm the evening was. Please let me know whenever I can return the favour; I owe you one.\n\n"
    "I also wanted to say that the notes you left for Saturday's crew were clear and thorough: they found the "
    "stock counts, the open orders and the till float exactly where you said, and nobody had to call me. That kind "
    "of care makes a real difference to the whole team, and I will make sure our manager hears about it. If you "
    "ever need a Friday off yourself, just tell me a few days ahead and the shift is yours to swap.\n\n"
    "Best,\nAlex"
)
CHOICE_PROMPT = "What is 12 * 12?\nA. 124\nB. 144\nC. 154\nD. 164"
SHORT_CHOICE = "12 * 12 = 144. The answer is (B)."
LONG_CHOICE = (
    "Let us think step by step. Multiplying twelve by twelve can be done as 12 * 10 + 12 * 2, which is 120 + 24. "
    "Another way is to note that 12 squared equals (10 + 2) squared, that is 100 + 40 + 4 = 144. Checking each of "
    "the options against this value, option A is too small, options C and D are too large, and option B matches "
    "exactly. To be thorough, 12 * 12 can also be computed as 144 by doubling 72, which is 6 * 12, or by adding "
    "twelve twelves one after another: 12, 24, 36, 48, 60, 72, 84, 96, 108, 120, 132, 144. Every method gives the "
    "same value. Squaring by the identity (a + b)^2 with a = 11 and b = 1 gives 121 + 22 + 1 = 144 once more, "
    "so after considering every option in turn the answer is (B)."
)


def test_answer_length_leans_by_the_kind_of_prompt(clf):
    """Against the same classifier without the rule: a short answer to an open prompt and a long, laboured one to
    a question with one right answer score higher; a full open answer and a terse right choice score lower (no
    check fires on any of them)."""
    assert len(LONG_OPEN) > 700 and len(LONG_CHOICE) > 700  # longer than the rule's 600-character centre
    flat = load_classifier(None, rules=DraftRules(answer_length_weight=0.0))

    def score(model, prompt: str, answer: str) -> float:
        verdict_ = model.assess_drafts(Request.from_prompt(prompt), (Draft(answer, "stop"),))
        assert not verdict_.fired
        return verdict_.score

    for prompt, answer, raised in ((OPEN_PROMPT, SHORT_OPEN, True), (OPEN_PROMPT, LONG_OPEN, False),
                                   (CHOICE_PROMPT, LONG_CHOICE, True), (CHOICE_PROMPT, SHORT_CHOICE, False)):
        assert (score(clf, prompt, answer) > score(flat, prompt, answer)) is raised, answer[:20]
    # The lean reorders; it cannot by itself escalate a terse, right answer to a short task.
    for prompt, terse in (("What is the sentiment of this review: 'I loved it'?", "Positive."),
                          ("Translate 'good morning' to French.", "Bonjour.")):
        assert score(clf, prompt, terse) < clf.draft_threshold


def test_open_drafts_that_differ_in_words_only_nudge_the_score(clf):
    """Two answers to an open prompt can differ in every word and both be fine: word similarity moves the score
    a little and never outranks a clearly doubtful draft, unlike two drafts whose final answers disagree."""
    request = Request.from_prompt(OPEN_PROMPT)
    alike = clf.assess_drafts(request, (Draft(LONG_OPEN), Draft(LONG_OPEN.replace("Sam", "Kim"))))
    unlike = clf.assess_drafts(request, (Draft(LONG_OPEN), Draft("Cheers for Friday, you saved me. Drinks on me.")))
    assert unlike.agreement < alike.agreement
    assert alike.score < unlike.score < alike.score + 0.2
    rules = DraftRules()
    for voted, split_wins in ((False, False), (True, True)):
        split = verdict(0.2, (), 0.0, 0, "", rules, voted=voted).score
        agreed = verdict(0.6, (), 1.0, 0, "", rules, voted=voted).score
        assert (split > agreed) is split_wins
