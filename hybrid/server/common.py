"""What both API dialects share: the error every handler can raise, the parsed call, and small renderers.

``ApiError`` carries a dialect-neutral ``kind``; each dialect turns it into its own
wire shape (OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error", "error": {...}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from hybrid.errors import BackendError, BackendUnavailable, ContextOverflow, HybridError, RequestError
from hybrid.privacy import LOCAL_ONLY_HEADER, BadFlag, parse_flag
from hybrid.sticky import conversation_from
from hybrid.types import Completion, Message, Request, Usage

Kind = Literal[
    "invalid_request", "context_length", "unsupported", "auth", "not_found", "no_route", "too_large", "timeout",
    "rate_limit", "backend", "unavailable", "internal",
]

M = TypeVar("M", bound=BaseModel)

STATUS: dict[str, int] = {
    "invalid_request": 400, "context_length": 400, "unsupported": 400, "auth": 401, "not_found": 404, "no_route": 404,
    "too_large": 413, "timeout": 408, "rate_limit": 429, "backend": 502, "unavailable": 503, "internal": 500,
}


class ApiError(Exception):
    """An answer other than 200: ``kind`` picks the status and each API's error type."""

    def __init__(self, kind: Kind, message: str, *, param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return STATUS[self.kind]


def api_error_for(error: HybridError) -> ApiError:
    """The HTTP answer to an error the router raised."""
    if isinstance(error, ContextOverflow):
        return ApiError("context_length", str(error), param="messages")
    if isinstance(error, RequestError):
        return ApiError("invalid_request", str(error))
    if isinstance(error, BackendUnavailable) or (isinstance(error, BackendError) and error.retryable):
        return ApiError("unavailable", str(error))
    if isinstance(error, BackendError):
        return ApiError("backend", str(error))
    return ApiError("internal", str(error))


def validation_error(e: ValidationError) -> ApiError:
    """A pydantic error on a request body, as a 400 naming the field."""
    first = e.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "json_invalid":
        return ApiError("invalid_request", f"the body is not valid JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    if first["type"] == "model_type" and not loc:
        return ApiError("invalid_request", "the body must be a JSON object")
    if first["type"] == "extra_forbidden":
        return ApiError("invalid_request", f"unrecognized request argument supplied: {loc}", param=loc)
    msg = first["msg"].removeprefix("Value error, ")
    return ApiError("invalid_request", f"{loc}: {msg}" if loc else msg, param=loc or None)


def unsupported(feature: str, hint: str = "") -> ApiError:
    return ApiError("unsupported", f"{feature} is not supported by hybrid{'; ' + hint if hint else ''}")


def only_text(where: str, kind: str, noun: str) -> ApiError:
    """A 400 for a content block or part that is not text (an image, a document, a tool result)."""
    return ApiError("unsupported", f"{where}: {kind!r} {noun}s are not supported (only 'text' {noun}s are); "
                                   "fix: send the text only", param=where)


def check_prompt(messages: list[Message]) -> None:
    """A 400 in the API's terms (not the CLI's) when there is no user text to answer; indexes are ``messages``'."""
    last = next((i for i in reversed(range(len(messages))) if messages[i].role == "user"), None)
    if last is None:
        raise ApiError("invalid_request", "no user message with text in messages; fix: end messages with a user "
                                          "message holding the text to answer", param="messages")
    if not messages[last].content.strip():
        raise ApiError("invalid_request", f"messages[{last}].content is empty; fix: put the text to answer in it",
                       param=f"messages[{last}].content")


def read_body_as(model: type[M], raw: bytes) -> M:
    """The body parsed into ``model``, or a 400 naming the field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise validation_error(e) from None


def reject_unsupported(body: BaseModel, features: Mapping[str, str], harmless: Mapping[str, Any] = {}) -> None:
    """A 400 for the first field in ``features`` that is set (to anything but empty or its ``harmless`` value)."""
    for name, feature in features.items():
        value = getattr(body, name)
        if value not in (None, False, []) and (name not in harmless or value != harmless[name]):
            raise unsupported(feature)


@dataclass(frozen=True)
class Call:
    """A parsed request body: the router's Request plus how to answer it."""

    request: Request
    model: str
    stream: bool
    include_usage: bool = False


def make_call(body: Any, messages: list[Message], *, max_tokens: int, temperature: float, metadata: Mapping[str, str],
              headers: Mapping[str, str], backends: Mapping[str, Any], include_usage: bool = False) -> Call:
    """The router's Request from what both APIs share: ``body`` has ``model``, ``stream``, ``task``, ``parent_id``."""
    header = header_hints(headers)
    hints = {**header, **metadata}
    if "local_only" in header or local_only_flag(metadata.get("local_only"), "metadata.local_only"):
        hints["local_only"] = "true"  # the header or the metadata: either one keeps the request local
    request = Request(
        messages=tuple(messages), max_tokens=max_tokens, temperature=temperature,
        metadata={**hints, "client_model": body.model}, pin=resolve_model(body.model, backends),
        **routing_hints(body.task, body.parent_id, headers),
    )
    return Call(request, body.model, bool(body.stream), include_usage)


def resolve_model(model: str, backends: Mapping[str, Any]) -> str | None:
    """``hybrid`` routes; ``hybrid:local`` / ``hybrid:cloud`` pin a tier; a backend's name pins it."""
    if model == "hybrid":
        return None
    if model in ("hybrid:local", "hybrid:cloud"):
        return model.split(":", 1)[1]
    if model in backends:
        return model
    known = ", ".join(model_ids(backends))
    raise ApiError("not_found", f"the model {model!r} does not exist; use one of: {known}", param="model")


def model_ids(backends: Mapping[str, Any]) -> list[str]:
    return ["hybrid", "hybrid:local", "hybrid:cloud", *backends]


def header_hints(headers: Mapping[str, str]) -> dict[str, str]:
    """Request metadata from the HTTP headers ``X-Hybrid-Conversation`` and ``X-Hybrid-Local-Only``."""
    hints = {}
    conversation = conversation_from({}, headers)
    if conversation:
        hints["conversation_id"] = conversation
    header = next((v for k, v in headers.items() if k.lower() == LOCAL_ONLY_HEADER.lower()), None)
    if local_only_flag(header, LOCAL_ONLY_HEADER):
        hints["local_only"] = "true"
    return hints


def local_only_flag(value: object, where: str) -> bool:
    """A local-only flag (header or metadata field) as a yes or a no; anything else is a 400 naming it."""
    try:
        return parse_flag(value, f"header {where}" if where == LOCAL_ONLY_HEADER else where)
    except BadFlag as e:
        raise ApiError("invalid_request", str(e), param=where) from None


def routing_hints(task: str | None, parent_id: str | None, headers: Mapping[str, str]) -> dict[str, Any]:
    """Body fields win over the ``X-Hybrid-Task`` / ``X-Hybrid-Parent`` headers."""
    return {"task": task or headers.get("x-hybrid-task") or "chat",
            "parent_id": parent_id or headers.get("x-hybrid-parent") or None}


def answer_usage(c: Completion) -> Usage:
    """The tokens of the call that wrote the answer: what the client's ``usage`` says."""
    return c.answer_usage or c.usage


def decision_info(c: Completion) -> dict[str, Any]:
    """``x_hybrid``: where the answer came from and what the whole request took (``cost_usd`` and ``total_usage``
    count every backend call, a cascade's rejected drafts included; the reply's ``usage`` is the answer's alone)."""
    return {"request_id": c.request_id, "backend": c.backend, "model": c.model, "cost_usd": c.cost,
            "total_usage": {"input_tokens": c.usage.input_tokens, "output_tokens": c.usage.output_tokens},
            "latency_s": c.latency_s, "cached": c.cached, "decision": asdict(c.decision)}


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))
