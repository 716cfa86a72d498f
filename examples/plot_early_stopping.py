"""
Stop hopeless training runs early
=================================

A network's weights after one or two epochs already say much about the accuracy it will reach
at the end of training (paper, section 5). This example fits predictors of the *final* test
accuracy from the weights at epochs 1 and 2 of a zoo's runs, checks them on held-out runs, and
uses them in :class:`skweights.keras.AccuracyFromWeights`, a Keras callback that stops a run
whose predicted final accuracy is below a threshold.

Quick mode (``--quick`` or ``SKWEIGHTS_EXAMPLE_QUICK=1``) trains a tiny zoo and short runs;
``SKWEIGHTS_EXAMPLE_ZOO=<dir>`` uses an existing zoo (with checkpoints at epochs 1 and 2), and
``SKWEIGHTS_EXAMPLE_OUT=<dir>`` says where the figure is written.
"""

# %%
# Settings
# --------

import os
import sys
from pathlib import Path

QUICK = "--quick" in sys.argv or os.environ.get("SKWEIGHTS_EXAMPLE_QUICK") == "1"
N_NETWORKS, EPOCHS = (48, 4) if QUICK else (300, 12)
N_IMAGES, KERAS_EPOCHS = (512, 3) if QUICK else (None, 8)
OUT = Path(os.environ.get("SKWEIGHTS_EXAMPLE_OUT", "example-output"))

# %%
# A zoo with early checkpoints
# ----------------------------
# Zoos written by :func:`skweights.zoo.generate_zoo` keep checkpoints at epochs 0, 1, 2, 3, ...
# and the last epoch, like the released Small CNN Zoo.
import numpy as np

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

# %%
# How well do early weights predict the final accuracy?
# -----------------------------------------------------
# :func:`~skweights.keras.load_early_checkpoints` pairs each run's weights at epoch ``k`` with
# the same run's final test accuracy. We fit on half of the runs and rank the other half.
from skweights.datasets import paper_split
from skweights.keras import load_early_checkpoints
from skweights.metrics import kendall_tau
from skweights.predictor import make_predictor

early = load_early_checkpoints(zoo_dir, epoch=2)
train, test = paper_split(len(early.target), n_train=0.5, random_state=0)
check = make_predictor(early.layout, "stats", "gbm").set_params(model__n_jobs=1)
check.fit(early.weights[train], early.target[train])
held_out = check.predict(early.weights[test])
print(
    f"epoch 2 weights -> final accuracy, {len(test)} held-out runs: "
    f"Kendall τ = {kendall_tau(early.target[test], held_out):.3f}"
)

# %%
# The callback on new Keras runs
# ------------------------------
# :func:`~skweights.keras.fit_early_predictor` fits one predictor per epoch on all runs of the
# zoo. The callback predicts after epochs 1 and 2 and stops a run predicted below the median
# final accuracy of the zoo. We train the zoo's CNN with a sensible and a far too small learning
# rate.
import keras

from skweights.keras import AccuracyFromWeights, fit_early_predictor
from skweights.zoo import build_cnn
from skweights.zoo._images import load_images

predictors = fit_early_predictor(zoo_dir, epoch=[1, 2])
threshold = float(np.median(early.target))
images = load_images("digits")
x, y = images.x_train[:N_IMAGES], images.y_train[:N_IMAGES]

runs = {}
for learning_rate in (1e-2, 1e-5):
    model = build_cnn(activation="relu", seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    stop = AccuracyFromWeights(predictors, threshold=threshold, verbose=0)
    model.fit(x, y, epochs=KERAS_EPOCHS, batch_size=128, callbacks=[stop], verbose=0)
    runs[learning_rate] = stop.history
    print(
        f"learning rate {learning_rate:g}: predicted "
        + ", ".join(f"{h['predicted_accuracy']:.3f} (epoch {h['epoch']})" for h in stop.history)
        + (f" -> stopped at epoch {stop.stopped_epoch}" if stop.stopped_epoch else " -> kept")
    )

# %%
# Plot: held-out predictions and the two runs
# -------------------------------------------
import matplotlib.pyplot as plt

from skweights.plotting import plot_true_vs_predicted, save_figure

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
plot_true_vs_predicted(early.target[test], held_out, ax=left, title="final accuracy from epoch 2")
left.set_xlabel("true final test accuracy")
for learning_rate, history in runs.items():
    epochs = [h["epoch"] for h in history]
    right.plot(
        epochs, [h["predicted_accuracy"] for h in history], "o-", label=f"lr {learning_rate:g}"
    )
    stopped = [h["epoch"] for h in history if h["stopped"]]
    if stopped:
        right.plot(stopped, [history[-1]["predicted_accuracy"]], "x", color="k", markersize=12)
right.axhline(threshold, color="grey", linestyle="--", label="threshold")
right.set(xlabel="epoch", ylabel="predicted final accuracy", ylim=(0, 1), xticks=[1, 2])
right.set_title("AccuracyFromWeights (x: stopped)")
right.legend()
fig.tight_layout()
print("wrote", save_figure(fig, OUT / "plot_early_stopping.png"))
