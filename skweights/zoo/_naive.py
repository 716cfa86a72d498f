"""Naive baseline: one Keras model at a time with ``model.fit`` (same hyperparameters).

`train_naive` is what a zoo generator without vectorisation does: build a fresh Keras model per
configuration, ``fit`` it, and (with ``checkpoints``) record the same rows as `generate_zoo`:
weights plus test and training loss/accuracy at each checkpoint epoch, the training metrics on
the network's own subset in evaluation mode. ``benchmarks/bench_zoo.py`` times it against the
batched generator.
"""

from __future__ import annotations

import numpy as np

from skweights.layout import Layout
from skweights.zoo._architecture import _keras, build_cnn
from skweights.zoo._trainer import subset_indices


def train_naive(
    configs, images, epochs: int, batch_size: int = 128, checkpoints=None
) -> list[float] | list[dict]:
    """Train each configuration with a fresh Keras model.

    Parameters
    ----------
    configs : list of dict
        From `sample_hyperparameters`.
    images : ImageDataset
    epochs : int
    batch_size : int, default=128
        As in `train_group`: ``min(batch_size, subset size)``, last partial batch dropped.
    checkpoints : sequence of int or None, default=None
        None: only train, return the final test accuracies. Otherwise the epochs (0 = before
        training) at which to evaluate and keep the weights, as the generator does.

    Returns
    -------
    list of float, or list of dict
        Final test accuracy per configuration; with ``checkpoints``, per configuration a dict
        with ``step``, ``weights`` (rows x n_params, in the zoo's column order),
        ``test_accuracy``, ``test_loss``, ``train_accuracy`` and ``train_loss``.
    """
    keras = _keras()
    ckpts = None if checkpoints is None else sorted({int(c) for c in checkpoints})
    results = []
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
        x_sub, y_sub = images.x_train[sub], images.y_train[sub]
        if ckpts is None:
            model.fit(x_sub[:n], y_sub[:n], batch_size=bs, epochs=epochs, shuffle=True, verbose=0)
            results.append(float(model.evaluate(images.x_test, images.y_test, verbose=0)[1]))
        else:
            rows = {k: [] for k in ("step", "weights", "test_accuracy", "test_loss")}
            rows.update(train_accuracy=[], train_loss=[])
            layout, done = Layout.from_keras(model), 0
            for stop in [e for e in ckpts if 0 <= e <= epochs]:
                if stop > done:
                    model.fit(
                        x_sub[:n],
                        y_sub[:n],
                        batch_size=bs,
                        epochs=stop,
                        initial_epoch=done,
                        shuffle=True,
                        verbose=0,
                    )
                    done = stop
                te_loss, te_acc = model.evaluate(images.x_test, images.y_test, verbose=0)
                tr_loss, tr_acc = model.evaluate(x_sub, y_sub, verbose=0)
                rows["step"].append(stop)
                rows["weights"].append(layout.flatten_keras(model, match="position"))
                for key, v in zip(
                    ("test_loss", "test_accuracy", "train_loss", "train_accuracy"),
                    (te_loss, te_acc, tr_loss, tr_acc),
                ):
                    rows[key].append(float(v))
            results.append({k: np.asarray(v) for k, v in rows.items()})
        keras.backend.clear_session()
    return results
