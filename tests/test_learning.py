"""The learning loop as a user drives it: feedback -> labels -> train -> promote; calibrate; classify; eval."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.learning import calibrate_from_trace, labels_from_trace, train_from_trace
from hybrid.runtime import load_classifier
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.test_classifier_train import EASY, HARD, PROBE_EASY, PROBE_HARD, write_labels


def cli(*args):
    return CliRunner().invoke(main, list(args))


def home_router(tmp_path, **kw):
    """A fake-backend router writing to the isolated HYBRID_HOME's trace, as the CLI would read it."""
    router, backends, _ = fake_router(tmp_path, **kw)
    router.trace = TraceStore(Paths.resolve().trace_db)
    return router, backends


def test_feedback_on_local_answers_becomes_labels_and_cloud_answers_do_not(tmp_path):
    router, backends = home_router(tmp_path, classifier=FixedClassifier(0.1))
    backends["smollm2"].enqueue("Paris", "I am not sure")
    good = router.complete(Request.from_prompt("Capital of France?"))
    bad = router.complete(Request.from_prompt("Prove Fermat's last theorem"))
    router.set_threshold(0.05)
    cloud = router.complete(Request.from_prompt("Design a compiler"))
    assert cloud.backend == "sonnet"
    for rid, lab in ((good.request_id, "good"), (bad.request_id, "bad"), (cloud.request_id, "bad")):
        assert cli("feedback", rid, lab).exit_code == 0
    router.trace.add_feedback(bad.request_id, "good", source="judge")  # the user's word wins
    examples = {e.prompt: e for e in labels_from_trace(router.trace)}
    assert set(examples) == {"Capital of France?", "Prove Fermat's last theorem"}
    assert (examples["Capital of France?"].label, examples["Capital of France?"].answer) == (0, "Paris")
    assert (examples["Prove Fermat's last theorem"].label, examples["Prove Fermat's last theorem"].source) == (1, "user")


def test_cascade_drafts_are_the_labelled_answer(tmp_path):
    router, backends = home_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9),
                                   routing={"mode": "cascade"})
    backends["smollm2"].enqueue("a weak draft")
    c = router.complete(Request.from_prompt("hard one"))
    assert c.backend == "sonnet"
    router.trace.add_feedback(c.request_id, "bad", source="judge")
    (example,) = labels_from_trace(router.trace)
    assert (example.answer, example.label) == ("a weak draft", 1)


def test_train_from_trace_labels_moves_the_router_scores(tmp_path):
    router, _ = home_router(tmp_path, classifier=FixedClassifier(0.1))
    for prompt in HARD:
        c = router.complete(Request.from_prompt(prompt))
        router.trace.add_feedback(c.request_id, "bad")
    for prompt in EASY:
        c = router.complete(Request.from_prompt(prompt))
        router.trace.add_feedback(c.request_id, "good")
    settings, paths = load_settings(), Paths.resolve()
    before = load_classifier(settings, paths)
    seen = []
    outcome = train_from_trace(settings, paths, lambda f, m: seen.append(f), base="none", force=True)
    assert outcome.promoted and outcome.n_labels == 50
    assert seen[-1] == 1.0 and seen == sorted(seen)
    after = load_classifier(settings, paths)
    assert after.version == outcome.version != before.version
    gap = after.score(Request.from_prompt(PROBE_HARD)) - after.score(Request.from_prompt(PROBE_EASY))
    assert gap > 0.2


def test_train_cli_reports_promotion_and_metrics(tmp_path):
    labels = write_labels(tmp_path / "labels.jsonl", 1)
    result = cli("train", "--labels", str(labels), "--base", "none")
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output
    assert re.search(r"prompt +new +\d\.\d{3} +\d\.\d{3} +\d\.\d{3}", result.output)
    assert re.search(r"prompt +current +\d\.\d{3}", result.output)
    missing = cli("train")
    assert missing.exit_code == 1 and "pass --labels FILE, --from-trace, or both" in missing.output


def test_train_cli_refuses_a_bad_label_file_naming_the_lines(tmp_path):
    labels = write_labels(tmp_path / "labels.jsonl", 1)
    labels.write_text(labels.read_text() + "{not json\n" + json.dumps({"prompt": "x", "label": 7}) + "\n")
    result = cli("train", "--labels", str(labels), "--base", "none")
    assert result.exit_code == 1
    assert "2 bad label line(s)" in result.output and "line 51" in result.output and "line 52" in result.output


def test_no_labels_at_all_says_how_to_get_some():
    result = cli("train", "--from-trace")
    assert result.exit_code == 1 and "hybrid feedback ID good|bad" in result.output


def test_calibrate_sets_the_threshold_from_recent_traffic(tmp_path):
    settings, paths = load_settings(), Paths.resolve()
    router, _ = home_router(tmp_path, classifier=load_classifier(settings, paths))
    prompts = [p + "." * (200 * i) for i, p in enumerate(HARD[:10] + EASY[:10])]  # no two score alike
    scores = [router.complete(Request.from_prompt(p)).decision.score for p in prompts]
    assert len(set(scores)) == len(prompts)
    result = cli("calibrate", "--escalate", "0.2")
    assert result.exit_code == 0, result.output
    threshold = tomllib.loads(paths.config_file.read_text())["routing"]["threshold"]
    assert f"threshold {threshold}: 4 of your last 20 scored requests (20%) would escalate;" in result.output
    assert sum(s >= threshold for s in scores) == 4
    assert load_settings().routing.threshold == threshold


def test_calibrate_says_the_share_it_sets_when_scores_tie_at_the_edge():
    """Nine requests scored alike at the edge: they escalate together, the written threshold still reaches them
    (rounding it to 0.4811 left them local while claiming 50%), and the output says what share that is."""
    settings, paths = load_settings(), Paths.resolve()
    version = load_classifier(settings, paths).version
    scores = [0.7 + i / 100 for i in range(12)] + [0.481087] * 9 + [0.1 + i / 100 for i in range(12)]
    trace = TraceStore(paths.trace_db)
    for i, score in enumerate(scores):
        trace.update_request(start(trace, f"t{i:02d}", f"question {i}"), score=score, classifier=version)
    trace.close()
    result = cli("calibrate", "--escalate", "0.5")
    assert result.exit_code == 0, result.output
    threshold = tomllib.loads(paths.config_file.read_text())["routing"]["threshold"]
    assert sum(s >= threshold for s in scores) == 21
    assert (f"threshold {threshold}: 21 of your last 33 scored requests (64%) would escalate, not the 50% asked "
            "for: scores tied at the edge escalate together;") in result.output
    assert cli("calibrate", "--escalate", "0.5", "--last", "0").exit_code == 2


def test_calibrate_needs_enough_traffic():
    with pytest.raises(Exception, match="route at least 10"):
        calibrate_from_trace(load_settings(), Paths.resolve(), 0.2)


def test_classify_cli_scores_good_lines_and_names_bad_ones(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "prompt": PROBE_EASY}) + "\n"
        + "garbage\n"
        + json.dumps({"id": "b", "prompt": PROBE_HARD, "answer": "def f(): pass"}) + "\n"
        + json.dumps({"id": "c"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = cli("classify", "--input", str(src), "--output", str(out))
    assert result.exit_code == 1
    assert "line 2" in result.output and "line 4" in result.output and "scored 2 line(s)" in result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and all(0 <= r["score"] <= 1 for r in rows)


def test_eval_cli_prints_metrics_beside_baselines_and_draws_the_curve(tmp_path):
    labels = write_labels(tmp_path / "labels.jsonl", 1)
    png = tmp_path / "curve.png"
    result = cli("eval", "--labels", str(labels), "--plot", str(png))
    assert result.exit_code == 0, result.output
    assert "APGR" in result.output and "random" in result.output and "prompt_length" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classify_and_eval_refuse_what_they_cannot_use_before_any_work(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": PROBE_EASY}) + "\n")
    unwritable = cli("classify", "--input", str(src), "--output", str(tmp_path / "no" / "such" / "out.jsonl"))
    assert unwritable.exit_code == 1 and "Traceback" not in unwritable.output
    assert f"cannot write {tmp_path / 'no' / 'such' / 'out.jsonl'}: No such file or directory" in unwritable.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    nothing = cli("classify", "--input", str(empty))
    assert nothing.exit_code == 1 and f"{empty} holds no lines to score" in nothing.output
    labels = write_labels(tmp_path / "labels.jsonl", 1)
    no_folder = cli("eval", "--labels", str(labels), "--plot", str(tmp_path / "no" / "curve.png"))
    assert no_folder.exit_code == 1 and "Traceback" not in no_folder.output
    assert f"{tmp_path / 'no'} is not a folder" in no_folder.output and "APGR" not in no_folder.output


def test_classify_names_a_repeated_id_and_prints_the_scores_it_writes(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n"
                           for i, p in (("a", PROBE_EASY), ("b", PROBE_HARD), ("a", "again"))))
    shown = cli("classify", "--input", str(src))
    assert shown.exit_code == 1 and "line 3: id 'a' repeats line 1; fix: give each line its own id" in shown.output
    out = tmp_path / "out.jsonl"
    cli("classify", "--input", str(src), "--output", str(out))
    printed = [json.loads(x) for x in shown.stdout.splitlines()]
    assert printed == [json.loads(x) for x in out.read_text().splitlines()] and len(printed) == 2


def test_eval_says_when_the_labels_cannot_measure_auc(tmp_path):
    labels = tmp_path / "good.jsonl"
    labels.write_text("".join(json.dumps({"prompt": p, "label": 0}) + "\n" for p in EASY[:10]))
    result = cli("eval", "--labels", str(labels))
    assert result.exit_code == 0, result.output
    assert ("note: every label says the request was good enough locally: AUC needs both kinds and shows 0.500"
            in result.output)


def test_judge_labelling_refuses_without_a_budget_or_a_cloud():
    no_budget = cli("label", "--judge", "--budget", "0")
    assert no_budget.exit_code == 1 and "set a budget" in no_budget.output
    offline = cli("label", "--judge", "--budget", "0.5")
    assert offline.exit_code == 1 and "needs the cloud" in offline.output and "no API key" in offline.output


def test_dashboard_trainer_switches_the_router_after_a_promotion(tmp_path):
    from tui.training import learning_trainer

    router, _ = home_router(tmp_path, classifier=FixedClassifier(0.1))
    # Labels the shipped default ranks wrongly (its prior says longer is harder), so training improves on it.
    for prompts, label in ((HARD, "good"), (EASY, "bad")):
        for prompt in prompts:
            router.trace.add_feedback(router.complete(Request.from_prompt(prompt)).request_id, label)
    settings, paths = load_settings(), Paths.resolve()
    switched = []
    outcome = learning_trainer(settings, paths, on_promoted=lambda: switched.append(True))(lambda f, m: None)
    assert outcome.promoted and switched == [True]
    assert "promoted" in outcome.describe()


def test_training_with_a_configured_classifier_path_says_that_file_stays_in_use(tmp_path, monkeypatch):
    from importlib import resources

    from tui.training import learning_trainer

    root = resources.files("classifiers.artifacts")
    configured = tmp_path / "mine.skops"
    configured.write_bytes(root.joinpath("default.skops").read_bytes())
    configured.with_suffix(".json").write_text(root.joinpath("default.json").read_text())
    monkeypatch.setenv("HYBRID_CLASSIFIER__PATH", str(configured))
    router, _ = home_router(tmp_path, classifier=FixedClassifier(0.1))
    for prompts, label in ((HARD, "good"), (EASY, "bad")):  # a new model does better than the configured one
        for prompt in prompts:
            router.trace.add_feedback(router.complete(Request.from_prompt(prompt)).request_id, label)
    settings, paths = load_settings(), Paths.resolve()
    switched = []
    outcome = learning_trainer(settings, paths, on_promoted=lambda: switched.append(True))(lambda f, m: None)
    assert not outcome.promoted and switched == []
    assert f"classifier.path = {configured} is configured and stays in use" in outcome.describe()
    assert "not promoted" in outcome.describe()
    assert not (paths.artifacts_dir / "current.json").exists()
    assert load_classifier(settings, paths).version == json.loads(configured.with_suffix(".json").read_text())["version"]


def start(trace, request_id: str, prompt: str) -> str:
    trace.start_request(request_id, task="chat", messages=[{"role": "user", "content": prompt}], params={},
                        mode="cascade")
    return request_id


def test_drafts_whose_checks_fired_become_check_labels_below_user_labels(tmp_path):
    router, _ = home_router(tmp_path, classifier=FixedClassifier(0.1))
    trace = router.trace
    rid_new = start(trace, "rid_new", "What is 48/2?")
    trace.add_step(rid_new, "draft", output={
        "drafts": ["48/2 = 25", "48/2 = 24"], "kept": 0, "score": 0.95, "threshold": 0.5, "escalate": True,
        "checks": [{"name": "arithmetic", "fired": True, "reason": "48/2 = 25 does not re-compute"}],
        "agreement": 0.0, "reasons": ["48/2 = 25 does not re-compute"]})
    rid_user = start(trace, "rid_user", "Write a haiku")
    trace.add_step(rid_user, "draft", output={
        "drafts": ["a haiku"], "kept": 0, "score": 0.95, "threshold": 0.5, "escalate": True,
        "checks": [{"name": "cut_off", "fired": True, "reason": "cut off"}], "agreement": None, "reasons": []})
    trace.add_feedback(rid_user, "good")
    rid_old = start(trace, "rid_old", "Old trace")
    trace.add_step(rid_old, "draft", output={"draft": "old draft", "score": 0.2, "threshold": 0.5, "escalate": False})
    examples = {e.request_id: e for e in labels_from_trace(trace)}
    assert (examples[rid_new].answer, examples[rid_new].label, examples[rid_new].source) == ("48/2 = 25", 1, "check")
    assert (examples[rid_user].label, examples[rid_user].source) == (0, "user")
    assert rid_old not in examples


def test_calibrate_sets_the_draft_threshold_and_counts_drafts_that_failed_a_check(tmp_path):
    settings, paths = load_settings(), Paths.resolve()
    version = load_classifier(settings, paths).version
    trace = TraceStore(paths.trace_db)
    for i in range(20):
        rid = start(trace, f"r{i:02d}", f"question {i}")
        trace.update_request(rid, score=i / 20, classifier=version)
        fired = i % 4 == 0
        trace.add_step(rid, "draft", output={
            "drafts": [f"draft {i}"], "kept": 0, "score": 0.9 + i / 1000 if fired else i / 40, "threshold": 0.5,
            "escalate": fired, "checks": [{"name": "cut_off", "fired": fired, "reason": "cut off" if fired else ""}],
            "agreement": None, "reasons": []})
    trace.close()
    result = cli("calibrate", "--escalate", "0.2")
    assert result.exit_code == 0, result.output
    config = tomllib.loads(paths.config_file.read_text())["routing"]
    assert (f"draft threshold {config['draft_threshold']}: 4 of your last 20 cascade drafts (20%) would escalate; "
            f"written to {paths.config_file} (routing.draft_threshold)") in result.output
    assert "5 of 20 local drafts (25%) failed an answer check" in result.output
    assert "--escalate 0.25 would escalate all of them" in result.output
    assert load_settings().routing.draft_threshold == config["draft_threshold"] > 0.9


def test_calibrate_leaves_judge_requests_out_and_says_what_it_does_with_the_draft_threshold(tmp_path):
    """The walkthrough: after `hybrid label --judge`, 10 of calibrate's "last 11 scored requests" were the judge's
    own, and the config's routing.draft_threshold was not mentioned. Judge requests and pipeline root spans are
    not traffic; with one cascade draft the draft threshold is left as it is, and calibrate says so."""
    settings, paths = load_settings(), Paths.resolve()
    version = load_classifier(settings, paths).version
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[routing]\ndraft_threshold = 0.90148\n")
    trace = TraceStore(paths.trace_db)
    for i in range(10):
        rid = start(trace, f"u{i:02d}", f"question {i}")
        trace.update_request(rid, score=0.1 + i / 20, classifier=version)
    trace.add_step("u09", "draft", output={"drafts": ["d"], "kept": 0, "score": 0.3, "threshold": 0.5,
                                           "escalate": False, "checks": [], "agreement": None, "reasons": []})
    for i in range(12):  # the judge's reference answers and comparisons, scored high, newest of all
        rid = f"j{i:02d}"
        trace.start_request(rid, task="judge", messages=[{"role": "user", "content": f"[User request] {i}"}],
                            params={}, parent_id="u00")
        trace.update_request(rid, score=0.95, classifier=version)
    trace.start_request("p1", task="chat", messages=[{"role": "user", "content": "run"}], params={}, kind="pipeline")
    trace.update_request("p1", score=0.97, classifier=version)
    trace.close()
    result = cli("calibrate", "--escalate", "0.3", "--last", "10")
    assert result.exit_code == 0, result.output
    config = tomllib.loads(paths.config_file.read_text())["routing"]
    assert f"threshold {config['threshold']}: 3 of your last 10 scored requests (30%) would escalate;" in result.output
    assert config["threshold"] < 0.95 and config["draft_threshold"] == 0.90148
    assert (f"draft threshold not calibrated: 1 recent cascade draft(s) scored by {version}, at least 10 needed; "
            f"routing.draft_threshold 0.90148 in {paths.config_file} left as it is") in result.output
    assert "0 of 1 local drafts (0%) failed an answer check" in result.output


def cut_off_draft(trace, rid: str, prompt: str) -> None:
    """A cascade request as the router logs it when the local draft ran out of tokens: its backend call ended
    with finish_reason "length", the cut_off check fired, and the cloud answered."""
    start(trace, rid, prompt)
    text = f"Let us work it out step by step: {prompt} is"
    trace.add_step(rid, "backend_call", backend="smollm2", output={"text": text, "finish_reason": "length"})
    trace.add_step(rid, "draft", backend="smollm2", output={
        "drafts": [text], "kept": 0, "score": 0.9, "threshold": 0.5, "escalate": True,
        "checks": [{"name": "cut_off", "fired": True, "reason": "the draft stopped at the token limit"}],
        "agreement": None, "reasons": []})
    trace.add_step(rid, "backend_call", backend="sonnet", output={"text": "42", "finish_reason": "end_turn"})
    trace.update_request(rid, status="done", is_local=False, backend="sonnet", output="42")


def test_training_on_check_labels_alone_says_they_are_one_kind_and_keeps_finish_reason(tmp_path):
    """The walkthrough: 34 drafts whose cut_off check fired were all the labels; training printed a +0.000
    held-out verdict with AUC/APGR/CPT50 at 0.500. Now it says why no comparison is possible, and the label
    rows it trains on keep the drafts' finish_reason (length) for the cascade's checks."""
    router, _ = home_router(tmp_path, classifier=FixedClassifier(0.1))
    for i in range(34):
        cut_off_draft(router.trace, f"m{i:02d}", f"What is {i} * 17 + {i * 3}? Show your working.")
    help_text = cli("train", "--help").output
    assert "cascade drafts whose answer checks fired" in " ".join(help_text.split())
    refused = cli("train", "--from-trace")
    assert refused.exit_code == 1
    assert ('all 34 labels say "needed the frontier model" (34 from failed answer checks); held-out metrics need '
            "both kinds: label some good answers (`hybrid feedback ID good`, `hybrid label --judge --budget 0.50`), "
            "or pass --force to train and promote without a comparison") in " ".join(refused.output.split())
    assert "held-out APGR" not in refused.output and "0.500" not in refused.output
    forced = cli("train", "--from-trace", "--force", "--base", "none")
    assert forced.exit_code == 0, forced.output
    assert "trained on 34 labels. no held-out comparison: all" in forced.output
    assert "promoted anyway (force)" in forced.output and "held-out  " not in forced.output
    (written,) = (Paths.resolve().data_dir / "labels").glob("train-*.jsonl")
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(rows) == 34 and {(r["label"], r["finish_reason"]) for r in rows} == {(1, "length")}
    assert all(r["answer"].startswith("Let us work it out") for r in rows)
    good = router.complete(Request.from_prompt("Capital of France?"))
    router.trace.add_feedback(good.request_id, "good")
    labelled = {e.request_id: e for e in labels_from_trace(router.trace)}[good.request_id]
    assert labelled.to_line()["finish_reason"] == "stop"


def test_a_promotion_says_the_configured_threshold_was_calibrated_for_the_previous_classifier(tmp_path):
    paths = Paths.resolve()
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[routing]\nthreshold = 0.22\n")
    previous = load_classifier(load_settings(), paths).version
    # Labels the shipped default ranks wrongly (longer is easy here), so the new classifier is promoted.
    result = cli("train", "--labels", str(write_labels(tmp_path / "labels.jsonl", 0)), "--base", "none")
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output and "not promoted" not in result.output
    assert (f"note: routing.threshold 0.22 in {paths.config_file} was calibrated for the previous classifier "
            f"({previous}) and stays in use; once the new one has scored 10 requests, run `hybrid calibrate "
            "--escalate SHARE` again (or remove routing.threshold to use the new classifier's own)") in result.output
    assert "routing.draft_threshold" not in result.output
    assert load_settings().routing.threshold == 0.22  # told, not changed
