"""The vertical slice on a real zoo trained by our generator: generate → load → features → τ.

Every test here uses the session zoo of ``conftest.py`` (96 digits CNNs, generated once, cached).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline

from skweights.datasets import load_zoo, paper_split
from skweights.features import LayerNorms, LayerStatistics, RandomPermutation
from skweights.layout import Layout
from skweights.metrics import kendall_tau, kendall_tau_scorer
from skweights.models import LogitLinearRegressor

pytestmark = pytest.mark.xdist_group("real-zoo")


def test_zoo_files_follow_the_released_format(zoo_path):
    layout = Layout.from_csv(zoo_path / "layout.csv")
    assert layout == Layout.small_cnn_zoo()
    full = load_zoo(zoo_path, step="all", drop_nonfinite=False)
    assert full.weights.dtype == np.float32
    assert full.weights.shape[1] == 4970
    # every run has a checkpoint at epoch 0 and the rows of a run are in step order
    for _, steps in full.metrics.groupby("modeldir", sort=False)["step"]:
        assert steps.iloc[0] == 0
        assert steps.is_monotonic_increasing


def test_accuracies_spread_from_chance_to_good(zoo):
    acc = zoo.target
    assert len(acc) >= 90  # at most a few of 96 runs may diverge
    assert acc.min() < 0.3
    assert acc.max() > 0.85
    assert np.all((acc >= 0) & (acc <= 1))


def test_layer_statistics_on_real_weights_match_numpy(zoo):
    X = zoo.weights[:20]
    features = LayerStatistics(zoo.layout).fit_transform(X)
    names = LayerStatistics(zoo.layout).fit(X).get_feature_names_out()
    assert features.shape == (20, 56)
    kernel = X[:, zoo.layout["conv2d_1/kernel"].slice]
    col = list(names).index("conv2d_1/kernel:q75")
    np.testing.assert_allclose(features[:, col], np.quantile(kernel, 0.75, axis=1), rtol=1e-6)
    col = list(names).index("conv2d_1/kernel:var")
    np.testing.assert_allclose(features[:, col], kernel.astype(np.float64).var(axis=1), rtol=1e-5)


def test_statistics_plus_lightgbm_rank_networks_in_cross_validation(zoo):
    model = Pipeline(
        [
            ("stats", LayerStatistics(zoo.layout)),
            ("gbm", LGBMRegressor(n_estimators=100, min_child_samples=5, verbose=-1, n_jobs=1)),
        ]
    )
    cv = KFold(3, shuffle=True, random_state=0)
    taus = cross_val_score(model, zoo.weights, zoo.target, scoring=kendall_tau_scorer, cv=cv)
    # Weight statistics carry real information about accuracy: far above chance (τ = 0).
    assert taus.mean() > 0.5, taus


def test_logit_linear_on_layer_norms_beats_the_mean_predictor(zoo):
    train, test = paper_split(len(zoo.target), n_train=0.5, random_state=0)
    model = Pipeline(
        [("norms", LayerNorms(zoo.layout)), ("lin", LogitLinearRegressor(alpha=1e-3))]
    )
    model.fit(zoo.weights[train], zoo.target[train])
    pred = model.predict(zoo.weights[test])
    assert np.all((pred > 0) & (pred < 1))
    assert kendall_tau(zoo.target[test], pred) > 0.3


def test_saved_predictor_predicts_identically_and_refuses_another_width(zoo, tmp_path):
    model = Pipeline(
        [
            ("stats", LayerStatistics(zoo.layout)),
            ("gbm", LGBMRegressor(n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1)),
        ]
    ).fit(zoo.weights, zoo.target)
    path = tmp_path / "predictor.pkl"
    path.write_bytes(pickle.dumps(model))
    loaded = pickle.loads(path.read_bytes())
    np.testing.assert_array_equal(loaded.predict(zoo.weights), model.predict(zoo.weights))
    with pytest.raises(ValueError, match="4969 features.*expecting 4970"):
        loaded.predict(zoo.weights[:, :-1])


def test_statistics_are_invariant_to_permuting_within_tensors_on_real_weights(zoo):
    X = np.ascontiguousarray(zoo.weights[:10])
    permuted = RandomPermutation(zoo.layout, scope="tensor", random_state=0).fit_transform(X)
    assert not np.array_equal(permuted, X)
    stats = LayerStatistics(zoo.layout)
    np.testing.assert_allclose(stats.fit_transform(permuted), stats.fit_transform(X), rtol=1e-6)
