"""Conversations: which earlier requests a request continues, and whether the conversation escalated.

A conversation is named by the client (metadata ``conversation_id`` or the ``X-Hybrid-Conversation``
header), or else found from its earlier messages: each request is traced with ``thread``, a hash of its own
messages, so the next turn (those messages, the answer, a new question) finds the request it continues by
hashing everything before the last answer, and inherits its conversation id. Each request's metadata then
holds ``conversation_id`` and ``turn`` (1 for the first).

Once a conversation was answered by a cloud backend, its later turns stay there (``routing.sticky``), unless
a stronger rule says otherwise (local-only, a task pinned local, a budget cap). A multi-turn request is
scored on the whole conversation: the classifier sees one prompt built from its turns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hybrid.trace import RequestRecord
from hybrid.types import Message, Request

CONVERSATION_HEADER = "X-Hybrid-Conversation"
SCORED_CHARS = 4000
"""The most characters of a conversation the classifier sees (its last turns)."""


class ConversationSource(Protocol):
    def with_metadata(self, key: str, value: str, limit: int = 100) -> list[RequestRecord]: ...

    def settled_in_conversation(self, conversation_id: str, limit: int = 100) -> list[RequestRecord]: ...


@dataclass(frozen=True)
class Escalation:
    """Where and when a conversation first went to the cloud."""

    backend: str
    turn: int


def conversation_from(metadata: Mapping[str, str], headers: Mapping[str, str] | None = None) -> str | None:
    """The client's conversation id: metadata ``conversation_id``, else the ``X-Hybrid-Conversation`` header."""
    value = str(metadata.get("conversation_id") or "").strip()
    if not value and headers is not None:
        lowered = {k.lower(): v for k, v in headers.items()}
        value = str(lowered.get(CONVERSATION_HEADER.lower(), "")).strip()
    return value or None


def thread_key(messages: Sequence[Message]) -> str:
    data = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def _earlier(messages: Sequence[Message]) -> Sequence[Message] | None:
    """The messages of the request this one continues: everything before the last assistant message."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant":
            return messages[:i]
    return None


def tag(request: Request, trace: ConversationSource | None) -> Request:
    """``request`` with ``conversation_id``, ``turn`` and ``thread`` in its metadata."""
    metadata = dict(request.metadata)
    explicit = conversation_from(metadata)
    previous: RequestRecord | None = None
    earlier = _earlier(request.messages)
    if trace is not None and explicit is None and earlier:
        found = trace.with_metadata("thread", thread_key(earlier))
        answer = request.messages[len(earlier)].content.strip()
        same = [r for r in found if (r.output or "").strip() == answer]
        previous = (same or found or [None])[-1]
    if explicit is not None:
        conversation = explicit
        turns = trace.with_metadata("conversation_id", conversation) if trace is not None else []
        turn = len(turns) + 1
    elif previous is not None and previous.metadata.get("conversation_id"):
        conversation = str(previous.metadata["conversation_id"])
        turn = int(previous.metadata.get("turn", 1)) + 1
    else:
        conversation = thread_key(request.messages)
        turn = sum(1 for m in request.messages if m.role == "user")
    metadata |= {"conversation_id": conversation, "turn": str(turn), "thread": thread_key(request.messages)}
    return dataclasses.replace(request, metadata=metadata)


def escalation(request: Request, trace: ConversationSource | None) -> Escalation | None:
    """The first earlier turn of ``request``'s conversation answered by a cloud backend, if any."""
    conversation = request.metadata.get("conversation_id")
    if trace is None or not conversation or str(request.metadata.get("turn", "1")) == "1":
        return None  # a first turn has no earlier turn to have escalated (and needs no trace read)
    for record in trace.settled_in_conversation(str(conversation)):
        if record.status == "done" and record.is_local is False and record.backend:
            return Escalation(record.backend, int(record.metadata.get("turn", 1)))
    return None


def scoring_request(request: Request) -> Request:
    """What the classifier scores: the request itself, or for several turns one prompt built from all of them."""
    turns = [m for m in request.messages if m.role != "system"]
    if sum(1 for m in turns if m.role == "user") < 2:
        return request
    text = "\n\n".join(f"{m.role}: {m.content}" for m in turns)[-SCORED_CHARS:]
    return dataclasses.replace(request, messages=(Message("user", text),))
