"""``cut_off``: the draft stopped before it was done.

Fires when the backend says it hit the token limit (``finish_reason == "length"``), when a
Markdown code fence is opened and never closed, or when the last line breaks off mid-sentence:
it ends on a comma, an operator or an opening bracket, or on a word that cannot end a sentence
("the", "of", "and", "is"...), or it is prose with no closing punctuation: a long line, or a line of five
words or more after one that closed its sentence.

Not an alarm: a final number ("... = 0.7"), "The answer is (B)", list items, headings, table rows,
closed code blocks, LaTeX, and short lines (a sign-off, a title, a one-word answer).
"""

from __future__ import annotations

import re

from hybrid.types import CheckResult

from .text import FENCE, quote_end, tail

NAME = "cut_off"

#: Characters of the answer's end read for the last line.
LAST_LINE_TAIL = 600
#: A prose line without closing punctuation this long (in words) reads as broken off.
LONG_PROSE_WORDS = 12
#: Characters of a line's end the end-anchored patterns read.
END_CHARS = 80
#: More fence markers than this is not a real draft: the fence rule is skipped rather than scan them all.
MAX_FENCES = 400
#: A prose line this long (in words) after a line that ends its sentence must end its own.
AFTER_SENTENCE_WORDS = 5
#: Lines shorter than this (in words), after another unpunctuated line, read as list items.
SHORT_LINE_WORDS = 8

_DANGLING = (
    "a an the and or but nor of to in on at by for with from into onto over under between through about "
    "as than that which who whom whose where when while because since although though if unless whether "
    "so then thus therefore hence is are was were be been being has have had do does did will would shall "
    "should can could may might must not this these those its their our your his her my we i you they it "
    "very more most such"
)
_DANGLING_WORDS = frozenset(_DANGLING.split())
_DANGLING_MARK = re.compile(r"[,(\[{=+*/^\\&|<~–—-]$")
_CLOSED = re.compile(r"(?:[.!?…:;。！？)\]}>\"'”’»*`|$%°]|#\w+|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D])$")
_SENTENCE_END = re.compile(r"[.!?]$")
_LIST_OR_HEADING = re.compile(r"^(?:[-*+•]|\d{1,3}[.)]|[A-Za-z][.)]|#{1,6})[ \t]")
_ENDS_IN_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:[ \t]*[a-zA-Zµ°%/²³^]{1,8}(?:\^?-?\d)?\.?)?$")
_WORD = re.compile(r"[^\W\d_][\w'’-]*$")


def _last_lines(answer: str) -> tuple[str, str]:
    """The last non-empty line and the one before it (empty when there is none)."""
    lines = [line.strip() for line in tail(answer.rstrip(), LAST_LINE_TAIL).splitlines() if line.strip()]
    return (lines[-1] if lines else "", lines[-2] if len(lines) > 1 else "")


def unfinished_sentence(answer: str) -> str | None:
    """Why the last line reads as broken off mid-sentence, or None when it reads as finished."""
    line, previous = _last_lines(answer)
    end = line[-END_CHARS:]  # the end-anchored patterns read only the line's end, so they stay linear
    if not line or _CLOSED.search(end) or _ENDS_IN_NUMBER.search(end):
        return None
    words = line.split()
    # A run of short unpunctuated lines is a list without markers ("what we have hoped for").
    in_list = len(words) < SHORT_LINE_WORDS and previous and not _CLOSED.search(previous[-END_CHARS:])
    if _DANGLING_MARK.search(end) or line.count("$") % 2 == 1:  # or inside an unclosed $...$ formula
        return f"draft ends mid-sentence: {quote_end(line)!r}"
    last = _WORD.search(end)
    if last is None:
        return None
    if len(words) >= 3 and not in_list and last.group(0).lower() in _DANGLING_WORDS:
        return f"draft ends mid-sentence on {last.group(0)!r}: {quote_end(line)!r}"
    if _LIST_OR_HEADING.match(line) or line.startswith("|"):
        return None
    # Prose that stops without punctuation: a long line, or one after a line that closed its sentence.
    if len(words) >= LONG_PROSE_WORDS or (len(words) >= AFTER_SENTENCE_WORDS and _SENTENCE_END.search(previous)):
        return f"draft ends mid-sentence, with no closing punctuation: {quote_end(line)!r}"
    return None


def open_fence(answer: str) -> str | None:
    """The language of a code block that is opened and never closed ("" when untagged), or None."""
    markers = answer.count("```") + answer.count("~~~")
    if markers == 0 or markers > MAX_FENCES:
        return None
    fences = FENCE.findall(answer)
    if len(fences) % 2 == 0:
        return None
    return fences[-1][1]


#: What each API calls stopping at the token limit: OpenAI-compatible servers, llama.cpp and Ollama say
#: ``length`` (hybrid's own word), Anthropic's Messages API ``max_tokens``: a label line may carry either.
TOKEN_LIMIT = ("length", "max_tokens")


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    if finish_reason in TOKEN_LIMIT:
        return CheckResult(NAME, True, f"draft stopped at the token limit (finish_reason = {finish_reason})")
    lang = open_fence(answer)
    if lang is not None:
        where = f"a {lang} code block" if lang else "a code block"
        return CheckResult(NAME, True, f"draft cut off inside {where} (its ``` fence is never closed)")
    reason = unfinished_sentence(answer)
    if reason is not None:
        return CheckResult(NAME, True, reason)
    return CheckResult(NAME, False)
