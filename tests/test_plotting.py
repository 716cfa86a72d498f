"""Tests of skweights.plotting: what each plot draws, on synthetic data (Agg backend)."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402

from skweights.plotting import (  # noqa: E402
    plot_accuracy_histogram,
    plot_accuracy_histograms,
    plot_feature_importance,
    plot_layer_statistic_scatter,
    plot_true_vs_predicted,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def accuracies():
    rng = np.random.default_rng(0)
    y_true = rng.uniform(0.1, 0.9, size=300)
    y_pred = np.clip(y_true + rng.normal(0, 0.1, size=300), 0, 1)
    return y_true, y_pred


@pytest.fixture
def layer_features():
    """Per-layer statistics of 150 fake networks, accuracy driven by two bias ranges."""
    rng = np.random.default_rng(1)
    n = 150
    columns = {}
    for layer in ("conv2d", "conv2d_1", "dense"):
        for kind in ("bias", "kernel"):
            low = rng.normal(-0.1, 0.05, n)
            columns[f"{layer}/{kind}:q0"] = low
            columns[f"{layer}/{kind}:q50"] = low + rng.uniform(0, 0.1, n)
            columns[f"{layer}/{kind}:q100"] = low + rng.uniform(0.1, 0.5, n)
            columns[f"{layer}/{kind}:mean"] = rng.normal(0, 0.01, n)
    features = pd.DataFrame(columns)
    first = features["conv2d/bias:q100"] - features["conv2d/bias:q0"]
    last = features["dense/bias:q100"] - features["dense/bias:q0"]
    accuracy = np.clip(0.1 + first + last, 0, 1).to_numpy()
    return features, accuracy


def _texts(ax):
    return [text.get_text() for text in ax.texts]


def test_true_vs_predicted_draws_every_point_and_the_diagonal(accuracies):
    y_true, y_pred = accuracies
    ax = plot_true_vs_predicted(y_true, y_pred, title="transfer")
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([y_true, y_pred]))
    (diagonal,) = ax.lines
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
    assert ax.get_title() == "transfer"
    assert ax.get_xlabel() == "true test accuracy"
    assert ax.get_ylabel() == "predicted test accuracy"


def test_true_vs_predicted_annotates_kendall_tau_b_and_r2(accuracies):
    y_true, y_pred = accuracies
    # Ties in the predictions make tau-b differ from tau-a: the plot must show tau-b.
    y_pred = np.round(y_pred, 1)
    ax = plot_true_vs_predicted(y_true, y_pred)
    (text,) = _texts(ax)
    tau = kendalltau(y_true, y_pred, variant="b").statistic
    r2 = r2_score(y_true, y_pred)
    assert "τ" in text and "R²" in text and f"n = {y_true.size}" in text
    assert f"τ = {tau:.2f}" in text
    assert f"R² = {r2:.2f}" in text


def test_true_vs_predicted_skips_nonfinite_pairs_and_scales_to_data_beyond_unit_range():
    y_true = np.array([10.0, 20.0, np.nan, 40.0])
    y_pred = np.array([12.0, 18.0, 30.0, np.inf])
    ax = plot_true_vs_predicted(y_true, y_pred)
    assert len(ax.collections[0].get_offsets()) == 2
    low, high = ax.get_xlim()
    assert low < 10.0 and high > 20.0


def test_true_vs_predicted_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        plot_true_vs_predicted([0.1, 0.2, 0.3], [0.1, 0.2])


def test_true_vs_predicted_uses_the_given_axes(accuracies):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_true_vs_predicted(*accuracies, ax=right) is right
    assert not left.collections


def test_accuracy_histogram_counts_every_finite_network_in_unit_bins():
    values = np.array([0.05, 0.1, 0.15, 0.5, 0.95, np.nan])
    ax = plot_accuracy_histogram(values, bins=10, label="digits")
    (patch,) = ax.patches  # one stepfilled polygon
    assert ax.get_xlim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["digits"]
    assert patch.get_path().vertices[:, 1].max() == 2  # [0.1, 0.2) holds 0.1 and 0.15


def test_accuracy_histogram_overlays_a_dict_of_zoos_with_a_legend():
    rng = np.random.default_rng(0)
    zoos = {
        "mnist": rng.beta(8, 2, 400),
        "cifar10": rng.beta(2, 5, 400),
        "svhn": rng.beta(2, 3, 9),
    }
    ax = plot_accuracy_histogram(zoos, bins=25)
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(zoos)
    assert ax.get_ylabel() == "number of networks"


def test_accuracy_histogram_without_label_has_no_legend():
    ax = plot_accuracy_histogram([0.1, 0.2, 0.3])
    assert ax.get_legend() is None


def test_accuracy_histograms_makes_one_panel_per_zoo_and_a_train_test_row():
    rng = np.random.default_rng(0)
    test = {"mnist": rng.beta(8, 2, 300), "fashion": rng.beta(6, 3, 300)}
    train = {k: np.clip(v + rng.normal(0, 0.01, v.size), 0, 1) for k, v in test.items()}
    fig = plot_accuracy_histograms(test)
    assert [ax.get_title() for ax in fig.axes] == ["mnist", "fashion"]
    fig2 = plot_accuracy_histograms(test, train_accuracies=train, bins=20)
    assert len(fig2.axes) == 4
    assert fig2.axes[2].get_ylabel() == "train accuracy"
    (mesh,) = fig2.axes[2].collections
    assert np.nansum(mesh.get_array()) == 300  # every network in the 2D histogram


def test_accuracy_histograms_rejects_train_with_other_zoos():
    with pytest.raises(ValueError, match="keys of accuracies"):
        plot_accuracy_histograms({"a": [0.1]}, train_accuracies={"b": [0.1]})


@pytest.fixture(scope="module")
def lightgbm_data():
    rng = np.random.default_rng(0)
    # LightGBM rejects JSON special characters such as ":" in DataFrame column names.
    X = pd.DataFrame(
        rng.normal(size=(300, 6)),
        columns=[f"layer{i}_bias_q100" for i in range(6)],
    )
    y = 3 * X["layer4_bias_q100"] + 1.5 * X["layer1_bias_q100"] + 0.3 * X["layer2_bias_q100"]
    return X, y


def _bar_labels(ax):
    return [label.get_text() for label in ax.get_yticklabels()]


@pytest.mark.parametrize("importance_type", ["gain", "split"])
def test_feature_importance_of_lightgbm_lists_top_features_by_importance(
    lightgbm_data, importance_type
):
    from lightgbm import LGBMRegressor

    X, y = lightgbm_data
    model = LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1, random_state=0).fit(X, y)
    ax = plot_feature_importance(model, top=3, importance_type=importance_type)
    importances = model.booster_.feature_importance(importance_type=importance_type)
    expected = list(X.columns[np.argsort(-importances, kind="stable")[:3]])
    assert _bar_labels(ax) == expected
    if importance_type == "gain":  # the strongest signal brings the most gain
        assert expected[0] == "layer4_bias_q100"
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(importances, reverse=True)[:3]
    assert ax.get_xlabel() == f"importance ({importance_type})"


def test_feature_importance_takes_readable_names_from_the_pipeline(lightgbm_data):
    from lightgbm import LGBMRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = lightgbm_data
    names = [f"conv2d_{i}/bias:q100" for i in range(6)]
    # Like LayerStatistics with default (numpy) output: the pipeline knows the names,
    # LightGBM only sees Column_0...
    to_stats = FunctionTransformer(feature_names_out=lambda self, _: np.asarray(names))
    pipeline = make_pipeline(to_stats, LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1))
    pipeline.fit(X.to_numpy(), y)
    ax = plot_feature_importance(pipeline, top=2)
    assert _bar_labels(ax) == ["conv2d_4/bias:q100", "conv2d_1/bias:q100"]


def test_feature_importance_of_any_estimator_with_feature_importances():
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    tree = DecisionTreeRegressor(max_depth=1, random_state=0).fit(X, X[:, 2] > 0)
    ax = plot_feature_importance(tree, feature_names=["a", "b", "c", "d"], top=10)
    # The tree only splits on "c": unused features get no bar.
    assert _bar_labels(ax) == ["c"]
    assert len(ax.patches) == 1
    assert ax.get_title() == "top 1 of 4 features (1 used)"
    assert ax.get_xlabel() == "importance"


def test_feature_importance_errors_say_expected_and_got(lightgbm_data):
    from lightgbm import LGBMRegressor
    from sklearn.linear_model import LinearRegression

    X, y = lightgbm_data
    model = LGBMRegressor(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match="has 2 entries but the estimator has 6"):
        plot_feature_importance(model, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="'gain' or 'split'"):
        plot_feature_importance(model, importance_type="cover")
    with pytest.raises(TypeError, match="feature_importances_"):
        plot_feature_importance(LinearRegression().fit(X, y))


def test_layer_statistic_scatter_plots_derived_bias_ranges_coloured_by_accuracy(
    layer_features,
):
    features, accuracy = layer_features
    ax = plot_layer_statistic_scatter(
        features, accuracy, x="conv2d/bias:range", y="dense/bias:range"
    )
    (points,) = ax.collections
    offsets = np.asarray(points.get_offsets())
    assert len(offsets) == len(features)
    first = (features["conv2d/bias:q100"] - features["conv2d/bias:q0"]).to_numpy()
    last = (features["dense/bias:q100"] - features["dense/bias:q0"]).to_numpy()
    # Same points (drawn sorted by accuracy so good networks stay visible).
    order = np.argsort(accuracy, kind="stable")
    np.testing.assert_allclose(offsets, np.column_stack([first, last])[order])
    np.testing.assert_allclose(points.get_array(), accuracy[order])
    assert points.get_clim() == (accuracy.min(), accuracy.max())
    assert ax.get_xlabel() == "conv2d/bias:range (q100 − q0)"
    assert ax.get_ylabel() == "dense/bias:range (q100 − q0)"
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert [a.get_ylabel() for a in colorbar_axes] == ["test accuracy"]


def test_layer_statistic_scatter_against_accuracy_with_a_plain_column(layer_features):
    features, accuracy = layer_features
    ax = plot_layer_statistic_scatter(features, accuracy, x="conv2d/bias:max")
    offsets = np.asarray(ax.collections[0].get_offsets())
    order = np.argsort(accuracy, kind="stable")
    np.testing.assert_allclose(offsets[:, 0], features["conv2d/bias:q100"].to_numpy()[order])
    np.testing.assert_allclose(offsets[:, 1], accuracy[order])
    assert ax.get_ylabel() == "test accuracy"


def test_layer_statistic_scatter_reports_unknown_and_underivable_features(layer_features):
    features, accuracy = layer_features
    with pytest.raises(KeyError, match="no column 'conv2d/bias:q42'"):
        plot_layer_statistic_scatter(features, accuracy, x="conv2d/bias:q42")
    with pytest.raises(KeyError, match="lacks"):
        plot_layer_statistic_scatter(
            features.drop(columns="dense/bias:q0"), accuracy, "dense/bias:range"
        )
    with pytest.raises(ValueError, match="150 rows but target has 3"):
        plot_layer_statistic_scatter(features, [0.1, 0.2, 0.3], x="conv2d/bias:q0")
    with pytest.raises(TypeError, match="DataFrame"):
        plot_layer_statistic_scatter(features.to_numpy(), accuracy, x="conv2d/bias:q0")


def test_save_figure_writes_a_png_atomically(tmp_path, accuracies):
    ax = plot_true_vs_predicted(*accuracies)
    path = save_figure(ax.figure, tmp_path / "sub" / "fig.png")
    assert path == tmp_path / "sub" / "fig.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]  # no temporary left
    # Saving an Axes saves its figure, replacing the file.
    first = path.stat().st_size
    save_figure(plot_accuracy_histogram([0.1, 0.5]), path)
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size != first


def test_save_figure_leaves_no_temporary_on_error(tmp_path):
    with pytest.raises(TypeError, match="Figure or Axes"):
        save_figure("not a figure", tmp_path / "x.png")
    fig = plt.figure()
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full"))
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "y.png")
    assert list(tmp_path.iterdir()) == []


def test_importing_plotting_does_not_import_matplotlib():
    code = "import sys, skweights.plotting; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plots_work_end_to_end_with_layer_statistics():
    from lightgbm import LGBMRegressor
    from sklearn.pipeline import make_pipeline

    from skweights.features import LayerStatistics
    from skweights.layout import Layout

    layout = Layout.small_cnn_zoo()
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.1, size=(120, layout.n_params))
    y = np.clip(0.5 * (X[:, :16].max(axis=1) - X[:, :16].min(axis=1)), 0, 1)
    pipeline = make_pipeline(
        LayerStatistics(layout), LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1)
    ).fit(X, y)
    labels = _bar_labels(plot_feature_importance(pipeline, top=5))
    assert set(labels) <= set(pipeline[:-1].get_feature_names_out())
    assert labels[0].startswith("conv2d/bias:")  # the target depends on the first bias only

    features = LayerStatistics(layout).set_output(transform="pandas").fit_transform(X)
    ax = plot_layer_statistic_scatter(features, y, x="conv2d/bias:range")
    np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 1]), np.sort(y))
