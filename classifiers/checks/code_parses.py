"""``code_parses``: code the draft gives that does not parse.

* Python: each closed fenced block tagged ``python``/``py``/``python3``, or untagged but clearly Python
  (``def``/``import``/``class`` lines and no braces-and-semicolons), must pass ``ast.parse``.
  Interactive sessions (``>>>``) are skipped. Parsing costs about half a millisecond per 1,000 characters,
  so at most ``MAX_PARSED`` characters of code are parsed per draft (blocks that would pass it are skipped,
  not judged), which keeps a decision inside its time budget.
* JSON: when the prompt asks for JSON (an extraction task), the JSON the draft holds must pass ``json.loads``;
  so must any block tagged ``json``.

An unclosed block is ``cut_off``'s finding, not this check's.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from itertools import islice

from hybrid.types import CheckResult

from . import prompt_kind as kinds
from .extract import json_text
from .text import FENCE

NAME = "code_parses"

#: Characters of code parsed per draft at most (Python blocks and JSON together).
MAX_PARSED = 2500
#: Code blocks looked at per draft.
MAX_BLOCKS = 6

_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})
_CLEARLY_PYTHON = re.compile(r"^(?:def |class |import |from [\w.]+ import |if __name__ ==|print\()", re.MULTILINE)
_NOT_PYTHON = re.compile(r"[;{]\s*$|^\s*(?:#include|public |function |const |let |var |fn |func )", re.MULTILINE)


def _is_python(lang: str, body: str) -> bool:
    if lang.lower() in _PYTHON_TAGS:
        return True
    return not lang and bool(_CLEARLY_PYTHON.search(body)) and not _NOT_PYTHON.search(body)


def python_error(body: str) -> str | None:
    """Why ``body`` is not valid Python 3 ("invalid syntax at line 3"), or None when it parses."""
    try:
        ast.parse(textwrap.dedent(body))  # a block inside a list item is indented as a whole
    except SyntaxError as e:
        return f"{e.msg} at line {e.lineno}"
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return str(e) or type(e).__name__
    return None


def json_error(text: str) -> str | None:
    try:
        json.loads(text)
    except ValueError as e:
        return str(e)
    except RecursionError:
        return "nested too deeply"
    return None


def _blocks(answer: str) -> list[tuple[str, str]]:
    """``(language, body)`` of the first closed fenced blocks, read from the whole answer (fences are cheap)."""
    fences = list(islice(FENCE.finditer(answer), 2 * MAX_BLOCKS))
    return [
        (opening.group(2), answer[opening.end() + 1 : closing.start()])
        for opening, closing in zip(fences[::2], fences[1::2], strict=False)
    ]


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    budget = MAX_PARSED
    for lang, body in _blocks(answer) if "```" in answer or "~~~" in answer else ():
        if len(body) > budget or ">>>" in body:
            continue
        if _is_python(lang, body):
            budget -= len(body)
            if error := python_error(body):
                return CheckResult(NAME, True, f"python code block does not parse: {error}")
        elif lang.lower() == "json":
            budget -= len(body)
            if error := json_error(body):
                return CheckResult(NAME, True, f"JSON block does not parse: {error}")
    if kinds.prompt_kind(prompt) == kinds.JSON:
        text = json_text(answer)
        if text is not None and len(text) <= MAX_PARSED and (error := json_error(text)):
            return CheckResult(NAME, True, f"the JSON the prompt asks for does not parse: {error}")
    return CheckResult(NAME, False)
