"""Turning a target share of escalations into a score threshold (RouteLLM-style)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from hybrid.errors import ClassifierError

#: The escalation share the shipped and retrained artifacts are calibrated to
#: until the router calibrates on its own recent scores.
DEFAULT_ESCALATION_SHARE = 0.5


def calibrate_threshold(scores: Iterable[float], target_share: float) -> float:
    """The threshold at which ``target_share`` of ``scores`` escalate (``score >= threshold``).

    With ``n`` scores, exactly ``round(target_share * n)`` of them are at or
    above the result when there are no ties (the threshold sits halfway
    between the two neighbouring scores); ties at the edge all escalate.
    ``target_share`` 0 gives a threshold above every score, 1 the lowest score.
    """
    values = sorted((float(s) for s in scores), reverse=True)
    if not values:
        raise ClassifierError("cannot calibrate a threshold from no scores; fix: pass recent scores")
    if any(math.isnan(v) for v in values):
        raise ClassifierError("cannot calibrate a threshold: a score is NaN; fix: drop NaN scores")
    if not 0.0 <= target_share <= 1.0:
        raise ClassifierError(f"target escalation share {target_share} is not in [0, 1]; fix: pass e.g. 0.2 for 20%")
    k = round(target_share * len(values))
    if k == 0:
        return math.nextafter(values[0], math.inf)
    if k >= len(values):
        return values[-1]
    upper, lower = values[k - 1], values[k]
    return (upper + lower) / 2.0 if upper > lower else upper
