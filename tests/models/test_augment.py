"""Tests of random hidden-neuron permutations and PermutationAugmentedRegressor on the real zoo."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge

from skweights.models import (
    PermutationAugmentedRegressor,
    hidden_neuron_permutation,
    random_hidden_neuron_permutations,
)

pytestmark = pytest.mark.xdist_group("real-zoo")


class Recording(RegressorMixin, BaseEstimator):
    """Predicts the mean target; keeps the rows it was fitted on."""

    def fit(self, X, y):
        self.X_, self.y_ = X, y
        return self

    def predict(self, X):
        return np.full(len(X), self.y_.mean())


def test_random_permutations_compose_one_permutation_per_hidden_layer_and_row(zoo):
    X = zoo.weights[:6]
    out = random_hidden_neuron_permutations(zoo.layout, X, random_state=3)
    rng = np.random.RandomState(3)  # the same draws: one (rows, neurons) block per layer
    perms = [rng.random_sample((6, 16)).argsort(axis=1) for _ in range(3)]
    for i, row in enumerate(X):
        for layer in range(3):
            row = row[hidden_neuron_permutation(zoo.layout, layer, perms[layer][i])]
        np.testing.assert_array_equal(out[i], row)
    assert not np.array_equal(out, X)
    np.testing.assert_array_equal(np.sort(out, axis=1), np.sort(X, axis=1))


def test_augmentation_keeps_targets_and_adds_permuted_copies(zoo):
    X, y = zoo.weights[:20], zoo.target[:20]
    model = PermutationAugmentedRegressor(Recording(), zoo.layout, n_copies=3, random_state=0)
    seen = model.fit(X, y).estimator_
    assert seen.X_.shape == (80, zoo.layout.n_params)
    np.testing.assert_array_equal(seen.X_[:20], X)
    np.testing.assert_array_equal(seen.y_, np.tile(y, 4))
    copies = seen.X_[20:].reshape(3, 20, -1)
    assert all(not np.array_equal(copy[i], X[i]) for copy in copies for i in range(20))
    assert not np.array_equal(copies[0], copies[1])  # each copy drawn anew
    np.testing.assert_array_equal(np.sort(copies, axis=2), np.sort(np.stack([X] * 3), axis=2))


def test_augmented_ridge_on_raw_weights_is_seeded_and_changes_the_fit(zoo):
    X, y = zoo.weights, zoo.target
    plain = Ridge(alpha=10.0).fit(X, y).predict(X)
    model = PermutationAugmentedRegressor(Ridge(alpha=10.0), zoo.layout, random_state=0)
    augmented = model.fit(X, y).predict(X)
    again = PermutationAugmentedRegressor(Ridge(alpha=10.0), zoo.layout, random_state=0)
    np.testing.assert_array_equal(again.fit(X, y).predict(X), augmented)
    assert np.abs(augmented - plain).mean() > 1e-3


def test_augmentation_errors_say_what_was_expected(zoo):
    with pytest.raises(ValueError, match="X has 10 columns but the layout describes 4970"):
        PermutationAugmentedRegressor(Ridge(), zoo.layout).fit(np.zeros((4, 10)), np.zeros(4))
