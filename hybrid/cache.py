"""Response cache: identical temperature-0 requests to the same backend and model reuse the answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from hybrid.types import Request, Usage


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    usage: Usage
    finish_reason: str | None


def cache_key(backend: str, model: str, request: Request) -> str:
    payload = {
        "backend": backend,
        "model": model,
        "messages": request.message_dicts(),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """A size-bounded disk cache. Only deterministic (temperature 0) requests are cached."""

    def __init__(self, directory: Path, *, size_limit_mb: int = 256) -> None:
        import diskcache  # imported when a cache is opened: `--no-cache` and `cache.enabled = false` skip it

        self._cache = diskcache.Cache(str(directory), size_limit=size_limit_mb * 1024 * 1024)

    @staticmethod
    def cacheable(request: Request) -> bool:
        return request.temperature == 0

    def get(self, backend: str, model: str, request: Request) -> CachedAnswer | None:
        if not self.cacheable(request):
            return None
        hit = self._cache.get(cache_key(backend, model, request))
        if not isinstance(hit, dict):
            return None
        return CachedAnswer(hit["text"], Usage(hit["input_tokens"], hit["output_tokens"]), hit["finish_reason"])

    def put(self, backend: str, model: str, request: Request, answer: CachedAnswer) -> None:
        if not self.cacheable(request):
            return
        self._cache.set(
            cache_key(backend, model, request),
            {
                "text": answer.text,
                "input_tokens": answer.usage.input_tokens,
                "output_tokens": answer.usage.output_tokens,
                "finish_reason": answer.finish_reason,
            },
        )

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()
