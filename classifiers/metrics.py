"""Routing metrics in the RouteLLM sense, from each item's weak and strong quality.

Every labelled item has a quality when kept local (``weak``: the local or weak
model's answer) and a quality when escalated (``strong``). A router that
escalates the ``c`` share of items with the highest scores reaches quality
``q(c)``; RouteLLM's performance gap recovered is

    PGR(c) = (q(c) - q(weak)) / (q(strong) - q(weak))

where ``q(weak)``/``q(strong)`` route everything one way. Per item the gain of
escalating is ``strong - weak``, so PGR(c) is the cumulative gain of the
escalated items over the total gain. The quality axis of each shipped set:

* AlpacaEval: keep = the small model's judged win probability ``p`` against
  GPT-4-1106, escalate = 1 (the frontier answer is the judge's reference);
* MMLU-Pro: keep = Mixtral-8x7B answered correctly (0/1), escalate =
  gemini-1.5-pro answered correctly (0/1): an escalation can also lose quality;
* user labels and GSM8K drafts: keep = 1 - label, escalate = 1.

* APGR: the area under PGR(c) for c from 0 to 1; random routing scores 0.5.
  Ties in score are broken at random in expectation (a tied block recovers its
  gain linearly).
* CPT(x): the smallest share of escalations that recovers ``x`` of the gap.
* AUC: ranking quality against the binary label "the kept answer was not good
  enough" (``weak < 0.5``), with sklearn's ``roc_auc_score``.
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


def _arrays(*arrays) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    if any(a.shape != out[0].shape for a in out) or out[0].ndim != 1 or out[0].size == 0:
        raise ValueError("scores and qualities must be non-empty 1-D arrays of the same length")
    return out


def pgr_curve(scores: np.ndarray, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(share_escalated, pgr)`` at every tie-block boundary, from (0, 0) to (1, 1).

    ``gains`` is each item's ``strong - weak`` (``t`` for targets with strong = 1).
    With no gap to recover (total gain <= 0) PGR is the share escalated.
    """
    scores, gains = _arrays(scores, gains)
    total = float(gains.sum())
    order = np.argsort(-scores, kind="stable")
    s, g = scores[order], gains[order]
    # Ends of tie blocks: keep only the last index of each run of equal scores.
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    counts = (ends + 1).astype(np.float64)
    recovered = np.cumsum(g)[ends]
    share = np.concatenate([[0.0], counts / s.size])
    pgr = np.concatenate([[0.0], recovered / total if total > 0 else counts / s.size])
    return share, pgr


def apgr(scores: np.ndarray, gains: np.ndarray) -> float:
    share, pgr = pgr_curve(scores, gains)
    return float(np.sum((share[1:] - share[:-1]) * (pgr[1:] + pgr[:-1]) / 2.0))


def cpt(scores: np.ndarray, gains: np.ndarray, recovered: float) -> float:
    """Smallest share of escalations that recovers ``recovered`` (0–1) of the gap."""
    share, pgr = pgr_curve(scores, gains)
    reached = np.flatnonzero(pgr >= recovered - 1e-12)
    i = int(reached[0]) if reached.size else pgr.size - 1
    if i == 0:
        return 0.0
    lo, hi = pgr[i - 1], pgr[i]
    frac = (recovered - lo) / (hi - lo) if hi > lo else 1.0
    return float(share[i - 1] + min(max(frac, 0.0), 1.0) * (share[i] - share[i - 1]))


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """ROC AUC against ``t > 0.5`` ("the kept answer was not good enough", ``weak < 0.5``); 0.5 with one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(targets, dtype=np.float64) > 0.5
    if y.all() or not y.any():
        return 0.5
    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64)))


def quality_metrics(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> RoutingMetrics:
    """AUC, APGR, CPT(50%), CPT(80%) of ``scores`` on items with these weak and strong qualities."""
    scores, weak, strong = _arrays(scores, weak, strong)
    gains = strong - weak
    return RoutingMetrics(
        n=int(scores.size),
        auc=auc(scores, 1.0 - weak),
        apgr=apgr(scores, gains),
        cpt50=cpt(scores, gains, 0.5),
        cpt80=cpt(scores, gains, 0.8),
    )


def routing_metrics(scores: np.ndarray, targets: np.ndarray) -> RoutingMetrics:
    """:func:`quality_metrics` for targets ``t = P(needs escalation)``: weak = 1 - t, strong = 1."""
    targets = np.asarray(targets, dtype=np.float64)
    return quality_metrics(scores, 1.0 - targets, np.ones_like(targets))


def random_metrics(targets: np.ndarray) -> RoutingMetrics:
    """Random routing in expectation: every score tied (AUC 0.5, APGR 0.5, CPT(x) = x)."""
    return routing_metrics(np.zeros(np.asarray(targets).size), targets)
