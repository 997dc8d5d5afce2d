"""Untrusted text (prompts, answers, errors) made safe to print on a terminal.

Control characters, escape sequences included, become their visible Unicode "control picture" (ESC becomes
``␛``, BEL ``␇``), so a logged prompt cannot move the cursor, change the terminal's title or hide text. The
dashboard (tui/text.py) and ``hybrid logs`` both use these.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
_ALL_CONTROL = re.compile(r"[\x00-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def clean(value: object, *, multiline: bool = False) -> str:
    """``value`` as a string with control characters made visible (newlines and tabs kept if ``multiline``)."""
    text = "" if value is None else str(value)
    if multiline:
        return _CONTROL.sub(_picture, text.replace("\r\n", "\n")).replace("\t", "    ")
    return _ALL_CONTROL.sub(_picture, text)


def one_line(value: object, width: int | None = None) -> str:
    """Whitespace collapsed to single spaces, control characters visible, clipped to ``width`` with an ellipsis."""
    text = clean(" ".join(str(value or "").split()))
    if width is not None and len(text) > width:
        return text[: max(width - 1, 0)] + "…"
    return text


def score_and_threshold(score: float, threshold: float) -> tuple[str, str]:
    """A score and the threshold it was compared with, in two decimals unless those would print alike while the
    numbers differ ("0.36 < 0.36"): then with as many more (up to six) as it takes to tell them apart."""
    for decimals in range(2, 7):
        a, b = f"{score:.{decimals}f}", f"{threshold:.{decimals}f}"
        if a != b or score == threshold:
            return a, b
    return a, b
