"""Pull a draft's final answer out of its text: a letter, a number, or JSON.

* ``final_letter(answer, letters)``: the option a multiple-choice answer settles on
  ("The answer is (B).", "Answer: C", "**D**", a last line "(E) 12 m/s");
* ``final_number(answer)``: the number a worked answer ends on ("#### 72", "\\boxed{3.5}",
  "the answer is $1,200", else the last number in its final lines), normalised ("1,200.0" -> "1200");
* ``json_text(answer)`` / ``final_json(answer)``: the JSON an answer holds (a ```json block, else the span from
  the first ``{``/``[`` to the last ``}``/``]``), as text and parsed;
* ``final_key(kind, answer, letters)``: one of the above as a comparable string, for agreement.

Each reads only the answer's tail (JSON: its ends), so it is cheap on long drafts.
"""

from __future__ import annotations

import json
import re

from . import prompt_kind as kinds
from .text import ANSWER_HEAD, ANSWER_TAIL, CODE_BLOCK, ends, tail

#: How far from the end a final answer may sit.
FINAL_TAIL = 600
#: Longest JSON text parsed for a final answer (characters).
MAX_JSON = 20_000
#: The final lines searched for a last number when no marker names the answer.
FINAL_LINES_TAIL = 300

_LETTER_MARKED = re.compile(
    r"(?:answer|choice|option)(?:[ \t]+is)?(?:[ \t]*[:=])?[ \t]*(?:\*\*|__)?[ \t]*(?:option[ \t]+|choice[ \t]+)?"
    r"[(\[]?([A-J])\b(?![.'’-]\w)",
    re.IGNORECASE,
)
# A line that is only a letter: "B", "(B)", "B.", "**B**", "B) 12 m/s", "(B) 12 m/s".
_LETTER_LINE = re.compile(r"^[ \t]*(?:\*\*|__)?[ \t]*[(\[]?([A-J])(?:[)\].:]|(?:\*\*|__)|(?=[ \t]*$))", re.MULTILINE)
_LETTER_PAREN = re.compile(r"\(([A-J])\)")

_NUM = r"-?\$?\d[\d,]*(?:\.\d+)?|-?\$?\.\d+"
_NUMBER_MARKED = re.compile(
    r"####[ \t]*(" + _NUM + r")|\\boxed\{[ \t]*(" + _NUM + r")"
    r"|answer(?:[ \t]+is)?[ \t]*[:=]?[ \t]*(?:\*\*|__)?[ \t]*(?:about|approximately|roughly)?[ \t]*(" + _NUM + r")",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])(" + _NUM + r")(?![\w])")
_NUMBER_WORDS = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    r"thousand|million|billion|half|dozen)\b",
    re.IGNORECASE,
)


def _last(pattern: re.Pattern[str], text: str, letters: str) -> str | None:
    found = [m.group(1).upper() for m in pattern.finditer(text)]
    found = [x for x in found if x in letters]
    return found[-1] if found else None


def final_letter(answer: str, letters: str = kinds.LETTERS) -> str | None:
    """The option letter the answer settles on, or None; only letters in ``letters`` count."""
    end = tail(answer, FINAL_TAIL)
    return (
        _last(_LETTER_MARKED, end, letters)
        or _last(_LETTER_LINE, end, letters)
        or _last(_LETTER_PAREN, tail(end, FINAL_LINES_TAIL), letters)
    )


def normalise_number(token: str) -> str | None:
    """``"$1,200.50"`` -> ``"1200.5"``, ``"72.0"`` -> ``"72"``; None when it is not a number."""
    cleaned = token.replace("$", "").replace(",", "").rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def final_number(answer: str) -> str | None:
    """The number the answer ends on (see the module docstring), normalised; None when there is none."""
    end = tail(answer.rstrip(), FINAL_TAIL)
    marked = [next(g for g in m.groups() if g) for m in _NUMBER_MARKED.finditer(end)]
    for token in reversed(marked):
        if (number := normalise_number(token)) is not None:
            return number
    for token in reversed(_NUMBER.findall(tail(end, FINAL_LINES_TAIL))):
        if (number := normalise_number(token)) is not None:
            return number
    return None


def ends_with_quantity(answer: str) -> bool:
    """Whether the answer's final lines state a number (in digits or in words)."""
    end = tail(answer.rstrip(), FINAL_LINES_TAIL)
    return final_number(answer) is not None or _NUMBER_WORDS.search(end) is not None


def json_text(answer: str) -> str | None:
    """The JSON-looking text in an answer: a ```json block, else first ``{``/``[`` to last ``}``/``]``; None if none."""
    view = ends(answer, ANSWER_HEAD, ANSWER_TAIL)
    for match in CODE_BLOCK.finditer(view):
        lang, body = match.group(2).lower(), match.group(3)
        if lang == "json" or (not lang and body.lstrip()[:1] in "{["):
            return body.strip()
    starts = [i for i in (answer.find("{"), answer.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    stop = max(answer.rfind("}"), answer.rfind("]"))
    return answer[start : stop + 1] if stop > start else answer[start:]


def final_json(answer: str) -> object | None:
    """The parsed JSON the answer holds, or None when it holds none that parses."""
    text = json_text(answer)
    if text is None or len(text) > MAX_JSON:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def final_key(kind: str, answer: str, letters: str = kinds.LETTERS) -> str | None:
    """The final answer of a checkable ``kind`` as a comparable string (None for open prompts or none found)."""
    if kind == kinds.MULTIPLE_CHOICE:
        return final_letter(answer, letters)
    if kind == kinds.MATH:
        return final_number(answer)
    if kind == kinds.JSON:
        parsed = final_json(answer)
        return None if parsed is None else json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return None
