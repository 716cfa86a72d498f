"""
A permutation-equivariant network on raw weights vs GBM on statistics
=====================================================================

The paper's best predictor summarises each weight tensor by 7 statistics and fits a GBM. A
*neural functional* (Zhou et al., NeurIPS 2023) reads the raw weights instead, with layers that
respect the one symmetry every network has: the hidden neurons of a layer can be reordered
without changing what the network computes. :class:`~skweights.models.NeuralFunctionalRegressor`
is such a network (NFN-HNP) as a scikit-learn regressor. This example fits both on half of a
zoo, compares them on the other half, and checks that reordering hidden neurons changes the
GBM on raw weights but not the neural functional.

Quick mode (``--quick`` or ``SKWEIGHTS_EXAMPLE_QUICK=1``) trains a tiny zoo and a tiny network;
``SKWEIGHTS_EXAMPLE_ZOO=<dir>`` uses an existing zoo, and ``SKWEIGHTS_EXAMPLE_OUT=<dir>`` says
where the figure is written.
"""

# %%
# Settings
# --------

import os
import sys
from pathlib import Path

QUICK = "--quick" in sys.argv or os.environ.get("SKWEIGHTS_EXAMPLE_QUICK") == "1"
N_NETWORKS, EPOCHS = (48, 4) if QUICK else (600, 12)
NFN = dict(hidden_channels=(4, 4), head_units=(32,), epochs=5) if QUICK else {}
OUT = Path(os.environ.get("SKWEIGHTS_EXAMPLE_OUT", "example-output"))

# %%
# A zoo and a split
# -----------------
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
train, test = paper_split(len(zoo.target), n_train=0.5, random_state=0)
X_train, y_train = zoo.weights[train], zoo.target[train]
X_test, y_test = zoo.weights[test], zoo.target[test]

# %%
# GBM on per-layer statistics, and the neural functional on raw weights
# ---------------------------------------------------------------------
# The neural functional unflattens every row with the zoo's layout (conv kernels HWIO, the
# dense kernel as a 1x1 convolution) and early-stops on a tenth of the training networks.
from lightgbm import LGBMRegressor
from sklearn.pipeline import make_pipeline

from skweights.features import LayerStatistics
from skweights.metrics import kendall_tau
from skweights.models import NeuralFunctionalRegressor

gbm = make_pipeline(
    LayerStatistics(zoo.layout),
    LGBMRegressor(n_estimators=200, learning_rate=0.05, min_child_samples=5, verbose=-1),
)
gbm.fit(X_train, y_train)
nfn = NeuralFunctionalRegressor(zoo.layout, random_state=0, **NFN).fit(X_train, y_train)
predictions = {"GBM on statistics": gbm.predict(X_test), "NFN-HNP": nfn.predict(X_test)}
for name, pred in predictions.items():
    print(f"{name:18s} Kendall τ = {kendall_tau(y_test, pred):.3f}")
print(f"NFN fit: {nfn.n_iter_} epochs in {nfn.fit_time_:.0f} s")

# %%
# The symmetry: reorder the hidden neurons of every layer
# -------------------------------------------------------
# :func:`~skweights.models.hidden_neuron_permutation` gives the columns that move a layer's
# output channels, bias entries and the next layer's input channels together: the same
# network, written differently.
# A GBM on the raw weights sees a different input; the neural functional does not.
import numpy as np

from skweights.models import hidden_neuron_permutation

rng = np.random.default_rng(0)
permuted = X_test
for layer in range(len(zoo.layout.layers) - 1):
    n_hidden = zoo.layout.groups()[zoo.layout.layers[layer]][0].shape[-1]
    permuted = permuted[:, hidden_neuron_permutation(zoo.layout, layer, rng.permutation(n_hidden))]
raw_gbm = LGBMRegressor(n_estimators=100, min_child_samples=5, verbose=-1).fit(X_train, y_train)
for name, model in [("GBM on raw weights", raw_gbm), ("NFN-HNP", nfn)]:
    change = np.abs(model.predict(permuted) - model.predict(X_test)).mean()
    print(f"{name:18s} mean |change| after permuting hidden neurons = {change:.2e}")

# %%
# Plot
# ----
import matplotlib.pyplot as plt

from skweights.plotting import plot_true_vs_predicted, save_figure

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, (name, pred) in zip(axes, predictions.items()):
    plot_true_vs_predicted(y_test, pred, ax=ax, title=name)
fig.tight_layout()
print("wrote", save_figure(fig, OUT / "plot_neural_functional.png"))
