"""Batched writes commit the same trace as writes committed one at a time; the fast JSON path writes what the walk did."""

from __future__ import annotations

import sqlite3
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid.trace import _ENCODER, MIGRATIONS, TraceStore, new_id
from hybrid.trace_texts import Interner
from hybrid.trace_writer import Writer

LONG = "The meeting moved to Thursday; everyone should bring the quarterly numbers. "
SECRET = "hunter2-secret-value"


def _script(store: TraceStore, ids: dict[str, str]) -> None:
    """A routed request from start to done, a failed one, and writes to a request committed earlier."""
    a, b, old = ids["a"], ids["b"], ids["old"]
    store.start_request(a, task="chat", messages=[{"role": "user", "content": LONG + "a"}], params={"max_tokens": 9},
                        metadata={"conversation_id": "c1", "turn": "1"}, mode="direct")
    store.add_step(a, "request", input={"messages": [{"role": "user", "content": LONG + "a"}], "task": "chat"})
    store.add_step(a, "classify", input={"prompt": LONG + "a"}, output={"score": 0.25}, duration_s=0.001)
    store.update_request(a, status="routed", score=0.25, threshold=0.5, escalate=False, target="smollm2",
                         reasons=["difficulty 0.25 < threshold 0.50"])
    store.start_request(b, task="code", messages=[{"role": "user", "content": 'say "hi" \\ \x01 ' + SECRET}],
                        params={})
    store.update_request(a, status="streaming", backend="smollm2", model="m", is_local=True)
    store.add_step(a, "backend_call", backend="smollm2", output={"text": LONG * 2}, input_tokens=3, output_tokens=4,
                   cost=0.0)
    store.update_request(b, status="failed", error=f"boom {SECRET}")
    store.add_step(b, "error", error="boom", output={"type": "BackendError"})
    store.update_request(a, status="done", output=LONG * 2, cost=0.0, latency_s=0.5, cached=False, fallback=False)
    store.add_step(old, "fallback", output={"from": "sonnet", "to": "smollm2"})
    store.update_request(old, status="done", output="late")
    store.add_feedback(a, "good")


def _trace(store: TraceStore, ids: dict[str, str]) -> list:
    out = []
    for rid in ids.values():
        r = store.get_request(rid)
        out.append({k: v for k, v in vars(r).items() if k not in ("created_at", "updated_at", "rev")})
        out.append([{k: v for k, v in vars(s).items() if k not in ("id", "created_at")} for s in store.steps(rid)])
    return out


def _store_with_old_request(path, ids) -> TraceStore:
    store = TraceStore(path, secrets=[SECRET])
    store.start_request(ids["old"], task="chat", messages=[{"role": "user", "content": "earlier"}], params={})
    store.add_step(ids["old"], "request", input={"task": "chat"})
    store.flush()
    return store


def test_a_batch_commits_the_same_trace_as_writes_committed_one_at_a_time(tmp_path):
    ids = {"a": new_id(), "b": new_id(), "old": new_id()}
    one_by_one = _store_with_old_request(tmp_path / "one.db", ids)
    real_submit = one_by_one._submit
    one_by_one._submit = lambda row: (real_submit(row), one_by_one.flush())[0]  # every write its own batch
    _script(one_by_one, ids)

    batched = _store_with_old_request(tmp_path / "batch.db", ids)
    release = threading.Event()
    batched._writer.submit_alone(lambda db: release.wait(10))
    real_read = batched.get_request
    batched.get_request = lambda rid: True  # add_feedback's check must not flush the held queue
    _script(batched, ids)
    batched.get_request = real_read
    release.set()
    batched.flush()

    assert _trace(batched, ids) == _trace(one_by_one, ids)
    request = batched.get_request(ids["a"])
    assert request.status == "done" and request.feedback == "good" and request.output == LONG * 2
    assert [s.seq for s in batched.steps(ids["old"])] == [1, 2]  # numbered after the steps committed earlier
    assert SECRET not in " ".join(str(v) for v in _trace(batched, ids))
    changed = batched.changes_since(0)  # each row once, newer than every rev before the batch, by last write
    assert [r.id for r in changed] == [ids["b"], ids["old"], ids["a"]] and changed[0].rev > 1


_text = st.one_of(
    st.text(max_size=8), st.text(min_size=40, max_size=70),
    st.sampled_from(['"quoted"', "back\\slash", "\x01short", LONG, LONG + '"', LONG + "\\", "ünï " * 20, SECRET,
                     "sk-ant-" + "a" * 30]),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def test_json_without_a_walk_writes_what_the_walk_wrote(tmp_path):
    store = TraceStore(tmp_path / "t.db", secrets=[SECRET])

    @settings(max_examples=300, deadline=None)
    @given(value=_json)
    def check(value):
        fast, walked = Interner(), Interner()
        expected = None if value is None else _ENCODER.encode(walked.deep(value, store._scrub))
        assert store._json(value, fast) == expected
        assert fast.texts == walked.texts

    check()
    store.close()


def test_a_full_queue_makes_the_caller_wait_and_drops_nothing(tmp_path):
    applied: list[int] = []
    writer = Writer(lambda: sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False),
                    lambda db, rows: applied.extend(rows) or [], where="w", queue_size=2)
    release = threading.Event()
    writer.submit_alone(lambda db: release.wait(10))  # the writer is busy; the queue fills
    writer.submit(1)
    writer.submit(2)
    third = threading.Thread(target=writer.submit, args=(3,))
    third.start()
    time.sleep(0.2)
    assert third.is_alive()  # waiting for room, not dropped
    flushed = threading.Thread(target=writer.flush)
    flushed.start()  # a flush queues its marker past the bound: it cannot deadlock behind the waiting caller
    release.set()
    third.join(10)
    flushed.join(10)
    writer.flush()
    assert applied == [1, 2, 3] and not third.is_alive() and not flushed.is_alive()
    writer.close()


def test_a_trace_from_before_the_lookup_columns_still_finds_its_conversations(tmp_path):
    path = tmp_path / "t.db"
    db = sqlite3.connect(path)
    for migrate in MIGRATIONS[:5]:
        migrate(db)
    db.execute("PRAGMA user_version = 5")
    db.execute(
        "INSERT INTO requests (id, rev, created_at, updated_at, task, prompt, messages, params, metadata, status,"
        " backend, is_local) VALUES ('old', 1, 0, 0, 'chat', 'hi', '[]', '{}',"
        " '{\"conversation_id\": \"c1\", \"turn\": \"1\", \"thread\": \"t1\"}', 'done', 'sonnet', 0)"
    )
    db.commit()
    db.close()
    store = TraceStore(path)
    assert [r.id for r in store.settled_in_conversation("c1")] == ["old"]
    assert [r.id for r in store.with_metadata("thread", "t1")] == ["old"]
    new = new_id()
    store.start_request(new, task="chat", messages=[], params={}, metadata={"conversation_id": "c1", "thread": "t2"})
    store.update_request(new, status="done", metadata={"conversation_id": "c2", "thread": "t2"})
    assert [r.id for r in store.with_metadata("conversation_id", "c2")] == [new]
    assert [r.id for r in store.with_metadata("conversation_id", "c1")] == ["old"]
    plan = " ".join(str(row) for row in store._db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM requests WHERE conversation_id = ?", ("c1",)))
    assert "requests_conversation_id" in plan
    store.close()


def test_a_batch_writes_every_column_of_the_requests_and_steps_tables(tmp_path):
    """The batch's column lists are the tables' columns, so a column added to the schema cannot be left unwritten,
    and a step reads back as the StepRecord it was written from."""
    from dataclasses import fields

    from hybrid import trace_batch
    from hybrid.trace import StepRecord

    store = TraceStore(tmp_path / "t.db")
    db = sqlite3.connect(store.path)
    schema = {table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")} for table in ("requests", "steps")}
    store.close()
    assert set(trace_batch.REQUEST_INSERT_COLUMNS) == schema["requests"]
    assert set(trace_batch.STEP_COLUMNS) == schema["steps"]
    assert trace_batch.STEP_COLUMNS == tuple(f.name for f in fields(StepRecord))
