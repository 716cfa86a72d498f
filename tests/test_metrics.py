"""Tests of skweights.metrics: Kendall's tau, its scorer, and the mean absolute difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skweights.metrics import kendall_tau, kendall_tau_scorer, mean_absolute_difference
from skweights.models import LogitLinearRegressor


def test_kendall_tau_matches_scipy_tau_b_with_ties():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, size=40) / 5  # many ties
    y_pred = y_true + rng.normal(scale=0.2, size=40)
    expected = stats.kendalltau(y_true, y_pred, variant="b").statistic
    assert kendall_tau(y_true, y_pred) == pytest.approx(expected)
    assert -1 < kendall_tau(y_true, y_pred) < 1


def test_kendall_tau_is_one_for_any_increasing_transform_and_minus_one_reversed():
    y = np.linspace(0.1, 0.9, 20)
    assert kendall_tau(y, np.exp(5 * y)) == pytest.approx(1.0)
    assert kendall_tau(y, -y) == pytest.approx(-1.0)


def test_kendall_tau_counts_one_discordant_pair_of_six():
    assert kendall_tau([0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 0.8, 0.9]) == pytest.approx(4 / 6)


def test_kendall_tau_of_constant_prediction_is_zero():
    assert kendall_tau([0.1, 0.5, 0.9], [0.3, 0.3, 0.3]) == 0.0
    assert kendall_tau([0.4, 0.4, 0.4], [0.1, 0.2, 0.3]) == 0.0


def test_kendall_tau_rejects_bad_input_with_clear_messages():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        kendall_tau([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="at least 2 samples"):
        kendall_tau([0.1], [0.2])
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        kendall_tau([0.1, 0.2], [0.1, np.nan])


def test_mean_absolute_difference():
    assert mean_absolute_difference([0.5, 0.8, 0.1], [0.6, 0.7, 0.1]) == pytest.approx(0.2 / 3)
    assert mean_absolute_difference([0.5, 0.8], [0.5, 0.8]) == 0.0
    with pytest.raises(ValueError, match="pred_original and pred_modified must have"):
        mean_absolute_difference([0.5, 0.8], [0.5])


def _logistic_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 1 / (1 + np.exp(-(X @ [1.0, -1.0, 0.5, 0.0]))) + rng.normal(scale=0.02, size=n)
    return X, np.clip(y, 0, 1)


def test_scorer_in_cross_val_score_equals_metric_on_each_fold():
    X, y = _logistic_data()
    cv = KFold(3, shuffle=True, random_state=0)
    model = LogitLinearRegressor()
    scores = cross_val_score(model, X, y, cv=cv, scoring=kendall_tau_scorer)
    expected = [
        kendall_tau(y[test], model.fit(X[train], y[train]).predict(X[test]))
        for train, test in cv.split(X)
    ]
    np.testing.assert_allclose(scores, expected)
    assert scores.min() > 0.8


def test_scorer_drives_grid_search():
    X, y = _logistic_data()
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LogitLinearRegressor()),
        {"logitlinearregressor__alpha": [1e-4, 10.0]},
        scoring=kendall_tau_scorer,
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"logitlinearregressor__alpha": 1e-4}
    assert search.best_score_ > 0.8


def test_layer_statistics_and_lightgbm_pipeline_ranks_networks():
    """The paper's best predictor (GBM on layer statistics) under cross-validation with tau."""
    from lightgbm import LGBMRegressor

    from skweights.features import LayerStatistics
    from skweights.layout import Layout

    layout = Layout.small_cnn_zoo()
    rng = np.random.default_rng(0)
    n = 150
    X = rng.normal(size=(n, layout.n_params)).astype(np.float32) * 0.1
    # The target depends on a single layer statistic: the mean of the dense layer's bias.
    dense_bias = next(e for e in layout if e.short_name == "dense/bias")
    X[:, dense_bias.start : dense_bias.stop] += rng.uniform(-1, 1, size=(n, 1))
    y = 1 / (1 + np.exp(-3 * X[:, dense_bias.start : dense_bias.stop].mean(axis=1)))
    model = make_pipeline(
        LayerStatistics(layout),
        LGBMRegressor(n_estimators=50, min_child_samples=5, verbose=-1, random_state=0),
    )
    scores = cross_val_score(model, X, y, cv=3, scoring=kendall_tau_scorer)
    assert scores.min() > 0.7
