"""Naive baseline: one Keras model at a time with ``model.fit`` (same hyperparameters)."""

from __future__ import annotations

import numpy as np

from skweights.zoo._architecture import _keras, build_cnn
from skweights.zoo._trainer import subset_indices


def train_naive(configs, images, epochs: int, batch_size: int = 128) -> list[float]:
    """Train each configuration with a fresh Keras model; return final test accuracies."""
    keras = _keras()
    accs = []
    for c in configs:
        model = build_cnn(
            input_shape=images.x_train.shape[1:],
            n_classes=int(images.n_classes),
            activation=c["activation"],
            dropout=c["dropout"],
            l2reg=c["l2reg"],
            w_init=c["w_init"],
            init_std=c["init_std"],
            seed=c["random_seed"],
        )
        model.compile(
            optimizer=keras.optimizers.Adam(c["learning_rate"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        sub = subset_indices(len(images.x_train), c["train_fraction"], c["random_seed"])
        bs = min(batch_size, len(sub))
        n = len(sub) // bs * bs
        model.fit(
            images.x_train[sub][:n],
            images.y_train[sub][:n],
            batch_size=bs,
            epochs=epochs,
            shuffle=True,
            verbose=0,
        )
        accs.append(float(model.evaluate(images.x_test, images.y_test, verbose=0)[1]))
        keras.backend.clear_session()
    return [float(a) for a in np.asarray(accs)]
