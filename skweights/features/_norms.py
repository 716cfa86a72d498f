"""Norms of each tensor's weights."""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from ._base import LayoutTransformer, raise_nonfinite

__all__ = ["LayerNorms"]

NORMS = ("l1", "l2", "linf")


class LayerNorms(LayoutTransformer):
    """L1, L2 (and L-infinity) norm of each tensor's weights.

    With the default ``norms=("l1", "l2")`` this gives 8 features for the Small CNN Zoo CNN
    (4 layers x kernel and bias). Norms are accumulated in float64 (relative difference to a
    float64 reference below 1e-12); output is float32 for float32 input unless ``dtype`` is
    given.

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` infers a one-tensor layout named ``weights`` from X's width
        at fit (so the transformer runs on arbitrary matrices, e.g. in scikit-learn's checks).
    norms : tuple of {"l1", "l2", "linf"}, default=("l1", "l2")
        Norms to compute, in output order.
    layers : list of str or None, default=None
        Layers to describe (``None``: all).
    kinds : list of str or None, default=None
        Tensor kinds to describe, e.g. ``["kernel"]`` (``None``: all).
    chunk_size : int or None, default=None
        Rows processed at a time (``None``: 512).
    n_jobs : int or None, default=None
        Threads over row chunks.
    dtype : numpy dtype or None, default=None
        Output dtype; ``None`` keeps X's float dtype (integers become float64).
    handle_nonfinite : {"error", "propagate"}, default="error"
        "error" raises on NaN/inf in the selected tensors of X (in ``fit`` and ``transform``
        alike); "propagate" gives NaN for a tensor with a NaN and inf for a tensor with an
        infinite value (as ``np.linalg.norm``).

    Attributes
    ----------
    layout_in_ : Layout
        The layout used (``layout`` or the inferred one).
    n_features_in_ : int
        Number of columns of X.
    feature_names_in_ : ndarray of str
        Column names of X if it was a DataFrame with string column names.

    See Also
    --------
    LayerStatistics : mean, variance and quantiles per tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.features import LayerNorms
    >>> layout = Layout.from_shapes([("net/fc/bias:0", (2,)), ("net/fc/kernel:0", (2, 2))])
    >>> X = np.array([[3.0, -4.0, 1.0, 1.0, 1.0, -1.0]])
    >>> norms = LayerNorms(layout).fit(X)
    >>> norms.transform(X)
    array([[7., 5., 4., 2.]])
    >>> norms.get_feature_names_out().tolist()
    ['fc/bias:l1', 'fc/bias:l2', 'fc/kernel:l1', 'fc/kernel:l2']
    """

    _parameter_constraints: dict = {
        **LayoutTransformer._parameter_constraints,
        "norms": [tuple, list],
        "layers": [list, tuple, str, None],
        "kinds": [list, tuple, str, None],
        "dtype": [type, str, np.dtype, None],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        norms: tuple[str, ...] = ("l1", "l2"),
        layers: list[str] | None = None,
        kinds: list[str] | None = None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
        dtype=None,
        handle_nonfinite: str = "error",
    ):
        self.layout = layout
        self.norms = norms
        self.layers = layers
        self.kinds = kinds
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.handle_nonfinite = handle_nonfinite

    def _plan(self, layout: Layout) -> list[str]:
        norms = list(self.norms)
        unknown = [n for n in norms if n not in NORMS]
        if unknown or not norms or len(set(norms)) != len(norms):
            raise ValueError(f"norms must be distinct names from {list(NORMS)}, got {norms}")
        self._norms = norms
        self._entries = [
            (e.short_name, layout[e.name].slice) for e in layout.select(self.layers, self.kinds)
        ]
        return [f"{name}:{n}" for name, _ in self._entries for n in norms]

    def _transform_rows(self, X, rows: slice, out: np.ndarray) -> None:
        k = len(self._norms)
        propagate = self.handle_nonfinite == "propagate"
        for g, (name, cols) in enumerate(self._entries):
            block = np.array(X[rows, cols], dtype=np.float64, order="C")
            values = {}
            if "l2" in self._norms:
                values["l2"] = np.sqrt(np.einsum("ij,ij->i", block, block))
            np.abs(block, out=block)
            l1 = block.sum(axis=1)
            if not propagate:
                bad = ~np.isfinite(l1)
                if bad.any():
                    raise_nonfinite(rows, bad, f"tensor {name}")
            values["l1"] = l1
            if "linf" in self._norms:
                values["linf"] = block.max(axis=1)
            dest = out[rows, g * k : (g + 1) * k]
            for j, n in enumerate(self._norms):
                dest[:, j] = values[n]
