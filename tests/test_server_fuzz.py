"""Hostile input: property-based fuzzing of both endpoints, and raw-socket cases no HTTP client would send.

Every input must get an HTTP answer within a bound, bad input never a 5xx, and the server
must stay up with its threads and memory back near where they started.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import serving

BOUND_S = 10.0
EXAMPLES = 200
PATHS = ("/v1/chat/completions", "/v1/messages")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["user", "assistant", "system", "developer", "tool", "", "USER", 3, None, ["user"]])
contents = st.one_of(st.text(max_size=40), json_values,
                     st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image", "image_url"]),
                                                     "text": st.text(max_size=10)}), max_size=2))
messages = st.lists(st.fixed_dictionaries({"role": roles, "content": contents}), max_size=3) | json_values
bodies = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "model": st.sampled_from(["hybrid", "hybrid:local", "hybrid:cloud", "sonnet", "nope", "", 7]),
        "max_tokens": st.one_of(st.integers(-5, 3000), st.text(max_size=3), st.none()),
        "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), st.text(max_size=3)),
        "stream": st.one_of(st.booleans(), st.text(max_size=3), st.none()),
        "task": st.one_of(st.sampled_from(["chat", "code", "poetry"]), json_values),
        "parent_id": json_values,
        "metadata": json_values,
        "n": st.integers(-1, 3),
        "tools": json_values,
        "stream_options": json_values,
        "system": json_values,
    },
)
valid_bodies = st.fixed_dictionaries({
    "model": st.sampled_from(["hybrid", "hybrid:local", "hybrid:cloud", "opus"]),
    "max_tokens": st.integers(1, 50),
    "stream": st.booleans(),
    "messages": st.lists(st.fixed_dictionaries({"role": st.just("user"), "content": st.text(min_size=1, max_size=60)}),
                         min_size=1, max_size=3),
})
# JSON texts that Python's json module would not write: lone surrogates, invalid UTF-8, truncation, garbage
raw_bodies = st.one_of(
    valid_bodies.map(lambda b: json.dumps(b).encode()),
    bodies.map(lambda b: json.dumps(b).encode()),
    bodies.map(lambda b: json.dumps(b).encode()).flatmap(lambda raw: st.integers(0, len(raw)).map(lambda i: raw[:i])),
    st.sampled_from([b'{"messages":[{"role":"user","content":"\\ud800"}],"stream":true}',
                     b'{"model":"hybrid","max_tokens":5,"messages":[{"role":"user","content":"\\udfff x"}]}',
                     b'{"messages":[{"role":"user","content":"caf\xc3"}]}', b"\xff\xfe\x00", b"null", b"[]", b"1e999"]),
    st.binary(max_size=200),
)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        status = f.read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    router, _, _ = fake_router(tmp_path_factory.mktemp("fuzz"), classifier=FixedClassifier(0.1))
    with serving(router, max_body_bytes=64 * 1024, read_timeout_s=1.0, keep_alive_s=2) as (base, server):
        yield base, server


@pytest.fixture(scope="module")
def client(target):
    with httpx.Client(base_url=target[0], timeout=BOUND_S) as c:
        yield c


def answer(client: httpx.Client, path: str, raw: bytes) -> tuple[int, bytes]:
    with client.stream("POST", path, content=raw, headers={"content-type": "application/json"}) as r:
        return r.status_code, r.read()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), raw=raw_bodies)
def test_every_body_gets_an_answer_and_bad_ones_a_4xx(client, path, raw):
    status, body = answer(client, path, raw)
    event(f"{path} -> {status}")
    assert status in (200, 400, 404, 413), (status, body[:300])
    if status != 200:
        error = json.loads(body)
        assert ("error" in error) if path.endswith("completions") else (error["type"] == "error")


def test_after_fuzzing_the_server_is_up_and_threads_and_memory_are_back(client):
    warm = b'{"model":"hybrid","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
    for _ in range(20):
        answer(client, "/v1/messages", warm)
    threads, memory = threading.active_count(), rss_mb()
    cases = [b'{"messages":', b"\xff" * 50, warm, b'{"messages":[{"role":"user","content":"\\ud800"}]}'] * 100
    for i, raw in enumerate(cases):
        status, _ = answer(client, PATHS[i % 2], raw)
        assert status < 500
    assert client.get("/health").status_code == 200
    assert threading.active_count() <= threads + 2
    assert rss_mb() < memory + 50


# -- raw sockets ------------------------------------------------------------------------------
def exchange(base: str, data: bytes, *, wait_s: float = BOUND_S) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or ``wait_s`` passes)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as s:
        s.sendall(data)
        received = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
        return received


def post(path: str, body: bytes, *, length: str | None = None, extra: str = "") -> bytes:
    n = str(len(body)) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n"
            f"connection: close\r\n{extra}\r\n").encode() + body


def statuses(received: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


@pytest.mark.parametrize("raw, expected", [
    (post("/v1/chat/completions", b'{"messages":[{"role":"user","content":"caf\xc3\x28"}]}'), 400),
    (post("/v1/chat/completions", b'{"messages":[{"role":"user","content":"\\ud800"}],"stream":true}'), 400),
    (post("/v1/messages", b'{"model":"hybrid","max_tokens":5,"stream":true,"messages":[{"role":"user",'
          b'"content":"\\udc00"}]}'), 400),
    (post("/v1/chat/completions", b"{}", length="abc"), 400),
    (post("/v1/chat/completions", b"{}", length="-5"), 400),
    (post("/v1/chat/completions", b"{}", length="99999999999"), 413),
    (post("/v1/chat/completions", b"{}", length="2", extra="content-length: 3\r\n"), 400),
])
def test_raw_bad_requests_get_a_4xx(target, raw, expected):
    received = exchange(target[0], raw)
    assert statuses(received)[:1] == [expected], received[:300]


def test_half_sent_body_and_half_sent_headers_get_408_not_a_hang(target):
    started = time.monotonic()
    received = exchange(target[0], post("/v1/chat/completions", b'{"messages": [', length="100"))
    assert statuses(received) == [408] and b"server.read_timeout_s" in received
    received = exchange(target[0], b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-le")
    assert statuses(received) == [408]
    assert time.monotonic() - started < 2 * BOUND_S


def test_a_4mb_prompt_is_answered(tmp_path):
    router, backends, _ = fake_router(tmp_path, classifier=FixedClassifier(0.1))
    backends["smollm2"].enqueue("short answer")
    prompt = "word " * (4 * 1024 * 1024 // 5)
    with serving(router) as (base, _):
        r = httpx.post(base + "/v1/chat/completions", json={"messages": [{"role": "user", "content": prompt}]},
                       timeout=BOUND_S * 3)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "short answer"


def test_two_pipelined_requests_get_two_answers_in_order(target):
    one = b'{"model":"hybrid","messages":[{"role":"user","content":"a"}]}'
    two = b'{"model":"nope","messages":[{"role":"user","content":"b"}]}'
    data = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(one)}\r\n\r\n".encode() + one
            + f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(two)}\r\n"
              f"connection: close\r\n\r\n".encode() + two)
    assert statuses(exchange(target[0], data)) == [200, 404]


def test_an_unread_body_on_an_unknown_path_keeps_the_connection_in_sync(target):
    junk = b'{"input": "' + b"x" * 5000 + b'"}'
    data = (f"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-length: {len(junk)}\r\n\r\n".encode() + junk
            + b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    received = exchange(target[0], data)
    assert statuses(received) == [404, 200] and b'"backends"' in received
