"""Bounded views of long texts and the few patterns several checks share.

Every check looks at a capped slice of the prompt and the answer (the head,
the tail, or both), so a routing decision stays within its time budget even
for 20,000-character texts. The caps are generous for real answers: a
draft's verdict lives in its first and last few thousand characters.
"""

from __future__ import annotations

import re

#: Characters of a prompt a check reads: its head and its tail (options and questions sit at the end).
PROMPT_HEAD = 2000
PROMPT_TAIL = 1500
#: Characters of an answer a check reads from its start and from its end.
ANSWER_HEAD = 3000
ANSWER_TAIL = 3000

#: A Markdown code fence line: ``` or ~~~, with an optional info string (the language).
FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
#: A closed fenced code block: its language tag and its body.
CODE_BLOCK = re.compile(
    r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]{0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL
)


def tail(text: str, n: int) -> str:
    return text[-n:] if len(text) > n else text


def ends(text: str, first: int, last: int) -> str:
    """The first ``first`` and last ``last`` characters of ``text`` (all of it when short), joined by a newline."""
    if len(text) <= first + last:
        return text
    return text[:first] + "\n" + text[-last:]


def prompt_view(prompt: str) -> str:
    return ends(prompt, PROMPT_HEAD, PROMPT_TAIL)


def without_code(text: str) -> str:
    """``text`` with closed fenced code blocks removed (prose only, for checks that read language)."""
    return CODE_BLOCK.sub("\n", text) if "```" in text or "~~~" in text else text


def quote(text: str, n: int = 60) -> str:
    """A short excerpt for a reason a user reads: whitespace folded, cut to ``n`` characters with an ellipsis."""
    folded = " ".join(text.split())
    return folded if len(folded) <= n else folded[: n - 1].rstrip() + "…"


def quote_end(text: str, n: int = 60) -> str:
    """The last ``n`` characters of ``text`` as a short excerpt, with a leading ellipsis when cut."""
    folded = " ".join(text[-4 * n :].split())
    return folded if len(folded) <= n else "…" + folded[-(n - 1) :].lstrip()
