"""What the trace store never writes: secrets, replaced before a row is queued (in the caller's thread).

Two kinds, each scrubbed from every string of every row (text and JSON columns, long texts before they are
interned, step errors, lookup columns):
- store-wide: the configured secrets (backend keys, ``TraceStore(secrets=...)``) and anything shaped like an
  Anthropic key, as ``[redacted]``;
- per request: the credentials the privacy scan (``hybrid.privacy.credentials``, the same detectors that keep
  the request local) finds in the messages a request starts with, as ``[redacted: <what it is>]`` (``[redacted:
  GitHub Token]``), in all of that request's rows: its prompt and messages, every step's input and output (an
  answer that echoes the secret too) and its error. Personal data (email addresses, phone numbers, IBANs, card
  numbers) stays: the trace is the user's own, on their machine.

The scan is the privacy check's own, cached per text, so the router's check and the trace share one scan; a
prompt with nothing shaped like a secret costs one regex pass (``hybrid.privacy.may_hold_secret``).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from hybrid.privacy import credentials

KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9_\-])sk-ant-[A-Za-z0-9_\-]{20,}(?![A-Za-z0-9_\-])")
KEY_PREFIX = "sk-ant-"  # every KEY_PATTERN match holds it: a plain `in` spares the regex on most strings
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""A configured secret shorter than this is no real key: scrubbing it would mangle ordinary words."""
REMEMBERED = 4096
"""Requests whose credentials are remembered (only those with any); the oldest are forgotten first."""


def _plausible(secrets: Iterable[str]) -> set[str]:
    return {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}


def _whole_tokens(words: Iterable[str], edge: str) -> re.Pattern[str]:
    """``words`` where none is part of a longer token (no ``edge`` character either side), longest first."""
    alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
    return re.compile(rf"(?<![{edge}])(?:{alternatives})(?![{edge}])")


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """The configured secrets as whole tokens (not inside a longer word), longest first."""
    plausible = _plausible(secrets)
    return _whole_tokens(plausible, r"A-Za-z0-9_\-") if plausible else None


def secret_words(secrets: Iterable[str]) -> tuple[str, ...]:
    """The configured secrets as they appear inside JSON text; a secret JSON would escape makes every text
    suspect (the empty word is in every text)."""
    return tuple(s if json.dumps(s, ensure_ascii=False) == f'"{s}"' else "" for s in _plausible(secrets))


class Found:
    """The credentials found in one request, each replaced by ``[redacted: <label>]`` wherever it occurs as a
    whole token (as the scan finds them: a short password such as ``ab`` is not cut out of ``about``)."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)
        self._pattern = _whole_tokens(self.labels, "A-Za-z0-9_")

    def __call__(self, text: str) -> str:
        return self._pattern.sub(lambda m: f"[redacted: {self.labels[m.group()]}]", text)

    def deep(self, value: Any) -> Any:
        """``value`` with every string in it scrubbed (dict keys too)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value

    def merged(self, labels: Mapping[str, str]) -> Found:
        return Found({**self.labels, **labels})


class PerRequest:
    """Each request's ``Found``, kept from its start for its later writes; thread-safe."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._found: OrderedDict[str, Found] = OrderedDict()
        self._lock = threading.Lock()

    def scan(self, request_id: str, messages: Iterable[Mapping[str, Any]]) -> Found | None:
        """Scan ``messages``' contents; remember what they hold for ``request_id``. Returns its ``Found``."""
        labels = credentials(str(m.get("content") or "") for m in messages)
        with self._lock:
            found = self._found.get(request_id)
            if labels:
                found = self._found[request_id] = found.merged(labels) if found else Found(labels)
                self._found.move_to_end(request_id)
                while len(self._found) > self._size:
                    self._found.popitem(last=False)
            return found

    def get(self, request_id: str) -> Found | None:
        return self._found.get(request_id)
