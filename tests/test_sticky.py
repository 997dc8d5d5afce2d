"""Sticky conversations: once escalated, later turns stay on the stronger tier; scored on the whole conversation."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.server.common import header_hints
from hybrid.server.openai_api import parse as parse_openai
from hybrid.types import Draft, DraftAssessment, Message, Request
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI
from tests.helpers import fake_router


@dataclass
class ScriptedClassifier:
    """Scores requests in the order given, and keeps the prompts it was shown."""

    scores: deque = field(default_factory=deque)
    seen: list[str] = field(default_factory=list)
    threshold: float = 0.5
    draft_threshold: float = 0.5
    version: str = "scripted"

    def score(self, request: Request) -> float:
        self.seen.append(request.prompt)
        return self.scores.popleft()

    def score_draft(self, request: Request, draft: Draft) -> float:
        return 0.0

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        return DraftAssessment(0.0)


def conversation(router, turns: list[str], **metadata):
    """Ask each turn with the conversation so far, as a chat client does; the completions in order."""
    messages: list[Message] = []
    done = []
    for text in turns:
        messages.append(Message("user", text))
        c = router.complete(Request(messages=tuple(messages), metadata=dict(metadata)))
        messages.append(Message("assistant", c.text))
        done.append(c)
    return done


def scripted_router(tmp_path, *scores, **overrides):
    classifier = ScriptedClassifier(deque(scores))
    router, _, trace = fake_router(tmp_path, classifier=classifier, **overrides)
    return router, classifier, trace


def test_an_escalated_conversation_stays_on_the_cloud(tmp_path):
    router, _, trace = scripted_router(tmp_path, 0.1, 0.9, 0.1, 0.1)
    turns = conversation(router, ["Hi there", "Prove the four colour theorem", "Thanks!", "One more thing"])
    assert [c.backend for c in turns] == ["smollm2", "sonnet", "sonnet", "sonnet"]
    assert "kept on sonnet: this conversation escalated at turn 2" in turns[2].decision.explain()
    assert "kept on sonnet: this conversation escalated at turn 2" in turns[3].decision.explain()
    rows = [trace.get_request(c.request_id) for c in turns]
    assert [r.metadata["turn"] for r in rows] == ["1", "2", "3", "4"]
    assert len({r.metadata["conversation_id"] for r in rows}) == 1


def test_the_classifier_scores_the_whole_conversation(tmp_path):
    router, classifier, _ = scripted_router(tmp_path, 0.1, 0.1)
    conversation(router, ["Here is my long essay draft about tides", "Now shorten it"])
    assert classifier.seen[0] == "Here is my long essay draft about tides"
    assert "essay draft about tides" in classifier.seen[1] and classifier.seen[1].endswith("user: Now shorten it")


def test_sticky_off_scores_each_turn_alone(tmp_path):
    router, _, _ = scripted_router(tmp_path, 0.9, 0.1, routing={"sticky": False})
    turns = conversation(router, ["Prove it", "Thanks"])
    assert [c.backend for c in turns] == ["sonnet", "smollm2"]


def test_an_explicit_conversation_id_links_single_prompts(tmp_path):
    router, _, trace = scripted_router(tmp_path, 0.9, 0.1, 0.1)
    first = router.complete(Request.from_prompt("Prove it", metadata={"conversation_id": "c-42"}))
    second = router.complete(Request.from_prompt("Thanks", metadata={"conversation_id": "c-42"}))
    other = router.complete(Request.from_prompt("Thanks", metadata={"conversation_id": "c-43"}))
    assert (first.backend, second.backend, other.backend) == ("sonnet", "sonnet", "smollm2")
    assert "kept on sonnet: this conversation escalated at turn 1" in second.decision.explain()
    assert trace.get_request(second.request_id).metadata["turn"] == "2"


def test_the_same_first_question_asked_twice_is_not_one_conversation(tmp_path):
    router, _, _ = scripted_router(tmp_path, 0.9, 0.1)
    first = router.complete(Request.from_prompt("What is a monad?"))
    again = router.complete(Request.from_prompt("What is a monad?"))  # a new chat, not a later turn
    assert (first.backend, again.backend) == ("sonnet", "smollm2")
    assert "kept on" not in again.decision.explain()


def test_privacy_and_pinned_tasks_beat_stickiness(tmp_path):
    router, _, _ = scripted_router(tmp_path, 0.9, 0.1, 0.1)
    router.complete(Request.from_prompt("Prove it", metadata={"conversation_id": "c"}))
    private = router.complete(Request.from_prompt("Mail it to li.wei@posteo.de", metadata={"conversation_id": "c"}))
    assert private.backend == "smollm2" and "kept on" not in private.decision.explain()
    router.settings.routing.tasks["classify"].route = "local"
    pinned = router.complete(Request.from_prompt("Label: great", task="classify", metadata={"conversation_id": "c"}))
    assert pinned.backend == "smollm2"


def test_http_header_and_body_metadata_name_the_conversation():
    assert header_hints({"X-Hybrid-Conversation": "c-7", "x-hybrid-local-only": "true"}) == {
        "conversation_id": "c-7", "local_only": "true"}
    assert header_hints({"X-Hybrid-Local-Only": "no"}) == {}
    body = {"model": "hybrid", "messages": [{"role": "user", "content": "hi"}]}
    backends = {"smollm2": object()}
    from_header = parse_openai(json.dumps(body).encode(), {"X-Hybrid-Conversation": "c-7"}, backends).request
    assert from_header.metadata["conversation_id"] == "c-7"
    with_body = json.dumps(body | {"metadata": {"conversation_id": "c-8"}}).encode()
    from_body = parse_openai(with_body, {"X-Hybrid-Conversation": "c-7"}, backends).request
    assert from_body.metadata["conversation_id"] == "c-8"  # the body wins over the header


@pytest.mark.slow
def test_cli_conversation_stays_on_the_tier_it_escalated_to(monkeypatch):
    with FakeAnthropicAPI() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_KEY)
        for name in ("SONNET", "OPUS"):
            monkeypatch.setenv(f"HYBRID_BACKENDS__{name}__BASE_URL", fake.url)
        monkeypatch.setenv("HYBRID_ROUTING__THRESHOLD", "1.0")  # the prompt alone never escalates
        first = CliRunner().invoke(main, ["ask", "--task", "reason", "--conversation", "c1", "Prove it"])
        assert first.exit_code == 0 and "→ cloud opus" in first.output
        second = CliRunner().invoke(main, ["ask", "--conversation", "c1", "--max-tokens", "8", "Thanks"])
        assert second.exit_code == 0, second.output
        assert "→ cloud opus" in second.output and "kept on opus: this conversation escalated at turn 1" in second.output
        assert len(fake.messages_requests()) == 2
