"""An in-process Backend for router tests, in the style of simonw/llm's MockModel."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from hybrid.errors import BackendError
from hybrid.types import Chunk, Health, Price, Request, Usage


class FakeBackend:
    def __init__(
        self, name: str, *, is_local: bool = True, price: Price = Price(), model: str = "fake-model", ok: bool = True
    ) -> None:
        self.name = name
        self.model = model
        self.is_local = is_local
        self.price = price
        self.ok = ok
        self.queue: deque[str | BackendError] = deque()
        self.history: list[Request] = []

    def enqueue(self, *answers: str | BackendError) -> FakeBackend:
        self.queue.extend(answers)
        return self

    def health(self, deep: bool = False) -> Health:
        return Health(self.ok, "fake is up" if self.ok else "fake is down")

    def stream(self, request: Request) -> Iterator[Chunk]:
        self.history.append(request)
        answer = self.queue.popleft() if self.queue else f"{self.name} answer"
        if isinstance(answer, BackendError):
            raise answer
        words = answer.split(" ")
        for i, word in enumerate(words):
            yield Chunk(text=word if i == 0 else " " + word)
        yield Chunk(usage=Usage(len(request.prompt.split()), len(words)), finish_reason="stop")
