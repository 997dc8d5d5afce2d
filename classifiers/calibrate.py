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


def escalating(scores: Iterable[float], threshold: float) -> int:
    """How many of ``scores`` escalate at ``threshold`` (``score >= threshold``)."""
    return sum(1 for s in scores if s >= threshold)


def readable_threshold(scores: Iterable[float], threshold: float) -> float:
    """``threshold`` rounded to the fewest decimals (2 to 12) that escalate exactly the same ``scores``.

    A threshold written to the config file should read as a number, not as 0.48108700000000003, but rounding
    it to a fixed precision can move it past the scores at the edge (0.481087 rounds to 0.4811, which the
    scores tied at 0.481087 no longer reach).
    """
    values = [float(s) for s in scores]
    want = escalating(values, threshold)
    for decimals in range(2, 13):
        rounded = round(threshold, decimals)
        if escalating(values, rounded) == want:
            return rounded
    return threshold
