"""A fake Ollama server: a real HTTP server on 127.0.0.1, for the real ``ollama`` client to talk to.

Wire formats follow Ollama's API: ``POST /api/chat`` streams line-delimited
JSON objects (``{"model", "created_at", "message": {"role", "content"},
"done": false}``) and ends with one ``done: true`` object carrying
``done_reason``, ``prompt_eval_count``, ``eval_count`` and the durations (in
nanoseconds); with ``"stream": false`` it answers that final object with the
whole message. ``GET /api/tags`` lists the pulled models. An unknown model
gets 404 ``{"error": "model 'x' not found, try pulling it first"}``.

Script answers with ``enqueue_text`` / ``enqueue_error``; with nothing queued
it answers ``DEFAULT_TEXT``. ``requests`` records every request received.
Tokens are whitespace-separated words; ``options.num_predict`` cuts the
answer with ``done_reason: "length"``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer, Recorded

DEFAULT_TEXT = "Hello from the fake Ollama server."
CREATED_AT = "2025-01-01T00:00:00.000000Z"


@dataclass(frozen=True)
class TextAnswer:
    text: str


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    message: str


def full_tag(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)] if text else []


def tag_entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "model": name, "modified_at": CREATED_AT, "size": 2_019_393_189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
    }


@dataclass
class FakeOllamaAPI(LoopbackServer):
    """Use as a context manager: ``with FakeOllamaAPI(models=["llama3.2"]) as server: ... server.url ...``."""

    models: list[str] = field(default_factory=lambda: ["llama3.2:latest"])
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[TextAnswer | ErrorAnswer] = deque()
        self._lock = threading.Lock()
        self._server = None

    def enqueue_text(self, text: str) -> None:
        self._queue.append(TextAnswer(text))

    def enqueue_error(self, status: int, message: str) -> None:
        self._queue.append(ErrorAnswer(status, message))

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/api/chat"]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def _next(self) -> TextAnswer | ErrorAnswer:
        with self._lock:
            return self._queue.popleft() if self._queue else TextAnswer(DEFAULT_TEXT)

    def _pulled(self, model: str) -> bool:
        return full_tag(model) in {full_tag(m) for m in self.models}


def _handler_for(server: FakeOllamaAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            server._record("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None)
            if self.path == "/api/tags":
                return self._send_json(200, {"models": [tag_entry(full_tag(m)) for m in server.models]})
            if self.path == "/":
                data = b"Ollama is running"
                self.send_response(200)
                self.send_header("content-type", "text/plain; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._send_json(404, {"error": "404 page not found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
            body = json.loads(raw) if raw else {}
            server._record("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if self.path != "/api/chat":
                return self._send_json(404, {"error": "404 page not found"})
            model = body.get("model", "")
            if not server._pulled(model):
                return self._send_json(404, {"error": f"model '{model}' not found, try pulling it first"})
            answer = server._next()
            if isinstance(answer, ErrorAnswer):
                return self._send_json(answer.status, {"error": answer.message})
            tokens = words(answer.text)
            limit = (body.get("options") or {}).get("num_predict")
            done_reason = "stop"
            if limit is not None and 0 <= limit < len(tokens):
                tokens, done_reason = tokens[:limit], "length"
            prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
            final = {
                "model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": ""},
                "done": True, "done_reason": done_reason, "total_duration": 4_883_583_458,
                "load_duration": 1_334_875, "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": 342_546_000, "eval_count": len(tokens), "eval_duration": 4_535_599_000,
            }
            if body.get("stream", True) is False:
                final["message"]["content"] = "".join(tokens)
                return self._send_json(200, final)
            self.send_response(200)
            self.send_header("content-type", "application/x-ndjson")
            self.send_header("connection", "close")
            self.end_headers()
            for token in tokens:
                line = {"model": model, "created_at": CREATED_AT,
                        "message": {"role": "assistant", "content": token}, "done": False}
                self.wfile.write(json.dumps(line).encode() + b"\n")
                self.wfile.flush()
            self.wfile.write(json.dumps(final).encode() + b"\n")

    return Handler
