"""Raw weights of chosen layers (the paper's W^1 ... W^4 inputs), and the column-map machinery
shared with the permutation and scaling transformers."""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from ._base import LayoutTransformer, raise_nonfinite

__all__ = ["LayerSelector"]


class ColumnMapTransformer(LayoutTransformer):
    """Base of transformers whose output column j is ``X[:, index[j]]`` (times a factor).

    ``_plan`` must set ``self._index`` (int array, or ``None`` for the identity) and
    ``self._factor`` (``None``, or a float with the boolean mask ``self._scaled`` of output
    columns to multiply).
    """

    def _transform_rows(self, X, rows: slice, out: np.ndarray) -> None:
        dest = out[rows]
        if self._index is None:
            dest[...] = X[rows]
        else:
            np.take(X[rows], self._index, axis=1, out=dest)
        if self._factor is not None:
            with np.errstate(over="ignore"):  # overflow to inf is reported below
                dest[:, self._scaled] *= dest.dtype.type(self._factor)
        if self.handle_nonfinite == "error":
            bad = ~np.isfinite(np.sum(dest, axis=1, dtype=np.float64))
            if bad.any():
                raise_nonfinite(rows, bad, "found while transforming")


class LayerSelector(ColumnMapTransformer):
    """Keep the raw weights of chosen layers (and tensor kinds), in layout order.

    The paper's W^1 ... W^4 inputs (Table 2) are ``LayerSelector(layout, layers=[name])`` for
    each layer of the CNN; ``layers=None`` keeps all weights (the paper's W).

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` infers a one-tensor layout named ``weights`` from X's width
        at fit (so the transformer runs on arbitrary matrices, e.g. in scikit-learn's checks).
    layers : list of str, str or None, default=None
        Layers to keep (``None``: all).
    kinds : list of str, str or None, default=None
        Tensor kinds to keep, e.g. ``"kernel"`` (``None``: all).
    chunk_size : int or None, default=None
        Rows processed at a time (``None``: 512).
    n_jobs : int or None, default=None
        Threads over row chunks.
    handle_nonfinite : {"error", "propagate"}, default="error"
        "error" raises if a kept weight is NaN/inf; "propagate" copies them through.

    Attributes
    ----------
    layout_in_ : Layout
        The layout of X (``layout`` or the inferred one).
    layout_ : Layout
        The layout of the output (selected tensors, renumbered from column 0); pass it to
        another transformer applied after this one.
    columns_ : ndarray of int
        Columns of X that are kept, in output order.
    n_features_in_ : int
        Number of columns of X.
    feature_names_in_ : ndarray of str
        Column names of X if it was a DataFrame with string column names.

    See Also
    --------
    LayerStatistics : summary statistics per tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.features import LayerSelector
    >>> layout = Layout.small_cnn_zoo()
    >>> X = np.zeros((2, layout.n_params), dtype=np.float32)
    >>> dense = LayerSelector(layout, layers=["dense"]).fit(X)
    >>> dense.transform(X).shape
    (2, 170)
    >>> dense.get_feature_names_out()[:2].tolist()
    ['dense/bias:0', 'dense/bias:1']
    >>> dense.layout_.n_params
    170
    """

    _parameter_constraints: dict = {
        **LayoutTransformer._parameter_constraints,
        "layers": [list, tuple, str, None],
        "kinds": [list, tuple, str, None],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        layers: list[str] | None = None,
        kinds: list[str] | None = None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
        handle_nonfinite: str = "error",
    ):
        self.layout = layout
        self.layers = layers
        self.kinds = kinds
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.handle_nonfinite = handle_nonfinite

    def _plan(self, layout: Layout) -> list[str]:
        self.layout_ = layout.select(self.layers, self.kinds)
        self.columns_ = layout.columns(self.layers, self.kinds)
        identity = len(self.columns_) == layout.n_params
        self._index = None if identity else self.columns_
        self._factor = None
        return [f"{e.short_name}:{i}" for e in self.layout_ for i in range(e.size)]
