"""``final_answer``: the prompt asks for a final answer of a known shape and the draft gives none.

* a multiple-choice prompt (lettered options) needs one of its letters;
* a maths word problem needs a number (digits or number words) in the draft's final lines;
* an extraction task that asks for JSON needs some JSON (``{...}`` or ``[...]``; whether it parses is
  ``code_parses``'s job).

An open prompt ("Capital of France?") asks for no particular shape, so this check never fires on it:
a wrong answer in the right shape is beyond a fixed rule, and is left to agreement and the learned score.
"""

from __future__ import annotations

from hybrid.types import CheckResult

from . import prompt_kind as kinds
from .extract import ends_with_quantity, final_letter, json_text

NAME = "final_answer"


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    kind = kinds.prompt_kind(prompt)
    if kind == kinds.MULTIPLE_CHOICE:
        letters = kinds.option_letters(prompt)
        if final_letter(answer, letters) is None:
            span = f"{letters[0]}–{letters[-1]}"
            return CheckResult(
                NAME, True, f"no final answer: the question lists options {span} and the draft names none"
            )
    elif kind == kinds.MATH:
        if not ends_with_quantity(answer):
            return CheckResult(
                NAME, True, "no final answer: a word problem asks for a number and the draft ends on none"
            )
    elif kind == kinds.JSON and json_text(answer) is None:
        return CheckResult(NAME, True, "no final answer: the prompt asks for JSON and the draft holds none")
    return CheckResult(NAME, False)
