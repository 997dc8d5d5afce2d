"""Training from the dashboard: the outcome type, and the seam the app calls.

The app takes any ``Trainer``: a callable given a progress callback
``(fraction 0..1, message)`` that returns a ``TrainOutcome``. ``hybrid tui``
wires it to ``hybrid.learning.train_from_trace``; tests inject a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hybrid.errors import HybridError

if TYPE_CHECKING:
    from hybrid.settings import Paths, Settings

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainOutcome:
    promoted: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What `hybrid train` also prints, e.g. that a calibrated threshold belongs to the previous classifier."""

    def describe(self) -> str:
        verdict = "promoted: the new classifier is now in use" if self.promoted else "not promoted: kept the current classifier"
        metrics = " · ".join(f"{k} {v:.3g}" for k, v in sorted(self.metrics.items()))
        return (f"{verdict} — {self.reason}" + (f"\n{metrics}" if metrics else "")
                + "".join(f"\nnote: {note}" for note in self.notes))


Trainer = Callable[[Progress], TrainOutcome]


class TrainingUnavailable(HybridError):
    """Training cannot start here; the message says why and what to do."""


def learning_trainer(
    settings: Settings, paths: Paths, on_promoted: Callable[[], None] | None = None
) -> Trainer:
    """A Trainer over ``hybrid.learning.train_from_trace``, imported only when training starts.

    ``on_promoted`` runs after a promotion (the dashboard's router switches to the new classifier).
    """

    def train(progress: Progress) -> TrainOutcome:
        try:
            from hybrid.learning import train_from_trace
        except ImportError as e:
            raise TrainingUnavailable(
                f"training is not available in this install ({e}); `hybrid train --from-trace` may work instead"
            ) from e
        result = train_from_trace(settings, paths, progress)
        if result.promoted and on_promoted is not None:
            on_promoted()
        metrics = {str(k): float(v) for k, v in dict(getattr(result, "metrics", {}) or {}).items()}
        return TrainOutcome(bool(result.promoted), str(result.reason), metrics, tuple(result.notes))

    return train
