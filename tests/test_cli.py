"""The CLI as a user drives it, offline: real llama.cpp locally, no API key."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.settings import Paths
from hybrid.trace import TraceStore


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def trace() -> TraceStore:
    return TraceStore(Paths.resolve().trace_db)


@pytest.mark.slow
def test_ask_answers_an_easy_prompt_locally_and_logs_it():
    result = run("ask", "--max-tokens", "12", "--task", "classify", "Classify the sentiment: I loved it")
    assert result.exit_code == 0, result.output
    answer, _, line = result.output.rpartition("→ ")
    assert answer.strip()
    assert line.startswith("local smollm2 (SmolLM2-135M-Instruct-Q4_1)")
    (row,) = trace().recent(5)
    assert row.status == "done" and row.backend == "smollm2" and row.id in line
    assert [s.kind for s in trace().steps(row.id)] == ["request", "classify", "route", "backend_call"]


@pytest.mark.slow
def test_offline_hard_prompt_uses_the_strongest_local_model_and_says_so():
    result = run("ask", "--max-tokens", "8", "--task", "reason", "Prove that sqrt(2) is irrational")
    assert result.exit_code == 0, result.output
    assert "local smollm2" in result.output
    assert "task 'reason' always escalates" in result.output
    assert "opus unavailable (no API key" in result.output
    assert "strongest local model smollm2 used instead" in result.output


@pytest.mark.slow
def test_second_identical_ask_is_a_cache_hit_and_no_log_writes_nothing():
    run("ask", "--max-tokens", "6", "What is 2+2?")
    again = run("ask", "--max-tokens", "6", "What is 2+2?")
    assert "cache hit" in again.output
    assert len(trace().recent(10)) == 2
    unlogged = run("--no-log", "ask", "--max-tokens", "6", "What is 3+3?")
    assert len(trace().recent(10)) == 2
    assert "not logged (--no-log)" in unlogged.output and " id " not in unlogged.output


@pytest.mark.slow
def test_logs_show_every_step_as_text_and_json():
    run("ask", "--max-tokens", "6", "Name a colour.")
    text = run("logs", "--last", "5")
    assert "classify" in text.output and "route" in text.output and "backend_call" in text.output
    lines = run("logs", "--last", "5", "--json").output.strip().splitlines()
    record = json.loads(lines[-1])
    assert record["prompt"] == "Name a colour." and record["status"] == "done"
    assert [s["kind"] for s in record["steps"]] == ["request", "classify", "route", "backend_call"]
    assert record["steps"][-1]["output"]["text"] == record["output"]


def test_empty_prompt_is_a_clear_error_and_still_traced():
    result = CliRunner().invoke(main, ["ask", ""])
    assert result.exit_code == 1
    assert "error: the prompt is empty" in result.output
    (row,) = trace().recent(5)
    assert row.status == "failed" and "the prompt is empty" in row.error


def test_unknown_task_lists_the_known_ones():
    result = CliRunner().invoke(main, ["ask", "--task", "poetry", "hi"])
    assert result.exit_code == 1
    assert "unknown task type 'poetry'; use one of: chat, classify, code" in result.output


def test_missing_gguf_and_no_key_fails_with_the_fix_and_is_traced(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text('[backends.smollm2]\npath = "/nowhere/model.gguf"\n')
    result = CliRunner().invoke(main, ["ask", "hi"])
    assert result.exit_code == 1
    assert "no model file at /nowhere/model.gguf; fix backends.smollm2.path" in result.output
    assert "hybrid doctor" in result.output
    assert trace().recent(1)[0].status == "failed"


def test_a_malformed_config_names_the_key(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text('[routing]\nthreshold = "high"\n')
    result = CliRunner().invoke(main, ["ask", "hi"])
    assert result.exit_code == 1
    assert "routing.threshold" in result.output and "config.toml" in result.output


def test_doctor_reports_each_backend_and_why(isolated_home):
    result = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "smollm2" in result.output and "ok" in result.output
    for name in ("haiku", "sonnet", "opus"):
        assert name in result.output
    assert "no API key" in result.output
    assert str(isolated_home) in result.output
    narrow = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "80"}).output
    assert "│ llamacpp ·" in narrow and "SmolLM2-135M-Instruct-Q4_1 ·" in narrow  # the model name stays whole
    assert "anthropic · claude-sonnet-4-6" in narrow and "no API key; set" in narrow


def test_feedback_labels_a_logged_request():
    store = trace()
    from tests.test_trace import write_request

    rid = write_request(store, "something", status="done")
    result = run("feedback", rid[:14], "bad", "--note", "wrong answer")
    assert result.exit_code == 0 and f"{rid}: marked bad" in result.output
    assert trace().get_request(rid).feedback == "bad"
    missing = CliRunner().invoke(main, ["feedback", "ffff", "good"])
    assert missing.exit_code == 1 and "no request matches id 'ffff'" in missing.output


@pytest.mark.slow
def test_demo_routes_the_builtin_workload_and_prints_a_table():
    result = run("demo", "--max-tokens", "8")
    assert result.exit_code == 0, result.output
    assert "hybrid demo" in result.output and "answered locally" in result.output
    # 80 columns: every cost, task and backend stays whole (they broke as "$0.000"/"00", "classif"/"y")
    assert result.output.count("$0.00000 │") == 11 and "│ classify  │" in result.output
    assert "local: smollm2" in result.output and "prompt / why" in result.output
    rows = trace().recent(50)
    assert len(rows) == 11 and all(r.status == "done" for r in rows)
    assert any(r.parent_id for r in rows) and any(r.cached for r in rows)


def test_unknown_task_with_json_is_a_json_error_on_stdout():
    result = CliRunner().invoke(main, ["ask", "--json", "--task", "poetry", "hi"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["type"] == "RequestError" and "unknown task type 'poetry'" in error["error"]


def test_a_parent_that_names_no_logged_request_is_refused():
    result = CliRunner().invoke(main, ["ask", "--parent", "nosuchid", "hi"])
    assert result.exit_code == 1
    assert "--parent 'nosuchid' names no logged request; fix: pass an id from `hybrid logs`" in result.output
    assert trace().recent(5) == []


def test_feedback_refuses_a_request_without_an_answer_and_logs_refuses_nonsense_options():
    CliRunner().invoke(main, ["ask", ""])
    (failed,) = trace().recent(5)
    result = CliRunner().invoke(main, ["feedback", failed.id, "good"])
    assert result.exit_code == 1
    assert f"request {failed.id} is failed, so it has no answer to label" in result.output
    assert trace().feedback_rows() == []
    assert CliRunner().invoke(main, ["logs", "--last", "0"]).exit_code == 2
    both = CliRunner().invoke(main, ["logs", "--tree", failed.id, "--json"])
    assert both.exit_code == 1 and "--tree prints a tree, not JSON" in both.output


@pytest.mark.slow
def test_ask_with_a_conversation_sends_the_turns_so_far():
    first = run("ask", "--conversation", "c1", "--max-tokens", "6", "My name is Ada.")
    assert first.exit_code == 0, first.output
    second = run("ask", "--conversation", "c1", "--max-tokens", "6", "What is my name?")
    assert second.exit_code == 0, second.output
    earlier, latest = reversed(trace().recent(2))
    assert latest.messages == [{"role": "user", "content": "My name is Ada."},
                               {"role": "assistant", "content": earlier.output},
                               {"role": "user", "content": "What is my name?"}]
    call = next(s for s in trace().steps(latest.id) if s.kind == "backend_call")
    assert call.input["messages"] == latest.messages  # what the model was given
    alone = run("ask", "--max-tokens", "6", "What is my name?")
    assert alone.exit_code == 0 and trace().recent(1)[0].messages == [{"role": "user", "content": "What is my name?"}]


@pytest.mark.parametrize(("args", "says"), [
    (["--prune", "--json"], ("--prune applies retention and prints one line; it does not combine with --json. "
                            "Fix: run `hybrid logs --prune` alone")),
    (["--prune", "--tree", "x"], "it does not combine with --tree"),
    (["--prune", "--last", "5"], "it does not combine with --last"),
    (["--tree", ""], "--tree needs a request id (or a unique prefix); `hybrid logs` lists recent ids"),
    (["--id", " "], "--id needs a request id"),
    (["--tree", "x", "--status", "failed"], ("--tree prints one request or pipeline run; it does not combine with "
                                            "--status. Fix: `hybrid logs --tree ID` alone")),
    (["--id", "x", "--backend", "smollm2"], "--id shows one request; --backend would be ignored"),
])
def test_logs_refuses_options_it_would_ignore_in_one_line_naming_the_fix(args, says):
    result = CliRunner().invoke(main, ["logs", *args])
    assert result.exit_code == 1, result.output
    assert says in result.output and len(result.output.strip().splitlines()) == 1
