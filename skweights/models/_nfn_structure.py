"""A `Layout` read as a chain of layers, for `NeuralFunctionalRegressor` (numpy only).

Each layer of the layout has a ``kernel`` (Keras storage: dense ``(in, out)``, convolution
``(*spatial, in, out)``, i.e. HWIO) and optionally a ``bias`` of shape ``(out,)``. As in NFN, a
kernel is read as ``(out, in, spatial)`` and a dense layer as a 1x1 convolution. The output
neurons of every layer but the last are *hidden* neurons: permuting them (the kernel's output
channels, the bias entries and the next kernel's input channels together) leaves the function
the network computes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Layout

GLOBAL, VECTOR, MATRIX = "global", "vector", "matrix"


@dataclass(frozen=True)
class Layer:
    """Column indices of one layer: ``kernel[o, i, s]`` and ``bias[o]`` (None without bias)."""

    name: str
    kernel: np.ndarray  # (n_out, n_in, n_spatial) column numbers
    bias: np.ndarray | None  # (n_out,) column numbers


def _kernel_columns(entry) -> np.ndarray:
    """Column numbers of a kernel entry as ``(out, in, spatial)``."""
    shape = entry.shape
    if len(shape) < 2:
        raise ValueError(
            f"{entry.short_name} has shape {shape}; expected a kernel of at least 2 dimensions "
            "((in, out) for dense, (*spatial, in, out) for convolutions)"
        )
    cols = np.arange(entry.start, entry.stop).reshape(shape)
    cols = np.moveaxis(cols, (-1, -2), (0, 1))  # (out, in, *spatial)
    return cols.reshape(shape[-1], shape[-2], -1)


def network_layers(layout: Layout) -> list[Layer]:
    """The layout's layers in order, checked to form a chain (each input = previous output)."""
    layers = []
    for name, entries in layout.groups().items():
        by_kind = {e.kind: e for e in entries}
        unknown = sorted(set(by_kind) - {"kernel", "bias"})
        if unknown or "kernel" not in by_kind:
            raise ValueError(
                f"layer {name!r} has tensors {sorted(by_kind)}; expected a 'kernel' and "
                "optionally a 'bias'"
            )
        kernel = _kernel_columns(by_kind["kernel"])
        bias = None
        if "bias" in by_kind:
            b = by_kind["bias"]
            if b.shape != (kernel.shape[0],):
                raise ValueError(
                    f"{b.short_name} has shape {b.shape} but its kernel has "
                    f"{kernel.shape[0]} outputs; expected ({kernel.shape[0]},)"
                )
            bias = np.arange(b.start, b.stop)
        if layers and layers[-1].kernel.shape[0] != kernel.shape[1]:
            raise ValueError(
                f"layer {name!r} has {kernel.shape[1]} inputs but layer {layers[-1].name!r} "
                f"has {layers[-1].kernel.shape[0]} outputs; expected a chain of layers "
                "(e.g. convolutions, global pooling, dense)"
            )
        layers.append(Layer(name, kernel, bias))
    return layers


def network_objects(layout: Layout) -> tuple[tuple, list[np.ndarray]]:
    """``(spec, indices)``: each tensor as an object of `skweights.models._nfn_network`.

    ``spec[k] = (kind, hidden_axes)``; ``indices[k]`` holds column numbers of shape
    ``(*neuron_axes, fold)``, so ``Z[:, indices[k]]`` is the object for a batch of rows ``Z``.
    Hidden layer ``l`` (1-based) is the output of layer ``l``.
    """
    layers = network_layers(layout)
    depth = len(layers)
    spec, indices = [], []

    def add(kind, axes, idx):
        spec.append((kind, tuple(axes)))
        indices.append(np.ascontiguousarray(idx, dtype=np.int32))

    for i, layer in enumerate(layers, start=1):
        k, b = layer.kernel, layer.bias
        if depth == 1:
            add(GLOBAL, (), k.reshape(-1))
        elif i == 1:
            add(VECTOR, (1,), k.reshape(k.shape[0], -1))
        elif i < depth:
            add(MATRIX, (i, i - 1), k)
        else:
            add(VECTOR, (depth - 1,), k.transpose(1, 0, 2).reshape(k.shape[1], -1))
        if b is not None:
            if i < depth:
                add(VECTOR, (i,), b[:, None])
            else:
                add(GLOBAL, (), b)
    return tuple(spec), indices


def hidden_neuron_permutation(layout: Layout, layer: int, permutation) -> np.ndarray:
    """Columns that permute the output neurons of ``layout``'s layer ``layer`` (0-based).

    ``X[:, columns]`` is the same networks with neuron ``permutation[j]`` of that layer moved to
    position ``j``: the kernel's output channels, the bias entries and the next layer's input
    channels are permuted together, so each network computes the same function.

    Parameters
    ----------
    layout : Layout
    layer : int
        Index of a layer whose outputs are hidden (every layer but the last).
    permutation : array-like of int
        A permutation of ``range(n_out)`` of that layer.

    Returns
    -------
    columns : ndarray of shape (layout.n_params,)

    Examples
    --------
    >>> from skweights.layout import Layout
    >>> layout = Layout.from_shapes(
    ...     [("a/kernel", (1, 2)), ("a/bias", (2,)), ("b/kernel", (2, 1))]
    ... )
    >>> hidden_neuron_permutation(layout, 0, [1, 0]).tolist()
    [1, 0, 3, 2, 5, 4]
    """
    layers = network_layers(layout)
    if not 0 <= layer < len(layers) - 1:
        raise ValueError(
            f"layer must be in [0, {len(layers) - 2}] (the layers with hidden outputs), "
            f"got {layer}"
        )
    perm = np.asarray(permutation)
    n_out = layers[layer].kernel.shape[0]
    if sorted(perm.tolist()) != list(range(n_out)):
        raise ValueError(f"permutation must be a permutation of range({n_out}), got {perm}")
    columns = np.arange(layout.n_params)
    current, following = layers[layer], layers[layer + 1]
    columns[current.kernel.ravel()] = current.kernel[perm].ravel()
    if current.bias is not None:
        columns[current.bias] = current.bias[perm]
    columns[following.kernel.ravel()] = following.kernel[:, perm].ravel()
    return columns


def random_hidden_neuron_permutations(layout: Layout, X, random_state=None) -> np.ndarray:
    """``X`` with the hidden neurons of every row permuted at random, each row independently.

    Every layer with hidden outputs gets its own uniformly random permutation per row (drawn
    with ``random_state``), applied as in `hidden_neuron_permutation`: each row is a different
    parameter vector of the same function, so its target is unchanged.

    Parameters
    ----------
    layout : Layout
    X : array-like of shape (n_samples, layout.n_params)
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_permuted : ndarray of shape (n_samples, layout.n_params)
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    out = np.array(X, copy=True)
    if out.ndim != 2 or out.shape[1] != layout.n_params:
        raise ValueError(
            f"X has shape {out.shape} but the layout describes {layout.n_params} parameters; "
            "expected (n_samples, n_params)"
        )
    layers = network_layers(layout)
    rows = np.arange(out.shape[0])
    for current, following in zip(layers[:-1], layers[1:]):
        perm = rng.random_sample((out.shape[0], current.kernel.shape[0])).argsort(axis=1)
        at = (slice(None), None, None, None)  # row index broadcast over a kernel's axes
        out[rows[at], current.kernel[None]] = out[rows[at], current.kernel[perm]]
        if current.bias is not None:
            out[rows[:, None], current.bias[None]] = out[rows[:, None], current.bias[perm]]
        moved = np.moveaxis(following.kernel[:, perm], 1, 0)  # (n, out, in, spatial)
        out[rows[at], following.kernel[None]] = out[rows[at], moved]
    return out
