"""Plots of accuracy predictions, accuracy distributions and what the predictors look at.

The figures follow the paper "Predicting Neural Network Accuracy from Weights" (Unterthiner et
al. 2020): true versus predicted accuracy with Kendall's tau (Fig. 4), histograms of a zoo's test
accuracies (Fig. 2), a per-layer statistic scatter such as the first- and last-layer bias range
coloured by accuracy (Fig. 3), and LightGBM feature importances (Fig. 5).

matplotlib is imported inside the functions, so ``import skweights`` stays fast and does not need
a plotting backend. Every function draws on ``ax`` when given, otherwise on a new figure, and
returns what it drew on.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_true_vs_predicted",
    "plot_accuracy_histogram",
    "plot_accuracy_histograms",
    "plot_feature_importance",
    "plot_layer_statistic_scatter",
    "plot_prediction_intervals",
    "save_figure",
]

#: Resolution of the PNG files written by `save_figure`.
DPI = 120

#: Statistics that are not columns of `LayerStatistics` output but derived from two of them.
DERIVED_STATISTICS = {"range": ("q100", "q0")}
_ALIASES = {"max": "q100", "min": "q0", "median": "q50"}


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _as_1d(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        array = np.squeeze(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {array.shape}")
    return array


def _in_unit_interval(*arrays: np.ndarray) -> bool:
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    return finite.size > 0 and finite.min() >= 0.0 and finite.max() <= 1.0


def _point_alpha(n: int) -> float:
    """Opaque points for a handful of networks, faint ones for a whole zoo."""
    return float(np.clip(300.0 / max(n, 1), 0.08, 0.8))


def _corner_note(ax, text: str) -> None:
    """A boxed note in the upper left corner of ``ax`` (scores, coverage)."""
    ax.text(
        0.04,
        0.96,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7", "alpha": 0.9},
    )


def plot_true_vs_predicted(
    y_true: Any, y_pred: Any, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Scatter true against predicted accuracy, annotated with Kendall's tau and R².

    The style of Fig. 4 of the paper: one faint point per network, the diagonal of perfect
    predictions, and the rank correlation (Kendall's tau-b, `scipy.stats.kendalltau`) and the
    coefficient of determination (`sklearn.metrics.r2_score`) in the upper left corner. When the
    true values lie in [0, 1] (accuracies) both axes span [0, 1], widened only to show predictions
    outside it.

    Parameters
    ----------
    y_true : array-like of shape (n_networks,)
        True test accuracies.
    y_pred : array-like of shape (n_networks,)
        Predicted test accuracies.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.
    title : str, default=None
        Axes title, e.g. ``"CIFAR10-GS → SVHN-GS"``.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    See Also
    --------
    skweights.metrics.kendall_tau : The same rank correlation as a metric.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.plotting import plot_true_vs_predicted
    >>> rng = np.random.default_rng(0)
    >>> y_true = rng.uniform(0.1, 0.9, size=200)
    >>> y_pred = np.clip(y_true + rng.normal(0, 0.05, size=200), 0, 1)
    >>> ax = plot_true_vs_predicted(y_true, y_pred, title="digits")
    >>> [float(limit) for limit in ax.get_xlim()]
    [0.0, 1.0]
    """
    from scipy.stats import kendalltau
    from sklearn.metrics import r2_score

    y_true = _as_1d(y_true, "y_true")
    y_pred = _as_1d(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}"
        )
    finite = np.isfinite(y_true) & np.isfinite(y_pred)
    if not finite.any():
        raise ValueError("y_true and y_pred have no pair of finite values to plot")
    y_true, y_pred = y_true[finite], y_pred[finite]

    ax = _new_axes(ax, figsize=(4.5, 4.5))
    ax.scatter(
        y_true, y_pred, s=6, alpha=_point_alpha(y_true.size), color="tab:blue", linewidths=0
    )
    if _in_unit_interval(y_true):  # accuracies: [0, 1], widened only if predictions stray
        low = min(0.0, float(y_pred.min()))
        high = max(1.0, float(y_pred.max()))
    else:
        low = float(min(y_true.min(), y_pred.min()))
        high = float(max(y_true.max(), y_pred.max()))
        pad = 0.05 * (high - low or 1.0)
        low, high = low - pad, high + pad
    ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal", adjustable="box")

    tau = kendalltau(y_true, y_pred).statistic if y_true.size > 1 else np.nan
    r2 = r2_score(y_true, y_pred) if y_true.size > 1 else np.nan
    _corner_note(ax, f"Kendall τ = {tau:.2f}\nR² = {r2:.2f}\nn = {y_true.size}")
    ax.set_xlabel("true test accuracy")
    ax.set_ylabel("predicted test accuracy")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_prediction_intervals(
    y_true: Any, y_pred: Any, intervals: Any, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Prediction intervals against true accuracy, networks sorted by true accuracy.

    One vertical bar per network from its lower to its upper bound (blue when it covers the
    true accuracy, red when not), the prediction as a dot and the true accuracy as a black
    tick; the empirical coverage and mean width are annotated.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_networks,)
        True and predicted test accuracies.
    intervals : array-like of shape (n_networks, 2)
        Lower and upper bounds, e.g. `skweights.intervals.ConformalPredictor.predict_interval`.
    ax : matplotlib Axes, default=None
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> y = np.linspace(0.1, 0.9, 20)
    >>> ax = plot_prediction_intervals(y, y, np.c_[y - 0.1, y + 0.1])
    >>> len(ax.collections[0].get_segments())
    20
    """
    y_true, y_pred = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    bounds = np.asarray(intervals, dtype=float)
    if y_true.shape != y_pred.shape or bounds.shape != (y_true.size, 2):
        raise ValueError(
            f"expected y_true, y_pred of one length n and intervals of shape (n, 2), got "
            f"{y_true.size}, {y_pred.size} and {bounds.shape}"
        )
    order = np.argsort(y_true, kind="stable")
    y_true, y_pred, bounds = y_true[order], y_pred[order], bounds[order]
    covered = (bounds[:, 0] <= y_true) & (y_true <= bounds[:, 1])
    x = np.arange(y_true.size)
    ax = _new_axes(ax, figsize=(6.0, 4.0))
    colors = np.where(covered, "tab:blue", "tab:red")
    ax.vlines(x, bounds[:, 0], bounds[:, 1], colors=colors, alpha=0.6, linewidth=2)
    ax.scatter(x, y_pred, s=8, color="tab:blue", zorder=3, label="predicted")
    ax.scatter(x, y_true, s=14, marker="_", color="black", zorder=4, label="true")
    width = np.mean(bounds[:, 1] - bounds[:, 0])
    _corner_note(
        ax, f"coverage = {covered.mean():.2f}\nmean width = {width:.3f}\nn = {y_true.size}"
    )
    ax.set_xlabel("networks, sorted by true test accuracy")
    ax.set_ylabel("test accuracy")
    ax.legend(loc="lower right")
    if title is not None:
        ax.set_title(title)
    return ax


def _accuracy_bins(arrays: Sequence[np.ndarray], bins: int) -> np.ndarray:
    if _in_unit_interval(*arrays):
        return np.linspace(0.0, 1.0, bins + 1)
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if finite.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    return np.histogram_bin_edges(finite, bins=bins)


def plot_accuracy_histogram(
    accuracies: Any | Mapping[str, Any],
    ax: Axes | None = None,
    bins: int = 50,
    label: str | None = None,
) -> Axes:
    """Histogram of the test accuracies of a zoo, or of several zoos overlaid.

    Paper Fig. 2 (first row) shows one such histogram per CNN collection; use
    `plot_accuracy_histograms` for one panel per zoo. Non-finite accuracies are left out.

    Parameters
    ----------
    accuracies : array-like of shape (n_networks,) or dict of str to array-like
        Accuracies of one zoo, or a mapping from a zoo's name to its accuracies; the zoos are
        overlaid with a shared set of bins and a legend.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.
    bins : int, default=50
        Number of bins. When all accuracies lie in [0, 1] the bins split [0, 1] evenly.
    label : str, default=None
        Legend label of a single array (ignored for a dict, whose keys are the labels).

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.plotting import plot_accuracy_histogram
    >>> rng = np.random.default_rng(0)
    >>> ax = plot_accuracy_histogram(
    ...     {"mnist": rng.beta(8, 2, 500), "cifar10": rng.beta(2, 5, 500)}, bins=20
    ... )
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['mnist', 'cifar10']
    """
    if isinstance(accuracies, Mapping):
        if not accuracies:
            raise ValueError("accuracies is an empty dict; expected at least one zoo")
        series = {str(k): _as_1d(v, f"accuracies[{k!r}]") for k, v in accuracies.items()}
    else:
        series = {label: _as_1d(accuracies, "accuracies")}
    series = {k: v[np.isfinite(v)] for k, v in series.items()}
    edges = _accuracy_bins(list(series.values()), bins)

    ax = _new_axes(ax)
    overlaid = len(series) > 1
    for name, values in series.items():
        ax.hist(
            values,
            bins=edges,
            label=name,
            alpha=0.5 if overlaid else 0.85,
            histtype="stepfilled",
            edgecolor="black" if not overlaid else None,
            linewidth=0.4,
        )
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("test accuracy")
    ax.set_ylabel("number of networks")
    if any(name is not None for name in series):
        ax.legend(frameon=False)
    return ax


def plot_accuracy_histograms(
    accuracies: Mapping[str, Any],
    train_accuracies: Mapping[str, Any] | None = None,
    bins: int = 50,
) -> Figure:
    """One accuracy histogram per zoo side by side, as paper Fig. 2.

    Parameters
    ----------
    accuracies : dict of str to array-like
        Test accuracies of each zoo, by the zoo's name (used as the panel title).
    train_accuracies : dict of str to array-like, default=None
        Train accuracies with the same keys. When given, a second row shows, per zoo, a 2D
        histogram of train against test accuracy (paper Fig. 2, second row).
    bins : int, default=50
        Number of bins on each axis.

    Returns
    -------
    fig : matplotlib Figure
        The figure, with one column per zoo.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.plotting import plot_accuracy_histograms
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_accuracy_histograms({"mnist": rng.beta(8, 2, 500), "svhn": rng.beta(2, 4, 500)})
    >>> [ax.get_title() for ax in fig.axes]
    ['mnist', 'svhn']
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not isinstance(accuracies, Mapping) or not accuracies:
        raise ValueError(
            "accuracies must be a non-empty dict of zoo name to accuracies, "
            f"got {type(accuracies).__name__}"
        )
    if train_accuracies is not None and set(train_accuracies) != set(accuracies):
        raise ValueError(
            f"train_accuracies must have the keys of accuracies {sorted(accuracies)}, "
            f"got {sorted(train_accuracies)}"
        )
    n_rows = 1 if train_accuracies is None else 2
    n_cols = len(accuracies)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(3.2 * n_cols, 2.8 * n_rows),
        squeeze=False,
        layout="constrained",
    )
    for col, (name, values) in enumerate(accuracies.items()):
        ax = plot_accuracy_histogram(values, ax=axes[0, col], bins=bins)
        ax.set_title(str(name))
        if col > 0:
            ax.set_ylabel("")
        if train_accuracies is None:
            continue
        test = _as_1d(values, f"accuracies[{name!r}]")
        train = _as_1d(train_accuracies[name], f"train_accuracies[{name!r}]")
        if train.shape != test.shape:
            raise ValueError(
                f"zoo {name!r} has {test.size} test but {train.size} train accuracies"
            )
        keep = np.isfinite(test) & np.isfinite(train)
        edges = _accuracy_bins([test[keep], train[keep]], bins)
        ax2 = axes[1, col]
        ax2.hist2d(test[keep], train[keep], bins=[edges, edges], norm=LogNorm(), cmap="viridis")
        ax2.plot([edges[0], edges[-1]], [edges[0], edges[-1]], color="0.6", lw=0.8, ls="--")
        ax2.set_aspect("equal", adjustable="box")
        ax2.set_xlabel("test accuracy")
        ax2.set_ylabel("train accuracy" if col == 0 else "")
    return fig


def _final_estimator_and_names(estimator: Any) -> tuple[Any, np.ndarray | None]:
    """The estimator holding the importances and the readable names of its input features."""
    names = None
    final = estimator
    steps = getattr(estimator, "steps", None)
    if steps is not None:  # a Pipeline: importances on the last step, names from the others
        final = estimator[-1]
        if len(steps) > 1:
            try:
                names = estimator[:-1].get_feature_names_out()
            except (AttributeError, ValueError, TypeError):
                names = None
    if names is None:
        names = getattr(final, "feature_names_in_", None)
    return final, None if names is None else np.asarray(names, dtype=object)


def _importances(final: Any, importance_type: str) -> np.ndarray:
    booster = getattr(final, "booster_", None)
    if booster is not None and hasattr(booster, "feature_importance"):  # LightGBM sklearn API
        if importance_type not in ("gain", "split"):
            raise ValueError(
                f"importance_type must be 'gain' or 'split' for LightGBM, got {importance_type!r}"
            )
        return np.asarray(booster.feature_importance(importance_type=importance_type), float)
    try:
        return np.asarray(final.feature_importances_, dtype=float)
    except AttributeError:
        raise TypeError(
            "expected a fitted estimator with `feature_importances_` (e.g. LGBMRegressor) or a "
            f"Pipeline ending in one, got {type(final).__name__}"
        ) from None


def plot_feature_importance(
    estimator: Any,
    feature_names: Sequence[str] | None = None,
    top: int = 20,
    importance_type: str = "gain",
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of the most important features of a fitted tree model (paper Fig. 5).

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted LightGBM model (its booster's importances of type ``importance_type``), any
        fitted estimator with ``feature_importances_``, or a fitted Pipeline whose last step is
        one of those. For a Pipeline the feature names come from
        ``pipeline[:-1].get_feature_names_out()``, e.g. ``conv2d_1/kernel:q75``.
    feature_names : sequence of str, default=None
        Names of the features, overriding the names found on the estimator. Without either,
        features are called ``x0``, ``x1``, ...
    top : int, default=20
        Number of features shown, the most important at the top. Features the model never
        uses (importance 0) are not shown.
    importance_type : {"gain", "split"}, default="gain"
        For LightGBM models: total gain of the splits on a feature, or the number of times it is
        used (the paper's Fig. 5). Other estimators' ``feature_importances_`` are used as they
        are.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure, tall enough for ``top`` labels, is made when None.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> import numpy as np
    >>> from lightgbm import LGBMRegressor
    >>> from skweights.plotting import plot_feature_importance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> model = LGBMRegressor(n_estimators=20, verbose=-1).fit(X, X[:, 2] + 0.1 * X[:, 0])
    >>> names = ["conv2d/bias:q0", "conv2d/bias:q100", "dense/bias:q100"]
    >>> ax = plot_feature_importance(model, feature_names=names, top=2)
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['dense/bias:q100', 'conv2d/bias:q0']
    """
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    final, found_names = _final_estimator_and_names(estimator)
    importances = _importances(final, importance_type)
    if feature_names is not None:
        names = np.asarray(list(feature_names), dtype=object)
        source = "feature_names"
    elif found_names is not None:
        names, source = found_names, "the estimator's feature names"
    else:
        names = np.asarray([f"x{i}" for i in range(importances.size)], dtype=object)
        source = "generated names"
    if names.size != importances.size:
        raise ValueError(
            f"{source} has {names.size} entries but the estimator has "
            f"{importances.size} feature importances"
        )

    # Stable sort, so ties keep the column order; unused features (importance 0) are left out.
    order = np.argsort(-importances, kind="stable")[:top]
    order = order[importances[order] > 0]
    shown_names = [str(n) for n in names[order]]
    shown = importances[order]

    n = len(shown)
    ax = _new_axes(ax, figsize=(6.0, 1.0 + 0.28 * max(n, 3)))
    positions = np.arange(n)
    ax.barh(positions, shown, color="tab:blue", height=0.7)
    ax.set_yticks(positions, labels=shown_names, fontsize="small")
    ax.set_ylim(n - 0.5, -0.5)  # most important on top
    is_lightgbm = hasattr(getattr(final, "booster_", None), "feature_importance")
    ax.set_xlabel(f"importance ({importance_type})" if is_lightgbm else "importance")
    used = int(np.count_nonzero(importances > 0))
    ax.set_title(f"top {n} of {importances.size} features ({used} used)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return ax


def _resolve_feature(features: Any, name: str) -> tuple[np.ndarray, str]:
    """A column of ``features``, or a derived statistic like ``conv2d/bias:range``."""
    columns = [str(c) for c in features.columns]
    if name in columns:
        return np.asarray(features[name], dtype=float), name
    prefix, sep, statistic = name.rpartition(":")
    if sep and statistic in _ALIASES and f"{prefix}:{_ALIASES[statistic]}" in columns:
        column = f"{prefix}:{_ALIASES[statistic]}"
        return np.asarray(features[column], dtype=float), f"{name} ({_ALIASES[statistic]})"
    if sep and statistic in DERIVED_STATISTICS:
        high, low = DERIVED_STATISTICS[statistic]
        needed = [f"{prefix}:{high}", f"{prefix}:{low}"]
        missing = [c for c in needed if c not in columns]
        if not missing:
            values = np.asarray(features[needed[0]], float)
            values = values - np.asarray(features[needed[1]], float)
            return values, f"{name} ({high} − {low})"
        raise KeyError(
            f"{name!r} is derived from columns {needed}, but features lacks {missing}; "
            "compute LayerStatistics with statistics including "
            f"{(high, low)}"
        )
    similar = [c for c in columns if c.startswith(prefix or name)][:8]
    hint = f"; columns starting with {prefix or name!r}: {similar}" if similar else ""
    raise KeyError(
        f"features has no column {name!r} (expected a column name such as "
        f"{columns[0]!r}, or '<layer>/<kind>:range' for q100 − q0){hint}"
    )


def plot_layer_statistic_scatter(
    features: Any,
    target: Any,
    x: str,
    y: str | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Axes:
    """Scatter networks by one or two weight statistics, coloured by accuracy (paper Fig. 3).

    Paper Fig. 3 plots, for a zoo, the range (max − min) of the first layer's biases against that
    of the last layer's biases, with each network coloured by its test accuracy: the two ranges
    already separate good from bad networks. With ``y=None`` the single statistic is plotted
    against the accuracy itself.

    Parameters
    ----------
    features : pandas DataFrame of shape (n_networks, n_features)
        Per-layer statistics with feature names as columns, e.g. the output of
        ``LayerStatistics(layout).set_output(transform="pandas").fit_transform(X)``.
    target : array-like of shape (n_networks,)
        Test accuracy of each network; sets the colour (and the y axis when ``y`` is None).
    x : str
        Feature on the x axis: a column such as ``"conv2d/bias:q100"``, ``"<layer>/<kind>:max"``
        or ``":min"`` (aliases of ``q100`` and ``q0``), or ``"<layer>/<kind>:range"`` for
        ``q100 − q0``, e.g. ``"conv2d/bias:range"``.
    y : str, default=None
        Feature on the y axis, in the same form as ``x``; None plots ``target`` instead.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.
    cmap : str, default="viridis"
        Colour map of the accuracy, spanning the accuracies' range.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on; a colour bar labelled "test accuracy" is added to its figure.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skweights.plotting import plot_layer_statistic_scatter
    >>> rng = np.random.default_rng(0)
    >>> features = pd.DataFrame(
    ...     rng.normal(size=(100, 4)),
    ...     columns=["conv2d/bias:q0", "conv2d/bias:q100", "dense/bias:q0", "dense/bias:q100"],
    ... )
    >>> accuracy = rng.uniform(0.1, 0.9, size=100)
    >>> ax = plot_layer_statistic_scatter(
    ...     features, accuracy, x="conv2d/bias:range", y="dense/bias:range"
    ... )
    >>> ax.get_xlabel()
    'conv2d/bias:range (q100 − q0)'
    """
    if not hasattr(features, "columns"):
        raise TypeError(
            "features must be a pandas DataFrame with feature names as columns, got "
            f"{type(features).__name__}; use LayerStatistics(...).set_output(transform='pandas')"
        )
    target = _as_1d(target, "target")
    if target.size != len(features):
        raise ValueError(f"features has {len(features)} rows but target has {target.size} values")
    x_values, x_label = _resolve_feature(features, x)
    if y is None:
        y_values, y_label = target, "test accuracy"
    else:
        y_values, y_label = _resolve_feature(features, y)

    keep = np.isfinite(x_values) & np.isfinite(y_values) & np.isfinite(target)
    # Draw the best networks last, so they are not hidden under the many bad ones.
    order = np.argsort(target[keep], kind="stable")
    xs, ys, cs = x_values[keep][order], y_values[keep][order], target[keep][order]

    ax = _new_axes(ax, figsize=(5.5, 4.5))
    points = ax.scatter(xs, ys, c=cs, cmap=cmap, s=8, alpha=0.8, linewidths=0)
    ax.figure.colorbar(points, ax=ax, label="test accuracy")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    return ax


def save_figure(fig: Figure | Axes, path: str | os.PathLike) -> Path:
    """Write a figure to a PNG file atomically (temporary file, then `os.replace`).

    A reader never sees a half-written file, and an error leaves any previous file in place.

    Parameters
    ----------
    fig : matplotlib Figure or Axes
        The figure to save (an Axes saves its whole figure).
    path : str or path-like
        Destination PNG file; missing parent directories are created.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skweights.plotting import plot_accuracy_histogram, save_figure
    >>> ax = plot_accuracy_histogram([0.1, 0.5, 0.9])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = save_figure(ax.figure, pathlib.Path(tmp) / "hist.png")
    ...     out.read_bytes()[:4]
    b'\\x89PNG'
    """
    figure = getattr(fig, "figure", None) if not hasattr(fig, "savefig") else fig
    if figure is None or not hasattr(figure, "savefig"):
        raise TypeError(f"expected a matplotlib Figure or Axes, got {type(fig).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # Mode 0o666 filtered by the umask, like a plain open(); mkstemp would give 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(handle, format="png", dpi=DPI, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
