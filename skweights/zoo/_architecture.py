"""The zoo CNN: Keras reference model, parameter shapes/layout and Keras initialisation.

Keras is imported lazily inside the functions that need it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

KERNEL_SIZE = 3
STRIDE = 2


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


def layer_names(n_layers: int) -> list[str]:
    """Keras default names of the conv layers then the dense layer.

    Examples
    --------
    >>> layer_names(3)
    ['conv2d', 'conv2d_1', 'conv2d_2', 'dense']
    """
    return ["conv2d" if i == 0 else f"conv2d_{i}" for i in range(n_layers)] + ["dense"]


def param_shapes(
    n_layers: int = 3, n_units: int = 16, in_channels: int = 1, n_classes: int = 10
) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the CNN's tensors in the released zoo's column order.

    Within a layer the bias comes before the kernel; conv kernels are HWIO.

    Examples
    --------
    >>> shapes = param_shapes()
    >>> shapes[:2]
    [('sequential/conv2d/bias:0', (16,)), ('sequential/conv2d/kernel:0', (3, 3, 1, 16))]
    >>> sum(int(np.prod(s)) for _, s in shapes)
    4970
    """
    if n_layers < 1 or n_units < 1 or in_channels < 1 or n_classes < 1:
        raise ValueError(
            "n_layers, n_units, in_channels and n_classes must be >= 1, got "
            f"{(n_layers, n_units, in_channels, n_classes)}."
        )
    shapes = []
    channels = in_channels
    names = layer_names(n_layers)
    for name in names[:-1]:
        shapes.append((f"sequential/{name}/bias:0", (n_units,)))
        shapes.append(
            (f"sequential/{name}/kernel:0", (KERNEL_SIZE, KERNEL_SIZE, channels, n_units))
        )
        channels = n_units
    shapes.append(("sequential/dense/bias:0", (n_classes,)))
    shapes.append(("sequential/dense/kernel:0", (n_units, n_classes)))
    return shapes


def cnn_layout(n_layers: int = 3, n_units: int = 16, in_channels: int = 1, n_classes: int = 10):
    """`skweights.layout.Layout` of the CNN (equals ``Layout.small_cnn_zoo()`` by default)."""
    from skweights.layout import Layout

    return Layout.from_shapes(param_shapes(n_layers, n_units, in_channels, n_classes))


def min_image_size(n_layers: int = 3) -> int:
    """Smallest input side for `n_layers` valid 3x3 convolutions of stride 2.

    Examples
    --------
    >>> min_image_size(3)
    15
    """
    size = 1
    for _ in range(n_layers):
        size = (size - 1) * STRIDE + KERNEL_SIZE
    return size


def keras_initializer(w_init: str, init_std: float, seed: int | None = None):
    """The Keras initializer of the released code for `w_init` (``init_std`` for normals)."""
    keras = _keras()
    inits = keras.initializers
    key = str(w_init).lower().replace("_", "")
    if key == "glorotnormal":
        return inits.GlorotNormal(seed=seed)
    if key == "henormal":
        return inits.HeNormal(seed=seed)
    if key == "orthogonal":
        return inits.Orthogonal(seed=seed)
    if key == "randomnormal":
        return inits.RandomNormal(stddev=float(init_std), seed=seed)
    if key == "truncatednormal":
        return inits.TruncatedNormal(stddev=float(init_std), seed=seed)
    raise ValueError(
        "w_init must be one of glorot_normal, he_normal, orthogonal, RandomNormal, "
        f"TruncatedNormal; got {w_init!r}."
    )


def kernel_seed(random_seed: int, tensor_index: int) -> int:
    """Seed of the Keras initializer of tensor `tensor_index` (layout order) of a network."""
    return (int(random_seed) * 1009 + int(tensor_index)) % (2**31 - 1)


def init_params(
    config: dict[str, Any], shapes: Sequence[tuple[str, tuple[int, ...]]]
) -> list[np.ndarray]:
    """Initial tensors of one network, drawn with the real Keras initializers.

    Kernels use ``config["w_init"]`` (seeded by ``config["random_seed"]`` and the tensor index),
    biases are zeros.
    """
    params = []
    for j, (name, shape) in enumerate(shapes):
        if name.endswith("bias:0"):
            params.append(np.zeros(shape, np.float32))
        else:
            seed = kernel_seed(config["random_seed"], j)
            init = keras_initializer(config["w_init"], config["init_std"], seed=seed)
            params.append(np.asarray(init(shape, dtype="float32"), np.float32))
    return params


def build_cnn(
    input_shape: Sequence[int] = (16, 16, 1),
    n_classes: int = 10,
    n_layers: int = 3,
    n_units: int = 16,
    activation: str = "relu",
    dropout: float = 0.0,
    l2reg: float = 0.0,
    w_init: str = "he_normal",
    init_std: float = 0.05,
    seed: int | None = None,
):
    """Keras `Sequential` model of the zoo CNN, as in the released training code.

    ``n_layers`` x ``Conv2D(n_units, 3, strides=2, padding="valid", activation=activation)``
    (named ``conv2d``, ``conv2d_1``, ...), each followed by ``Dropout(dropout)`` when
    ``dropout > 0``, then ``GlobalAveragePooling2D`` and ``Dense(n_classes)`` (logits, named
    ``dense``). L2 regularisation ``l2reg * sum(w**2)`` on every kernel, never on biases; biases
    start at zero.

    Parameters
    ----------
    input_shape : tuple of int, default=(16, 16, 1)
        ``(height, width, channels)``.
    n_classes : int, default=10
    n_layers : int, default=3
    n_units : int, default=16
    activation : {"relu", "tanh"}, default="relu"
    dropout : float, default=0.0
    l2reg : float, default=0.0
    w_init : str, default="he_normal"
        See `keras_initializer`.
    init_std : float, default=0.05
        Standard deviation of ``RandomNormal`` / ``TruncatedNormal``.
    seed : int or None, default=None
        Seed of the kernel initializers.

    Returns
    -------
    model : keras.Sequential
        Built (weights created), not compiled.

    Examples
    --------
    >>> model = build_cnn()
    >>> model.count_params()
    4970
    >>> [w.path for w in model.weights][:2]
    ['sequential/conv2d/kernel', 'sequential/conv2d/bias']
    """
    keras = _keras()
    layers = keras.layers
    reg = keras.regularizers.L2(float(l2reg)) if l2reg > 0 else None
    model = keras.Sequential(name="sequential")
    model.add(keras.Input(shape=tuple(int(s) for s in input_shape)))
    names = layer_names(n_layers)
    for i, name in enumerate(names[:-1]):
        model.add(
            layers.Conv2D(
                n_units,
                KERNEL_SIZE,
                strides=STRIDE,
                padding="valid",
                activation=activation,
                kernel_regularizer=reg,
                kernel_initializer=keras_initializer(
                    w_init, init_std, None if seed is None else kernel_seed(seed, 2 * i + 1)
                ),
                bias_initializer="zeros",
                name=name,
            )
        )
        if dropout > 0:
            model.add(layers.Dropout(float(dropout), name="dropout" if i == 0 else f"dropout_{i}"))
    model.add(layers.GlobalAveragePooling2D(name="global_average_pooling2d"))
    model.add(
        layers.Dense(
            n_classes,
            kernel_regularizer=reg,
            kernel_initializer=keras_initializer(
                w_init, init_std, None if seed is None else kernel_seed(seed, 2 * n_layers + 1)
            ),
            bias_initializer="zeros",
            name=names[-1],
        )
    )
    return model


def set_keras_weights(model, params: Sequence[np.ndarray]) -> None:
    """Assign layout-ordered tensors (bias before kernel) to a `build_cnn` model."""
    by_path = {w.path: w for w in model.weights}
    n_layers = len(params) // 2
    for i, name in enumerate(layer_names(n_layers - 1)):
        by_path[f"sequential/{name}/bias"].assign(np.asarray(params[2 * i]))
        by_path[f"sequential/{name}/kernel"].assign(np.asarray(params[2 * i + 1]))


def get_keras_weights(model) -> list[np.ndarray]:
    """Tensors of a `build_cnn` model in layout order (bias before kernel)."""
    by_path = {w.path: w for w in model.weights}
    n_layers = sum(1 for w in model.weights if w.path.endswith("/kernel")) - 1
    out = []
    for name in layer_names(n_layers):
        out.append(np.asarray(by_path[f"sequential/{name}/bias"].numpy()))
        out.append(np.asarray(by_path[f"sequential/{name}/kernel"].numpy()))
    return out
