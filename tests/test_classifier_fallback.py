"""A broken classifier never fails a request: the prompt-length rule answers, and the decision and doctor say why."""

from __future__ import annotations

import json
import shutil
from importlib import resources

from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import ClassifierError
from hybrid.fallback import LONG_PROMPT_CHARS, RULE_VERSION
from hybrid.router import Router
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from tests.fakes.backend import FakeBackend


def router_with(settings, paths, tmp_path) -> tuple[Router, TraceStore]:
    backends = {"smollm2": FakeBackend("smollm2").enqueue("local answer")}
    backends |= {n: FakeBackend(n, is_local=False).enqueue(f"{n} answer") for n in ("haiku", "sonnet", "opus")}
    trace = TraceStore(tmp_path / "t.db")
    return Router(settings, backends, load_classifier(settings, paths), trace), trace


def promote_corrupt_copy(paths: Paths) -> None:
    """The user's promoted artifact, with its bytes changed after training (a disk error, a bad copy)."""
    folder = paths.artifacts_dir
    folder.mkdir(parents=True)
    shipped = resources.files("classifiers.artifacts")
    data = bytearray(shipped.joinpath("default.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "mine.skops").write_bytes(bytes(data))
    shutil.copyfile(str(shipped.joinpath("default.json")), folder / "mine.json")
    (folder / "current.json").write_text(json.dumps({"artifact": "mine.skops"}))


def test_a_removed_artifact_is_answered_by_the_rule_and_the_decision_says_why(tmp_path):
    missing = tmp_path / "gone.skops"
    settings, paths = load_settings(classifier={"path": str(missing)}), Paths.resolve()
    router, trace = router_with(settings, paths, tmp_path)
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert (completion.backend, completion.text) == ("smollm2", "local answer")
    reasons = completion.decision.explain()
    assert reasons.startswith("classifier unavailable (") and "gone.json is missing" in reasons
    assert "scored by rule: prompt length" in reasons
    classify = next(s for s in trace.steps(completion.request_id) if s.kind == "classify")
    assert classify.output["classifier"] == RULE_VERSION
    assert trace.get_request(completion.request_id).status == "done"


def test_a_corrupt_promoted_artifact_falls_back_and_a_long_prompt_escalates_by_rule(tmp_path):
    paths = Paths.resolve()
    promote_corrupt_copy(paths)
    router, _ = router_with(load_settings(), paths, tmp_path)
    completion = router.complete(Request.from_prompt("Summarize this: " + "words " * LONG_PROMPT_CHARS))
    assert completion.backend == "sonnet" and completion.decision.escalate
    assert "does not match its data card" in completion.decision.explain()
    short = router.complete(Request.from_prompt("Hi there"))
    assert short.backend == "smollm2" and short.decision.score < 0.5


def test_a_classifier_that_loads_but_cannot_score_falls_back(tmp_path, monkeypatch):
    import classifiers.difficulty

    def broken(*args, **kwargs):
        raise ClassifierError("the prompt model's weights are unreadable; fix: reinstall hybrid-router")

    monkeypatch.setattr(classifiers.difficulty, "prompt_logit", broken)  # loads fine, fails on the first score
    router, _ = router_with(load_settings(), Paths.resolve(), tmp_path)
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert completion.backend == "smollm2"
    assert "the prompt model's weights are unreadable" in completion.decision.explain()
    assert "fix: reinstall hybrid-router" in completion.decision.explain()


def test_doctor_scores_with_the_classifier_and_shows_a_broken_one():
    healthy = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "250"})
    assert healthy.exit_code == 0, healthy.output
    assert "loaded and scored a test prompt" in healthy.output
    promote_corrupt_copy(Paths.resolve())
    broken = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "250"})
    assert broken.exit_code == 0, broken.output
    line = next(x for x in broken.output.splitlines() if x.startswith("classifier"))
    assert "unavailable, routing by rule" in line and "does not match its data card" in broken.output
