"""Tests of LogitLinearRegressor: recovery of known parameters, gradient, target policy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skweights.models import LogitLinearRegressor
from skweights.models._logit_linear import objective

W_TRUE = np.array([1.5, -2.0, 0.5, 0.0])
B_TRUE = 0.4


def _logistic(n=300, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, W_TRUE.size)) * scale
    return X, 1 / (1 + np.exp(-(X / scale @ W_TRUE + B_TRUE)))


@pytest.mark.parametrize("standardize", [True, False])
def test_recovers_known_weights_and_intercept(standardize):
    X, y = _logistic()
    model = LogitLinearRegressor(alpha=0.0, standardize=standardize).fit(X, y)
    np.testing.assert_allclose(model.coef_, W_TRUE, atol=1e-4)
    assert model.intercept_ == pytest.approx(B_TRUE, abs=1e-4)
    assert model.score(X, y) == pytest.approx(1.0, abs=1e-8)


def test_recovers_weights_of_tiny_scale_inputs_like_network_weights():
    X, y = _logistic(scale=1e-3)
    model = LogitLinearRegressor(alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_ * 1e-3, W_TRUE, atol=1e-4)


def test_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    X, t = rng.normal(size=(50, 5)), rng.uniform(size=50)
    params = rng.normal(size=6)
    for fit_intercept in (True, False):
        analytic = objective(params, X, t, 0.3, fit_intercept)[1]
        numeric = optimize.approx_fprime(
            params, lambda p, fi=fit_intercept: objective(p, X, t, 0.3, fi)[0], 1e-7
        )
        if not fit_intercept:
            numeric[-1] = 0.0
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_objective_value_is_mse_plus_l2_penalty():
    X, t = np.eye(2), np.array([0.5, 0.5])
    loss, _ = objective(np.array([1.0, -1.0, 0.0]), X, t, 0.1, True)
    expected = np.mean((1 / (1 + np.exp(-np.array([1.0, -1.0]))) - 0.5) ** 2) + 0.1 * 2
    assert loss == pytest.approx(expected)


def test_penalty_shrinks_weights():
    X, y = _logistic()
    norms = [np.linalg.norm(LogitLinearRegressor(alpha=a).fit(X, y).coef_) for a in (0, 0.01, 1)]
    assert norms[0] > norms[1] > norms[2]


def test_adam_solver_is_seeded_and_approaches_lbfgs():
    X, y = _logistic()
    kwargs = dict(alpha=1e-4, solver="adam", max_iter=200, learning_rate=0.05, random_state=0)
    a, b = LogitLinearRegressor(**kwargs).fit(X, y), LogitLinearRegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    exact = LogitLinearRegressor(alpha=1e-4).fit(X, y)
    np.testing.assert_allclose(a.coef_, exact.coef_, atol=0.05)
    assert a.score(X, y) > 0.99


def test_without_intercept_the_intercept_is_zero():
    X, y = _logistic()
    model = LogitLinearRegressor(fit_intercept=False).fit(X, y)
    assert model.intercept_ == 0.0
    assert model.score(X, y) < LogitLinearRegressor().fit(X, y).score(X, y)


def test_targets_outside_default_range_raise_and_auto_maps_them():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = X @ [1.0, 0.5]
    with pytest.raises(ValueError, match=r"outside output_range=\(0.0, 1.0\): min -"):
        LogitLinearRegressor().fit(X, y)
    model = LogitLinearRegressor(output_range="auto").fit(X, y)
    assert model.output_range_ == (y.min(), y.max())
    pred = model.predict(X)
    assert y.min() < pred.min() and pred.max() < y.max()
    assert model.score(X, y) > 0.9


def test_explicit_output_range_and_bad_ranges():
    X, y = _logistic()
    model = LogitLinearRegressor(output_range=(0.0, 100.0)).fit(X, 100 * y)
    assert model.score(X, 100 * y) > 0.99
    np.testing.assert_allclose(model.coef_, LogitLinearRegressor().fit(X, y).coef_, rtol=1e-3)
    for bad in [(1.0, 0.0), (0.0, np.inf), (0.0, 0.5, 1.0)]:
        with pytest.raises(ValueError, match="output_range must be"):
            LogitLinearRegressor(output_range=bad).fit(X, y)


def test_predictions_are_probabilities_and_fit_is_deterministic():
    X, y = _logistic()
    a, b = LogitLinearRegressor().fit(X, y), LogitLinearRegressor().fit(X, y)
    pred = a.predict(X * 100)
    assert np.all((pred >= 0) & (pred <= 1))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_warns_when_not_converged():
    X, y = _logistic()
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        LogitLinearRegressor(max_iter=2).fit(X, y)


def test_pickle_round_trip_and_grid_search():
    X, y = _logistic()
    search = GridSearchCV(LogitLinearRegressor(), {"alpha": [1e-5, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_ == {"alpha": 1e-5}
    model = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(model.predict(X), search.predict(X))
