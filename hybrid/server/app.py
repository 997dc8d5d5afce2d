"""The Starlette app: routes, body limits, auth, and the glue from router events to each API's replies.

Every POST goes the same way: check the token, read the body (size- and time-limited),
parse it with the API's pydantic model, start the router in a worker thread and wait for
its first event (the decision). Only then is the HTTP status known: a 4xx for a request
the router refuses, 429 when the local model's queue is full, else 200 with the answer
or its stream. A client that disconnects cancels its request.

A body the server refuses itself (an unsupported feature, a bad field, an unknown model, no
user text) still ends in the trace, as a ``failed`` row with the error; only a body that is not
JSON at all, too large, too slow, or sent without the token leaves no row.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

from pydantic_core import from_json
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hybrid.errors import RequestCancelled
from hybrid.events import Decided, Done, Failed, TextDelta
from hybrid.server import anthropic_api, openai_api
from hybrid.server.auth import TokenCheck
from hybrid.server.bridge import Bridge, EventSource, Rejected, Run, ServerFault
from hybrid.server.common import ApiError, api_error_for, dumps, model_ids, routing_hints
from hybrid.server.metrics import MeteredTrace, Metrics
from hybrid.settings import ServerSettings
from hybrid.trace import new_id

JSON = "application/json"
CREATED = 1_735_689_600  # 2025-01-01, the "created" date /v1/models reports


def _grouped_flush(trace: object) -> Callable[[], None]:
    """The wait for a request's trace rows before its last event: shared with other requests' (group commit)."""
    flush = getattr(trace, "flush", None)
    return (lambda: None) if flush is None else partial(flush, grouped=True)


@dataclass
class Api:
    name: str
    wire: ModuleType  # openai_api or anthropic_api: parse, error_body, stream, and a whole-answer body
    body: Any

    def error(self, e: ApiError, **headers: str) -> Response:
        return Response(dumps(self.wire.error_body(e)), e.status, {**e.headers, **headers}, JSON)


OPENAI = Api("openai", openai_api, openai_api.completion_body)
ANTHROPIC = Api("anthropic", anthropic_api, anthropic_api.message_body)


def _api_for(path: str) -> Api:
    return ANTHROPIC if path.startswith("/v1/messages") else OPENAI


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, or 413 past ``limit`` bytes, or 408 if it has not all arrived in ``timeout_s``."""
    length = request.headers.get("content-length", "")
    too_large = ApiError("too_large", f"the request body is larger than {limit} bytes (server.max_body_bytes)",
                         headers={"connection": "close"})
    if length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise too_large
    except TimeoutError:
        raise ApiError("timeout", f"the request body did not arrive within {timeout_s:g} s (server.read_timeout_s)",
                       headers={"connection": "close"}) from None
    return bytes(body)


async def _watch_disconnect(request: Request, run: Run) -> None:
    """Set the run's cancel flag when the client goes away (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    run.cancel.set()


@contextlib.asynccontextmanager
async def _watching(request: Request, run: Run) -> AsyncIterator[None]:
    """While inside, a client that disconnects cancels ``run``."""
    watcher = asyncio.create_task(_watch_disconnect(request, run))
    try:
        yield
    finally:
        watcher.cancel()


class Server:
    """The app's state: the router bridge, metrics and settings. ``app`` is the ASGI application."""

    def __init__(self, router: EventSource, settings: ServerSettings, *, local: list[str]) -> None:
        self.router = router
        self.settings = settings
        self.metrics = Metrics()
        self.auth = TokenCheck(settings.token)
        self.trace = router.trace
        # the metrics count each backend call's tokens and cost as the router traces it (until shutdown)
        router.trace = MeteredTrace(self.trace, self.metrics)  # type: ignore[attr-defined]
        self._durable = _grouped_flush(self.trace)
        self.bridge = Bridge(router, local, workers=settings.workers, queue_size=settings.queue_size,
                             event_timeout_s=settings.event_timeout_s,
                             on_queue=lambda name, n: self.metrics.queued.labels(name).set(n),
                             durable=self._durable, retry_after_s=settings.retry_after_s)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", partial(self.answer, OPENAI), methods=["POST"]),
                Route("/chat/completions", partial(self.answer, OPENAI), methods=["POST"]),
                Route("/v1/messages", partial(self.answer, ANTHROPIC), methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/models", self.models, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/metrics", self.prometheus, methods=["GET"]),
            ],
            exception_handlers={HTTPException: self.http_error, Exception: self.internal_error},
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.bridge.close()
            self.router.trace = self.trace  # type: ignore[attr-defined]  # Router.close closes its own store

    def _check_token(self, request: Request) -> None:
        if not self.auth.allows(request.headers):
            raise ApiError("auth", "missing or wrong token; send it as 'Authorization: Bearer <token>' or "
                                   "'x-api-key: <token>' (server.token)")

    # -- the two chat endpoints -------------------------------------------------------
    async def answer(self, api: Api, request: Request) -> Response:
        try:
            self._check_token(request)
            raw = await read_body(request, self.settings.max_body_bytes, self.settings.read_timeout_s)
        except ApiError as e:
            return api.error(e)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody will read it
        try:
            call = api.wire.parse(raw, request.headers, self.router.backends)
        except ApiError as e:
            request_id = await asyncio.to_thread(self._record_refused, api, raw, request.headers, e)
            return api.error(e, **({"x-hybrid-request-id": request_id} if request_id else {}))
        run, first = await self.bridge.start(call.request, self.metrics.request(api.name), buffered=not call.stream)
        if isinstance(first, Rejected):
            await run.result()  # the router has ended the refused request (and traced it) before we answer
            retry = str(first.error.retry_after_s)
            return api.error(ApiError("rate_limit", str(first.error), headers={"retry-after": retry}),
                             **{"x-hybrid-request-id": run.request_id})
        if isinstance(first, Failed):
            return self._failed(api, first, run)
        headers = {"x-hybrid-request-id": run.request_id}
        if isinstance(first, Decided):
            headers["x-hybrid-target"] = first.decision.target
        async with _watching(request, run):
            head = await self._until_text(first, run)
            if not call.stream and isinstance(head[-1], TextDelta):
                head.append(await run.result())
        if isinstance(head[-1], Failed):  # nothing was sent yet, so the status code can say it
            return self._failed(api, head[-1], run)
        if call.stream:
            body = self._guarded(request, run, api.wire.stream(call, run.request_id, self._replay(head, run)))
            return StreamingResponse(body, media_type="text/event-stream",
                                     headers={**headers, "cache-control": "no-cache"})
        c = head[-1].completion
        return Response(dumps(api.body(call, c)), 200, {**headers, "x-hybrid-backend": c.backend}, JSON)

    def _record_refused(self, api: Api, raw: bytes, headers: Any, error: ApiError) -> str | None:
        """Trace a request refused before the router saw it as a ``failed`` row; None for a body that is not JSON."""
        try:
            body = from_json(raw)  # the JSON parser the API models use: what it refuses is not traced either
        except ValueError:
            return None
        self.metrics.refused(api.name)
        body = body if isinstance(body, dict) else {}
        given = body.get("messages")
        messages = [m for m in given if isinstance(m, dict)] if isinstance(given, list) else []
        task, parent_id = body.get("task"), body.get("parent_id")
        hints = routing_hints(task if isinstance(task, str) else None,
                              parent_id if isinstance(parent_id, str) else None, headers)
        model = body.get("model")
        request_id, started = new_id(), time.perf_counter()
        self.trace.start_request(request_id, task=hints["task"], messages=messages, params={},
                                 metadata={"client_model": model} if isinstance(model, str) else {},
                                 parent_id=hints["parent_id"])
        self.trace.add_step(request_id, "request", input={"messages": messages, "task": hints["task"]})
        self.trace.add_step(request_id, "error", error=error.message,
                            output={"type": "refused", "status": error.status, "api": api.name})
        self.trace.update_request(request_id, status="failed", error=error.message,
                                  latency_s=time.perf_counter() - started)
        self._durable()  # committed before the client sees the refusal, as an answered request's rows are
        return request_id

    @staticmethod
    async def _until_text(first: Any, run: Run) -> list[Any]:
        """Events up to the first answer text, the end, or a failure: the reply's status depends on them."""
        head = [first]
        while not isinstance(head[-1], TextDelta | Done | Failed):
            event = await run.next()
            head.append(event or Failed(run.request_id, ServerFault("the router ended without an answer")))
        return head

    @staticmethod
    async def _replay(head: list[Any], run: Run) -> AsyncIterator[Any]:
        for event in head:
            yield event
        async for event in run.events():
            yield event

    @staticmethod
    async def _guarded(request: Request, run: Run, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        try:
            async with _watching(request, run):
                async for chunk in chunks:
                    yield chunk
        finally:
            if not run.finished:  # the client went away, or the reply could not be sent: stop the work
                run.cancel.set()

    @staticmethod
    def _failed(api: Api, failed: Failed, run: Run) -> Response:
        if isinstance(failed.error, RequestCancelled):
            return Response(status_code=499)  # the client is gone; this goes nowhere
        return api.error(api_error_for(failed.error), **{"x-hybrid-request-id": run.request_id})

    # -- the rest -------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        api = ANTHROPIC if "anthropic-version" in request.headers else OPENAI
        try:
            self._check_token(request)
        except ApiError as e:
            return api.error(e)
        ids = model_ids(self.router.backends)
        if api is ANTHROPIC:
            data = [{"type": "model", "id": i, "display_name": i, "created_at": "2025-01-01T00:00:00Z"} for i in ids]
            return Response(dumps({"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}),
                            media_type=JSON)
        data = [{"id": i, "object": "model", "created": CREATED, "owned_by": "hybrid"} for i in ids]
        return Response(dumps({"object": "list", "data": data}), media_type=JSON)

    async def health(self, request: Request) -> Response:
        """Each backend's cheap health; details (which may hold file paths) only for a caller with the token."""
        detailed = self.auth.presented(request.headers)
        backends: dict[str, Any] = {}
        for name, backend in self.router.backends.items():
            h = await asyncio.to_thread(backend.health)
            backends[name] = {"ok": h.ok, "local": backend.is_local, **({"detail": h.detail} if detailed else {})}
        return Response(dumps({"status": "ok", "backends": backends}), media_type=JSON)

    async def prometheus(self, request: Request) -> Response:
        try:
            self._check_token(request)
        except ApiError as e:
            return OPENAI.error(e)
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "no_route" if exc.status_code == 404 else "invalid_request"
        hint = "use POST /v1/chat/completions or POST /v1/messages"
        error = ApiError(kind, f"{request.method} {request.url.path}: {exc.detail}; {hint}")
        response = _api_for(request.url.path).error(error)
        response.status_code = exc.status_code
        return response

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        error = ApiError("internal", f"internal error: {type(exc).__name__}; the request was not completed")
        return _api_for(request.url.path).error(error)
