"""Metrics: hand-computed values, and equality with scikit-learn on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, roc_auc_score

from acubench.records.metrics import auroc, compute_metrics, mae, mape, rmse


def test_binary_auroc_by_hand():
    # Pairs (neg, pos): (0.1,0.35) ok, (0.1,0.8) ok, (0.4,0.35) wrong, (0.4,0.8) ok → 3/4.
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), 2) == 0.75
    # Probability rows: column 1 is the positive score.
    rows = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert auroc(np.array([0, 0, 1, 1]), rows, 2) == 0.75


def test_multiclass_macro_ovr_by_hand():
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6],
                  [0.3, 0.4, 0.3], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    # Class 0: positives 0.7, 0.3 vs negatives 0.2, 0.1, 0.5, 0.2 → (4 + 3)/8 = 0.875.
    # Class 1: positives 0.5, 0.3 vs negatives 0.2, 0.3, 0.4, 0.2 → (4 + 2.5)/8 = 0.8125 (a tie counts ½).
    # Class 2: positives 0.6, 0.6 vs negatives 0.1, 0.3, 0.3, 0.2 → 8/8 = 1.
    assert auroc(y, p, 3) == pytest.approx((0.875 + 0.8125 + 1.0) / 3, abs=1e-15)
    assert auroc(y, p, 3) == roc_auc_score(y, p, multi_class="ovr", average="macro")


def test_absent_class_warns_and_one_class_fails():
    y = np.array([0, 1, 0, 1])
    p = np.full((4, 3), 1 / 3)
    with pytest.warns(UserWarning, match=r"\[2\]"):
        auroc(y, p, 3)
    with pytest.raises(ValueError, match="one class"):
        auroc(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9]), 2)


def test_regression_metrics_by_hand():
    y, p = np.array([2.0, 4.0, 5.0]), np.array([3.0, 3.0, 5.0])
    assert mae(y, p) == pytest.approx(2 / 3)
    assert mape(y, p) == pytest.approx(100 * (0.5 + 0.25 + 0.0) / 3)
    assert rmse(y, p) == pytest.approx(np.sqrt(2 / 3))


def test_equal_to_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.random(200)
    assert auroc(y, s, 2) == roc_auc_score(y, s)
    yr, pr = rng.normal(size=200), rng.normal(size=200)
    assert mae(yr, pr) == mean_absolute_error(yr, pr)
    assert compute_metrics("regression", yr, pr, 0)["mae"] == mean_absolute_error(yr, pr)


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        auroc(np.array([0, 1]), np.array([0.1, np.nan]), 2)


def test_multiclass_and_rmse_equal_sklearn_on_random_data():
    from sklearn.metrics import root_mean_squared_error

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    p = rng.dirichlet(np.ones(4), 300)
    assert auroc(y, p, 4) == roc_auc_score(y, p, multi_class="ovr", average="macro")
    yr, pr = rng.normal(size=50), rng.normal(size=50)
    assert rmse(yr, pr) == root_mean_squared_error(yr, pr)


def test_mape_guards_a_zero_target_with_machine_epsilon():
    # |0.5 − 0| / eps is huge but finite; the reference (no guard) would divide by zero.
    value = mape(np.array([0.0, 2.0]), np.array([0.5, 1.0]))
    assert value == pytest.approx(100 * (0.5 / np.finfo(np.float64).eps + 0.5) / 2)
    assert np.isfinite(value)
