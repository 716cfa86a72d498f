"""Tests for `EarlyStoppingLGBMRegressor`: early stopping only ever sees training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

from skweights.models._gbm import EarlyStoppingLGBMRegressor

_SAMPLE_WEIGHT_REASON = (
    "the validation rows are drawn at random, so repeating a row instead of doubling its weight "
    "changes which rows are held out"
)


@parametrize_with_checks(
    [EarlyStoppingLGBMRegressor(n_estimators=20, stopping_rounds=3)],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
        "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_REASON,
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 3] = np.arange(n)  # a unique row id, to recognise rows after LightGBM copies them
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=n)
    return X, y


@pytest.fixture
def captured(monkeypatch):
    """Record the training and evaluation arrays every LGBMRegressor.fit receives."""
    calls = []
    original = LGBMRegressor.fit

    def spy(self, X, y, *args, **kwargs):
        eval_X = kwargs.get("eval_X")
        eval_X = eval_X[0] if eval_X is not None else kwargs["eval_set"][0][0]
        calls.append((np.asarray(X).copy(), np.asarray(eval_X).copy()))
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LGBMRegressor, "fit", spy)
    return calls


def test_validation_rows_are_a_held_out_subset_of_the_fit_rows(captured):
    X, y = _data()
    model = EarlyStoppingLGBMRegressor(
        n_estimators=50, stopping_rounds=5, validation_fraction=0.2, random_state=0
    ).fit(X, y)
    ((train, val),) = captured
    ids_val, ids_train = set(val[:, 3]), set(train[:, 3])
    assert len(ids_val) == 40 and len(ids_train) == 160
    assert ids_val.isdisjoint(ids_train)
    assert ids_val | ids_train == set(X[:, 3])
    assert ids_val == set(X[model.validation_indices_, 3])


def test_cross_validation_never_early_stops_on_the_test_fold(captured):
    X, y = _data()
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    model = EarlyStoppingLGBMRegressor(n_estimators=30, stopping_rounds=5, random_state=0)
    cross_validate(model, X, y, cv=folds)
    assert len(captured) == 3
    for (train_idx, test_idx), (_, val) in zip(folds, captured):
        ids_val = set(val[:, 3])
        assert ids_val <= set(X[train_idx, 3])
        assert ids_val.isdisjoint(X[test_idx, 3])


def test_stops_before_the_round_budget_and_predicts_with_the_best_iteration():
    X, y = _data(300)
    model = EarlyStoppingLGBMRegressor(
        n_estimators=2000, learning_rate=0.3, stopping_rounds=10, random_state=0
    ).fit(X, y)
    assert 1 <= model.best_iteration_ < 2000
    # LightGBM recorded the validation loss for best_iteration_ + stopping_rounds rounds
    (losses,) = model.evals_result_.values()
    assert len(losses["l2"]) == model.best_iteration_ + 10
    assert np.argmin(losses["l2"]) + 1 == model.best_iteration_
    np.testing.assert_allclose(
        model.predict(X), model.booster_.predict(X, num_iteration=model.best_iteration_)
    )


def test_own_parameters_are_not_passed_to_lightgbm():
    X, y = _data()
    model = EarlyStoppingLGBMRegressor(n_estimators=10, max_bin=63, random_state=0).fit(X, y)
    assert "validation_fraction" not in model.booster_.params
    assert "stopping_rounds" not in model.booster_.params
    assert model.booster_.params["max_bin"] == 63


def test_clone_keeps_lightgbm_and_own_parameters():
    model = EarlyStoppingLGBMRegressor(validation_fraction=0.3, num_leaves=7, max_bin=63)
    params = clone(model).get_params()
    assert params["validation_fraction"] == 0.3
    assert params["num_leaves"] == 7 and params["max_bin"] == 63
    assert params["n_estimators"] == 1000


def test_seeded_split_is_reproducible_and_sample_weight_is_split_too():
    X, y = _data()
    w = np.random.default_rng(1).uniform(0.5, 2, size=len(y))
    a = EarlyStoppingLGBMRegressor(n_estimators=20, random_state=3).fit(X, y, sample_weight=w)
    b = EarlyStoppingLGBMRegressor(n_estimators=20, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.validation_indices_, b.validation_indices_)
    c = EarlyStoppingLGBMRegressor(n_estimators=20, random_state=4).fit(X, y)
    assert not np.array_equal(a.validation_indices_, c.validation_indices_)


def test_dataframe_keeps_feature_names():
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "row"])
    model = EarlyStoppingLGBMRegressor(n_estimators=10, random_state=0).fit(frame, y)
    assert list(model.feature_names_in_) == ["a", "b", "c", "row"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eval_set": [(np.zeros((2, 4)), np.zeros(2))]}, "carves its validation set"),
        ({"sample_weight": np.zeros(200)}, "non-zero"),
    ],
)
def test_rejects_external_validation_sets_and_zero_weights(kwargs, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        EarlyStoppingLGBMRegressor(n_estimators=5).fit(X, y, **kwargs)


def test_invalid_validation_fraction_says_expected_and_got():
    X, y = _data()
    with pytest.raises(ValueError, match="validation_fraction"):
        EarlyStoppingLGBMRegressor(validation_fraction=1.5).fit(X, y)


@pytest.mark.xdist_group("real-zoo")
def test_a_dataframe_with_reordered_columns_is_predicted_by_column_name(zoo):
    from skweights.features import LayerStatistics

    stats = LayerStatistics(zoo.layout).set_output(transform="pandas")
    features = stats.fit_transform(zoo.weights)
    # LightGBM refuses ':' in feature names
    features.columns = [c.replace(":", "__") for c in features.columns]
    model = EarlyStoppingLGBMRegressor(
        n_estimators=50, min_child_samples=5, random_state=0, n_jobs=1
    ).fit(features, zoo.target)
    shuffled = features[features.columns[::-1]]
    # LightGBM alone reads columns by position: the reversed frame would be predicted wrong
    booster_pred = model.booster_.predict(shuffled.to_numpy(), num_iteration=model.best_iteration_)
    assert not np.allclose(booster_pred, model.predict(features))
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(features))
    renamed = features.rename(columns={features.columns[0]: "conv2d/bias__oops"})
    with pytest.raises(ValueError, match=r"missing \['conv2d/bias__mean'\], unexpected"):
        model.predict(renamed)
