"""`hybrid ask` renders the router's events: the answer on stdout, what happened on the way on stderr."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import BackendError
from hybrid.settings import Paths
from hybrid.trace import TraceStore
from hybrid.types import CheckResult
from tests.fakes.backend import FailAfter
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router


@pytest.fixture
def routed(tmp_path, monkeypatch):
    """Point the CLI at a router over fake backends; returns a function that builds it with a classifier."""

    def build(classifier, **overrides):
        router, backends, trace = fake_router(tmp_path, classifier=classifier, **overrides)
        monkeypatch.setattr("hybrid.runtime.open_router", lambda *args, **kwargs: router)
        return backends, trace

    return build


def test_a_rejected_draft_is_never_printed_and_stderr_says_why(routed):
    cut = CheckResult("cut_off", True, "cut off inside a code block")
    backends, _ = routed(FixedClassifier(0.1, draft_score=0.9, checks=(cut,)), routing={"mode": "cascade"})
    backends["smollm2"].enqueue("```python\ndef f(")
    backends["sonnet"].enqueue("def f(): return 1")
    result = CliRunner().invoke(main, ["ask", "write f"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "def f(): return 1\n"
    assert "smollm2 is writing a draft; it is checked before it is shown" in result.stderr
    assert "draft rejected (cut off inside a code block); sonnet answers instead" in result.stderr
    assert "→ cloud sonnet" in result.stderr and "draft rejected: cut off inside a code block" in result.stderr


def test_a_kept_draft_is_printed_once(routed):
    backends, _ = routed(FixedClassifier(0.1, draft_score=0.1), routing={"mode": "cascade"})
    backends["smollm2"].enqueue("Lima.")
    result = CliRunner().invoke(main, ["ask", "Capital of Peru?"])
    assert result.exit_code == 0 and result.stdout == "Lima.\n"
    assert "draft kept (score 0.10)" in result.stderr


def test_a_fallback_before_any_text_is_a_note(routed):
    backends, _ = routed(FixedClassifier(0.9))
    backends["sonnet"].enqueue(BackendError("sonnet", "overloaded (529)", retryable=True))
    backends["smollm2"].enqueue("best effort")
    result = CliRunner().invoke(main, ["ask", "hard"])
    assert result.exit_code == 0 and result.stdout == "best effort\n"
    assert "sonnet failed (sonnet: overloaded (529)); smollm2 answers instead" in result.stderr


def test_an_answer_that_breaks_off_says_it_is_incomplete_and_fails(routed):
    backends, trace = routed(FixedClassifier(0.9))
    backends["sonnet"].enqueue(FailAfter("The proof begins", BackendError("sonnet", "stream cut", retryable=True)))
    result = CliRunner().invoke(main, ["ask", "hard"])
    assert result.exit_code == 1
    assert result.stdout == "The proof begins\n"
    assert "error: the answer above stopped part-way and is incomplete: sonnet: stream cut" in result.stderr
    assert backends["smollm2"].history == []
    assert TraceStore(trace.path).recent(1)[0].status == "failed"  # the CLI closed its own store


def test_logs_lists_cancelled_requests():
    store = TraceStore(Paths.resolve().trace_db)
    for request_id, status in (("aaaa", "done"), ("bbbb", "cancelled")):
        store.start_request(request_id, task="chat", messages=[{"role": "user", "content": "hi"}], params={})
        store.update_request(request_id, status=status)
    store.close()
    result = CliRunner().invoke(main, ["logs", "--status", "cancelled"])
    assert result.exit_code == 0, result.output
    assert "bbbb" in result.output and "cancelled" in result.output and "aaaa" not in result.output


def test_an_answer_cannot_drive_the_terminal_it_is_printed_on(capsys, monkeypatch):
    from hybrid.cli import _stream_answer
    from hybrid.events import Failed, TextDelta

    answer = "Red \x1b[31mALERT\x1b]0;title\x07\r\nline two\tok"
    events = [TextDelta("r1", "smollm2", answer), Failed("r1", BackendError("smollm2", "stop"), True)]
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    with pytest.raises(Exception, match="stopped part-way"):
        _stream_answer(iter(events))
    shown = capsys.readouterr().out
    assert shown.startswith("Red ␛[31mALERT␛]0;title␇\nline two    ok") and "\x1b" not in shown
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)  # piped: the answer as it came
    with pytest.raises(Exception, match="stopped part-way"):
        _stream_answer(iter(events))
    assert capsys.readouterr().out.startswith(answer)
