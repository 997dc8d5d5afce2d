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
