"""Local-only requests: what in a request must never reach a cloud backend, and redaction.

A request is local-only when any of these holds:
- it holds a secret: a cloud key or token, a private key, a password in an assignment, credentials in a URL
  (``detect-secrets``' detector plugins, run on each line; an Anthropic key pattern, which no plugin covers);
- it holds personal data: an email address (not at a reserved example domain), a phone number that is valid
  for its region (``phonenumbers``), an IBAN or a card number that passes its checksum (``python-stdnum``);
- the client asked for it (metadata ``local_only`` = true, header ``X-Hybrid-Local-Only``, ``--local-only``;
  a value that is neither true nor false is refused, ``BadFlag``, never read as false);
- its task is listed in ``privacy.local_tasks``.

The verdict's reasons name the rule and where it fired, never the matched text. In ``redact`` mode, findings
(not flags or task rules) are replaced by placeholders such as ``[EMAIL_1]`` before a cloud call, and a
``Restorer`` puts the originals back into the streamed answer. The trace never stores the secrets found
(``credentials``; hybrid/trace_scrub.py replaces them in every row of the request).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hybrid.errors import RequestError
from hybrid.settings import PrivacySettings
from hybrid.types import Chunk, Message, Request

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
LOCAL_ONLY_HEADER = "X-Hybrid-Local-Only"

# Plugins that find a secret by its shape or its keyword; the entropy and public-IP plugins are left out
# (they flag ordinary hashes, ids and addresses in prose).
_SKIPPED_PLUGINS = frozenset({"Base64 High Entropy String", "Hex High Entropy String", "Public IP (ipv4)"})
_ANTHROPIC_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}")
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.DOTALL)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", ".test", ".example", ".invalid", ".localhost")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE_CANDIDATE = re.compile(r"\+?\(?\d[\d \t().-]{7,20}\d")
# A cheap necessary condition for any detector plugin above to fire, checked before detect-secrets is loaded
# (importing it and building its plugins costs a quarter of a second). Each plugin's patterns need one of:
# - a keyword stem: the keyword plugin's words, and the key/password/token context of the AWS, Cloudant,
#   IBM and SoftLayer patterns and Azure's ``AccountKey=``, ``PRIVATE KEY`` and PuTTY's ``Key-File``;
# - ``://`` (basic auth, Slack webhooks, Cloudant and SoftLayer URLs) or a short prefix (``eyJ`` for a JWT,
#   ``xox`` for Slack);
# - a token: 11 or more characters of ``[\w+/=.:-]`` with something other than a lowercase letter after
#   the first, trailing dots and colons aside (the shortest plugin pattern is Artifactory's 11; every other
#   shape has a capital, a digit or a separator inside it). So most prose skips the plugins; any doubt runs
#   them. tests/test_privacy.py draws strings matching each installed plugin pattern and checks them here.
_SECRET_STEMS = re.compile(r"key|pass|pw|token|secret|contrase|://|eyj|xox", re.IGNORECASE)
_TOKEN_RUN = re.compile(r"[\w+/=.:-]{11,}")
_PLACEHOLDER = re.compile(r"^\[(?:SECRET|EMAIL|PHONE|IBAN|CARD)_\d+\]$")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|35)")


@dataclass(frozen=True)
class Finding:
    """One sensitive span in one message. ``label`` names what it is, never what it says."""

    kind: str  # "secret" or "personal"
    label: str
    message: int
    start: int
    end: int

    @property
    def tag(self) -> str:
        if self.kind == "secret":
            return "SECRET"
        return {"email address": "EMAIL", "phone number": "PHONE", "IBAN": "IBAN"}.get(self.label, "CARD")


@dataclass(frozen=True)
class PrivacyVerdict:
    """Whether a request must stay local, and which rules say so (words safe to log)."""

    rules: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    forced: bool = False
    """A flag or a task rule fired: redaction cannot lift it."""

    @property
    def local_only(self) -> bool:
        return bool(self.rules)

    def redactable(self, mode: str) -> bool:
        return mode == "redact" and self.local_only and not self.forced

    def describe(self) -> str:
        return "; ".join(self.rules)


def _whole(text: str, value: str) -> Iterator[tuple[int, int]]:
    """Where ``value`` occurs in ``text`` as a whole token (not inside a longer word)."""
    for m in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(value)}(?![A-Za-z0-9_])", text):
        yield m.start(), m.end()


@functools.lru_cache(maxsize=1)
def _plugins() -> tuple:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return tuple(cls() for name, cls in sorted(get_mapping_from_secret_type_to_class().items())
                 if name not in _SKIPPED_PLUGINS)


def _keyword_maps() -> tuple:
    from detect_secrets.plugins import keyword

    return (keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, {keyword.FOLLOWED_BY_EQUAL_SIGNS_REGEX: 5})


@functools.lru_cache(maxsize=1)
def _keywords() -> re.Pattern[str]:
    from detect_secrets.plugins import keyword

    return re.compile("|".join(keyword.DENYLIST), re.IGNORECASE)


def _may_hit(plugin, text: str) -> bool:
    """A cheap whole-text pass first: a plugin none of whose patterns occur anywhere has nothing to find."""
    if plugin.secret_type == "Secret Keyword":
        return _keywords().search(text) is not None
    return any(pattern.search(text) for pattern in getattr(plugin, "denylist", ()))


def _plausible(value: str) -> bool:
    """detect-secrets' own heuristics against placeholders: templates, $VARS, sequences, too short."""
    from detect_secrets.filters import heuristic

    return not (len(value) < 4 or _PLACEHOLDER.match(value) or heuristic.is_templated_secret(value) or heuristic.is_prefixed_with_dollar_sign(value)
                or heuristic.is_sequential_string(value) or heuristic.is_not_alphanumeric_string(value))


def may_hold_secret(text: str) -> bool:
    """False only when no detector plugin can fire on ``text`` (see ``_SECRET_STEMS``); then detect-secrets
    is not loaded at all."""
    if _SECRET_STEMS.search(text):
        return True
    tails = (run.rstrip(".:")[1:] for run in _TOKEN_RUN.findall(text))
    return any(not (tail.isalpha() and tail.islower()) for tail in tails)


@functools.lru_cache(maxsize=1024)
def secret_spans(text: str) -> tuple[tuple[str, tuple[int, int]], ...]:
    """The credentials in ``text`` as (label, span), remembered for recent texts: the router's privacy check and
    the trace's scrubber (``credentials``) scan each of a request's messages in the same order, so the cache must
    hold a long conversation's messages (an LRU smaller than the conversation misses on every one of them)."""
    return tuple(_secret_spans(text))


def credentials(texts: Iterable[str]) -> dict[str, str]:
    """Each credential found in ``texts`` (not personal data) -> its label, e.g. ``{"ghp_...": "GitHub Token"}``.
    A private key's block also gives each of its long lines, so a key quoted line by line is found too."""
    found: dict[str, str] = {}
    for text in texts:
        for label, (start, end) in secret_spans(text):
            value = text[start:end]
            found[value] = label
            if label == "Private Key":
                found |= {line.strip(): label for line in value.splitlines() if len(line.strip()) >= 16}
    return found


def _secret_spans(text: str) -> Iterator[tuple[str, tuple[int, int]]]:
    plugins = [plugin for plugin in _plugins() if _may_hit(plugin, text)] if may_hold_secret(text) else []
    offset = 0
    for line in text.splitlines(keepends=True) if plugins else ():
        for plugin in plugins:
            name = plugin.secret_type
            if name == "Private Key":
                if any(True for _ in plugin.analyze_string(line)):
                    block = _PEM_BLOCK.search(text, offset)
                    yield name, (block.start(), block.end()) if block else (offset, offset + len(line))
                continue
            if name == "Secret Keyword":
                values = [v for mapping in _keyword_maps() for v in plugin.analyze_string(line, mapping)]
                values = [v for v in values if _plausible(v)]
            else:
                values = list(plugin.analyze_string(line))
            for value in dict.fromkeys(v for v in values if v):
                for start, end in _whole(line, value) if name != "GitHub Token" else _token_at(line, value):
                    yield name, (offset + start, offset + end)
        offset += len(line)
    for m in _ANTHROPIC_KEY.finditer(text):
        yield "Anthropic API key", (m.start(), m.end())


def _token_at(line: str, prefix: str) -> Iterator[tuple[int, int]]:
    """The GitHub plugin yields only the token's prefix (``ghp``): extend each occurrence to the whole token."""
    for m in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(prefix)}_[A-Za-z0-9_]{{30,}}", line):
        yield m.start(), m.end()


def _personal_spans(text: str, regions: Iterable[str]) -> Iterator[tuple[str, tuple[int, int]]]:
    for m in _EMAIL.finditer(text):
        domain = m.group().rsplit("@", 1)[1].lower()
        if not any(domain == d or domain.endswith(d if d.startswith(".") else "." + d) for d in _RESERVED_DOMAINS):
            yield "email address", (m.start(), m.end())
    for m in _IBAN.finditer(text):
        from stdnum import iban  # imported only when a candidate needs checking

        if iban.is_valid(m.group()):
            yield "IBAN", (m.start(), m.end())
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits):
            from stdnum import luhn

            if luhn.is_valid(digits):
                yield "card number", (m.start(), m.end())
    yield from _phone_spans(text, regions)


def _phone_spans(text: str, regions: Iterable[str]) -> Iterator[tuple[str, tuple[int, int]]]:
    """Numbers that ``phonenumbers`` finds valid and grouped as their region writes them, at least 9 digits,
    standing on their own (not a decimal, a version or part of a longer list of numbers)."""
    seen: set[tuple[int, int]] = set()
    for candidate in _PHONE_CANDIDATE.finditer(text):
        import phonenumbers  # imported only when a candidate needs checking

        base = candidate.start()
        for region in (*regions, None):
            matcher = phonenumbers.PhoneNumberMatcher(candidate.group(), region,
                                                      leniency=phonenumbers.Leniency.EXACT_GROUPING)
            for match in matcher:
                span = (base + match.start, base + match.end)
                before, after = text[max(0, span[0] - 2):span[0]], text[span[1]:span[1] + 2]
                digits = sum(c.isdigit() for c in match.raw_string)
                if (span in seen or digits < 9 or re.search(r"[\d.,/\\-]\s?$", before)
                        or re.match(r"\s?[\d,/\\-]|[.,]\d", after)):
                    continue
                seen.add(span)
                yield "phone number", span


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def find(text: str, *, regions: Iterable[str] = ("US",), message: int = 0) -> list[Finding]:
    """Sensitive spans in ``text``, secrets first, without overlaps, in text order."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind, spans in (("secret", secret_spans(text)), ("personal", _personal_spans(text, regions))):
        for label, span in spans:
            if not _overlaps(span, taken):
                taken.append(span)
                found.append(Finding(kind, label, message, *span))
    return sorted(found, key=lambda f: f.start)


class BadFlag(RequestError):
    """A local-only flag that is neither a yes nor a no: refused rather than read as no (which would fail open)."""

    def __init__(self, where: str, value: object) -> None:
        super().__init__(
            f"{where} is {value!r}, which is neither true nor false; fix: use true, yes, 1 or on (keep the request "
            "local) or false, no, 0 or off (route it as usual), in any case"
        )
        self.where = where


def parse_flag(value: object, where: str) -> bool:
    """A yes/no flag: true/yes/1/on or false/no/0/off in any case (missing or empty: no); else ``BadFlag``."""
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise BadFlag(where, value)


def flag_from(metadata: Mapping[str, str]) -> bool:
    """The per-request flag: metadata ``local_only`` is true (the server puts a true ``X-Hybrid-Local-Only``
    header there, see ``hybrid.server.common.header_hints``). A value that is neither true nor false raises
    ``BadFlag``."""
    return parse_flag(metadata.get("local_only"), "metadata local_only")


def _place(messages: tuple[Message, ...], index: int) -> str:
    """Where a finding is, in the words a client knows: the system prompt (Anthropic's ``system``) or message N."""
    return "the system prompt" if messages[index].role == "system" else f"message {index + 1}"


class PrivacyScanner:
    """Decides whether a request is local-only; remembers recent verdicts (a request is checked twice)."""

    def __init__(self, settings: PrivacySettings) -> None:
        self.settings = settings
        self._verdict = functools.lru_cache(maxsize=128)(self._compute)

    def verdict(self, request: Request) -> PrivacyVerdict:
        return self._verdict(request.messages, request.task, flag_from(request.metadata))

    def _compute(self, messages: tuple[Message, ...], task: str, flagged: bool) -> PrivacyVerdict:
        rules: list[str] = []
        if flagged:
            rules.append("local-only: the client asked for it (local_only)")
        if task in self.settings.local_tasks:
            rules.append(f"local-only: task {task!r} is listed in privacy.local_tasks")
        findings: list[Finding] = []
        if self.settings.scan:
            for i, message in enumerate(messages):
                findings += find(message.content, regions=self.settings.phone_regions, message=i)
        labels = dict.fromkeys(f"{f.label} in {_place(messages, f.message)}" for f in findings)
        if labels:
            rules.append("local-only: " + ", ".join(labels))
        return PrivacyVerdict(tuple(rules), tuple(findings), forced=flagged or task in self.settings.local_tasks)


@dataclass(frozen=True)
class Redaction:
    """Placeholders and the originals they stand for."""

    originals: Mapping[str, str]

    def restore(self, text: str) -> str:
        for placeholder, original in self.originals.items():
            text = text.replace(placeholder, original)
        return text


def redact(request: Request, findings: Iterable[Finding]) -> tuple[Request, Redaction]:
    """``request`` with each finding replaced by a placeholder (the same value, the same placeholder)."""
    by_message: dict[int, list[Finding]] = {}
    for f in findings:
        by_message.setdefault(f.message, []).append(f)
    placeholder_of: dict[str, str] = {}
    counts: dict[str, int] = {}
    messages = list(request.messages)
    for index, found in by_message.items():
        text = messages[index].content
        pieces, last = [], 0
        for f in sorted(found, key=lambda f: f.start):
            value = text[f.start:f.end]
            if value not in placeholder_of:
                counts[f.tag] = counts.get(f.tag, 0) + 1
                placeholder_of[value] = f"[{f.tag}_{counts[f.tag]}]"
            pieces += [text[last:f.start], placeholder_of[value]]
            last = f.end
        pieces.append(text[last:])
        messages[index] = Message(messages[index].role, "".join(pieces))
    originals = {p: v for v, p in placeholder_of.items()}
    return dataclasses.replace(request, messages=tuple(messages)), Redaction(originals)


class Restorer:
    """Puts originals back into streamed text; holds back a piece that may be the start of a placeholder."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self._longest = max((len(p) for p in redaction.originals), default=0)
        self._held = ""

    def feed(self, text: str) -> str:
        if not self.redaction.originals:
            return text
        text = self._held + text
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut < self._longest:
            self._held, text = text[cut:], text[:cut]
        else:
            self._held = ""
        return self.redaction.restore(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self.redaction.restore(held)

    def wrap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """The backend's chunks with the originals restored; held text is released before the final chunk.

        Closing this stream closes the backend's (the SDK drops its HTTP response, llama.cpp stops).
        """
        try:
            for chunk in chunks:
                text = self.feed(chunk.text)
                if chunk.usage is not None or chunk.finish_reason:
                    text += self.flush()
                yield dataclasses.replace(chunk, text=text)
            tail = self.flush()
            if tail:
                yield Chunk(text=tail)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
