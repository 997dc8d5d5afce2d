"""Scoring a JSONL file: bad lines are named by number, good lines are never lost."""

from __future__ import annotations

import json

import pytest

from classifiers import classify_file, load_classifier
from hybrid.types import Draft


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(None)


def test_malformed_lines_are_rejected_by_number_and_good_lines_kept(tmp_path, classifier):
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"id": "a", "prompt": "What is 2+2?"}\n'
        b"this is not json\n"
        b'{"id": "b", "prompt": "Summarise the plot of Hamlet.", "answer": "A prince avenges his father."}\n'
        b"\n"
        b'{"id": 7, "prompt": "numeric id"}\n'
        b'{"id": "c", "prompt": ""}\n'
        b'["a", "list"]\n'
        b'{"id": "d", "prompt": "ok", "answer": 5}\n'
        b'{"id": "e", "prompt": "\xff\xfe bad bytes"}\n'
        b'{"id": "f", "prompt": "Write a haiku about rain."}\n'
    )
    out = tmp_path / "out.jsonl"
    result = classify_file(classifier, src, out)

    assert [(e.line, e.message) for e in result.errors] == [
        (2, "not valid JSON (Expecting value)"),
        (5, '"id" must be a non-empty string'),
        (6, '"prompt" must be a non-empty string'),
        (7, "not a JSON object"),
        (8, '"answer" must be a string when present'),
        (9, "not valid UTF-8"),
    ]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [w["id"] for w in written] == ["a", "b", "f"]
    assert all(set(w) == {"id", "score"} and 0.0 <= w["score"] <= 1.0 for w in written)
    assert [r.mode for r in result.results] == ["prompt", "draft", "prompt"]


def test_answer_lines_use_the_answer_aware_model(tmp_path, classifier):
    src = tmp_path / "in.jsonl"
    prompt = "Explain how vaccines train the immune system."
    rows = [
        {"id": "no-answer", "prompt": prompt},
        {"id": "refusal", "prompt": prompt, "answer": "I'm sorry, but I cannot help with that."},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = classify_file(classifier, src)
    scores = {r.id: r.score for r in result.results}
    assert scores["refusal"] == pytest.approx(classifier.assess(prompt, (Draft(rows[1]["answer"]),)).score)
    assert scores["no-answer"] == pytest.approx(classifier.score_prompt(prompt))
    assert result.errors == ()
