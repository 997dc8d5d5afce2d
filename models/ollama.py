"""Ollama backend: a model served by a local (or LAN) Ollama server, through the ``ollama`` client.

The client is built on first use, never at import. Failures become:

    connection refused               BackendUnavailable: "Ollama is not running at HOST; ..."
    404 model not found              BackendUnavailable: "run `ollama pull MODEL`"
    timeout, dropped connection, 5xx BackendError(retryable=True)
    other 4xx                        BackendError(retryable=False), Ollama's message

Health. The router asks ``health()`` before every request, so the cheap check
must not block: it probes ``/api/tags`` with a short timeout (``probe_timeout_s``,
0.5 s by default; a local server answers in milliseconds) and remembers the
answer for ``health_ttl_s`` (10 s). A stopped server or a model that was
never pulled is then seen *before* routing, and the decision says why,
instead of costing a failed call; the price is at most one short probe per
TTL. ``deep=True`` makes the same check uncached, with the normal timeout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from hybrid.backends import BackendOptions, Installed
from hybrid.errors import BackendError, BackendUnavailable
from hybrid.types import Chunk, Health, Price, Request, Usage

DEFAULT_HOST = "http://127.0.0.1:11434"
INSTALL_HINT = "the ollama client is not installed; run `pip install -e '.[ollama]'`"
HEALTH_TTL_S = 10.0
PROBE_TIMEOUT_S = 0.5


class Options(BackendOptions):
    """``type = "ollama"``: a model on an Ollama server."""

    local: bool = True
    host: str | None = None
    """Server URL. Empty means ``OLLAMA_HOST``, else http://127.0.0.1:11434."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Network timeout per call, seconds."""


def full_tag(model: str) -> str:
    """Ollama names ``llama3.2`` and ``llama3.2:latest`` the same model."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class OllamaBackend:
    """One model on one Ollama server. ``client`` may be injected; it then serves the probes too."""

    def __init__(
        self,
        name: str,
        *,
        model: str,
        host: str = DEFAULT_HOST,
        local: bool = True,
        timeout_s: float = 60.0,
        price: Price = Price(),
        client: Any = None,
        health_ttl_s: float = HEALTH_TTL_S,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.model = model
        self.host = host
        self.is_local = local
        self.price = price
        self._timeout_s = timeout_s
        self._client = client
        self._probe_client = client
        self._health_ttl_s = health_ttl_s
        self._probe_timeout_s = probe_timeout_s
        self._lock = threading.Lock()
        self._installed = Installed("ollama")
        self._cached: tuple[float, Health] | None = None

    def __repr__(self) -> str:
        return f"OllamaBackend(name={self.name!r}, model={self.model!r}, host={self.host!r})"

    # -- clients --------------------------------------------------------------
    def _make_client(self, timeout: float) -> Any:
        import ollama

        return ollama.Client(host=self.host, timeout=timeout)

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client(self._timeout_s)
            return self._client

    def _get_probe_client(self) -> Any:
        with self._lock:
            if self._probe_client is None:
                self._probe_client = self._make_client(self._probe_timeout_s)
            return self._probe_client

    # -- errors -----------------------------------------------------------------
    def _not_running(self) -> BackendUnavailable:
        return BackendUnavailable(
            self.name, f"Ollama is not running at {self.host}; start it with `ollama serve` or set OLLAMA_HOST"
        )

    def _not_pulled(self) -> BackendUnavailable:
        return BackendUnavailable(
            self.name, f"model {self.model!r} is not pulled on {self.host}; run `ollama pull {self.model}`"
        )

    def _translate(self, e: Exception, timeout_s: float) -> BackendError:
        import httpx
        import ollama

        if isinstance(e, ollama.ResponseError):
            message = str(e.error)
            if e.status_code == 404 or ("not found" in message and "model" in message):
                return self._not_pulled()
            retryable = e.status_code == 429 or e.status_code >= 500
            return BackendError(self.name, f"Ollama at {self.host} failed ({e.status_code}): {message}",
                                retryable=retryable)
        if isinstance(e, (ConnectionError, httpx.ConnectError)):
            return self._not_running()
        if isinstance(e, httpx.TimeoutException):
            return BackendError(
                self.name,
                f"Ollama at {self.host} did not answer within {timeout_s:g}s; it may still be loading "
                f"{self.model}; try again or raise backends.{self.name}.timeout_s",
                retryable=True,
            )
        return BackendError(self.name, f"lost the connection to Ollama at {self.host}: {e}", retryable=True)

    # -- health -----------------------------------------------------------------
    def _problem(self) -> str | None:
        if not self.model:
            return f"no model set; set backends.{self.name}.model to an Ollama tag, e.g. llama3.2"
        if not self.host.startswith(("http://", "https://")) and "://" in self.host:
            return f"host {self.host!r} is not an http(s) URL; fix backends.{self.name}.host or OLLAMA_HOST"
        if not self._installed():
            return INSTALL_HINT
        return None

    def _probe(self, client: Any, timeout_s: float) -> Health:
        import httpx
        import ollama

        try:
            listing = client.list()
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as e:
            return Health(False, str(self._translate(e, timeout_s)).removeprefix(f"{self.name}: "))
        wanted = full_tag(self.model)
        for entry in listing.models:
            if entry.model and full_tag(entry.model) == wanted:
                size = f" ({int(entry.size) / 1e9:.1f} GB)" if entry.size else ""
                return Health(True, f"{wanted}{size} on {self.host}")
        return Health(False, str(self._not_pulled()).removeprefix(f"{self.name}: "))

    def health(self, deep: bool = False) -> Health:
        """Config looks sane, then a probe of ``/api/tags``: cached and short unless ``deep``."""
        problem = self._problem()
        if problem:
            return Health(False, problem)
        if deep:
            return self._probe(self._get_client(), self._timeout_s)
        now = time.monotonic()
        cached = self._cached
        if cached is not None and now - cached[0] < self._health_ttl_s:
            return cached[1]
        result = self._probe(self._get_probe_client(), self._probe_timeout_s)
        self._cached = (time.monotonic(), result)
        return result

    # -- inference ----------------------------------------------------------------
    def stream(self, request: Request) -> Iterator[Chunk]:
        problem = self._problem()
        if problem:
            raise BackendUnavailable(self.name, problem)
        import httpx
        import ollama

        client = self._get_client()
        options = {"temperature": request.temperature, "num_predict": request.max_tokens}
        final = None
        try:
            for part in client.chat(model=self.model, messages=request.message_dicts(), stream=True, options=options):
                text = part.message.content if part.message is not None else None
                if text:
                    yield Chunk(text=text)
                if part.done:
                    final = part
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as e:
            self._cached = None
            raise self._translate(e, self._timeout_s) from e
        if final is None:
            raise BackendError(self.name, f"Ollama at {self.host} closed the stream before it finished; try again",
                               retryable=True)
        usage = Usage(final.prompt_eval_count or 0, final.eval_count or 0)
        yield Chunk(usage=usage, finish_reason=final.done_reason or "stop")


def build(name: str, options: Options) -> OllamaBackend:
    kwargs = options.constructor_kwargs()
    kwargs["host"] = kwargs["host"] or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    return OllamaBackend(name, **kwargs)
