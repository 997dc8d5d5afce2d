"""The trace at scale: each text stored once, queued writes that are never lost, retention that keeps trees whole."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from hybrid.trace import TraceStore, new_id
from hybrid.types import Request
from tests.helpers import fake_router

LONG_PROMPT = "Please summarise the following meeting notes for the team. " * 4
LONG_ANSWER = "The meeting moved to Thursday; everyone should bring the quarterly numbers. " * 3


def test_each_long_text_is_stored_once_and_read_back_whole(tmp_path):
    router, backends, trace = fake_router(tmp_path)
    backends["smollm2"].enqueue(LONG_ANSWER)
    completion = router.complete(Request.from_prompt(LONG_PROMPT))
    record = trace.get_request(completion.request_id)
    assert record.prompt == LONG_PROMPT and record.output == LONG_ANSWER
    assert record.messages == [{"role": "user", "content": LONG_PROMPT}]
    call = next(s for s in trace.steps(record.id) if s.kind == "backend_call")
    assert call.input["messages"][0]["content"] == LONG_PROMPT and call.output["text"] == LONG_ANSWER
    trace.flush()
    db = sqlite3.connect(trace.path)
    bodies = [b for (b,) in db.execute("SELECT body FROM texts")]
    assert bodies.count(LONG_PROMPT) == 1 and bodies.count(LONG_ANSWER) == 1
    stored = " ".join(str(v) for row in db.execute("SELECT * FROM requests") for v in row)
    stored += " ".join(str(v) for row in db.execute("SELECT * FROM steps") for v in row)
    assert LONG_PROMPT not in stored and LONG_ANSWER not in stored  # rows hold references only
    assert trace.recent(5, search="meeting notes")[0].id == record.id  # search still finds interned prompts


def test_a_secret_is_scrubbed_before_its_text_is_stored(tmp_path):
    store = TraceStore(tmp_path / "t.db", secrets=["hunter2-secret-value"])
    rid = new_id()
    store.start_request(rid, task="chat", messages=[{"role": "user", "content": LONG_PROMPT + "hunter2-secret-value"}],
                        params={})
    store.flush()
    dump = sqlite3.connect(store.path).execute("SELECT group_concat(body) FROM texts").fetchone()[0]
    assert "hunter2" not in dump and "[redacted]" in store.get_request(rid).prompt


EXIT_WITHOUT_CLOSE = """
import sys
from hybrid.trace import TraceStore, new_id
store = TraceStore(sys.argv[1])
for i in range(300):
    rid = new_id()
    store.start_request(rid, task="chat", messages=[{"role": "user", "content": f"prompt {i} " * 10}], params={})
    store.update_request(rid, status="done", output=f"answer {i} " * 10)
"""


def test_rows_queued_before_a_normal_exit_are_all_committed(tmp_path):
    path = tmp_path / "t.db"
    subprocess.run([sys.executable, "-c", EXIT_WITHOUT_CLOSE, str(path)], check=True, timeout=60)
    rows = TraceStore(path).recent(1000)
    assert len(rows) == 300 and {r.status for r in rows} == {"done"}
    assert rows[0].output == "answer 299 " * 10


def test_a_failed_write_is_reported_by_the_next_call(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    rid = new_id()
    store.start_request(rid, task="chat", messages=[], params={})
    store.start_request(rid, task="chat", messages=[], params={})  # same id: the second insert must fail
    from hybrid.errors import TraceError

    with pytest.raises(TraceError, match="cannot write to the trace store"):
        store.flush()
    assert store.get_request(rid) is not None


def _age(path, ids, days):
    with sqlite3.connect(path) as db:
        for rid in ids:
            db.execute("UPDATE requests SET created_at = created_at - ? WHERE id = ?", (days * 86400, rid))
    db.close()


def _request(store, prompt, parent=None):
    rid = new_id()
    store.start_request(rid, task="chat", messages=[{"role": "user", "content": prompt}], params={}, parent_id=parent)
    store.add_step(rid, "backend_call", input={"messages": [{"role": "user", "content": prompt}]},
                   output={"text": prompt[::-1]})
    store.update_request(rid, status="done", output=prompt[::-1])
    return rid


def test_pruning_by_age_keeps_every_row_of_the_requests_it_keeps(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    old = [_request(store, f"old request {i} " * 20) for i in range(200)]
    kept_parent = _request(store, "old run whose step is recent " * 5)
    kept = [_request(store, f"new request {i} " * 20) for i in range(5)]
    child = _request(store, "recent step of the old run " * 5, parent=kept_parent)
    store.add_feedback(kept[0], "good")
    before = {rid: (store.get_request(rid), store.steps(rid)) for rid in [*kept, kept_parent, child]}
    store.flush()
    _age(store.path, [*old, kept_parent], days=40)
    size_before = store.size_bytes()

    pruned = store.prune(keep_days=30)

    assert pruned.requests == 200 and pruned.texts >= 400
    assert all(store.get_request(rid) is None for rid in old)
    for rid, (record, steps) in before.items():
        after = store.get_request(rid)
        assert (after.prompt, after.output, after.feedback, after.status) == (
            record.prompt, record.output, record.feedback, record.status)
        assert store.steps(rid) == steps
    assert store.get_request(child).parent_id == kept_parent  # the old parent stays with its recent child
    assert pruned.bytes_after < size_before and store.size_bytes() < size_before


def test_pruning_by_size_drops_the_oldest_until_under_the_limit(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    ids = [_request(store, f"request number {i} with some padding text " * 30) for i in range(400)]
    store.flush()
    with sqlite3.connect(store.path) as db:  # spread them in time, oldest first
        for i, rid in enumerate(ids):
            db.execute("UPDATE requests SET created_at = ? WHERE id = ?", (time.time() - 1000 + i, rid))
    db.close()
    size = store.size_bytes()
    limit_mb = size / 2 / 1024 / 1024
    pruned = store.prune(max_mb=limit_mb)
    assert 0 < pruned.requests < 400
    assert store.size_bytes() <= limit_mb * 1024 * 1024
    survivors = {r.id for r in store.recent(1000)}
    assert survivors == set(ids[pruned.requests:])  # the oldest went first


def test_a_store_opened_past_its_age_limit_prunes_itself_off_the_request_path(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    old = _request(store, "ancient " * 20)
    store.flush()
    _age(store.path, [old], days=100)
    store.close()
    reopened = TraceStore(tmp_path / "t.db", keep_days=30)
    assert reopened.get_request(old) is None


def test_the_sqlite_store_provides_the_store_interface(tmp_path):
    from hybrid.trace_api import TraceStoreProtocol

    assert isinstance(TraceStore(tmp_path / "t.db"), TraceStoreProtocol)


def test_hybrid_logs_prune_applies_the_configured_retention(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hybrid.cli import main

    path = tmp_path / "cli.db"
    store = TraceStore(path)
    old, new = _request(store, "old " * 30), _request(store, "new " * 30)
    store.flush()
    _age(path, [old], days=10)
    store.close()
    monkeypatch.setenv("HYBRID_TRACE__PATH", str(path))
    monkeypatch.setenv("HYBRID_TRACE__KEEP_DAYS", "5")
    result = CliRunner().invoke(main, ["logs", "--prune"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pruned ") and "MiB ->" in result.output
    reopened = TraceStore(path)
    assert reopened.get_request(old) is None and reopened.get_request(new).output == ("new " * 30)[::-1]


def test_hybrid_logs_prune_reports_the_requests_the_store_removed_when_it_was_opened(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hybrid.cli import main
    from hybrid.retention import MIB, file_bytes

    path = tmp_path / "cli.db"
    store = TraceStore(path)
    old = [_request(store, f"old request {i} " * 30) for i in range(10)]
    new = [_request(store, f"new request {i} " * 30) for i in range(3)]
    store.flush()
    _age(path, old, days=40)
    store.close()
    size_before = file_bytes(path)
    monkeypatch.setenv("HYBRID_TRACE__PATH", str(path))
    result = CliRunner().invoke(main, ["logs", "--prune"])  # default keep_days is 30: opening prunes them
    assert result.exit_code == 0, result.output
    counted, sizes = result.output.strip().split("; ")
    assert counted.startswith("pruned 10 requests and ") and not counted.endswith(" 0 texts")
    before, after = (float(size.removesuffix(" MiB")) for size in sizes.split(" -> "))
    assert before >= round(size_before / MIB, 2) > after  # measured before the opening prune, not after it
    reopened = TraceStore(path)
    assert [r.id for r in reopened.recent(50)] == new[::-1]
    reopened.close()
    monkeypatch.setenv("HYBRID_TRACE__MAX_MB", "0.0001")  # smaller than any store: the open takes every request
    again = CliRunner().invoke(main, ["logs", "--prune"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("pruned 3 requests and ")


def _clients(monkeypatch, path, clients: int, requests: int, *, grouped: bool = False,
             apart_s: float = 0.0) -> tuple[int, int, int]:
    """``clients`` threads each start, finish and flush (as the server does before a request's last event)
    ``requests`` requests; returns (requests, transactions, rows written)."""
    import threading

    from hybrid import trace_writer

    transactions = []
    apply = trace_writer.Writer._apply
    monkeypatch.setattr(trace_writer.Writer, "_apply",
                        lambda self, db, writes: transactions.append(len(writes)) or apply(self, db, writes))
    store = TraceStore(path)
    done: list[str] = []

    def client(k: int) -> None:
        for i in range(requests):
            request_id = new_id()
            store.start_request(request_id, task="chat", messages=[{"role": "user", "content": f"hi {i}"}], params={})
            time.sleep(apart_s * (1 + (k + i) % 4))  # the upstream answering: requests end apart
            store.update_request(request_id, status="done", output="hello")
            store.flush(grouped=grouped)
            done.append(request_id)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(store.get_request(i).status == "done" for i in done)
    store.close()
    monkeypatch.undo()
    return len(done), len(transactions), sum(transactions)


def test_concurrent_requests_waiting_for_their_rows_share_one_commit(tmp_path, monkeypatch):
    """The server waits for each answered request's rows to be committed before the client sees the end; under
    load those waits are answered by shared commits (group commit), not one transaction per request."""
    requests, transactions, rows = _clients(monkeypatch, tmp_path / "t.db", 16, 25)
    assert requests == 400 and rows >= 800 and transactions < requests / 2


def test_the_servers_grouped_flush_shares_commits_between_requests_that_end_apart(tmp_path, monkeypatch):
    """Requests of a busy server end a few milliseconds apart, so each plain flush gets its own commit; the
    server's grouped flush waits briefly while other requests are open and shares one (group commit)."""
    requests, plain, _ = _clients(monkeypatch, tmp_path / "plain.db", 8, 12, apart_s=0.002)
    _, grouped, _ = _clients(monkeypatch, tmp_path / "grouped.db", 8, 12, apart_s=0.002, grouped=True)
    assert requests == 96 and grouped < plain / 2, (plain, grouped)
