"""Content-addressed texts: each long string of the trace is stored once, in ``texts``, and referred to.

A prompt used to be written five times per request (the request row, its messages, the ``request``,
``classify`` and ``backend_call`` steps) and an output twice. Now every string of ``INTERN_MIN`` characters
or more, anywhere in a row (a text column or deep inside a JSON column), is replaced by a reference:
``REF`` followed by the first 32 hex digits of its SHA-256. Readers put the texts back, so callers never
see a reference. Short strings stay inline, where they are cheaper than a reference.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

REF = "\x01"
INTERN_MIN = 48
HASH_LEN = 32
REF_PATTERN = re.compile(r"(?:\x01|\\u0001)([0-9a-f]{32})")
"""A reference, raw in a text column or JSON-escaped inside a JSON column."""
_ESCAPED_REF = "\\u0001"


def _unchanged(text: str) -> str:
    return text


class Digests:
    """A small memo of recent long texts (as given, before scrubbing) -> (digest, scrubbed text): a prompt
    is written four or five times per request, and is scrubbed and hashed once."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.memo: dict[str, tuple[str, str]] = {}

    def __call__(self, raw: str, clean: Callable[[str], str]) -> tuple[str, str]:
        found = self.memo.get(raw)
        if found is None:
            if len(self.memo) >= self.size:
                self.memo.clear()
            body = clean(raw)
            found = self.memo[raw] = (hashlib.sha256(body.encode()).hexdigest()[:HASH_LEN], body)
        return found


class Interner:
    """Collects the long strings of one write and swaps them for references."""

    def __init__(self, digests: Digests | None = None) -> None:
        self.texts: dict[str, str] = {}
        self.digests = digests or Digests()

    def text(self, value: str, clean: Callable[[str], str]) -> str:
        """``value`` scrubbed by ``clean``; a long one is swapped for a reference to it."""
        if len(value) < INTERN_MIN and not value.startswith(REF):
            return clean(value)
        digest, body = self.digests(value, clean)
        self.texts[digest] = body
        return REF + digest

    def deep(self, value: Any, clean: Callable[[str], str]) -> Any:
        """``value`` with every string passed through ``clean`` (the secret scrubber), long ones interned."""
        if isinstance(value, str):
            return self.text(value, clean)
        if isinstance(value, dict):
            return {k: self.deep(v, clean) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v, clean) for v in value]
        return value

    def json_text(self, encoded: str) -> str | None:
        """JSON text ``encoded`` with its long strings swapped for references, like ``deep`` then encoding, but
        without walking the value in Python; ``None`` if the text holds an escaped quote (then use ``deep``).

        Only for text with nothing to scrub. Without an escaped quote, the text split at its quotes alternates
        between what lies outside strings and the strings' contents, and a string followed by ``:`` is a key
        (``deep`` keeps keys as they are)."""
        if len(encoded) < INTERN_MIN and _ESCAPED_REF not in encoded:
            return encoded  # no string in it can be long
        if '\\"' in encoded:
            return None
        parts = encoded.split('"')
        if max(map(len, parts)) < INTERN_MIN and _ESCAPED_REF not in encoded:
            return encoded
        changed = False
        for i in range(1, len(parts), 2):
            part = parts[i]
            if (len(part) < INTERN_MIN and not part.startswith(_ESCAPED_REF)) or parts[i + 1].startswith(":"):
                continue
            raw = json.loads(f'"{part}"') if "\\" in part else part
            if len(raw) >= INTERN_MIN or raw.startswith(REF):
                digest, body = self.digests(raw, _unchanged)
                self.texts[digest] = body
                parts[i] = _ESCAPED_REF + digest
                changed = True
        return '"'.join(parts) if changed else encoded


def refs_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value[1:]} if value.startswith(REF) and len(value) == HASH_LEN + 1 else set()
    if isinstance(value, dict):
        return set().union(*(refs_in(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(refs_in(v) for v in value)) if value else set()
    return set()


def fetch(db: sqlite3.Connection, hashes: Iterable[str]) -> dict[str, str]:
    wanted = list(hashes)
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        found.update(db.execute(f"SELECT hash, body FROM texts WHERE hash IN ({marks})", chunk).fetchall())
    return found


def resolve(value: Any, texts: dict[str, str]) -> Any:
    if isinstance(value, str):
        if value.startswith(REF) and len(value) == HASH_LEN + 1:
            return texts.get(value[1:], "[text pruned]")
        return value
    if isinstance(value, dict):
        return {k: resolve(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, texts) for v in value]
    return value
