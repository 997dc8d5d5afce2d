"""``code_parses``: code the draft gives that does not parse.

* Python: each closed fenced block tagged ``python``/``py``/``python3``, or untagged but clearly Python
  (``def``/``import``/``class`` lines and no braces-and-semicolons), must pass ``ast.parse``.
  Interactive sessions (``>>>``) and blocks over ``MAX_BLOCK`` characters are skipped, not judged.
* JSON: when the prompt asks for JSON (an extraction task), the JSON the draft holds must pass ``json.loads``;
  so must any block tagged ``json``.

An unclosed block is ``cut_off``'s finding, not this check's.
"""

from __future__ import annotations

import ast
import json
import re

from hybrid.types import CheckResult

from . import prompt_kind as kinds
from .extract import json_text
from .text import ANSWER_HEAD, ANSWER_TAIL, CODE_BLOCK, ends

NAME = "code_parses"

#: Longest code block parsed (characters); parsing is the costliest step, so longer blocks are skipped.
MAX_BLOCK = 6000
#: Code blocks looked at per draft.
MAX_BLOCKS = 4

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
        ast.parse(body)
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


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    view = ends(answer, ANSWER_HEAD, ANSWER_TAIL)
    if "```" in view or "~~~" in view:
        for n, match in enumerate(CODE_BLOCK.finditer(view)):
            if n >= MAX_BLOCKS:
                break
            lang, body = match.group(2), match.group(3)
            if len(body) > MAX_BLOCK or ">>>" in body:
                continue
            if _is_python(lang, body) and (error := python_error(body)):
                return CheckResult(NAME, True, f"python code block does not parse: {error}")
            if lang.lower() == "json" and (error := json_error(body)):
                return CheckResult(NAME, True, f"JSON block does not parse: {error}")
    if kinds.prompt_kind(prompt) == kinds.JSON:
        text = json_text(answer)
        if text is not None and len(text) <= MAX_BLOCK and (error := json_error(text)):
            return CheckResult(NAME, True, f"the JSON the prompt asks for does not parse: {error}")
    return CheckResult(NAME, False)
