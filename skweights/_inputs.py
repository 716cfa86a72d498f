"""Networks to predict for: zoo directories, ``.npy`` matrices, Keras models, named tensors.

:func:`read_weights_input` returns ``(X, names)``, one row and one name per network, checked
against the predictor's layout. A Keras model is also checked against the architecture of the
zoo the predictor was fitted on (:func:`zoo_architecture`): a model with the same parameter
shapes but another function (other activations, input size, layer types) is refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

#: Input shape (height, width, channels) of the zoo CNNs by dataset name (ours and the
#: released Small CNN Zoo's); other datasets: the input shape is not checked.
INPUT_SHAPES = {
    "digits": (16, 16, 1),
    "mnist_5k": (28, 28, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10_gs": (32, 32, 1),
    "svhn_gs": (32, 32, 1),
    "cifar10": (32, 32, 1),
    "svhn_cropped": (32, 32, 1),
}
#: Layers that do not change the function at inference time.
_INERT = {"InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"}
_ACTIVATION_LAYERS = {"Activation": None, "ReLU": "relu"}


def zoo_architecture(metrics, layout) -> dict:
    """What the zoo's networks compute, to check Keras models against at prediction time.

    Parameters
    ----------
    metrics : DataFrame
        The zoo's metrics (``config.activation`` and ``config.dataset`` are used when present).
    layout : Layout
        The zoo's layout (one conv layer per layer but the last, a dense last layer).

    Returns
    -------
    dict
        ``layers`` (Keras class names of the layers that compute something), ``activations``
        (of the conv layers), ``input_shape`` (or ``None`` when unknown), ``dataset``.
    """
    n_conv = len(layout.layers) - 1
    activations = ["relu", "tanh"]
    if "config.activation" in metrics:
        activations = sorted({str(a) for a in metrics["config.activation"]})
    dataset = None
    if "config.dataset" in metrics and len(metrics):
        dataset = str(metrics["config.dataset"].iloc[0])
    shape = INPUT_SHAPES.get(dataset)
    return {
        "layers": ["Conv2D"] * n_conv + ["GlobalAveragePooling2D", "Dense"],
        "activations": activations,
        "input_shape": None if shape is None else list(shape),
        "conv": {"kernel_size": [3, 3], "strides": [2, 2], "padding": "valid"},
        "dataset": dataset,
    }


def _keras_layers(model) -> list[tuple[str, str, dict]]:
    """``[(name, class, config)]`` of the layers that compute; activation layers folded in."""
    out: list[tuple[str, str, dict]] = []
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in _INERT:
            continue
        config = dict(layer.get_config())
        if cls in _ACTIVATION_LAYERS and out and out[-1][2].get("activation") == "linear":
            act = _ACTIVATION_LAYERS[cls] or config.get("activation")
            out[-1][2]["activation"] = act if isinstance(act, str) else str(act)
            continue
        out.append((layer.name, cls, config))
    return out


def keras_differences(model, architecture: dict) -> list[str]:
    """How a Keras model's function differs from ``architecture`` (empty: it does not)."""
    found = []
    layers = _keras_layers(model)
    kinds = [cls for _, cls, _ in layers]
    if kinds != architecture["layers"]:
        return [f"its layers are {kinds} but the zoo's networks have {architecture['layers']}"]
    expected_shape = architecture.get("input_shape")
    try:
        shape = [int(s) for s in model.inputs[0].shape[1:]]
    except (AttributeError, IndexError, TypeError, ValueError):
        shape = None
    if expected_shape is not None and shape is not None and shape != list(expected_shape):
        found.append(
            f"it takes inputs of shape {tuple(shape)} but the zoo's networks take "
            f"{tuple(expected_shape)} ({architecture.get('dataset')})"
        )
    conv = architecture["conv"]
    for name, cls, config in layers:
        act = config.get("activation")
        if cls == "Conv2D":
            if act not in architecture["activations"]:
                found.append(
                    f"layer {name!r} has activation {act!r} but the zoo's networks use "
                    f"{' or '.join(map(repr, architecture['activations']))}"
                )
            for key, want in conv.items():
                got = config.get(key)
                got = list(got) if isinstance(got, tuple | list) else got
                if got != want:
                    found.append(f"layer {name!r} has {key}={got!r} but the zoo's have {want!r}")
        elif cls == "Dense" and act not in ("linear", "softmax"):
            found.append(f"layer {name!r} has activation {act!r}; the zoo's output logits")
    return found


def _read_keras(source: Path, layout, architecture, check_architecture: bool):
    import os

    if not zipfile.is_zipfile(source):
        raise ValueError(
            f"{source} is not a Keras model archive (a .keras file is a zip archive); "
            "expected a file written by model.save('model.keras')"
        )
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    try:
        model = keras.models.load_model(source, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds; the file is what is wrong
        raise ValueError(f"{source} could not be loaded as a Keras model: {exc}") from None
    if check_architecture and architecture is not None:
        differences = keras_differences(model, architecture)
        if differences:
            raise ValueError(
                f"{source} computes another function than the networks the predictor was "
                f"fitted on: {'; '.join(differences)} (check_architecture=False / "
                "--no-architecture-check predicts anyway)"
            )
    return layout.flatten_keras(model, match="position")[None, :]


def _read_npy(source: Path) -> np.ndarray:
    try:
        X = np.load(source, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise ValueError(
            f"{source} cannot be read without unpickling ({exc}); expected a float matrix"
        ) from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{source} is not a readable .npy file ({exc})") from None
    if X.ndim not in (1, 2):
        raise ValueError(
            f"{source} has shape {X.shape}; expected (n_networks, n_params) or (n_params,)"
        )
    if not np.issubdtype(X.dtype, np.floating):
        raise ValueError(f"{source} has dtype {X.dtype}; expected floats")
    return np.asarray(X).reshape(1, -1) if X.ndim == 1 else np.asarray(X)


def read_weights_input(source, layout, architecture=None, check_architecture: bool = True):
    """Weights to predict for, one row per network, in ``layout``'s column order.

    Parameters
    ----------
    source : path-like
        A zoo directory (final checkpoints), a ``.npy`` of shape (n_networks, n_params) or
        (n_params,), a ``.keras`` model, or a ``.safetensors`` / ``.npz`` of one network's
        named tensors (our names, or PyTorch's with OIHW/``(out, in)`` layouts; see
        :meth:`skweights.layout.Layout.flatten_tensors`).
    layout : Layout
        The predictor's layout.
    architecture : dict, default=None
        :func:`zoo_architecture` of the predictor's zoo; a ``.keras`` model computing another
        function is refused. ``None``: not checked.
    check_architecture : bool, default=True
        ``False``: predict for Keras models of another function anyway.

    Returns
    -------
    X : ndarray of shape (n_networks, layout.n_params)
    names : list of str
        Model directories for a zoo, else ``file[i]`` / the file name.
    """
    source = Path(source)
    if source.is_dir():
        from skweights.datasets import load_zoo

        zoo = load_zoo(source, step="final")
        X, names = zoo.weights, [str(m) for m in zoo.metrics["modeldir"]]
    elif not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    elif source.suffix == ".npy":
        X = _read_npy(source)
        names = [f"{source.name}[{i}]" for i in range(len(X))]
    elif source.suffix == ".keras":
        X, names = _read_keras(source, layout, architecture, check_architecture), [source.name]
    elif source.suffix in (".safetensors", ".npz"):
        X, names = layout.flatten_tensors(source)[None, :], [source.name]
    else:
        raise ValueError(
            f"cannot read weights from {source}: expected a zoo directory, a .npy file, a "
            ".keras model, or a .safetensors / .npz of named tensors"
        )
    if X.shape[1] != layout.n_params:
        raise ValueError(
            f"{source} has {X.shape[1]} weights per network but the predictor was fitted "
            f"on a layout of {layout.n_params} parameters"
        )
    return X, names
