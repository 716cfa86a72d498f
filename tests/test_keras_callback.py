"""`skweights.keras`: early predictors on the real zoo and the Keras callback on a real CNN."""

from __future__ import annotations

import numpy as np
import pytest

from skweights.datasets import load_zoo

pytestmark = pytest.mark.xdist_group("real-zoo")

keras = pytest.importorskip("keras")
from skweights.keras import (  # noqa: E402
    AccuracyFromWeights,
    fit_early_predictor,
    load_early_checkpoints,
)


@pytest.fixture(scope="module")
def predictors(zoo_path):
    return fit_early_predictor(zoo_path, epoch=[1, 2])


@pytest.fixture(scope="module")
def digits():
    from skweights.zoo._images import load_images

    data = load_images("digits")
    return data.x_train[:512], data.y_train[:512]


def _cnn(seed=0):
    from skweights.zoo import build_cnn

    model = build_cnn(activation="relu", seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_early_checkpoints_pair_weights_at_epoch_with_the_same_runs_final_accuracy(zoo_path):
    early = load_early_checkpoints(zoo_path, epoch=2)
    everything = load_zoo(zoo_path, step="all")
    m = everything.metrics
    for i in (0, len(early.modeldir) // 2, len(early.modeldir) - 1):
        run = m["modeldir"] == early.modeldir[i]
        at_epoch = np.flatnonzero(run & (m["step"] == 2))[0]
        final = np.flatnonzero(run & (m["step"] == m.loc[run, "step"].max()))[0]
        np.testing.assert_array_equal(early.weights[i], everything.weights[at_epoch])
        assert early.target[i] == everything.target[final]
        assert early.accuracy_at_epoch[i] == everything.target[at_epoch]
    assert early.weights.shape == (len(early.target), early.layout.n_params)
    assert len(set(early.modeldir)) == len(early.modeldir)


def test_early_checkpoints_name_the_available_epochs_when_one_is_missing(zoo_path):
    with pytest.raises(ValueError, match=r"no usable checkpoint at epoch 99.*\[0, 1, 2"):
        load_early_checkpoints(zoo_path, epoch=99)


def test_fit_early_predictor_returns_one_fitted_pipeline_per_epoch(predictors, zoo_path):
    assert sorted(predictors) == [1, 2]
    early = load_early_checkpoints(zoo_path, epoch=2)
    pred = predictors[2].predict(early.weights)
    assert pred.shape == early.target.shape
    # fitted on these very runs: it must rank them far better than chance
    from skweights.metrics import kendall_tau

    assert kendall_tau(early.target, pred) > 0.3


def test_callback_stops_a_run_predicted_below_the_threshold(predictors, digits):
    x, y = digits
    stop = AccuracyFromWeights(predictors, threshold=1.01, verbose=0)
    fit = _cnn().fit(x, y, epochs=3, batch_size=128, callbacks=[stop], verbose=0)
    assert stop.stopped_epoch == 1
    assert len(fit.history["loss"]) == 1  # stopped after the first epoch
    assert [h["epoch"] for h in stop.history] == [1]
    assert stop.history[0]["stopped"] is True
    assert fit.history["predicted_accuracy"] == [stop.history[0]["predicted_accuracy"]]


def test_callback_without_threshold_only_logs_predictions(predictors, digits):
    x, y = digits
    model = _cnn(seed=1)
    stop = AccuracyFromWeights(predictors, threshold=None, verbose=0)
    fit = model.fit(x, y, epochs=2, batch_size=128, callbacks=[stop], verbose=0)
    assert stop.stopped_epoch is None and len(fit.history["loss"]) == 2
    predicted = [h["predicted_accuracy"] for h in stop.history]
    assert [h["epoch"] for h in stop.history] == [1, 2]
    assert all(0.0 <= p <= 1.0 for p in predicted)
    assert fit.history["predicted_accuracy"] == predicted
    # the logged number is the predictor applied to the flattened weights, nothing else
    flat = stop.layout_.flatten_keras(model, match="position")
    assert predictors[2].predict(flat[None])[0] == pytest.approx(predicted[-1])


def test_min_epoch_delays_stopping(predictors, digits):
    x, y = digits
    stop = AccuracyFromWeights(predictors, threshold=1.01, min_epoch=2, verbose=0)
    fit = _cnn(seed=2).fit(x, y, epochs=4, batch_size=128, callbacks=[stop], verbose=0)
    assert stop.stopped_epoch == 2 and len(fit.history["loss"]) == 2
    assert [h["stopped"] for h in stop.history] == [False, True]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": [3]}, ValueError, r"no predictor for epochs \[3\]"),
        ({"epochs": [0]}, ValueError, "epochs must be ints >= 1"),
        ({"threshold": "high"}, ValueError, "threshold must be a finite number"),
        ({"min_epoch": -1}, ValueError, "min_epoch must be a non-negative int"),
    ],
)
def test_invalid_parameters_are_reported_when_training_starts(predictors, kwargs, error, match):
    stop = AccuracyFromWeights(predictors, **kwargs)
    with pytest.raises(error, match=match):
        stop.on_train_begin()


def test_predictor_without_predict_is_rejected():
    with pytest.raises(TypeError, match="fitted regressor with predict"):
        AccuracyFromWeights(object()).on_train_begin()


def test_early_stopping_benchmark_reports_compute_saved_and_best_runs_lost(zoo_path, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_early_stopping as bench

    results = tmp_path / "results.md"
    report = bench.main(
        ["--zoo", str(zoo_path), "--epochs", "1", "3", "--quantile", "0.25"]
        + ["--results", str(results)]
    )
    assert results.read_text().startswith("# Early-stopping benchmark results")
    assert report in results.read_text()
    rows = [
        line
        for line in report.splitlines()
        if line.startswith("| 1 / 6") or line.startswith("| 3 / 6")
    ]
    assert len(rows) == 2
    row = bench.evaluate_epoch(zoo_path, 3, quantile=0.25)
    # a quarter of the runs stopped after 3 of 6 epochs saves an eighth of the compute
    assert row["stopped"] == round(row["n_test"] / 4) > 0
    assert row["compute_saved"] == pytest.approx(row["stopped"] / row["n_test"] * 3 / 6)
    assert 0 <= row["best_lost"] <= row["n_best"] and row["n_best"] >= 1


def test_predictor_file_of_skweights_fit_is_accepted_with_its_layout(predictors, tmp_path):
    from skweights.layout import Layout
    from skweights.predictor import save_predictor

    layout = Layout.small_cnn_zoo()
    path = save_predictor(tmp_path / "predictor.skops", predictors[1], layout, features="stats")
    stop = AccuracyFromWeights(str(path), epochs=[1, 2])
    stop.on_train_begin()
    assert stop.layout_ == layout and stop.epochs_ == {1, 2}
    assert set(stop.predictors_) == {None}  # one predictor used at every chosen epoch


def test_layout_defaults_to_the_one_of_the_pipelines_feature_step(predictors, zoo):
    stop = AccuracyFromWeights(predictors)
    stop.on_train_begin()
    assert stop.layout_ is predictors[1][0].layout
    assert stop.layout_.n_params == zoo.layout.n_params
    assert stop.epochs_ == {1, 2}
