"""The shipped classifier as the router sees it: the protocol, draft signals, lazy loading."""

from __future__ import annotations

import subprocess
import sys

import pytest

from classifiers import DraftRules, load_classifier
from hybrid.types import DifficultyClassifier, Draft, Request

PROMPT = "Explain the difference between TCP and UDP, with examples of when to use each."
GOOD = (
    "TCP and UDP are both transport-layer protocols.\n\n"
    "## TCP\n- Connection-oriented, reliable, ordered delivery.\n- Use it for web pages, email, file transfer.\n\n"
    "## UDP\n- Connectionless, no delivery guarantee, lower latency.\n- Use it for video calls, games, DNS.\n\n"
    "In short: choose TCP when every byte must arrive in order, UDP when speed matters more."
)
REFUSAL = "I'm sorry, but I cannot help with that."


@pytest.fixture(scope="module")
def clf():
    return load_classifier(None)


def test_it_implements_the_router_protocol(clf):
    assert isinstance(clf, DifficultyClassifier)
    assert isinstance(clf.version, str) and 0 < clf.threshold < 1 and 0 < clf.draft_threshold < 1
    request = Request.from_prompt(PROMPT)
    assert 0.0 <= clf.score(request) <= 1.0
    assert 0.0 <= clf.score_draft(request, Draft(GOOD, "stop")) <= 1.0


def test_a_refusal_scores_worse_than_a_real_answer(clf):
    request = Request.from_prompt(PROMPT)
    assert clf.score_draft(request, Draft(REFUSAL, "stop")) > clf.score_draft(request, Draft(GOOD, "stop")) + 0.1


def test_a_truncated_draft_escalates(clf):
    request = Request.from_prompt(PROMPT)
    truncated = clf.assess_drafts(request, (Draft(GOOD, "length"),))
    assert truncated.score >= DraftRules().check_floor >= clf.draft_threshold
    assert [c.name for c in truncated.fired] == ["cut_off"] and truncated.reasons == (truncated.fired[0].reason,)


def test_low_token_confidence_raises_the_score_and_high_does_not(clf):
    request = Request.from_prompt(PROMPT)
    plain = clf.score_draft(request, Draft(GOOD, "stop"))
    unsure = clf.score_draft(request, Draft(GOOD, "stop", logprobs=(-2.5,) * 20))
    sure = clf.score_draft(request, Draft(GOOD, "stop", logprobs=(-0.05,) * 20))
    assert unsure > plain + 0.1
    assert sure == pytest.approx(plain)


def test_the_prompt_embedding_is_cached_per_request_and_skipped_when_unweighted(clf):
    from dataclasses import replace

    from classifiers import DifficultyModel

    card = {**clf.artifact.card, "scoring": {**clf.artifact.card["scoring"], "prompt_weight": 0.3}}
    for model, expected in ((clf, 0 if clf.params.prompt_weight == 0 else 1),
                            (DifficultyModel(replace(clf.artifact, card=card)), 1)):
        calls = []
        original = model.embedder.embed
        model.embedder.embed = lambda text, calls=calls, original=original: calls.append(text) or original(text)
        try:
            request = Request.from_prompt("A prompt seen for the first time in this test run.")
            first = model.score(request)
            assert model.score(request) == first
            assert len(calls) == expected
        finally:
            del model.embedder.embed


def test_importing_and_loading_reads_no_embedding_files():
    code = (
        "import sys, classifiers; from classifiers import load_classifier;"
        "c = load_classifier(None); print(sorted(m for m in ('onnx', 'onnxruntime', 'tokenizers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
