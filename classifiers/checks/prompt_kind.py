"""What kind of final answer a prompt asks for: a letter, a number, JSON, or nothing checkable.

``prompt_kind(prompt)`` returns one of:

* ``MULTIPLE_CHOICE``: the prompt lists lettered options (``A. ...``, ``(B) ...``, as MMLU-Pro
  prompts do), so the answer should name one letter;
* ``JSON``: the prompt asks for JSON output (an extraction task), so the answer should hold JSON;
* ``MATH``: a maths word problem (numbers plus a question for a quantity, as in GSM8K), so the answer
  should end with a number;
* ``OPEN``: anything else; there is no final answer to check.

The rules are fixed and cheap (a few precompiled regexes over the prompt's head and tail).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

from .text import prompt_view

MULTIPLE_CHOICE = "multiple_choice"
JSON = "json"
MATH = "math"
OPEN = "open"

LETTERS = "ABCDEFGHIJ"
#: A word problem's question for a quantity must sit in the prompt's last this many characters.
QUESTION_TAIL = 400

# "A. text", "(B) text", "C) text", "D: text" at the start of a line.
_OPTION_LINE = re.compile(r"^[ \t]*(?:[-*][ \t]+)?\(?([A-J])(?:[.):]|\)\.?)[ \t]+\S", re.MULTILINE)
# "(A) text (B) text" on one line.
_OPTION_INLINE = re.compile(r"(?:^|\s)\(([A-J])\)[ \t]+\S")
_JSON_ASK = re.compile(
    r"\b(?:return|returns|output|respond|reply|answer|format(?:ted)?|give|produce|provide|extract|convert|write|emit)"
    r"\b[^.?!\n]{0,60}\bjson\b"
    r"|\b(?:in|as|into)[ \t]+(?:a[ \t]+|an[ \t]+|valid[ \t]+|the[ \t]+following[ \t]+)?json\b"
    r"|\bjson[ \t]+(?:object|array|format|schema|output)\b",
    re.IGNORECASE,
)
_ASKS_CODE = re.compile(r"\b(?:script|code|program|function|python|javascript|typescript|java|class)\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?%?|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|hundred|thousand|half|twice|double|triple|dozen)\b",
    re.IGNORECASE,
)
_QUANTITY_NOUN = (
    r"(?:total|sum|difference|product|number|amount|cost|price|value|average|percentage|percent|ratio|area|"
    r"perimeter|volume|speed|distance|profit|result|remainder|age|weight|length|height|score|balance|"
    r"salary|income|change|earnings|savings|fraction|rate)\b"
)
_QUANTITY_ASK = re.compile(
    r"\bhow[ \t]+(?:many|much|long|old|tall|far|fast|often|heavy|big|high|wide|deep)\b"
    r"|\b(?:what(?:[ \t]+(?:is|was|will|would|are|were|be)|'s)?|calculate|compute|find|determine|work[ \t]+out)"
    r"(?:[ \t]+[\w'-]+){0,4}?[ \t]+" + _QUANTITY_NOUN + r"|\b(?:calculate|compute)\b|\bsolve[ \t]+for\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def option_letters(prompt: str) -> str:
    """The option letters a multiple-choice prompt lists, in order from A (``""`` when it lists none).

    At least three consecutive letters from A, on their own lines or inline as ``(A) ... (B) ... (C)``.
    """
    view = prompt_view(prompt)
    for pattern in (_OPTION_LINE, _OPTION_INLINE):
        found = {m.group(1) for m in pattern.finditer(view)}
        run = ""
        for letter in LETTERS:
            if letter not in found:
                break
            run += letter
        if len(run) >= 3:
            return run
    return ""


@lru_cache(maxsize=64)
def prompt_kind(prompt: str) -> str:
    """``MULTIPLE_CHOICE``, ``JSON``, ``MATH`` or ``OPEN`` (see the module docstring).

    Pure and cached: several checks and agreement ask about the same prompt within one decision.
    """
    if option_letters(prompt):
        return MULTIPLE_CHOICE
    view = prompt_view(prompt)
    if "json" in view.lower() and _JSON_ASK.search(view):
        # "Write a script that saves JSON" asks for code, not for JSON.
        return OPEN if _ASKS_CODE.search(view) else JSON
    # The question for a quantity closes a word problem; a cue earlier on is usually an open task.
    if (
        _QUANTITY_ASK.search(view, max(0, len(view) - QUESTION_TAIL))
        and len(list(islice(_NUMBER.finditer(view), 2))) == 2
    ):
        return MATH
    return OPEN
