"""The cascade's ``draft`` step as the trace holds it, read in one place (learning, report, logs).

The router writes ``{"drafts": [...], "kept": i, "score", "threshold", "escalate", "checks": [{"name",
"fired", "reason"}], "agreement", "reasons"}``; traces from before answer checks hold ``{"draft": text}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid.types import CheckResult


@dataclass(frozen=True)
class DraftStep:
    """The kept draft, the checks run on it, and whether the step recorded any checks at all."""

    text: str
    checks: tuple[CheckResult, ...] = ()
    checked: bool = False

    @property
    def fired(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.fired)


def read_draft_step(output: object) -> DraftStep | None:
    """A ``draft`` step's output as a :class:`DraftStep`; None when it holds no draft."""
    if not isinstance(output, dict):
        return None
    drafts, kept = output.get("drafts"), output.get("kept", 0)
    if isinstance(drafts, list) and drafts:
        text = drafts[kept if isinstance(kept, int) and 0 <= kept < len(drafts) else 0]
    elif "draft" in output:
        text = output["draft"]
    else:
        return None
    raw = output.get("checks")
    checks = tuple(
        CheckResult(str(c.get("name", "?")), c.get("fired") is True, str(c.get("reason") or ""))
        for c in (raw if isinstance(raw, list) else [])
        if isinstance(c, dict)
    )
    return DraftStep(str(text or ""), checks, isinstance(raw, list))
