"""Plain data that flows through the router, and the two seams it is built on.

Everything here is a frozen dataclass or a Protocol: no I/O, no imports of
backends, classifiers or the TUI.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Request:
    """One step of work: a conversation to answer, and what kind of task it is.

    ``parent_id`` links a step to the request whose output it consumes, so a
    chain of calls forms a graph in the trace; each step is routed on its own.
    ``pin`` overrides the classifier: ``"local"`` or ``"cloud"`` pins a tier,
    a backend's name pins that backend (the HTTP server's ``model`` field).
    """

    messages: tuple[Message, ...]
    task: str = "chat"
    max_tokens: int = 256
    temperature: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)
    parent_id: str | None = None
    pin: str | None = None

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, **kwargs) -> Request:
        messages = [Message("user", prompt)]
        if system:
            messages.insert(0, Message("system", system))
        return cls(messages=tuple(messages), **kwargs)

    @property
    def prompt(self) -> str:
        """The text of the last user message (what a classifier scores)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    def message_dicts(self, *, include_system: bool = True) -> list[dict[str, str]]:
        return [m.to_dict() for m in self.messages if include_system or m.role != "system"]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class Chunk:
    """What a backend yields: text as it arrives, then one final chunk with usage.

    A backend that knows the prompt's token count before the answer (llama.cpp, Anthropic's ``message_start``)
    may also yield it early as a usage chunk; the last usage chunk wins. A call that stops before its final
    chunk (cancelled, failed mid-answer) is counted by the router from what it received (see ``Router``).

    ``logprobs`` holds per-token log-probabilities when the backend can give
    them (llama.cpp can); the cascade uses them as a confidence signal.
    """

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Health:
    """Whether a backend can take work right now, and if not, why and what to do."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    """Where a request goes and why.

    ``target`` is the backend tried first; ``fallbacks`` are tried in order if
    it fails. ``escalate`` says whether the policy judged the request hard.
    """

    target: str
    score: float
    threshold: float
    escalate: bool
    reasons: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    mode: str = "direct"

    def explain(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Completion:
    """The answer to a request, with what it took to produce it.

    ``usage`` and ``cost`` count every backend call the request made (a cascade's rejected drafts, a failed
    attempt); ``answer_usage`` is the tokens of the call that wrote ``text`` alone (a cache hit's: the cached
    call's), what an API client prices at ``model``'s rates. None means ``usage`` (a single call; see
    ``hybrid.server.common.answer_usage``).
    """

    request_id: str
    text: str
    backend: str
    model: str
    usage: Usage
    cost: float
    latency_s: float
    decision: Decision
    cached: bool = False
    finish_reason: str | None = None
    notes: tuple[str, ...] = ()
    answer_usage: Usage | None = None


@runtime_checkable
class Backend(Protocol):
    """A model that turns a request into text.

    Backends only produce text and usage: the router times, logs, caches and
    falls back. ``stream`` yields text chunks and ends with one chunk carrying
    ``usage``. Failures are raised as ``hybrid.errors.BackendError``.
    """

    name: str
    model: str
    is_local: bool
    price: Price

    def stream(self, request: Request) -> Iterator[Chunk]: ...

    def health(self, deep: bool = False) -> Health:
        """Cheap check by default (key set, file present); ``deep`` contacts the server."""
        ...


@dataclass(frozen=True)
class Draft:
    """A local model's answer, as the cascade's answer-aware scorer sees it."""

    text: str
    finish_reason: str | None = None
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """One answer check's verdict on a draft: ``fired`` means the draft looks wrong, ``reason`` says why in words."""

    name: str
    fired: bool
    reason: str = ""


@dataclass(frozen=True)
class DraftAssessment:
    """The cascade's verdict on one or more local drafts of the same request.

    ``score`` in [0, 1] (escalate when at or above the draft threshold); ``keep``
    is the index of the draft to answer with if it is kept (the one the
    majority agrees with); ``checks`` are the verdicts on that draft;
    ``agreement`` in [0, 1] across drafts (None with a single draft);
    ``reasons`` are short words for the trace and the dashboard.
    """

    score: float
    keep: int = 0
    checks: tuple[CheckResult, ...] = ()
    agreement: float | None = None
    reasons: tuple[str, ...] = ()

    @property
    def fired(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.fired)


@runtime_checkable
class DifficultyClassifier(Protocol):
    """Scores how likely a request needs the frontier model: 0 easy, 1 hard.

    ``score`` looks at the request alone (the ``direct`` policy).
    ``score_draft`` also sees a local draft answer (the ``cascade`` policy):
    a high score means the draft looks inadequate and the request should
    escalate.
    """

    version: str
    threshold: float
    """Calibrated escalation threshold for ``score``."""
    draft_threshold: float
    """Calibrated escalation threshold for ``score_draft``."""

    def score(self, request: Request) -> float: ...

    def score_draft(self, request: Request, draft: Draft) -> float: ...

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        """Cascade verdict on one or more drafts of ``request`` (checks, agreement, learned score)."""
        ...
