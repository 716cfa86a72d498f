"""Conformal prediction intervals (MAPIE) on the real test zoo: coverage, CLI columns, plot."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from skweights.cli import main
from skweights.datasets import paper_split
from skweights.features import LayerStatistics
from skweights.intervals import ConformalPredictor, interval_coverage
from skweights.models import EarlyStoppingLGBMRegressor

pytestmark = pytest.mark.xdist_group("real-zoo")

LEVELS = (0.8, 0.9)
N_SPLITS = 6


def _gbm():
    return EarlyStoppingLGBMRegressor(
        n_estimators=100, stopping_rounds=10, min_child_samples=5, random_state=0, n_jobs=1
    )


def test_coverage_on_held_out_networks_is_near_nominal(zoo):
    """Calibrated on the training networks only, intervals cover held-out networks as promised.

    Coverage of one split is a random variable: binomial over the n_test held-out networks,
    around a calibration-dependent level whose spread is about as large (n_cal ~ n_train). So
    sd ~ sqrt(p (1 - p) (1/n_test + 1/n_train)) per split; the mean over splits has no larger
    sd, whatever their overlap. We allow 3 such sd (0.18 at p = 0.9 for 48 + 48 networks).
    """
    X = LayerStatistics(zoo.layout).fit_transform(zoo.weights)
    y = zoo.target
    coverage = {level: [] for level in LEVELS}
    widths = {level: [] for level in LEVELS}
    for seed in range(N_SPLITS):
        train, test = paper_split(len(y), n_train=0.5, random_state=seed)
        model = ConformalPredictor(_gbm(), confidence_level=LEVELS, random_state=seed)
        model.fit(X[train], y[train])
        for level in LEVELS:
            bounds = model.predict_interval(X[test], level)
            coverage[level].append(interval_coverage(y[test], bounds))
            widths[level].append(np.mean(bounds[:, 1] - bounds[:, 0]))
    n_train, n_test = len(train), len(test)
    for level in LEVELS:
        sd = np.sqrt(level * (1 - level) * (1 / n_test + 1 / n_train))
        assert abs(np.mean(coverage[level]) - level) <= 3 * sd, (level, coverage[level])
    # informative: narrower than the spread of accuracies, wider at the higher level
    assert np.mean(widths[0.9]) > np.mean(widths[0.8])
    assert np.mean(widths[0.9]) < y.max() - y.min()


def test_calibration_uses_only_the_rows_given_to_fit(zoo):
    X = LayerStatistics(zoo.layout).fit_transform(zoo.weights)
    train, test = paper_split(len(zoo.target), n_train=0.5, random_state=0)
    model = ConformalPredictor(_gbm(), confidence_level=0.9, random_state=0)
    model.fit(X[train], zoo.target[train])
    scores = model.conformal_.conformity_scores
    assert len(scores) == len(train)
    # the point prediction is the regressor refitted on all training rows
    np.testing.assert_allclose(
        model.predict(X[test]), _gbm().fit(X[train], zoo.target[train]).predict(X[test])
    )
    with pytest.raises(ValueError, match=r"calibrated for confidence levels \[0.9\], got 0.5"):
        model.predict_interval(X[test], 0.5)


def test_cli_fit_interval_then_predict_adds_lower_upper_columns(zoo, zoo_path, tmp_path, capsys):
    out = tmp_path / "p.skops"
    assert (
        main(["fit", str(zoo_path), "--interval", "0.8", "0.9", "--out", str(out), "--quiet"]) == 0
    )
    assert "interval coverage 0.8: " in capsys.readouterr().out
    assert main(["predict", str(out), str(zoo_path), "--interval", "0.9"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["name", "predicted_accuracy", "lower", "upper"]
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert len(values) == len(zoo.target)
    assert np.all(values[:, 1] <= values[:, 2])
    assert main(["predict", str(out), str(zoo_path), "--interval", "0.95"]) == 1
    assert "calibrated for confidence levels [0.8, 0.9], got 0.95" in capsys.readouterr().err


def test_predict_interval_without_calibration_asks_for_fit_interval(zoo_path, tmp_path, capsys):
    out = tmp_path / "plain.skops"
    assert main(["fit", str(zoo_path), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), str(zoo_path), "--interval", "0.9"]) == 1
    assert "has no prediction intervals; refit it with" in capsys.readouterr().err


def test_plot_prediction_intervals_colours_uncovered_networks(zoo):
    import matplotlib

    matplotlib.use("Agg")
    from skweights.plotting import plot_prediction_intervals

    y = zoo.target[:20]
    bounds = np.c_[y - 0.05, y + 0.05]
    bounds[:5] += 0.2  # five intervals miss their network
    ax = plot_prediction_intervals(y, y, bounds)
    assert len(ax.collections[0].get_segments()) == 20
    assert "coverage = 0.75" in ax.texts[0].get_text()
    with pytest.raises(ValueError, match=r"intervals of shape \(n, 2\)"):
        plot_prediction_intervals(y, y, bounds[:, 0])
