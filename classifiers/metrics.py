"""Routing metrics in the RouteLLM sense, on targets ``t = P(needs escalation)``.

Quality axis (also written into every data card): keeping a request local
yields quality ``1 - t`` (with AlpacaEval data, the small model's win
probability ``p`` against GPT-4-1106); escalating yields quality ``1`` (the
frontier answer is the reference the small model is judged against, so an
escalation recovers exactly ``t``). The performance gap is ``sum(t)``.

* PGR(c): the share of that gap recovered when the ``c`` share of requests with
  the highest scores escalate. Ties in score are broken at random in
  expectation (a tied block recovers its gain linearly).
* APGR: the area under PGR(c) for c from 0 to 1; random routing scores 0.5.
* CPT(x): the smallest share of escalations that recovers ``x`` of the gap.
* AUC: ranking quality against the binary label ``t > 0.5`` (the small model
  lost, ``p < 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoutingMetrics:
    """How well a scorer ranks requests for escalation; ``n`` decisions."""

    n: int
    auc: float
    apgr: float
    cpt50: float
    cpt80: float

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "auc": self.auc, "apgr": self.apgr, "cpt50": self.cpt50, "cpt80": self.cpt80}


def pgr_curve(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(share_escalated, pgr)`` at every tie-block boundary, from (0, 0) to (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if scores.shape != targets.shape or scores.ndim != 1 or scores.size == 0:
        raise ValueError("scores and targets must be non-empty 1-D arrays of the same length")
    total = float(targets.sum())
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], targets[order]
    # Ends of tie blocks: keep only the last index of each run of equal scores.
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    counts = (ends + 1).astype(np.float64)
    gains = np.cumsum(t)[ends]
    share = np.concatenate([[0.0], counts / s.size])
    pgr = np.concatenate([[0.0], gains / total if total > 0 else counts / s.size])
    return share, pgr


def apgr(scores: np.ndarray, targets: np.ndarray) -> float:
    share, pgr = pgr_curve(scores, targets)
    return float(np.sum((share[1:] - share[:-1]) * (pgr[1:] + pgr[:-1]) / 2.0))


def cpt(scores: np.ndarray, targets: np.ndarray, recovered: float) -> float:
    """Smallest share of escalations that recovers ``recovered`` (0–1) of the gap."""
    share, pgr = pgr_curve(scores, targets)
    i = int(np.searchsorted(pgr, recovered - 1e-12, side="left"))
    if i == 0:
        return 0.0
    if i >= pgr.size:
        return 1.0
    lo, hi = pgr[i - 1], pgr[i]
    frac = (recovered - lo) / (hi - lo) if hi > lo else 1.0
    return float(share[i - 1] + frac * (share[i] - share[i - 1]))


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """ROC AUC against ``t > 0.5``; 0.5 when only one class is present."""
    y = np.asarray(targets) > 0.5
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return 0.5
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_vals = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_vals[end + 1] == sorted_vals[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def routing_metrics(scores: np.ndarray, targets: np.ndarray) -> RoutingMetrics:
    return RoutingMetrics(
        n=int(np.asarray(targets).size),
        auc=auc(scores, targets),
        apgr=apgr(scores, targets),
        cpt50=cpt(scores, targets, 0.5),
        cpt80=cpt(scores, targets, 0.8),
    )


def random_metrics(targets: np.ndarray) -> RoutingMetrics:
    """Random routing in expectation: every score tied (AUC 0.5, APGR 0.5, CPT(x) = x)."""
    return routing_metrics(np.zeros(np.asarray(targets).size), targets)
