"""Second protocols and measured explanations for the paper tables (issue 15).

- `nfn_tau`: Kendall τ on the split of NFN / Neural Graphs (`skweights.datasets.nfn_split` on
  an NFN-format split file written for our zoo), beside the published weight-space numbers.
- `gap_analysis`: where the squared error of the GBM on W_L comes from (share per
  ``train_fraction``), the R² with ``train_fraction >= 0.5`` only, λ + W_L, and the binomial
  noise ceiling of a test accuracy measured on a finite test set.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import _common as C
import numpy as np
from sklearn.base import clone
from sklearn.metrics import mean_squared_error, r2_score

from skweights.datasets import nfn_split
from skweights.metrics import kendall_tau


# ------------------------------------------------------------------------------ NFN split
def _write_nfn_split(zoo: C.Zoo, path: Path, seed: int) -> Path:
    """NFN's ``*_split.csv``: a line ``0`` (pandas' header) then a permutation of every file row.

    `skweights.datasets.write_nfn_split` (interop branch) when present, else the same format.
    """
    try:
        from skweights.datasets import write_nfn_split
    except ImportError:
        n_rows = int(np.load(zoo.path / "weights.npy", mmap_mode="r").shape[0])
        order = np.random.RandomState(seed).permutation(n_rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("0\n" + "".join(f"{i}\n" for i in order))
        tmp.replace(path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_nfn_split(zoo.path, path, random_state=seed)


def nfn_split_file(zoo: C.Zoo, seed: int = 0) -> Path:
    """The NFN split file of ``zoo`` (written once next to the result cache).

    Its name carries a digest of the zoo's fingerprint: a zoo generated again at the same path
    (another size) gets a split file of its own, never the old zoo's.
    """
    digest = hashlib.sha1(zoo.fingerprint.encode()).hexdigest()[:10]
    path = C.CACHE_DIR / f"{zoo.path.name}-{digest}-seed={seed}_split.csv"
    if not path.is_file():
        _write_nfn_split(zoo, path, seed)
    return path


def nfn_tau(zoo: C.Zoo, kind: str, feature: str, n_trials: int, quick: bool, seed: int = 0):
    """Kendall τ of the cell's best configuration on NFN's split of ``zoo``.

    The configuration chosen by `_common.evaluate` (CV on the paper split's training part) is
    trained on NFN's training part (80 % of the first half of the file order; its validation
    part is unused) and ranks NFN's test part (the second half), final checkpoints as NFN.
    Returns ``(tau, n_train, n_test)``.
    """
    train, _, test = nfn_split(zoo.rows, nfn_split_file(zoo, seed))
    result = C.evaluate(zoo, kind, feature, n_trials, quick=quick, seed=seed)
    estimator, _ = C.make_estimator(kind, quick, seed, paper=zoo.protocol == "paper")
    estimator.set_params(**result["best_params"])
    X = C.features(zoo, feature)
    model = estimator.fit(X[train], zoo.target[train])
    return kendall_tau(zoo.target[test], model.predict(X[test])), len(train), len(test)


# --------------------------------------------------------------------------- gap analysis
def noise_ceiling(zoo: C.Zoo) -> float | None:
    """Best R² reachable if the target is the true accuracy plus binomial test-set noise.

    A test accuracy ``y`` measured on ``m`` images has sampling variance ``p (1 - p) / m``
    (estimated by ``y (1 - y) / (m - 1)``); no predictor of the true accuracy ``p`` can explain
    it: ``R²_max = 1 - mean(noise variance) / var(y)``. None when ``m`` is unknown.
    """
    from skweights.zoo._images import load_images

    datasets = zoo.hyperparameters.get("dataset")
    if datasets is None or datasets.nunique() != 1:
        return None
    try:
        m = len(load_images(str(datasets.iloc[0]), download=False).y_test)
    except Exception:  # a dataset without local files: no ceiling rather than a download
        return None
    y = zoo.target
    return float(1.0 - np.mean(y * (1 - y) / (m - 1)) / np.var(y))


def _fit_score(estimator, X, y, train, test) -> tuple[np.ndarray, float]:
    pred = clone(estimator).fit(X[train], y[train]).predict(X[test])
    return pred, float(r2_score(y[test], pred))


def subset_r2(estimator, X, y, train, test) -> float | None:
    """Test R² of ``estimator`` on a subset split; None when there is no honest number.

    None when either side has fewer than 2 networks, or when the fitted model predicts one
    constant (too few networks for a single split of the trees): its R² would describe the
    subset's spread, not the input, and would be the same for every input.
    """
    if len(train) < 2 or len(test) < 2:
        return None
    pred, r2 = _fit_score(estimator, X, y, train, test)
    return None if np.ptp(pred) == 0 else r2


def gap_analysis(zoo: C.Zoo, n_trials: int, quick: bool, seed: int = 0) -> dict:
    """Measured explanations of a W_L gap to the paper (GBM, best configuration of Table 2).

    Returns a dict: ``r2`` (W_L, whole test split), ``by_train_fraction`` (rows of
    ``(fraction, n_test, share of squared error, mean train-test accuracy gap, R² within)``),
    ``r2_tf_half`` (trained and tested on networks with ``train_fraction >= 0.5`` only, None if
    the zoo has none below), ``r2_lambda_wl`` (λ + W_L, same configuration) and
    ``noise_ceiling``.
    """
    result = C.evaluate(zoo, "gbm", "W_L", n_trials, quick=quick, seed=seed)
    estimator, _ = C.make_estimator("gbm", quick, seed, paper=zoo.protocol == "paper")
    estimator.set_params(**result["best_params"])
    X, y = C.features(zoo, "W_L"), zoo.target
    pred, r2 = _fit_score(estimator, X, y, zoo.train, zoo.test)
    sq = (y[zoo.test] - pred) ** 2

    fraction = zoo.hyperparameters["train_fraction"].to_numpy(float)
    gap = np.full(len(y), np.nan)
    if zoo.metrics is not None and "train_accuracy" in zoo.metrics:
        gap = zoo.metrics["train_accuracy"].to_numpy(float) - y
    rows = []
    for value in np.unique(fraction[zoo.test]):
        mask = fraction[zoo.test] == value
        within = r2_score(y[zoo.test][mask], pred[mask]) if mask.sum() > 1 else np.nan
        rows.append(
            (float(value), int(mask.sum()), float(sq[mask].sum() / sq.sum()),
             float(np.nanmean(gap[zoo.test][mask])), float(within))
        )  # fmt: skip

    halves = large_fraction_split(zoo)
    r2_half = None if halves is None else subset_r2(estimator, X, y, *halves)
    X_lw = np.hstack([C.features(zoo, "lambda"), X]).astype(np.float32)
    return {
        "r2": r2,
        "mse": float(mean_squared_error(y[zoo.test], pred)),
        "by_train_fraction": rows,
        "r2_tf_half": r2_half,
        "r2_lambda_wl": _fit_score(estimator, X_lw, y, zoo.train, zoo.test)[1],
        "noise_ceiling": noise_ceiling(zoo),
    }


def fraction_split(zoo: C.Zoo, min_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) of the paper split restricted to ``train_fraction >= min_fraction``.

    Raises ValueError when a network has no ``train_fraction`` (it would be dropped silently).
    """
    fractions = zoo.hyperparameters["train_fraction"].to_numpy(float)
    missing = int(np.isnan(fractions).sum())
    if missing:
        raise ValueError(
            f"{zoo.name}: train_fraction is missing for {missing} of {len(fractions)} networks; "
            "expected one per network"
        )
    keep = fractions >= min_fraction
    return zoo.train[keep[zoo.train]], zoo.test[keep[zoo.test]]


def large_fraction_split(zoo: C.Zoo, min_fraction: float = 0.5):
    """`fraction_split`, or None when no network is below ``min_fraction`` (nothing to drop)."""
    train, test = fraction_split(zoo, min_fraction)
    if len(train) + len(test) == len(zoo.train) + len(zoo.test):
        return None
    return train, test


def large_fraction_r2(
    zoo: C.Zoo, feature: str, n_trials: int, quick: bool, seed: int = 0
) -> tuple[float, float | None]:
    """R² of a GBM cell's configuration on all networks and on ``train_fraction >= 0.5`` only.

    The best configuration of the Table 2 cell (`_common.evaluate`) is refitted twice: on the
    whole training split (scored on the whole test split) and on the networks trained on at
    least half of the training images (training and test restricted alike). The difference is
    what the networks trained on 10 % and 25 % of the images cost that input: the measured part
    of its gap to the paper, whose zoo trained on the full 60,000-image MNIST.
    Returns ``(r2_all, r2_large_fractions)``; the second is None when there is nothing to drop
    or too little left (`subset_r2`).
    """
    result = C.evaluate(zoo, "gbm", feature, n_trials, quick=quick, seed=seed)
    estimator, _ = C.make_estimator("gbm", quick, seed, paper=zoo.protocol == "paper")
    estimator.set_params(**result["best_params"])
    X, y = C.features(zoo, feature), zoo.target
    r2_all = _fit_score(estimator, X, y, zoo.train, zoo.test)[1]
    halves = large_fraction_split(zoo)
    r2_half = None if halves is None else subset_r2(estimator, X, y, *halves)
    return r2_all, r2_half


def gap_markdown(zoos, results: dict) -> str:
    """The `gap_analysis` results of each zoo as markdown (one table per zoo + a summary)."""
    blocks = []
    for zoo in zoos:
        res = results[zoo.name]
        rows = [
            [f"{f:g}", n, f"{share:.1%}", f"{g:.3f}", f"{w:.3f}"]
            for f, n, share, g, w in res["by_train_fraction"]
        ]
        table = C.markdown_table(
            ["train_fraction", "test networks", "share of squared error",
             "train − test accuracy", "R² within"],
            rows,
        )  # fmt: skip
        half = "n/a" if res["r2_tf_half"] is None else f"{res['r2_tf_half']:.3f}"
        ceiling = "n/a" if res["noise_ceiling"] is None else f"{res['noise_ceiling']:.4f}"
        blocks.append(
            f"**{zoo.name}** — GBM on W_L, best configuration refitted on the training split: "
            f"R² {res['r2']:.3f}; trained and tested on train_fraction ≥ 0.5 only: {half}; "
            f"λ + W_L: {res['r2_lambda_wl']:.3f}; binomial noise ceiling of the target: "
            f"{ceiling}.\n\n{table}"
        )
    return "\n\n".join(blocks)
