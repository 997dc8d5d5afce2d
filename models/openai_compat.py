"""OpenAI-compatible backend: any server speaking ``/v1/chat/completions``, through the official ``openai`` SDK.

That API is spoken by llama.cpp's ``llama-server``, llama-cpp-python's server, vLLM, LM Studio, LocalAI,
Ollama's ``/v1`` and most hosted gateways. Whether the backend counts as local (free, private) and what it
costs are configuration (``local``, ``price_input``, ``price_output``), not guesses.

The SDK is imported and its client built on first use, never at import. It streams with
``stream_options.include_usage`` so the usage counts are the server's own (a server that ignores it, such
as llama-cpp-python's, gets its output tokens counted from the stream's deltas, one token each, and no
input count), reports ``finish_reason`` and,
with ``logprobs = true``, the token log-probabilities the server sends. The SDK retries connection errors,
429 and 5xx ``max_retries`` times; what still fails becomes:

    connection refused / lost, timeout, 429, 5xx, stream cut off   BackendError(retryable=True)
    401 / 403 (key missing or refused)                             BackendUnavailable(retryable=False)
    404 and other 4xx                                              BackendError(retryable=False), the server's message

Health: the cheap check looks at the configuration only (URL, SDK installed, key present when one is
named); the deep check lists ``GET /v1/models`` and says whether the configured model is served.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from pydantic import Field, SecretStr

from hybrid.backends import Installed, SDKOptions, scrub
from hybrid.errors import BackendError, BackendUnavailable
from hybrid.types import Chunk, Health, Price, Request, Usage

INSTALL_HINT = "the openai SDK is not installed; run `pip install 'hybrid-router[cloud]'`"
NO_KEY = "no API key; set {env} in the environment (backends.{name}.api_key_env names it)"
HEALTH_TIMEOUT_S = 5.0
#: Sent when no key is configured: local servers ignore it, and the SDK refuses an empty one.
NO_KEY_PLACEHOLDER = "not-needed"


class Options(SDKOptions):
    """``type = "openai"``: one model on a server that speaks the OpenAI chat completions API."""

    model: str = Field(min_length=1)
    """Model id as the server names it (``GET /v1/models`` lists them)."""
    base_url: str = Field(pattern=r"^https?://")
    """The API root, usually ending in ``/v1``, e.g. http://127.0.0.1:8080/v1."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with every call (a gateway's routing or tenant headers)."""
    logprobs: bool = False
    """Ask for token log-probabilities (the cascade's confidence signal), where the server offers them."""


class OpenAICompatBackend:
    """One model on one OpenAI-compatible server. ``client`` may be injected (tests, custom HTTP setups)."""

    def __init__(
        self,
        name: str,
        *,
        model: str,
        base_url: str,
        local: bool = False,
        api_key: SecretStr | None = None,
        api_key_env: str | None = None,
        headers: dict[str, str] | None = None,
        logprobs: bool = False,
        max_retries: int = 2,
        timeout_s: float = 60.0,
        price: Price = Price(),
        client: Any = None,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url
        self.is_local = local
        self.price = price
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._headers = dict(headers or {})
        self._logprobs = logprobs
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._client = client
        self._lock = threading.Lock()
        self._installed = Installed("openai")

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r})"

    # -- configuration ----------------------------------------------------------
    def _problem(self) -> str | None:
        if self._client is not None:
            return None
        if self._api_key_env and self._api_key is None:
            return NO_KEY.format(env=self._api_key_env, name=self.name)
        if not self._installed():
            return INSTALL_HINT
        return None

    def _get_client(self) -> Any:
        problem = self._problem()
        if problem:
            raise BackendUnavailable(self.name, problem, retryable=False)
        with self._lock:
            if self._client is None:
                import openai

                key = self._api_key.get_secret_value() if self._api_key else NO_KEY_PLACEHOLDER
                self._client = openai.OpenAI(
                    api_key=key,
                    base_url=self.base_url,
                    default_headers=self._headers or None,
                    max_retries=self._max_retries,
                    timeout=self._timeout_s,
                )
        return self._client

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)

    # -- errors -------------------------------------------------------------------
    def _translate(self, e: Exception) -> BackendError:
        """An SDK or transport exception, after the SDK's own retries, as the BackendError the router expects."""
        import openai

        where = self.base_url
        if isinstance(e, openai.APITimeoutError):
            return BackendError(
                self.name,
                f"{where} did not answer within {self._timeout_s:g}s; try again, or raise "
                f"backends.{self.name}.timeout_s",
                retryable=True,
            )
        if isinstance(e, openai.APIStatusError):
            status, detail = e.status_code, self._scrub(str(e.message))
            if status in (401, 403):
                return BackendUnavailable(
                    self.name, f"{where} refused the key ({status}): {detail}; check {self._api_key_env or 'the key'}",
                    retryable=False,
                )
            if status == 404:
                return BackendError(
                    self.name, f"{where} answered 404 ({detail}); check backends.{self.name}.model ({self.model!r}) "
                    f"and base_url (it usually ends in /v1)",
                )
            retryable = status in (408, 409, 429) or status >= 500
            return BackendError(self.name, f"{where} failed ({status}): {detail}", retryable=retryable)
        if isinstance(e, openai.APIConnectionError):
            cause = self._scrub(str(e.__cause__ or e))
            return BackendError(
                self.name,
                f"cannot reach {where} ({cause}); is the server running? check backends.{self.name}.base_url",
                retryable=True,
            )
        # httpx errors while reading a stream (the server stopped mid-answer) and SSE error events
        return BackendError(
            self.name, f"lost {where} mid-answer ({self._scrub(f'{type(e).__name__}: {e}')}); try again",
            retryable=True,
        )

    # -- health -------------------------------------------------------------------
    def health(self, deep: bool = False) -> Health:
        """Cheap: configuration only. ``deep``: ``GET /v1/models`` once, no retries, and the model is listed."""
        problem = self._problem()
        if problem:
            return Health(False, problem)
        if not deep:
            return Health(True, f"{self.model} at {self.base_url}")
        import httpx
        import openai

        try:
            client = self._get_client().with_options(max_retries=0, timeout=min(self._timeout_s, HEALTH_TIMEOUT_S))
            served = sorted(m.id for m in client.models.list())
        except (openai.OpenAIError, httpx.HTTPError) as e:
            return Health(False, str(self._translate(e)).removeprefix(f"{self.name}: "))
        if self.model not in served:
            listed = ", ".join(served[:8]) + (" ..." if len(served) > 8 else "") or "none"
            return Health(False, f"{self.base_url} does not serve {self.model!r} (it serves: {listed}); "
                                 f"fix backends.{self.name}.model")
        return Health(True, f"{self.base_url} serves {self.model}")

    # -- inference ------------------------------------------------------------------
    def stream(self, request: Request) -> Iterator[Chunk]:
        client = self._get_client()
        import httpx
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.message_dicts(),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self._logprobs:
            kwargs["logprobs"] = True
        usage: Usage | None = None
        finish_reason = None
        deltas = 0
        try:
            for event in client.chat.completions.create(**kwargs):
                if event.usage is not None:
                    usage = Usage(event.usage.prompt_tokens or 0, event.usage.completion_tokens or 0)
                for choice in event.choices[:1]:
                    finish_reason = choice.finish_reason or finish_reason
                    content = choice.logprobs.content if choice.logprobs is not None else None
                    logprobs = tuple(t.logprob for t in content or () if t.logprob is not None)
                    text = choice.delta.content if choice.delta is not None else None
                    if text or logprobs:
                        deltas += 1
                        yield Chunk(text=text or "", logprobs=logprobs)
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._translate(e) from e
        if finish_reason is None:
            raise BackendError(self.name, f"{self.base_url} ended the stream before the answer finished; try again",
                               retryable=True)
        # A server that ignores include_usage (llama-cpp-python's own) streams one token per delta.
        yield Chunk(usage=usage if usage is not None else Usage(0, deltas), finish_reason=finish_reason)


def build(name: str, options: Options) -> OpenAICompatBackend:
    return OpenAICompatBackend(name, api_key=options.api_key, api_key_env=options.api_key_env,
                               **options.constructor_kwargs())
