"""Tests of WeightMLP: learning, reproducibility, early stopping on training rows, pickling."""

from __future__ import annotations

import io
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skweights.metrics import kendall_tau_scorer
from skweights.models import WeightMLP

SMALL = dict(n_layers=1, n_units=16, epochs=10, random_state=0)


def _interaction(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * 1e-3  # tiny scales, like network weights
    return X, 1 / (1 + np.exp(-2e6 * X[:, 0] * X[:, 1]))


def test_importing_models_does_not_import_keras():
    code = "import sys, skweights.models; print('keras' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_learns_a_nonlinear_target_and_is_reproducible():
    X, y = _interaction()
    X_test, y_test = _interaction(200, seed=1)
    kwargs = dict(n_layers=2, n_units=32, epochs=20, learning_rate=1e-2, random_state=0)
    a = WeightMLP(**kwargs).fit(X, y)
    assert a.score(X_test, y_test) > 0.8
    b = WeightMLP(**kwargs).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = WeightMLP(**{**kwargs, "random_state": 1, "epochs": 2}).fit(X, y)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_numpy_predictions_match_the_keras_model():
    X, y = _interaction(100)
    model = WeightMLP(n_layers=2, n_units=16, epochs=3, dropout=0.2, random_state=0).fit(X, y)
    keras_pred = np.asarray(model.model_.predict((X - model.mean_) / model.scale_, verbose=0))
    np.testing.assert_allclose(model.predict(X), keras_pred[:, 0], atol=1e-6)
    assert [c.shape for c in model.coefs_] == [(4, 16), (16, 16), (16, 1)]


def test_early_stopping_never_trains_on_validation_rows(monkeypatch):
    import keras

    seen = []
    original_fit = keras.Model.fit

    def recording_fit(self, x, y, **kwargs):
        seen.append(np.array(x))
        return original_fit(self, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    X, y = _interaction(100)
    model = WeightMLP(**SMALL, validation_fraction=0.2, patience=3).fit(X, y)

    _, val = model._split(100, np.random.RandomState(0))
    assert val.size == 20
    Z_val = ((X[val] - model.mean_) / model.scale_).astype(np.float32)
    trained_on = np.unique(np.concatenate(seen), axis=0)
    assert len(trained_on) == 80
    assert not (trained_on[:, None, :] == Z_val[None, :, :]).all(axis=2).any()

    assert len(model.history_["loss"]) == len(model.history_["val_mse"]) == model.n_iter_
    best = int(np.argmin(model.history_["val_mse"]))
    assert model.best_epoch_ == best + 1
    val_mse = np.mean((model.predict(X[val]) - y[val]) ** 2)
    assert val_mse == pytest.approx(model.history_["val_mse"][best], rel=1e-5)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    X, y = _interaction(100)
    model = WeightMLP(**{**SMALL, "epochs": 200}, learning_rate=0.05, patience=2).fit(X, y)
    assert model.n_iter_ < 200
    assert model.n_iter_ - model.best_epoch_ == 2


def test_without_early_stopping_all_epochs_run_and_one_sample_fits():
    X, y = _interaction(50)
    model = WeightMLP(**SMALL, early_stopping=False).fit(X, y)
    assert model.n_iter_ == 10 and "val_mse" not in model.history_ and model.best_epoch_ is None
    WeightMLP(**SMALL, early_stopping=False).fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="n_samples = 1"):
        WeightMLP(**SMALL).fit(X[:1], y[:1])


@pytest.mark.parametrize(
    "params",
    [
        dict(initializer="he_normal", optimizer="sgd", learning_rate=0.1),
        dict(initializer="orthogonal", l2=1e-3),
        dict(initializer="normal", init_std=1e-3),
        dict(initializer="truncated_normal", init_std=0.1, dropout=0.2),
        dict(n_layers=0),
    ],
)
def test_paper_hyperparameters_train(params):
    X, y = _interaction(80)
    model = WeightMLP(**{**SMALL, "epochs": 2, **params}).fit(X, y)
    assert len(model.coefs_) == model.n_layers + 1
    assert np.all(np.isfinite(model.predict(X)))


def test_normal_initializer_uses_init_std():
    X, y = _interaction(80)
    model = WeightMLP(n_layers=1, n_units=256, epochs=1, learning_rate=1e-9, random_state=0)
    model.set_params(initializer="normal", init_std=0.01, early_stopping=False).fit(X, y)
    assert np.std(model.coefs_[1]) == pytest.approx(0.01, rel=0.2)


def test_targets_outside_unit_interval_need_auto_range():
    X, y = _interaction(60)
    with pytest.raises(ValueError, match=r"outside output_range=\(0.0, 1.0\)"):
        WeightMLP(**SMALL).fit(X, 5 * y)
    model = WeightMLP(**SMALL, output_range="auto").fit(X, 5 * y)
    pred = model.predict(X)
    assert 5 * y.min() <= pred.min() and pred.max() <= 5 * y.max()


def test_pickle_and_joblib_round_trip_predict_identically():
    import pickle

    X, y = _interaction(60)
    model = WeightMLP(**SMALL).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    Z = (X - model.mean_) / model.scale_
    np.testing.assert_array_equal(
        np.asarray(loaded.model_.predict(Z, verbose=0)),
        np.asarray(model.model_.predict(Z, verbose=0)),
    )


def test_works_in_pipeline_grid_search_and_cross_val_score_with_tau():
    X, y = _interaction(90)
    pipe = make_pipeline(StandardScaler(), WeightMLP(**SMALL, early_stopping=False))
    scores = cross_val_score(pipe, X, y, cv=2, scoring=kendall_tau_scorer)
    assert scores.shape == (2,) and np.all(np.abs(scores) <= 1)
    search = GridSearchCV(pipe, {"weightmlp__epochs": [1, 30]}, cv=2, scoring="r2").fit(X, y)
    assert search.best_params_ == {"weightmlp__epochs": 30}
