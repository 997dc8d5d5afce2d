"""Routing metrics and threshold calibration, on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers import calibrate_threshold
from classifiers.metrics import apgr, auc, cpt, random_metrics, routing_metrics
from hybrid.errors import ClassifierError


def test_perfect_ranking_beats_random_and_reversed_is_worst():
    targets = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], float)
    good = np.arange(10, 0, -1, dtype=float)
    assert apgr(good, targets) == pytest.approx(1 - 0.5 * 0.2)  # curve hits 1 at 20% escalations
    assert apgr(-good, targets) == pytest.approx(0.5 * 0.2)
    assert auc(good, targets) == 1.0 and auc(-good, targets) == 0.0
    assert cpt(good, targets, 0.5) == pytest.approx(0.1)
    assert cpt(good, targets, 0.8) == pytest.approx(0.16)


def test_random_is_half_and_ties_recover_linearly():
    targets = np.random.default_rng(1).uniform(size=50)
    r = random_metrics(targets)
    assert (r.auc, r.apgr) == (0.5, pytest.approx(0.5))
    assert r.cpt50 == pytest.approx(0.5) and r.cpt80 == pytest.approx(0.8)


def test_routing_metrics_reports_every_field():
    m = routing_metrics(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1.0, 0.0, 0.7, 0.2]))
    assert m.n == 4 and m.auc == 1.0 and m.apgr > 0.5 and m.cpt50 < 0.5


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_calibrated_threshold_escalates_the_target_share(share):
    scores = np.random.default_rng(2).uniform(size=200)
    threshold = calibrate_threshold(scores.tolist(), share)
    assert np.mean(scores >= threshold) == pytest.approx(share)


def test_calibration_rejects_bad_input_with_a_fix():
    with pytest.raises(ClassifierError, match="no scores; fix"):
        calibrate_threshold([], 0.2)
    with pytest.raises(ClassifierError, match=r"not in \[0, 1\]; fix"):
        calibrate_threshold([0.1, 0.2], 20)


def test_pgr_from_weak_and_strong_quality_follows_routellm():
    from classifiers.metrics import pgr_curve, quality_metrics

    # MMLU-Pro style: keep = weak model correct, escalate = strong model correct; an escalation can lose quality.
    weak = np.array([0, 0, 1, 1, 0], float)
    strong = np.array([1, 0, 1, 0, 1], float)
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.6])
    _, pgr = pgr_curve(scores, strong - weak)
    # q(weak) = 2, q(strong) = 3: escalating item 0 gains 1 (PGR 1), item 1 nothing, item 3 loses 1 (PGR 0).
    assert pgr.tolist() == pytest.approx([0, 1, 1, 0, 1, 1])
    m = quality_metrics(scores, weak, strong)
    assert m.cpt50 == pytest.approx(0.1) and m.n == 5
    assert m.auc == pytest.approx(5 / 6)  # against "the kept answer was wrong" (weak < 0.5)
    oracle = quality_metrics(strong - weak, weak, strong)
    assert oracle.apgr > m.apgr > quality_metrics(-scores, weak, strong).apgr
