"""Retraining: scores move with the labels, and a worse model is not promoted."""

from __future__ import annotations

import json
from itertools import product

import pytest

from classifiers import evaluate, load_classifier, plot_curve, train
from classifiers.store import POINTER
from hybrid.errors import ClassifierError
from hybrid.types import Request

HARD = [
    f"Write a {lang} function that {task}, with unit tests and a complexity analysis."
    for lang, task in product(
        ["Python", "Rust", "C++", "Go", "Haskell"],
        [
            "parses a CSV file with quoted fields",
            "finds the longest palindromic substring",
            "implements a thread-safe LRU cache",
            "solves the N-queens problem",
            "computes a Fourier transform",
        ],
    )
]
EASY = [
    f"{greeting}! What is the capital of {country}?"
    for greeting, country in product(
        ["Hi", "Hello", "Hey", "Good morning", "Howdy"],
        ["France", "Japan", "Peru", "Kenya", "Norway"],
    )
]
PROBE_HARD = "Write a Java function that merges k sorted linked lists, with unit tests and a complexity analysis."
PROBE_EASY = "Hello there! What is the capital of Italy?"


def write_labels(path, hard_label: int, prompts_hard=HARD, prompts_easy=EASY):
    lines = [{"prompt": p, "label": hard_label} for p in prompts_hard]
    lines += [{"prompt": p, "label": 1 - hard_label} for p in prompts_easy]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def gap(classifier) -> float:
    return classifier.score(Request.from_prompt(PROBE_HARD)) - classifier.score(Request.from_prompt(PROBE_EASY))


@pytest.mark.parametrize("hard_label", [1, 0])
def test_training_moves_scores_the_way_the_labels_say(tmp_path, hard_label):
    labels = write_labels(tmp_path / "labels.jsonl", hard_label)
    result = train(labels, tmp_path / "clf", base="none", force=True)
    trained = load_classifier(tmp_path / "clf")
    assert trained.version == result.version
    if hard_label == 1:
        assert gap(trained) > 0.2
    else:
        assert gap(trained) < -0.2


def test_promotion_refuses_a_worse_model_unless_forced(tmp_path):
    out = tmp_path / "clf"
    # Labels where the long prompts were the easy ones: the packaged default's length prior ranks them wrongly.
    holdout = write_labels(tmp_path / "holdout.jsonl", 0, HARD[::5], EASY[::5])
    good = train(write_labels(tmp_path / "good.jsonl", 0), out, base="none", holdout_labels=holdout)
    assert good.promoted, good.reason
    pointer = (out / POINTER).read_text()

    worse = train(write_labels(tmp_path / "flipped.jsonl", 1), out, base="none", holdout_labels=holdout)
    assert not worse.promoted
    assert "not promoted" in worse.reason
    assert all(c.new.apgr < c.current.apgr for c in worse.comparisons)
    assert (out / POINTER).read_text() == pointer
    assert load_classifier(out).version == good.version
    assert worse.path.exists()  # written for inspection, just not used

    forced = train(write_labels(tmp_path / "flipped.jsonl", 1), out, base="none", holdout_labels=holdout, force=True)
    assert forced.promoted and load_classifier(out).version == forced.version


def test_progress_is_reported_and_the_card_names_the_data(tmp_path):
    seen = []
    result = train(
        write_labels(tmp_path / "labels.jsonl", 1),
        tmp_path / "clf",
        base="none",
        force=True,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    stages = [s for s, _, _ in seen]
    assert {"features", "fit", "write"} <= set(stages)
    assert all(0 <= done <= total for _, done, total in seen)
    card = json.loads(result.path.with_suffix(".json").read_text())
    assert card["training"]["base"] == "none"
    assert card["training"]["user_examples"] == result.n_train
    assert {"numpy", "scikit-learn", "skops"} <= set(card["libraries"])
    assert 0 <= card["threshold"] <= 1 and card["metrics"]["holdout"]["prompt"]["n"] == result.n_holdout


def test_base_default_includes_the_shipped_data_and_its_licence(tmp_path):
    result = train(write_labels(tmp_path / "labels.jsonl", 1), tmp_path / "clf", base="default", force=True)
    card = json.loads(result.path.with_suffix(".json").read_text())
    assert "MIT" in card["training"]["licence"] and "CC BY-NC" not in card["training"]["licence"]
    assert card["training"]["shipped"]["prompt_examples"] > 500


def test_bad_label_lines_are_named_and_nothing_is_written(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"prompt": "a", "label": 1}\nnot json\n{"prompt": "b", "label": 3}\n{"label": 0}\n')
    with pytest.raises(ClassifierError, match=r"3 bad label line\(s\): line 2: not valid JSON.*line 3: .*line 4:"):
        train(labels, tmp_path / "clf", base="none")
    assert not (tmp_path / "clf").exists()


def test_too_few_labels_are_refused_with_a_fix(tmp_path):
    labels = write_labels(tmp_path / "labels.jsonl", 1, HARD[:2], EASY[:2])
    with pytest.raises(ClassifierError, match=r"fix: label at least .*hybrid feedback ID good\|bad"):
        train(labels, tmp_path / "clf", base="none")


def test_unknown_base_is_refused(tmp_path):
    with pytest.raises(ClassifierError, match="unknown base 'mine'"):
        train(write_labels(tmp_path / "l.jsonl", 1), tmp_path / "clf", base="mine")


def test_evaluate_reports_baselines_and_draws_the_curve(tmp_path):
    train(write_labels(tmp_path / "labels.jsonl", 1), tmp_path / "clf", base="none", force=True)
    labels = write_labels(tmp_path / "eval.jsonl", 1, HARD[::3], EASY[::3])
    with labels.open("a") as f:
        f.write(
            json.dumps({"prompt": "Write a Go function that sorts.", "answer": "I'm sorry, I can't.", "win": 0.1})
            + "\n"
        )
        f.write(json.dumps({"prompt": "Hi! Capital of Chile?", "answer": "Santiago.", "win": 0.9}) + "\n")
        f.write("{broken\n")
    report = evaluate(load_classifier(tmp_path / "clf"), labels)
    assert [str(e) for e in report.errors] == [
        f"line {len(HARD[::3]) + len(EASY[::3]) + 3}: not valid JSON (Expecting property name enclosed in double quotes)"
    ]
    assert report.prompt.model.apgr > report.prompt.baselines["random"].apgr
    assert set(report.prompt.baselines) == {"random", "prompt_length", "oracle"}
    assert report.draft is not None and "short_answer" in report.draft.baselines
    assert "classifier" in report.table() and "prompt_length" in report.table()
    png = plot_curve(report, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_a_holdout_of_one_kind_is_no_comparison_and_promotes_nothing(tmp_path):
    """All held-out labels "needed the frontier model": every classifier scores AUC/APGR 0.500 there, so training
    says no comparison happened instead of printing a +0.000 verdict, and only --force promotes."""
    out = tmp_path / "clf"
    holdout = tmp_path / "holdout.jsonl"
    holdout.write_text("".join(json.dumps({"prompt": p, "label": 1}) + "\n" for p in HARD[::5]))
    result = train(write_labels(tmp_path / "labels.jsonl", 1), out, base="none", holdout_labels=holdout)
    assert result.comparisons == () and not result.promoted
    assert result.reason == ('no held-out comparison: all 5 held-out labels say the request needed the frontier '
                             "model, and AUC and APGR need both kinds; not promoted, the current classifier stays")
    assert not (out / POINTER).exists()
    forced = train(write_labels(tmp_path / "labels.jsonl", 1), out, base="none", holdout_labels=holdout, force=True)
    assert forced.promoted and "no held-out comparison" in forced.reason and "promoted anyway (force)" in forced.reason
