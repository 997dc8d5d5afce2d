from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from hybrid.errors import TraceError
from hybrid.trace import MIGRATIONS, TraceStore, new_id


def write_request(store: TraceStore, prompt: str = "hi", **update) -> str:
    rid = new_id()
    store.start_request(rid, task="chat", messages=[{"role": "user", "content": prompt}], params={})
    if update:
        store.update_request(rid, **update)
    return rid


def test_ids_sort_by_time():
    ids = [new_id() for _ in range(50)]
    assert ids[0][:12] <= ids[-1][:12] and len(set(ids)) == 50


def test_fresh_store_runs_every_migration_and_uses_wal(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    assert store.schema_version == len(MIGRATIONS)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_old_schema_is_migrated_in_place_without_losing_rows(tmp_path):
    path = tmp_path / "t.db"
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO requests (id, rev, created_at, updated_at, task, prompt, messages, params, metadata, status)"
        " VALUES ('old', 1, 0, 0, 'chat', 'kept', '[]', '{}', '{}', 'done')"
    )
    db.commit()
    db.close()
    store = TraceStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.get_request("old").prompt == "kept"
    store.add_feedback("old", "good")
    assert store.get_request("old").feedback == "good"


def test_a_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "t.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(TraceError, match="newer hybrid"):
        TraceStore(path)


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TraceError, match="--no-log"):
        TraceStore(blocker / "sub" / "t.db")


def test_followers_see_only_what_changed(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    a = write_request(store, "a")
    b = write_request(store, "b")
    seen = store.changes_since(0)
    assert [r.id for r in seen] == [a, b]
    last = seen[-1].rev
    assert store.changes_since(last) == []
    store.update_request(a, status="done")
    (changed,) = store.changes_since(last)
    assert (changed.id, changed.status) == (a, "done")


def test_recent_filters(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    write_request(store, "alpha 100% sure", backend="smollm2", status="done")
    write_request(store, "beta", backend="sonnet", status="failed")
    assert [r.prompt for r in store.recent(10)] == ["beta", "alpha 100% sure"]
    assert [r.prompt for r in store.recent(10, backend="smollm2")] == ["alpha 100% sure"]
    assert [r.prompt for r in store.recent(10, status="failed")] == ["beta"]
    assert [r.prompt for r in store.recent(10, search="100%")] == ["alpha 100% sure"]
    assert store.recent(10, search="_") == []  # LIKE wildcards are literal


def test_feedback_needs_a_known_request_and_a_valid_label(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    rid = write_request(store)
    with pytest.raises(TraceError, match="hybrid logs"):
        store.add_feedback("nope", "good")
    with pytest.raises(TraceError, match="'good' or 'bad'"):
        store.add_feedback(rid, "meh")
    store.add_feedback(rid, "bad")
    assert store.get_request(rid).feedback == "bad"
    assert store.feedback_rows() == [(rid, "bad", "user")]


def test_find_request_by_unique_prefix(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    rid = write_request(store)
    assert store.find_request(rid[:16]).id == rid
    assert store.find_request("zzzz") is None


WRITER = """
import sys
import threading
from hybrid.trace import TraceStore, new_id
store = TraceStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    rid = new_id()
    store.start_request(rid, task="chat", messages=[{"role": "user", "content": f"p{i}"}], params={})
    store.add_step(rid, "request")
    store.update_request(rid, status="done")
"""


def test_several_processes_can_write_at_once(tmp_path):
    path = tmp_path / "t.db"
    TraceStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), "25"]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    store = TraceStore(path)
    rows = store.recent(500)
    assert len(rows) == 75 and {r.status for r in rows} == {"done"}
    assert len({r.rev for r in rows}) == 75


def _hold_writer(store: TraceStore) -> tuple[threading.Event, list[bool]]:
    """Block the writer thread until the returned event is set (or 10 s pass); returns the event and a list
    that gets True if the hold ran out instead."""
    release, ran_out = threading.Event(), []
    store._writer.submit_alone(lambda db: ran_out.append(not release.wait(10)))
    return release, ran_out


def test_a_conversations_settled_turns_include_writes_still_queued(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    release, _ = _hold_writer(store)
    done = new_id()
    store.start_request(done, task="chat", messages=[{"role": "user", "content": "a"}], params={},
                        metadata={"conversation_id": "c1"})
    store.update_request(done, status="done", backend="sonnet", is_local=False)
    running = write_request(store)
    store.update_request(running, metadata={"conversation_id": "c1"})
    threading.Timer(0.2, release.set).start()  # the read must wait for the queued rows, however long that takes
    settled = store.settled_in_conversation("c1")
    assert [(r.id, r.status, r.backend) for r in settled] == [(done, "done", "sonnet")]
    store.close()


def test_a_conversation_read_does_not_wait_for_other_conversations_writes(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    first = new_id()
    store.start_request(first, task="chat", messages=[{"role": "user", "content": "a"}], params={},
                        metadata={"conversation_id": "c1"})
    store.update_request(first, status="done")
    store.flush()
    release, ran_out = _hold_writer(store)
    other = new_id()
    store.start_request(other, task="chat", messages=[{"role": "user", "content": "b"}], params={},
                        metadata={"conversation_id": "c2"})
    store.update_request(other, status="done")
    assert [r.id for r in store.settled_in_conversation("c1")] == [first]
    release.set()
    store.flush()
    assert ran_out == [False]  # the read came back while the writer was still held
    assert [r.id for r in store.settled_in_conversation("c2")] == [other]
    store.close()


def test_a_lone_surrogate_is_stored_as_a_replacement_character_and_the_store_keeps_writing(tmp_path):
    """Python strings can hold a lone surrogate (json.loads('"\\ud800"'), bytes read with surrogateescape); UTF-8
    cannot, and such a string killed the writer thread, losing every later row."""
    store = TraceStore(tmp_path / "t.db")
    store.start_request("s1", task="chat", params={}, messages=[{"role": "user", "content": "bad \ud800 here"}])
    store.add_step("s1", "backend_call", backend="smollm2", output={"text": "echo \udcff"})
    store.start_request("s2", task="chat", params={}, messages=[{"role": "user", "content": "fine"}])
    assert store.get_request("s1").prompt == "bad \ufffd here"
    assert [s.output["text"] for s in store.steps("s1")] == ["echo \ufffd"]
    assert store.get_request("s2").prompt == "fine"
    store.close()
