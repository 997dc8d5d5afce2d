"""Anthropic backend: the Messages API through the official ``anthropic`` SDK.

The SDK is imported and its client built on first use, never at import. The
SDK retries 429, 5xx and 529 (overloaded) itself, ``max_retries`` times;
whatever still fails is raised as a ``BackendError`` the router can act on:

    429 / 5xx / 529 / connection lost / timeout   BackendError(retryable=True)
    stream cut before message_stop, error event,  BackendError(retryable=True): never a complete answer
    unreadable event
    401 / 403 (key missing, wrong or not allowed) BackendUnavailable, retryable=False;
                                                  health() reports it until restart
    400 "prompt is too long"                      ContextOverflow (retryable=False)
    400 and other 4xx                             BackendError(retryable=False), the API's message

The API version this SDK speaks has no ``temperature`` parameter, so
``Request.temperature`` is not sent. The key is kept as a ``SecretStr``; it is
never put in a message, a repr or a log line (and is scrubbed from SDK
messages we pass on).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from pydantic import SecretStr

from hybrid.backends import Installed, SDKOptions, scrub
from hybrid.errors import BackendError, BackendUnavailable, ContextOverflow
from hybrid.types import Chunk, Health, Price, Request, Usage

KEY_ENV = "ANTHROPIC_API_KEY"
NO_KEY = "no API key; set {env} in the environment (backends.{name}.api_key_env names the variable)"
BAD_KEY = "the API key was rejected ({status} {kind}); check {env}"
INSTALL_HINT = "the anthropic SDK is not installed; run `pip install -e '.[cloud]'`"
FINISH_REASONS = {"end_turn": "stop", "max_tokens": "length"}
RETRYABLE_TYPES = {"rate_limit_error", "overloaded_error", "api_error", "timeout_error"}
HEALTH_TIMEOUT_S = 5.0


def _nodelay_http_client(anthropic: Any) -> Any:
    """The SDK's default HTTP client with TCP_NODELAY (and its TCP keep-alive) on every connection.

    Without it the request's head and body go out as two small writes under Nagle's algorithm, and
    each streamed call waits for the server's delayed ACK (about 6 ms per call on loopback).
    """
    import socket

    import httpx2

    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True), (socket.IPPROTO_TCP, socket.TCP_NODELAY, True)]
    return anthropic.DefaultHttpxClient(transport=httpx2.HTTPTransport(socket_options=options))


class Options(SDKOptions):
    """``type = "anthropic"``: a model behind the Messages API (Anthropic, or a gateway that speaks it)."""

    api_key_env: str | None = KEY_ENV
    base_url: str | None = None
    """API base URL. Empty means the SDK default (or ``ANTHROPIC_BASE_URL``)."""


class AnthropicBackend:
    """One Anthropic model. ``client`` may be injected (tests, custom HTTP setups)."""

    def __init__(
        self,
        name: str,
        *,
        model: str,
        api_key: SecretStr | None = None,
        api_key_env: str | None = KEY_ENV,
        local: bool = False,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout_s: float = 60.0,
        price: Price = Price(),
        client: Any = None,
    ) -> None:
        self.name = name
        self.model = model
        self.price = price
        self.is_local = local
        self.base_url = base_url
        self._api_key = api_key
        self._key_env = api_key_env or f"backends.{name}.api_key_env"
        self._no_key = NO_KEY.format(env=self._key_env, name=name)
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._client = client
        self._lock = threading.Lock()
        self._installed = Installed("anthropic")
        self._auth_failure: str | None = None

    def __repr__(self) -> str:
        key = "set" if self._has_key else "missing"
        return f"AnthropicBackend(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r}, key={key})"

    @property
    def _has_key(self) -> bool:
        return self._client is not None or bool(self._api_key and self._api_key.get_secret_value())

    # -- client ----------------------------------------------------------------
    def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        if not self._has_key:
            raise BackendUnavailable(self.name, self._no_key, retryable=False)
        if not self._installed():
            raise BackendUnavailable(self.name, INSTALL_HINT, retryable=False)
        import anthropic

        with self._lock:
            if self._client is None:
                self._client = anthropic.Anthropic(
                    api_key=self._api_key.get_secret_value(),
                    base_url=self.base_url or None,
                    max_retries=self._max_retries,
                    timeout=self._timeout_s,
                    http_client=_nodelay_http_client(anthropic),
                )
        return self._client

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)

    def _where(self) -> str:
        return self.base_url or "the Anthropic API"

    # -- errors ------------------------------------------------------------------
    def _translate(self, e: Exception) -> BackendError:
        """An SDK exception, after the SDK's own retries, as the BackendError the router expects."""
        import anthropic

        if isinstance(e, anthropic.APITimeoutError):
            return BackendError(
                self.name,
                f"{self._where()} did not answer within {self._timeout_s:g}s after {self._max_retries} retries; "
                f"try again, or raise backends.{self.name}.timeout_s",
                retryable=True,
            )
        if isinstance(e, anthropic.APIConnectionError):
            cause = self._scrub(str(e.__cause__ or e))
            return BackendError(
                self.name,
                f"cannot reach {self._where()} ({cause}); check the network or backends.{self.name}.base_url",
                retryable=True,
            )
        if isinstance(e, anthropic.APIStatusError):
            status, kind = e.status_code, e.type or "error"
            detail = self._scrub(e.api_message or e.message)
            if status in (401, 403) or kind in ("authentication_error", "permission_error"):
                self._auth_failure = BAD_KEY.format(status=status, kind=kind, env=self._key_env)
                return BackendUnavailable(self.name, f"{self._auth_failure}: {detail}", retryable=False)
            if status == 429 or status >= 500 or status in (408, 409) or kind in RETRYABLE_TYPES:
                when = "mid-answer" if status < 400 else f"({status}) after {self._max_retries} retries"
                return BackendError(
                    self.name,
                    f"{kind} {when}: {detail}; the router falls back to another backend, or try again later",
                    retryable=True,
                )
            if status == 400 and "prompt is too long" in detail.lower():
                return ContextOverflow(self.name, f"{detail}; shorten the conversation")
            if status == 404 and kind == "not_found_error":
                return BackendError(
                    self.name, f"{detail}; check backends.{self.name}.model ({self.model!r})", retryable=False
                )
            return BackendError(self.name, f"the API refused the request ({status} {kind}): {detail}")
        return BackendError(self.name, f"unexpected SDK error: {self._scrub(f'{type(e).__name__}: {e}')}")

    # -- health --------------------------------------------------------------------
    def health(self, deep: bool = False) -> Health:
        """Cheap: a key is set and was not rejected. ``deep``: one models.list call, no retries, 5 s."""
        if not self._has_key:
            return Health(False, self._no_key)
        if self._auth_failure:
            return Health(False, self._auth_failure)
        if not self._installed():
            return Health(False, INSTALL_HINT)
        if not deep:
            return Health(True, f"key set; {self.model} at {self._where()}")
        import anthropic

        try:
            client = self._get_client().with_options(max_retries=0, timeout=min(self._timeout_s, HEALTH_TIMEOUT_S))
            client.models.list(limit=1)
        except anthropic.AnthropicError as e:
            error = self._translate(e)
            why = str(error).removeprefix(f"{self.name}: ")
            return Health(False, f"{self._where()} unreachable or refusing: {why}")
        except BackendError as e:
            return Health(False, str(e))
        return Health(True, f"{self._where()} reachable; key accepted; model {self.model}")

    # -- inference -----------------------------------------------------------------
    def stream(self, request: Request) -> Iterator[Chunk]:
        """Text as it arrives, then usage. An answer is complete only at ``message_stop``: a stream that
        ends without it, an ``error`` event, a dropped connection or an unreadable event raise a retryable
        ``BackendError`` instead. Closing this generator closes the HTTP stream (the API stops billing)."""
        client = self._get_client()
        import anthropic
        import httpx2

        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": request.message_dicts(include_system=False),
        }
        if request.system:
            kwargs["system"] = request.system
        final = None
        try:
            with client.messages.stream(**kwargs) as stream:
                for event in stream:
                    if event.type == "text" and event.text:
                        yield Chunk(text=event.text)
                    elif event.type == "message_start":  # billed from here: a stream stopped mid-answer counts it
                        started = event.message.usage
                        yield Chunk(usage=Usage(started.input_tokens or 0, started.output_tokens or 0))
                    elif event.type == "message_stop":
                        final = event.message
        except anthropic.AnthropicError as e:
            raise self._translate(e) from e
        except httpx2.HTTPError as e:
            raise BackendError(self.name, f"the connection to {self._where()} broke mid-answer ({e}); "
                                          "the answer is incomplete", retryable=True) from e
        except (ValueError, KeyError, IndexError) as e:  # an event the SDK cannot parse
            raise BackendError(self.name, f"{self._where()} sent an unreadable stream event ({e}); "
                                          "the answer is incomplete", retryable=True) from e
        if final is None:
            raise BackendError(self.name, f"the stream from {self._where()} ended before message_stop; "
                                          "the answer is incomplete", retryable=True)
        usage = Usage(final.usage.input_tokens or 0, final.usage.output_tokens or 0)
        reason = final.stop_reason
        yield Chunk(usage=usage, finish_reason=FINISH_REASONS.get(reason, reason) if reason else "stop")


def build(name: str, options: Options) -> AnthropicBackend:
    return AnthropicBackend(name, api_key=options.api_key, api_key_env=options.api_key_env,
                            **options.constructor_kwargs())
