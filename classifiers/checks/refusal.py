"""``refusal``: the draft refuses or apologises instead of answering.

Fires when the draft's opening (its first ``OPENING`` characters) says it cannot or will not help
("I'm sorry, but I can't...", "As an AI language model, I cannot...", "I am unable to provide...") and the
draft does not go on to answer anyway ("However, here is..."), or when the whole draft is a short apology.
"""

from __future__ import annotations

import re

from hybrid.types import CheckResult

from .text import quote

NAME = "refusal"

#: Characters of the draft's start read for a refusal.
OPENING = 300
#: A draft longer than this that refuses and then says "however..." is taken to answer after all.
SHORT = 400

_REFUSAL = re.compile(
    r"\b(?:I(?:'m| am)[ \t]+(?:sorry|afraid)[^.!?\n]{0,60}?\b(?:can(?:no|')t|cannot|unable|not able|won't|will not)"
    r"|I[ \t]+(?:can(?:no|')t|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to)[ \t]+"
    r"(?:help|assist|provide|answer|comply|do that|fulfil|fulfill|complete|generate|create|write|give|share|support)"
    r"|as an AI(?: language model)?,?[ \t]+I[ \t]+(?:can(?:no|')t|cannot|am not able|'m not able|am unable|'m unable)"
    r"|I[ \t]+(?:must|have to)[ \t]+(?:decline|refuse)"
    r"|I apologi[sz]e,?[ \t]+but[ \t]+I)",
    re.IGNORECASE,
)
_GOES_ON = re.compile(r"\b(?:however|that said|but here|here(?:'s| is| are)|instead,? I can)\b", re.IGNORECASE)


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    opening = answer.lstrip()[:OPENING]
    match = _REFUSAL.search(opening)
    if match is None:
        return CheckResult(NAME, False)
    rest = answer[match.end() :]
    if len(answer) > SHORT and _GOES_ON.search(rest[:OPENING]):
        return CheckResult(NAME, False)
    return CheckResult(NAME, True, f"draft refuses instead of answering: {quote(opening[match.start() :], 70)!r}")
