"""An OpenAI-compatible HTTP proxy in front of the router (``hybrid serve``).

Endpoints:
- ``POST /v1/chat/completions``: OpenAI chat format, ``stream`` true or false. The
  router picks the backend; the client's ``model`` field is only recorded in
  the request's metadata. Routing hints travel in
  the body (``task``, ``parent_id``, ``metadata``; OpenAI SDKs send them via
  ``extra_body``) or as ``X-Hybrid-Task`` / ``X-Hybrid-Parent`` headers; ``X-Hybrid-Conversation`` and
  ``X-Hybrid-Local-Only`` set metadata ``conversation_id`` and ``local_only``.
  The reply carries the decision in ``x_hybrid`` and ``X-Hybrid-*`` headers.
- ``GET /v1/models``: the single routed model, ``hybrid``.
- ``GET /health``: 200 with each backend's cheap health.

Standard library only; one thread per connection; the router serialises
access to each local model.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hybrid.errors import BackendError, HybridError, RequestError
from hybrid.guards import header_hints
from hybrid.router import Router
from hybrid.types import Completion, Message, Request

MODEL_ID = "hybrid"


def parse_chat_request(body: dict[str, Any], headers: Any) -> Request:
    """Turn an OpenAI chat-completions body into a Request, or raise RequestError naming the field."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects")
    parsed = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise RequestError(f"messages[{i}] must be an object with 'role' and 'content'")
        content = m.get("content", "")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise RequestError(f"messages[{i}].content must be a string or a list of text parts")
        parsed.append(Message(m["role"], content))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 256))
    temperature = body.get("temperature", 0.0)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise RequestError(f"'max_tokens' must be an integer, got {max_tokens!r}")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        raise RequestError(f"'temperature' must be a number, got {temperature!r}")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RequestError("'metadata' must be an object of strings")
    return Request(
        messages=tuple(parsed),
        task=str(body.get("task") or headers.get("X-Hybrid-Task") or "chat"),
        max_tokens=max_tokens,
        temperature=float(temperature),
        metadata=header_hints(headers) | {str(k): str(v) for k, v in metadata.items()}  # hook: conversation, local-only
        | {"client_model": str(body.get("model", ""))},
        parent_id=body.get("parent_id") or headers.get("X-Hybrid-Parent"),
    )


def completion_body(c: Completion, created: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{c.request_id}",
        "object": "chat.completion",
        "created": created,
        "model": f"{c.backend}/{c.model}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": c.usage.input_tokens,
            "completion_tokens": c.usage.output_tokens,
            "total_tokens": c.usage.total_tokens,
        },
        "x_hybrid": decision_info(c),
    }


def decision_info(c: Completion) -> dict[str, Any]:
    return {
        "request_id": c.request_id,
        "backend": c.backend,
        "cost_usd": c.cost,
        "latency_s": c.latency_s,
        "cached": c.cached,
        "decision": asdict(c.decision),
    }


def _error_status(e: HybridError) -> HTTPStatus:
    if isinstance(e, RequestError):
        return HTTPStatus.BAD_REQUEST
    if isinstance(e, BackendError):
        return HTTPStatus.SERVICE_UNAVAILABLE if e.retryable else HTTPStatus.BAD_GATEWAY
    return HTTPStatus.INTERNAL_SERVER_ERROR


class _Handler(BaseHTTPRequestHandler):
    router: Router  # set on the subclass made by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # the trace is the log
        pass

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind}})

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "hybrid"}]})
        elif self.path == "/health":
            health = {name: asdict(b.health()) for name, b in self.router.backends.items()}
            self._send_json(200, {"status": "ok", "backends": health})
        else:
            self._send_error(404, f"no route {self.path}; use POST /v1/chat/completions", "not_found")

    def do_POST(self) -> None:
        if self.path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"no route {self.path}; use POST /v1/chat/completions", "not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            request = parse_chat_request(body, self.headers)
        except json.JSONDecodeError as e:
            self._send_error(400, f"the body is not valid JSON: {e}")
            return
        except RequestError as e:
            self._send_error(400, str(e))
            return
        if body.get("stream"):
            self._stream(request)
        else:
            self._complete(request)

    def _complete(self, request: Request) -> None:
        try:
            c = self.router.complete(request)
        except HybridError as e:
            self._send_error(_error_status(e), str(e), type(e).__name__)
            return
        self._send_json(200, completion_body(c, int(time.time())),
                        {"X-Hybrid-Request-Id": c.request_id, "X-Hybrid-Backend": c.backend})

    def _stream(self, request: Request) -> None:
        """Server-sent events in OpenAI's chunk format; the router runs in a worker thread."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                events.put(("done", self.router.complete(request, on_text=lambda t: events.put(("text", t)))))
            except HybridError as e:
                events.put(("error", e))

        threading.Thread(target=work, daemon=True).start()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        created = int(time.time())
        stream_id = f"chatcmpl-{created}"

        def send(payload: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {"id": stream_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

        send(chunk({"role": "assistant"}))
        while True:
            kind, value = events.get()
            if kind == "text":
                send(chunk({"content": value}))
            elif kind == "error":
                send({"error": {"message": str(value), "type": type(value).__name__}})
                break
            else:
                c: Completion = value
                send(chunk({}, c.finish_reason or "stop", usage={
                    "prompt_tokens": c.usage.input_tokens, "completion_tokens": c.usage.output_tokens,
                    "total_tokens": c.usage.total_tokens}, x_hybrid=decision_info(c)))
                break
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def make_server(router: Router, host: str = "127.0.0.1", port: int = 8787) -> ThreadingHTTPServer:
    handler = type("RouterHandler", (_Handler,), {"router": router})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
