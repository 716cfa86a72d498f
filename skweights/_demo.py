"""The main job: train a small zoo on the embedded digits data and predict accuracy from weights.

``skweights demo`` (and ``make demo``) runs it. Nothing is downloaded: the digits images ship
with scikit-learn. The zoo is cached, so a second run skips the training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

DEFAULT_ZOO = {"dataset": "digits", "n_networks": 600, "epochs": 18, "seed": 0}


def run_demo(
    out: str | Path = "demo-output",
    n_networks: int = DEFAULT_ZOO["n_networks"],
    epochs: int = DEFAULT_ZOO["epochs"],
    seed: int = DEFAULT_ZOO["seed"],
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Generate (or reuse) a digits zoo, fit statistics + LightGBM, report R² and Kendall τ.

    Parameters
    ----------
    out : path
        Directory for the zoo (``out/zoo``), the plot and ``results.json``.
    n_networks, epochs, seed : int
        Size of the zoo to train, epochs per network, generation seed.
    workers : int
        Worker processes for the zoo generation.
    progress : bool
        Show progress bars.

    Returns
    -------
    results : dict
        ``r2``, ``kendall_tau``, ``n_train``, ``n_test`` and the paths written.
    """
    import numpy as np
    from lightgbm import LGBMRegressor
    from sklearn.metrics import r2_score
    from sklearn.pipeline import Pipeline

    from skweights.datasets import load_zoo, paper_split
    from skweights.features import LayerStatistics
    from skweights.metrics import kendall_tau
    from skweights.plotting import plot_true_vs_predicted, save_figure
    from skweights.zoo import generate_zoo

    out = Path(out)
    zoo_dir = out / "zoo"
    t0 = time.perf_counter()
    print(f"[1/3] zoo: {n_networks} CNNs on digits, {epochs} epochs -> {zoo_dir} (cached)")
    generate_zoo(
        zoo_dir,
        dataset="digits",
        n_networks=n_networks,
        epochs=epochs,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    zoo = load_zoo(zoo_dir, step="final")
    t_zoo = time.perf_counter() - t0
    acc = zoo.target
    print(
        f"      {len(acc)} finite networks in {t_zoo:.0f} s; test accuracy "
        f"min {acc.min():.3f} / median {float(np.median(acc)):.3f} "
        f"/ max {acc.max():.3f}"
    )

    print("[2/3] fit Pipeline([LayerStatistics(layout), LGBMRegressor()]) on half of the zoo")
    train, test = paper_split(len(acc), n_train=0.5, random_state=seed)
    model = Pipeline(
        [
            ("stats", LayerStatistics(zoo.layout)),
            (
                "gbm",
                LGBMRegressor(
                    n_estimators=300,
                    learning_rate=0.05,
                    # LightGBM's default of 20 rows per leaf would leave a tiny zoo unsplit
                    min_child_samples=max(2, min(20, len(train) // 10)),
                    verbose=-1,
                    n_jobs=1,
                ),
            ),
        ]
    )
    model.fit(zoo.weights[train], acc[train])
    pred = model.predict(zoo.weights[test])
    r2 = float(r2_score(acc[test], pred))
    tau = float(kendall_tau(acc[test], pred))

    print("[3/3] held-out results")
    print(f"      R²  = {r2:.3f}   (paper, MNIST zoo: 0.993)")
    print(f"      τ   = {tau:.3f}   (paper, MNIST zoo: 0.92)")
    ax = plot_true_vs_predicted(acc[test], pred, title="digits zoo: statistics + LightGBM")
    plot_path = save_figure(ax.figure, out / "true_vs_predicted.png")
    results = {
        "r2": r2,
        "kendall_tau": tau,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "zoo": str(zoo_dir),
        "plot": str(plot_path),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"      plot: {plot_path}\n      results: {out / 'results.json'}")
    return results
