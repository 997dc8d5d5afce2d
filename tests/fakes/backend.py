"""An in-process Backend for router tests, in the style of simonw/llm's MockModel."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from hybrid.errors import BackendError
from hybrid.types import Chunk, Health, Price, Request, Usage


@dataclass(frozen=True)
class FailAfter:
    """Stream ``text`` word by word, then raise ``error`` instead of finishing."""

    text: str
    error: BackendError


class FakeBackend:
    """``enqueue`` answers (text, a BackendError to raise at once, or ``FailAfter``); ``history`` holds the
    requests seen and ``closed`` the ones whose stream the caller closed before it ended."""

    def __init__(
        self, name: str, *, is_local: bool = True, price: Price = Price(), model: str = "fake-model", ok: bool = True
    ) -> None:
        self.name = name
        self.model = model
        self.is_local = is_local
        self.price = price
        self.ok = ok
        self.queue: deque[str | BackendError | FailAfter] = deque()
        self.history: list[Request] = []
        self.closed: list[Request] = []

    def enqueue(self, *answers: str | BackendError | FailAfter) -> FakeBackend:
        self.queue.extend(answers)
        return self

    def health(self, deep: bool = False) -> Health:
        return Health(self.ok, "fake is up" if self.ok else "fake is down")

    def stream(self, request: Request) -> Iterator[Chunk]:
        self.history.append(request)
        answer = self.queue.popleft() if self.queue else f"{self.name} answer"
        if isinstance(answer, BackendError):
            raise answer
        text = answer.text if isinstance(answer, FailAfter) else answer
        words = text.split(" ")
        try:
            for i, word in enumerate(words):
                yield Chunk(text=word if i == 0 else " " + word)
        except GeneratorExit:
            self.closed.append(request)
            raise
        if isinstance(answer, FailAfter):
            raise answer.error
        yield Chunk(usage=Usage(len(request.prompt.split()), len(words)), finish_reason="stop")
