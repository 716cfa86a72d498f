"""
Which weight statistics predict accuracy?
=========================================

Fig. 3 and Fig. 5 of the paper: a few statistics of the weights, such as the range of the
first and last layer's biases, already separate good networks from bad ones, and the gradient
boosting model leans on a handful of them.

Quick mode (``--quick`` or ``SKWEIGHTS_EXAMPLE_QUICK=1``) trains a tiny zoo;
``SKWEIGHTS_EXAMPLE_ZOO=<dir>`` uses an existing zoo directory instead, and
``SKWEIGHTS_EXAMPLE_OUT=<dir>`` says where the figure is written.
"""

# %%
# Settings and zoo
# ----------------

import os
import sys
from pathlib import Path

from skweights.datasets import load_zoo
from skweights.zoo import generate_zoo

QUICK = "--quick" in sys.argv or os.environ.get("SKWEIGHTS_EXAMPLE_QUICK") == "1"
N_NETWORKS, EPOCHS = (48, 4) if QUICK else (300, 12)
OUT = Path(os.environ.get("SKWEIGHTS_EXAMPLE_OUT", "example-output"))

zoo_dir = os.environ.get("SKWEIGHTS_EXAMPLE_ZOO")
if not zoo_dir:
    zoo_dir = generate_zoo(
        Path("zoos") / f"example-digits-n{N_NETWORKS}-e{EPOCHS}",
        dataset="digits",
        n_networks=N_NETWORKS,
        epochs=EPOCHS,
        seed=0,
        workers=1,
        progress=False,
    )
zoo = load_zoo(zoo_dir, step="final")

# %%
# Per-layer statistics as a DataFrame
# -----------------------------------
# ``set_output(transform="pandas")`` keeps the feature names, e.g. ``conv2d/bias:q100``.
from skweights.features import LayerStatistics

statistics = LayerStatistics(zoo.layout).set_output(transform="pandas")
features = statistics.fit_transform(zoo.weights)
print(features.iloc[:3, :7])

# %%
# Fit LightGBM on all networks and plot
# -------------------------------------
# Left: each network placed by the range (max − min) of its first and last layer's biases,
# coloured by its test accuracy (paper Fig. 3). Right: the features LightGBM splits on most
# (paper Fig. 5).
import matplotlib.pyplot as plt
from lightgbm import LGBMRegressor
from sklearn.pipeline import Pipeline

from skweights.plotting import (
    plot_feature_importance,
    plot_layer_statistic_scatter,
    save_figure,
)

model = Pipeline(
    [
        ("statistics", LayerStatistics(zoo.layout)),
        ("gbm", LGBMRegressor(n_estimators=200, min_child_samples=5, n_jobs=1, verbose=-1)),
    ]
).fit(zoo.weights, zoo.target)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
plot_layer_statistic_scatter(
    features, zoo.target, x="conv2d/bias:range", y="dense/bias:range", ax=left
)
plot_feature_importance(model, top=12, importance_type="split", ax=right)
fig.tight_layout()
print("wrote", save_figure(fig, OUT / "plot_feature_importance.png"))
