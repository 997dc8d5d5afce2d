"""Untrusted text (prompts, outputs, errors) made safe to show.

Everything the trace holds is shown literally: it is wrapped in ``rich.text.Text``
(never parsed as markup) and control characters, escape sequences included,
are replaced by their visible Unicode "control picture" (ESC becomes ``␛``);
the pure functions live in ``hybrid.display`` so ``hybrid logs`` shares them.
"""

from __future__ import annotations

from rich.text import Text

from hybrid.display import clean, one_line

__all__ = ["clean", "one_line", "safe"]


def safe(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """A ``Text`` that shows ``value`` exactly as written: no markup, no escape sequences."""
    return Text(clean(value, multiline=multiline), style=style)
