"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1, for the real SDK to talk to.

Wire formats follow the public API: ``POST /v1/messages`` answers JSON, or
SSE when ``"stream": true`` with the real event sequence (``message_start``,
``content_block_start``, ``ping``, ``content_block_delta`` text deltas,
``content_block_stop``, ``message_delta`` with ``stop_reason`` and
``usage.output_tokens``, ``message_stop``). Errors are
``{"type": "error", "error": {"type": ..., "message": ...}}`` with the HTTP
status and a ``retry-after`` header. ``GET /v1/models`` lists one model.

Script answers with ``enqueue_text`` / ``enqueue_error`` / ``enqueue_stream_error``,
or any fault by name with ``enqueue_fault`` (see ``FAULTS``); with nothing queued
it answers ``DEFAULT_TEXT``. A refused connection needs no server:
``refused_url()`` is a loopback URL nothing listens on. ``requests`` records
every request received (method, path, headers, JSON body); ``disconnects``
counts streams the client closed before the end. A request with a key other
than ``api_key`` (in ``x-api-key`` or ``Authorization: Bearer``) gets 401.

Tokens are counted as whitespace-separated words; an answer longer than the
request's ``max_tokens`` is cut there with ``stop_reason: "max_tokens"``.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer, Recorded

DEFAULT_KEY = "sk-ant-fake-0123456789abcdef"
DEFAULT_TEXT = "Hello from the fake Anthropic API."
_ids = itertools.count(1)


@dataclass(frozen=True)
class TextAnswer:
    text: str
    stop_reason: str = "end_turn"
    input_tokens: int | None = None
    delay_s: float = 0.0
    """Pause before each streamed token (so a test can cancel mid-stream)."""


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    type: str
    message: str
    retry_after: float = 0


@dataclass(frozen=True)
class StreamError:
    """HTTP 200, some text, then an ``error`` event (the API does this when overloaded mid-answer)."""

    text_before: str
    type: str
    message: str


@dataclass(frozen=True)
class StreamFault:
    """HTTP 200 and ``text_before`` streamed, then: ``cut`` (the connection closes before ``message_stop``)
    or ``malformed`` (an event whose data is not JSON)."""

    text_before: str
    kind: str


@dataclass(frozen=True)
class Hang:
    """Read the request, then answer nothing for ``seconds`` (the client's timeout fires first)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a response."""


FAULTS = ("rate_limit", "overloaded", "server_error", "timeout", "drop", "error_event", "cut", "malformed_sse")
"""What ``enqueue_fault`` can inject; ``refused`` is ``refused_url()``."""


def refused_url() -> str:
    """A loopback base URL nothing listens on: the SDK's connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


Answer = TextAnswer | ErrorAnswer | StreamError | StreamFault | Hang | Drop


def words(text: str) -> list[str]:
    """The text split into word tokens that join back to it exactly."""
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)] if text else []


def count_input(body: dict[str, Any]) -> int:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(block.get("text", "") for block in system)
    texts = [system] + [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
                        for m in body.get("messages", [])]
    return sum(len(t.split()) for t in texts)


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": f"req_fake{next(_ids)}"}


@dataclass
class FakeAnthropicAPI(LoopbackServer):
    """Use as a context manager: ``with FakeAnthropicAPI() as api: ... api.url ...``."""

    api_key: str = DEFAULT_KEY
    model_id: str = "claude-sonnet-4-6"
    requests: list[Recorded] = field(default_factory=list)

    disconnects: int = 0

    def __post_init__(self) -> None:
        self._queue: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server = None

    # -- scripting --------------------------------------------------------
    def enqueue_text(self, text: str, *, stop_reason: str = "end_turn", input_tokens: int | None = None,
                     delay_s: float = 0.0) -> None:
        self._queue.append(TextAnswer(text, stop_reason, input_tokens, delay_s))

    def enqueue_fault(self, fault: str, *, times: int = 1, text_before: str = "Partial answer",
                      retry_after: float = 0.01, hang_s: float = 5.0) -> None:
        """Answer the next ``times`` message requests with one of ``FAULTS``.

        The SDK retries 429, 5xx, 529, timeouts and dropped connections ``max_retries`` times itself, so
        ``times = max_retries + 1`` makes such a fault reach the router. Stream faults (``error_event``,
        ``cut``, ``malformed_sse``) send ``text_before`` first and are never retried by the SDK.
        """
        statuses = {"rate_limit": (429, "rate_limit_error"), "overloaded": (529, "overloaded_error"),
                    "server_error": (500, "api_error")}
        if fault in statuses:
            return self.enqueue_error(*statuses[fault], retry_after=retry_after, times=times)
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        for _ in range(times):
            if fault == "timeout":
                self._queue.append(Hang(hang_s))
            elif fault == "drop":
                self._queue.append(Drop())
            elif fault == "error_event":
                self._queue.append(StreamError(text_before, "overloaded_error", "Overloaded"))
            else:
                self._queue.append(StreamFault(text_before, "cut" if fault == "cut" else "malformed"))

    def enqueue_error(self, status: int, kind: str, message: str | None = None, *, retry_after: float = 0.01,
                      times: int = 1) -> None:
        """Answer the next ``times`` message requests with an error.

        The SDK waits ``retry-after`` seconds before retrying; the real API sends whole
        seconds, the default here is 10 ms to keep tests fast (0 would make the SDK fall
        back to its own 0.5-8 s exponential backoff).
        """
        for _ in range(times):
            self._queue.append(ErrorAnswer(status, kind, message or f"fake {kind}", retry_after))

    def enqueue_stream_error(
        self, text_before: str, kind: str = "overloaded_error", message: str = "Overloaded"
    ) -> None:
        self._queue.append(StreamError(text_before, kind, message))

    def messages_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1/messages")]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # -- what the handler calls ---------------------------------------------
    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        return self.api_key in (headers.get("x-api-key"), bearer)

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1

    def _next(self) -> Answer:
        with self._lock:
            return self._queue.popleft() if self._queue else TextAnswer(DEFAULT_TEXT)


def _handler_for(api: FakeAnthropicAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_fake{next(_ids)}")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items()}

        def do_GET(self) -> None:
            headers = self._headers()
            api._record("GET", self.path, headers, None)
            if not api._authorized(headers):
                return self._send_json(401, error_body("authentication_error", "invalid x-api-key"))
            if self.path.startswith("/v1/models"):
                entry = {"type": "model", "id": api.model_id, "display_name": "Fake Sonnet",
                         "created_at": "2025-01-01T00:00:00Z"}
                return self._send_json(200, {"data": [entry], "has_more": False, "first_id": api.model_id,
                                             "last_id": api.model_id})
            self._send_json(404, error_body("not_found_error", f"no route {self.path}"))

        def do_POST(self) -> None:
            headers = self._headers()
            raw = self.rfile.read(int(headers.get("content-length", "0") or 0))
            body = json.loads(raw) if raw else {}
            api._record("POST", self.path, headers, body)
            if not api._authorized(headers):
                return self._send_json(401, error_body("authentication_error", "invalid x-api-key"))
            if not self.path.startswith("/v1/messages"):
                return self._send_json(404, error_body("not_found_error", f"no route {self.path}"))
            answer = api._next()
            if isinstance(answer, Hang):
                time.sleep(answer.seconds)
                self.close_connection = True
                return None
            if isinstance(answer, Drop):
                self.close_connection = True
                return None
            if isinstance(answer, ErrorAnswer):
                return self._send_json(answer.status, error_body(answer.type, answer.message),
                                       {"retry-after": f"{answer.retry_after:g}"})
            if body.get("stream"):
                return self._stream(body, answer)
            self._send_json(200, self._message(body, answer))

        def _answer_tokens(self, body: dict[str, Any], answer: TextAnswer) -> tuple[list[str], str]:
            tokens = words(answer.text)
            limit = int(body.get("max_tokens", 1024))
            if len(tokens) > limit:
                return tokens[:limit], "max_tokens"
            return tokens, answer.stop_reason

        def _message(self, body: dict[str, Any], answer: TextAnswer) -> dict[str, Any]:
            tokens, stop_reason = self._answer_tokens(body, answer)
            usage = {"input_tokens": answer.input_tokens or count_input(body), "output_tokens": len(tokens)}
            return {"id": f"msg_fake{next(_ids)}", "type": "message", "role": "assistant",
                    "model": body.get("model", api.model_id), "content": [{"type": "text", "text": "".join(tokens)}],
                    "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}

        def _event(self, name: str, payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"event: {name}\ndata: {data}\n\n".encode())
            self.wfile.flush()

        def _stream(self, body: dict[str, Any], answer: TextAnswer | StreamError | StreamFault) -> None:
            try:
                self._stream_events(body, answer)
            except (BrokenPipeError, ConnectionResetError):
                api._disconnected()

        def _stream_events(self, body: dict[str, Any], answer: TextAnswer | StreamError | StreamFault) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.send_header("request-id", f"req_fake{next(_ids)}")
            self.end_headers()
            text = answer.text if isinstance(answer, TextAnswer) else answer.text_before
            message = self._message(body, TextAnswer(text, getattr(answer, "stop_reason", "end_turn"),
                                                     getattr(answer, "input_tokens", None)))
            tokens = words(message["content"][0]["text"])
            start = {**message, "content": [], "stop_reason": None,
                     "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}}
            self._event("message_start", {"type": "message_start", "message": start})
            self._event("content_block_start",
                        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            self._event("ping", {"type": "ping"})
            delay = answer.delay_s if isinstance(answer, TextAnswer) else 0.0
            for token in tokens:
                time.sleep(delay)
                self._event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": token}})
            if isinstance(answer, StreamError):
                self._event("error", error_body(answer.type, answer.message))
                return
            if isinstance(answer, StreamFault):
                if answer.kind == "malformed":
                    self._event("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {')
                self.close_connection = True
                return
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
            self._event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                          "usage": {"output_tokens": message["usage"]["output_tokens"]}})
            self._event("message_stop", {"type": "message_stop"})

    return Handler
