"""Anthropic's Messages wire format: the request model, the reply, the streamed events and the error shape.

A streamed answer is the API's own event sequence: ``message_start``, ``content_block_start``,
``ping``, ``content_block_delta`` (text deltas), ``content_block_stop``, ``message_delta``
(``stop_reason`` and ``usage``), ``message_stop``. A failure part-way ends the stream with
``event: error`` and ``{"type": "error", "error": {"type", "message"}}``, the shape of every error.
"""

from __future__ import annotations

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
)
from hybrid.types import Completion, Message

ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error", "context_length": "invalid_request_error",
    "unsupported": "invalid_request_error", "auth": "authentication_error", "not_found": "not_found_error", "no_route": "not_found_error",
    "too_large": "request_too_large", "timeout": "timeout_error", "rate_limit": "rate_limit_error",
    "backend": "api_error", "unavailable": "overloaded_error", "internal": "api_error",
}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
UNSUPPORTED_OPTIONS: dict[str, str] = {
    "tools": "tools (tool use)", "tool_choice": "tool_choice", "stop_sequences": "stop_sequences",
    "top_k": "top_k", "top_p": "top_p", "thinking": "extended thinking", "container": "container",
    "mcp_servers": "mcp_servers",
}


def error_body(e: ApiError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERROR_TYPES[e.kind], "message": e.message}}


class Block(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    text: str | None = None


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str | list[Block]


class MessagesBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[Block] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = False
    metadata: dict[str, str | None] | None = None
    service_tier: str | None = None
    # hybrid's routing hints (the SDK sends them through ``extra_body``)
    task: str | None = None
    parent_id: str | None = None
    # known API features hybrid does not implement: a 400 names them
    tools: Any = None
    tool_choice: Any = None
    stop_sequences: Any = None
    top_k: Any = None
    top_p: Any = None
    thinking: Any = None
    container: Any = None
    mcp_servers: Any = None

    def check_supported(self) -> None:
        reject_unsupported(self, UNSUPPORTED_OPTIONS)


def _text(blocks: str | list[Block], where: str) -> str:
    if isinstance(blocks, str):
        return blocks
    for block in blocks:
        if block.type != "text" or block.text is None:
            raise only_text(where, block.type, "block")
    return "".join(block.text or "" for block in blocks)


def parse(raw: bytes, headers: Mapping[str, str], backends: Mapping[str, Any]) -> Call:
    body = read_body_as(MessagesBody, raw)
    body.check_supported()
    messages = [Message(m.role, _text(m.content, f"messages[{i}].content")) for i, m in enumerate(body.messages)]
    check_prompt(messages)
    if body.system:
        messages.insert(0, Message("system", _text(body.system, "system")))
    return make_call(body, messages, max_tokens=body.max_tokens, temperature=body.temperature or 0.0,
                     metadata={k: v for k, v in (body.metadata or {}).items() if v is not None},
                     headers=headers, backends=backends)


def message_body(call: Call, c: Completion) -> dict[str, Any]:
    return {
        "id": f"msg_{c.request_id}", "type": "message", "role": "assistant", "model": call.model,
        "content": [{"type": "text", "text": c.text}],
        "stop_reason": STOP_REASONS.get(c.finish_reason or "stop", "end_turn"), "stop_sequence": None,
        "usage": usage(c), "x_hybrid": decision_info(c),
    }


def usage(c: Completion) -> dict[str, int]:
    u = answer_usage(c)
    return {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {dumps(payload)}\n\n"


async def stream(call: Call, request_id: str, events: AsyncIterator[Any]) -> AsyncIterator[str]:
    message = {"id": f"msg_{request_id}", "type": "message", "role": "assistant", "model": call.model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 0, "output_tokens": 0}}
    yield _event("message_start", {"type": "message_start", "message": message})
    yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}})
    yield _event("ping", {"type": "ping"})
    async for event in events:
        if isinstance(event, TextDelta):
            yield _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": event.text}})
        elif isinstance(event, Done):
            c = event.completion
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": STOP_REASONS.get(c.finish_reason or "stop", "end_turn"),
                          "stop_sequence": None},
                "usage": usage(c), "x_hybrid": decision_info(c)})
            yield _event("message_stop", {"type": "message_stop"})
            return
        elif isinstance(event, Failed):
            yield _event("error", error_body(api_error_for(event.error)))
            return
