"""The router's typed event stream: what every surface (CLI, HTTP, TUI) renders.

``Router.run(request, cancel=...)`` yields these, in this order::

    Decided                      always first: where the request goes and why
    DraftHeld?                   cascade: the local draft is being written and is NOT shown
    DraftKept | DraftDiscarded   cascade: the draft's verdict (checks, agreement, score)
    FellBack*                    a backend failed before any text reached the caller; the next one is tried
    TextDelta*                   answer text, only text that is final (never a draft that may be rejected)
    Done | Failed                always last, exactly one of them

Once a ``TextDelta`` has been yielded, a failure ends the stream with ``Failed``:
it never continues with another model's text. ``Router.complete`` drains the
stream and returns the ``Completion`` (or raises the ``Failed`` error).
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid.errors import HybridError
from hybrid.types import Completion, Decision, DraftAssessment


@dataclass(frozen=True)
class Decided:
    request_id: str
    decision: Decision


@dataclass(frozen=True)
class DraftHeld:
    """Cascade: ``backend`` is writing ``count`` draft(s); their text is held back until judged."""

    request_id: str
    backend: str
    count: int = 1


@dataclass(frozen=True)
class DraftKept:
    """Cascade: the draft passed; its text follows as ``TextDelta`` events."""

    request_id: str
    backend: str
    assessment: DraftAssessment


@dataclass(frozen=True)
class DraftDiscarded:
    """Cascade: the draft failed (``assessment.reasons`` says why) and ``escalate_to`` answers instead."""

    request_id: str
    backend: str
    assessment: DraftAssessment
    escalate_to: str


@dataclass(frozen=True)
class FellBack:
    """``from_backend`` failed before any text was sent; ``to_backend`` is tried next."""

    request_id: str
    from_backend: str
    to_backend: str
    why: str


@dataclass(frozen=True)
class TextDelta:
    request_id: str
    backend: str
    text: str


@dataclass(frozen=True)
class Done:
    completion: Completion


@dataclass(frozen=True)
class Failed:
    """The request ended without an answer (or part-way through one): ``error`` says why."""

    request_id: str
    error: HybridError
    text_sent: bool = False


Event = Decided | DraftHeld | DraftKept | DraftDiscarded | FellBack | TextDelta | Done | Failed


def describe(event: Event) -> str | None:
    """What happened on the way to the answer, in a few words (the CLI's stderr notes, the dashboard's demo line).

    ``None`` for the answer itself (text, done, failed) and for the decision, which each surface shows its own way.
    """
    if isinstance(event, DraftHeld):
        drafts = f"{event.count} drafts" if event.count > 1 else "a draft"
        return f"{event.backend} is writing {drafts}; it is checked before it is shown"
    if isinstance(event, DraftKept):
        return f"draft kept (score {event.assessment.score:.2f})"
    if isinstance(event, DraftDiscarded):
        why = "; ".join(c.reason or c.name for c in event.assessment.fired) or f"score {event.assessment.score:.2f}"
        return f"draft rejected ({why}); {event.escalate_to} answers instead"
    if isinstance(event, FellBack):
        return f"{event.from_backend} failed ({event.why}); {event.to_backend} answers instead"
    return None
