"""Where ``hybrid serve`` listens: a bad or busy port is one error line before any "serving on", and the URL it
announces is the one it is bound to."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import ConfigError
from hybrid.server import listening
from hybrid.trace import TraceStore
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI
from tests.serving import HybridServe


def serve(*args: str):
    return CliRunner().invoke(main, ["serve", *args])


def test_a_port_out_of_range_is_refused_by_the_option():
    result = serve("--port", "99999")
    assert result.exit_code == 2 and "serving on" not in result.output
    assert "Invalid value for '--port': 99999 is not in the range 0<=x<=65535." in result.output
    assert isinstance(result.exception, SystemExit)  # click's usage error, not a traceback


def test_a_port_out_of_range_in_the_config_names_the_key(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("[server]\nport = 99999\n")
    result = serve()
    assert result.exit_code == 1 and "serving on" not in result.output
    assert "server.port: Input should be less than or equal to 65535 (got 99999)" in result.output


def test_a_port_in_use_is_one_error_line_and_nothing_is_announced():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--port", str(port))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output == (f"error: cannot listen on 127.0.0.1:{port}: address already in use; "
                             "fix: stop the other server or pass --port N\n")


def test_an_address_not_of_this_machine_says_so():
    unassigned = r"cannot listen on 192\.0\.2\.1:8787: cannot assign requested address; fix: pass --host an address"
    with pytest.raises(ConfigError, match=unassigned), listening("192.0.2.1", 8787):
        pass


def test_port_zero_announces_the_port_it_bound_and_ctrl_c_stops_cleanly(tmp_path):
    with FakeAnthropicAPI() as cloud:
        server = HybridServe(tmp_path / "home", cloud.url, api_key=DEFAULT_KEY, port=0).start()
        try:
            assert server.announced.startswith(f"hybrid serving on {server.base} (OpenAI base_url {server.base}/v1")
            cloud.enqueue_text("Lima.")
            body = {"model": "hybrid:cloud", "messages": [{"role": "user", "content": "Capital of Peru?"}]}
            reply = httpx.post(server.base + "/v1/chat/completions", json=body, timeout=30).json()
            assert reply["choices"][0]["message"]["content"] == "Lima."
            server.proc.send_signal(signal.SIGINT)
            rest, _ = server.proc.communicate(timeout=30)
        finally:
            server.stop()
    assert server.proc.returncode == 0 and "Traceback" not in rest and "error" not in rest.lower()
    assert not server.trace_db.with_name("trace.db-wal").exists()  # the trace was closed, not left to a crash
    trace = TraceStore(server.trace_db)
    row = trace.get_request(reply["id"].removeprefix("chatcmpl-"))
    assert (row.status, row.output) == ("done", "Lima.")
