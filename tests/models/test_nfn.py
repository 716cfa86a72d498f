"""Tests of NeuralFunctionalRegressor on the real test zoo: symmetry, learning, reproducibility."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from skweights.datasets import paper_split
from skweights.layout import Layout
from skweights.metrics import kendall_tau
from skweights.models import NeuralFunctionalRegressor, hidden_neuron_permutation
from skweights.models._nfn_structure import network_objects

pytestmark = pytest.mark.xdist_group("real-zoo")

SMALL = dict(hidden_channels=(4, 4), head_units=(32,), epochs=3, batch_size=16, random_state=0)


def _cnn_logits(layout, row, images):
    """Logits of the zoo CNN (stride-2 valid 3x3 convolutions, ReLU, global mean, dense)."""
    import jax

    tensors = {e.short_name: np.asarray(row[e.slice]).reshape(e.shape) for e in layout}
    h = images
    for name in ("conv2d", "conv2d_1", "conv2d_2"):
        h = jax.lax.conv_general_dilated(
            h,
            tensors[f"{name}/kernel"],
            (2, 2),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        h = jax.nn.relu(h + tensors[f"{name}/bias"])
    h = h.mean(axis=(1, 2))
    return np.asarray(h @ tensors["dense/kernel"] + tensors["dense/bias"])


@pytest.fixture(scope="module")
def fitted(zoo):
    """A small model that also feeds the per-layer statistics to its head."""
    train, _ = paper_split(len(zoo.target), n_train=0.5, random_state=0)
    model = NeuralFunctionalRegressor(zoo.layout, **SMALL, statistics=True)
    return model.fit(zoo.weights[train], zoo.target[train])


def test_importing_models_does_not_import_jax():
    code = (
        "import sys; from skweights.models import NeuralFunctionalRegressor; "
        "print('jax' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_hidden_neuron_permutation_keeps_the_cnn_function(zoo, layer):
    rng = np.random.default_rng(layer)
    columns = hidden_neuron_permutation(zoo.layout, layer, rng.permutation(16))
    assert sorted(columns) == list(range(zoo.layout.n_params))
    images = rng.normal(size=(4, 16, 16, 1)).astype(np.float32)
    row = zoo.weights[0]
    assert not np.array_equal(row[columns], row)
    np.testing.assert_allclose(
        _cnn_logits(zoo.layout, row[columns], images),
        _cnn_logits(zoo.layout, row, images),
        rtol=1e-4,
        atol=1e-5,
    )


def test_predictions_are_invariant_to_hidden_neuron_permutations_unlike_a_gbm(zoo, fitted):
    from lightgbm import LGBMRegressor

    X = zoo.weights
    gbm = LGBMRegressor(n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1)
    gbm.fit(X, zoo.target)
    before, gbm_before = fitted.predict(X), gbm.predict(X)
    rng = np.random.default_rng(0)
    gbm_changes = []
    for layer in range(3):
        permuted = X[:, hidden_neuron_permutation(zoo.layout, layer, rng.permutation(16))]
        np.testing.assert_allclose(fitted.predict(permuted), before, atol=1e-5)
        gbm_changes.append(np.abs(gbm.predict(permuted) - gbm_before).mean())
    # all three layers at once: a different network in every row (one permutation per row)
    both = X.copy()
    for i in range(len(X)):
        for layer in range(3):
            both[i] = both[i, hidden_neuron_permutation(zoo.layout, layer, rng.permutation(16))]
    np.testing.assert_allclose(fitted.predict(both), before, atol=1e-5)
    assert np.std(before) > 1e-3  # not invariant by being constant
    assert max(gbm_changes) > 1e-3


def test_learns_more_than_a_constant_on_held_out_networks(zoo):
    train, test = paper_split(len(zoo.target), n_train=0.6, random_state=0)
    # 57 training networks: measured MSE 0.81 x the constant's, τ 0.40 (0.90 and 0.37 with
    # random_state=1)
    model = NeuralFunctionalRegressor(
        zoo.layout,
        hidden_channels=(8, 8),
        head_units=(64,),
        epochs=60,
        early_stopping=False,
        random_state=0,
    ).fit(zoo.weights[train], zoo.target[train])
    y_test = zoo.target[test]
    pred = model.predict(zoo.weights[test])
    constant = np.mean((zoo.target[train].mean() - y_test) ** 2)
    assert np.mean((pred - y_test) ** 2) < 0.95 * constant
    assert kendall_tau(y_test, pred) > 0.2


def test_fit_is_reproducible_and_seeded(zoo, fitted):
    train, _ = paper_split(len(zoo.target), n_train=0.5, random_state=0)
    X, y = zoo.weights[train], zoo.target[train]
    again = NeuralFunctionalRegressor(zoo.layout, **SMALL, statistics=True).fit(X, y)
    np.testing.assert_array_equal(again.predict(zoo.weights), fitted.predict(zoo.weights))
    other = NeuralFunctionalRegressor(zoo.layout, **{**SMALL, "random_state": 1}, statistics=True)
    other.fit(X, y)
    assert not np.array_equal(other.predict(zoo.weights), fitted.predict(zoo.weights))


def test_pickle_round_trip_predicts_the_same(zoo, fitted):
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict(zoo.weights), fitted.predict(zoo.weights))
    assert all(
        isinstance(p, np.ndarray)
        for layer in fitted.params_["layers"]
        for d in layer
        for p in d.values()
    )


def test_early_stopping_trains_only_on_training_rows(zoo, monkeypatch):
    from skweights.models import _nfn_network

    seen = []
    original = _nfn_network.train_epoch

    def recording(params, opt, objects, S, t, batches, *args, **kwargs):
        seen.append(np.asarray(batches).ravel())
        return original(params, opt, objects, S, t, batches, *args, **kwargs)

    monkeypatch.setattr(_nfn_network, "train_epoch", recording)
    X, y = zoo.weights[:60], zoo.target[:60]
    model = NeuralFunctionalRegressor(zoo.layout, **SMALL, validation_fraction=0.25).fit(X, y)
    _, val = model._split(60, np.random.RandomState(0))
    assert len(val) == 15
    assert set(np.concatenate(seen)) == set(range(60)) - set(val)
    assert len(model.history_["val_mse"]) == model.n_iter_
    best = int(np.argmin(model.history_["val_mse"]))
    assert model.best_epoch_ == best + 1
    val_mse = np.mean((model.predict(X[val]) - y[val]) ** 2)
    assert val_mse == pytest.approx(model.history_["val_mse"][best], rel=1e-4)


def test_learning_rate_halves_on_plateaus_and_training_stops_after_patience(zoo):
    X, y = zoo.weights[:60], zoo.target[:60]
    params = {**SMALL, "epochs": 40, "learning_rate": 0.05, "patience": 4}
    model = NeuralFunctionalRegressor(zoo.layout, **params).fit(X, y)
    val_mse, rates = np.array(model.history_["val_mse"]), np.array(model.history_["learning_rate"])
    assert model.n_iter_ - model.best_epoch_ == 4 and model.n_iter_ < 40
    assert np.all(np.diff(rates) <= 0) and rates[-1] < 0.05
    assert set(np.log2(0.05 / rates).round(9)) <= set(range(40))
    for epoch in np.flatnonzero(np.diff(rates)) + 1:  # rates[epoch] is the first halved one
        best_before = np.minimum.accumulate(val_mse)[epoch - 1]
        assert val_mse[epoch - 2] >= best_before  # halved only after an epoch without progress
    fixed = NeuralFunctionalRegressor(zoo.layout, **params, reduce_on_plateau=False).fit(X, y)
    assert set(fixed.history_["learning_rate"]) == {0.05}


def test_tensor_standardisation_uses_one_scalar_per_tensor(zoo, fitted):
    assert fitted.tensor_mean_.shape == fitted.tensor_scale_.shape == (len(zoo.layout),)
    kernel = zoo.layout["conv2d_1/kernel"]
    k = zoo.layout.entries.index(kernel)
    train, _ = paper_split(len(zoo.target), n_train=0.5, random_state=0)
    fit_rows, _ = fitted._split(len(train), np.random.RandomState(0))
    block = zoo.weights[train][fit_rows][:, kernel.slice]
    assert fitted.tensor_scale_[k] == pytest.approx(block.std(dtype=np.float64), rel=1e-5)


def test_objects_cover_every_column_once():
    layout = Layout.small_cnn_zoo()
    spec, indices = network_objects(layout)
    kinds = [(kind, axes, idx.shape) for (kind, axes), idx in zip(spec, indices)]
    assert kinds == [
        ("vector", (1,), (16, 9)),  # conv2d kernel: (out, in * 3 * 3)
        ("vector", (1,), (16, 1)),  # conv2d bias
        ("matrix", (2, 1), (16, 16, 9)),
        ("vector", (2,), (16, 1)),
        ("matrix", (3, 2), (16, 16, 9)),
        ("vector", (3,), (16, 1)),
        ("vector", (3,), (16, 10)),  # dense kernel as a 1x1 convolution, per hidden input
        ("global", (), (10,)),  # dense bias: output neurons are fixed
    ]
    assert sorted(np.concatenate([i.ravel() for i in indices])) == list(range(layout.n_params))


def test_layout_errors_say_what_was_expected(zoo):
    model = NeuralFunctionalRegressor(zoo.layout, epochs=1)
    with pytest.raises(ValueError, match="X has 10 columns but the layout describes 4970"):
        model.fit(np.zeros((4, 10)), np.full(4, 0.5))
    flat = Layout.from_shapes([("a/kernel", (3, 4)), ("b/kernel", (5, 1))])
    with pytest.raises(ValueError, match="layer 'b' has 5 inputs but layer 'a' has 4 outputs"):
        NeuralFunctionalRegressor(flat).fit(np.zeros((4, 17)), np.full(4, 0.5))
    with pytest.raises(ValueError, match="hidden_channels must be positive integers"):
        NeuralFunctionalRegressor(zoo.layout, hidden_channels=(0,)).fit(zoo.weights, zoo.target)


def test_nfn_space_searches_with_weight_search_cv(zoo):
    from skweights.search import SPACES, WeightSearchCV, nfn_space

    assert SPACES["nfn"] is nfn_space
    model = NeuralFunctionalRegressor(zoo.layout, head_units=(16,), epochs=2, random_state=0)
    search = WeightSearchCV(model, "nfn", n_trials=2, cv=2, refit=False, random_state=0)
    search.fit(zoo.weights, zoo.target)
    assert search.n_trials_ == 2
    assert set(search.best_params_) == set(nfn_space())
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_one_compiled_epoch_equals_a_python_loop_of_steps(zoo):
    from skweights.models import _nfn_network as net

    spec, indices = network_objects(zoo.layout)
    fold = [idx.shape[-1] for idx in indices]
    init = net.init_params(np.random.RandomState(0), spec, fold, (4, 4), (16,), n_extra=2)
    X = zoo.weights / zoo.weights.std()
    objects = net.to_jax(net.gather(X, indices))
    S = net.to_jax(np.random.default_rng(0).normal(size=(len(X), 2)).astype(np.float32))
    t = net.to_jax(zoo.target.astype(np.float32))
    batches = np.random.default_rng(1).permutation(len(X))[:80].reshape(5, 16).astype(np.int32)
    args = (np.float32(1e-2), spec, "binary_crossentropy")

    params, opt, losses = net.to_jax(init), net.to_jax(net.adam_init(init)), []
    for rows in batches:
        params, opt, value = net.train_step(params, opt, objects, S, t, rows, *args)
        losses.append(value)
    state = (net.to_jax(init), net.to_jax(net.adam_init(init)))
    scanned, scanned_opt, scanned_losses = net.train_epoch(*state, objects, S, t, batches, *args)

    assert int(scanned_opt["step"]) == int(opt["step"]) == 5
    np.testing.assert_allclose(np.asarray(scanned_losses), np.asarray(losses), rtol=1e-5)
    for a, b in zip(jax_leaves(scanned), jax_leaves(params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    moved = [np.abs(a - before).max() for a, before in zip(jax_leaves(params), jax_leaves(init))]
    assert min(moved) > 1e-4  # every parameter was trained
