"""OpenAI's chat-completions wire format: the request model, the reply, the stream chunks and the error shape.

Shapes follow the public API: a ``chat.completion`` object, ``chat.completion.chunk`` server-sent
events ending with ``data: [DONE]``, a last chunk with ``choices: []`` and ``usage`` when
``stream_options.include_usage`` is set, and errors as ``{"error": {"message", "type", "param", "code"}}``.
Features hybrid cannot honour (tools, images, ``n > 1``, logprobs, ...) get a 400 naming them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hybrid.events import Done, Failed, TextDelta
from hybrid.server.common import (
    ApiError,
    Call,
    answer_usage,
    api_error_for,
    check_prompt,
    decision_info,
    dumps,
    make_call,
    only_text,
    read_body_as,
    reject_unsupported,
    unsupported,
)
from hybrid.types import Completion, Message

ERROR_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "unsupported": ("invalid_request_error", "unsupported_feature"),
    "auth": ("authentication_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "no_route": ("invalid_request_error", "unknown_url"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "timeout": ("timeout_error", None),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "backend": ("api_error", "backend_error"),
    "unavailable": ("api_error", "backend_unavailable"),
    "internal": ("server_error", None),
}
UNSUPPORTED_OPTIONS: dict[str, str] = {
    "tools": "tools (function calling)", "tool_choice": "tool_choice", "functions": "functions (function calling)",
    "function_call": "function_call", "parallel_tool_calls": "parallel_tool_calls", "logprobs": "logprobs",
    "top_logprobs": "top_logprobs", "response_format": "response_format", "stop": "stop sequences",
    "seed": "seed", "logit_bias": "logit_bias", "audio": "audio output", "modalities": "modalities",
    "prediction": "predicted outputs", "reasoning_effort": "reasoning_effort", "web_search_options": "web search",
}


def error_body(e: ApiError) -> dict[str, Any]:
    kind, code = ERROR_TYPES[e.kind]
    return {"error": {"message": e.message, "type": kind, "param": e.param, "code": code}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    text: str | None = None


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: Any = None
    tool_call_id: Any = None
    function_call: Any = None
    refusal: Any = None
    audio: Any = None


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatBody(_Strict):
    model: str = "hybrid"
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    store: bool | None = None
    service_tier: str | None = None
    metadata: dict[str, str] | None = None
    # hybrid's routing hints (OpenAI SDKs send them through ``extra_body``)
    task: str | None = None
    parent_id: str | None = None
    # known OpenAI features hybrid does not implement: a 400 names them
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    parallel_tool_calls: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    response_format: Any = None
    stop: Any = None
    seed: Any = None
    logit_bias: Any = None
    audio: Any = None
    modalities: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    web_search_options: Any = None

    def check_supported(self) -> None:
        reject_unsupported(self, UNSUPPORTED_OPTIONS, {"modalities": ["text"], "response_format": {"type": "text"}})
        if (self.n or 1) > 1:
            raise unsupported("n > 1 (several choices)", "ask once per answer you need")
        if self.top_p not in (None, 1, 1.0):
            raise unsupported("top_p other than 1", "use temperature")
        if self.presence_penalty or self.frequency_penalty:
            raise unsupported("presence_penalty / frequency_penalty")


def _message(i: int, m: ChatMessage) -> Message:
    if m.role in ("tool", "function") or m.tool_calls or m.function_call or m.tool_call_id:
        raise unsupported("tool messages and tool calls (function calling)")
    if m.audio is not None:
        raise unsupported("audio messages")
    content = m.content
    if isinstance(content, list):
        for part in content:
            if part.type != "text" or part.text is None:
                raise only_text(f"messages[{i}].content", part.type, "part")
        content = "".join(part.text or "" for part in content)
    return Message("system" if m.role == "developer" else m.role, content or "")


def parse(raw: bytes, headers: Mapping[str, str], backends: Mapping[str, Any]) -> Call:
    body = read_body_as(ChatBody, raw)
    body.check_supported()
    messages = [_message(i, m) for i, m in enumerate(body.messages)]
    check_prompt(messages)
    return make_call(
        body, messages,
        max_tokens=body.max_completion_tokens or body.max_tokens or 256,
        temperature=0.0 if body.temperature is None else body.temperature, metadata=body.metadata or {},
        headers=headers, backends=backends,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )


def finish_reason(c: Completion) -> str:
    return c.finish_reason if c.finish_reason in ("stop", "length") else "stop"


def usage(c: Completion) -> dict[str, int]:
    u = answer_usage(c)
    return {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens, "total_tokens": u.total_tokens}


def completion_body(call: Call, c: Completion) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{c.request_id}", "object": "chat.completion", "created": int(time.time()),
        "model": call.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text, "refusal": None},
                     "logprobs": None, "finish_reason": finish_reason(c)}],
        "usage": usage(c), "x_hybrid": decision_info(c),
    }


async def stream(call: Call, request_id: str, events: AsyncIterator[Any]) -> AsyncIterator[str]:
    """Server-sent events for one answer; a failure ends the stream with an ``error`` event and no [DONE]."""
    created = int(time.time())
    head = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": created,
            "model": call.model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                   **extra}
        return f"data: {dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for event in events:
        if isinstance(event, TextDelta):
            yield chunk({"content": event.text})
        elif isinstance(event, Done):
            c = event.completion
            # on the finish chunk, which every stream has, not on the usage chunk (only when asked, no choices)
            yield chunk({}, finish_reason(c), x_hybrid=decision_info(c))
            if call.include_usage:
                yield f"data: {dumps({**head, 'choices': [], 'usage': usage(c)})}\n\n"
            yield "data: [DONE]\n\n"
            return
        elif isinstance(event, Failed):
            yield f"data: {dumps(error_body(api_error_for(event.error)))}\n\n"
            return
