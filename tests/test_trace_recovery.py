"""Requests left unfinished by a killed process are marked failed when the trace is next opened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from hybrid.trace import PROCESS_ENDED, TraceStore

WRITER = textwrap.dedent(
    """
    import sys, time
    from hybrid.trace import TraceStore
    store = TraceStore(sys.argv[1])
    for i, status in enumerate(["received", "routed", "streaming"]):
        store.start_request(f"unfinished{i}", task="chat", messages=[{"role": "user", "content": "hi"}], params={})
        store.update_request(f"unfinished{i}", status=status)
    store.start_request("finished", task="chat", messages=[{"role": "user", "content": "hi"}], params={})
    store.update_request("finished", status="done", output="hello")
    store.flush()  # committed: what a kill -9 can lose is only what the writer thread has not committed yet
    print("ready", flush=True)
    time.sleep(60)
    """
)


def start_writer(path: Path) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert writer.stdout.readline().strip() == "ready"
    return writer


def test_requests_of_a_killed_process_are_marked_failed_on_the_next_start(tmp_path):
    path = tmp_path / "trace.db"
    writer = start_writer(path)
    try:
        live = TraceStore(path)  # another process (a TUI beside a server) must not touch a live one's rows
        assert {live.get_request(f"unfinished{i}").status for i in range(3)} == {"received", "routed", "streaming"}
        live.close()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()

    store = TraceStore(path)
    for i in range(3):
        row = store.get_request(f"unfinished{i}")
        assert (row.status, row.error) == ("failed", PROCESS_ENDED)
        assert store.steps(row.id)[-1].error == PROCESS_ENDED
    assert store.get_request("finished").status == "done"
    assert store.recover_unfinished() == []  # once only
    store.close()


def test_a_store_never_recovers_its_own_requests_in_flight(tmp_path):
    store = TraceStore(tmp_path / "t.db")
    store.start_request("mine", task="chat", messages=[{"role": "user", "content": "hi"}], params={})
    assert store.recover_unfinished() == []
    other = TraceStore(tmp_path / "t.db")
    assert other.get_request("mine").status == "received"
    store.close()  # a closed store finishes nothing more: the next opener recovers its rows
    assert TraceStore(tmp_path / "t.db").get_request("mine").status == "failed"
    other.close()
