"""
Predict a network's test accuracy from its weights
===================================================

The main result of *Predicting Neural Network Accuracy from Weights* (Unterthiner et al., 2020)
on a zoo we train ourselves: small CNNs trained on scikit-learn's 8×8 digits (upsampled to
16×16) with random hyperparameters, summarised by per-layer weight statistics and fed to a
gradient-boosted regressor that predicts each network's test accuracy.

Quick mode (``--quick`` or ``SKWEIGHTS_EXAMPLE_QUICK=1``) trains a tiny zoo;
``SKWEIGHTS_EXAMPLE_ZOO=<dir>`` uses an existing zoo directory instead of training one, and
``SKWEIGHTS_EXAMPLE_OUT=<dir>`` says where the figure is written.
"""

# %%
# Settings: a small zoo, or a tiny one in quick mode
# --------------------------------------------------

import os
import sys
from pathlib import Path

QUICK = "--quick" in sys.argv or os.environ.get("SKWEIGHTS_EXAMPLE_QUICK") == "1"
N_NETWORKS, EPOCHS = (48, 4) if QUICK else (300, 12)
OUT = Path(os.environ.get("SKWEIGHTS_EXAMPLE_OUT", "example-output"))

# %%
# Train (or reuse) a zoo
# ----------------------
# :func:`skweights.zoo.generate_zoo` trains ``N_NETWORKS`` CNNs with hyperparameters drawn from
# the paper's ranges and writes them in the Small CNN Zoo format. It resumes, so a second run
# is free.
from skweights.datasets import load_zoo, paper_split
from skweights.zoo import generate_zoo

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
print(f"{len(zoo.target)} networks, {zoo.layout.n_params} weights each")
print(zoo.layout)

# %%
# Per-layer statistics + LightGBM
# -------------------------------
# :class:`~skweights.features.LayerStatistics` turns the 4970 weights of a network into the
# paper's 7 statistics (mean, variance, 5 quantiles) of each of the 8 weight tensors: 56
# features. Half of the networks train the regressor, the other half measure it.
from lightgbm import LGBMRegressor
from sklearn.pipeline import Pipeline

from skweights.features import LayerStatistics
from skweights.metrics import kendall_tau

train, test = paper_split(len(zoo.target), n_train=0.5, random_state=0)
model = Pipeline(
    [
        ("statistics", LayerStatistics(zoo.layout)),
        (
            "gbm",
            LGBMRegressor(
                n_estimators=300, learning_rate=0.05, min_child_samples=5, n_jobs=1, verbose=-1
            ),
        ),
    ]
)
model.fit(zoo.weights[train], zoo.target[train])
predicted = model.predict(zoo.weights[test])
r2 = model.score(zoo.weights[test], zoo.target[test])
tau = kendall_tau(zoo.target[test], predicted)
print(f"held-out networks: {len(test)}, R² = {r2:.3f}, Kendall τ = {tau:.3f}")

# %%
# True vs predicted accuracy
# --------------------------
# One point per held-out network, as in Fig. 4 of the paper.
from skweights.plotting import plot_true_vs_predicted, save_figure

ax = plot_true_vs_predicted(zoo.target[test], predicted, title="digits zoo: statistics + LightGBM")
print("wrote", save_figure(ax.figure, OUT / "plot_predict_accuracy.png"))
