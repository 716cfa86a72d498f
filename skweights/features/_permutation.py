"""Modifications of the weights used to probe a predictor's invariances (paper, Table 9)."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ..layout import Layout
from ._base import LayoutTransformer
from ._selection import ColumnMapTransformer

__all__ = ["RandomPermutation", "WeightScaler"]


class _SameColumnsMixin:
    """Output columns keep the meaning (and names) of the input columns."""

    def _input_columns(self) -> None:
        return None  # every input column reaches the output, selected layers or not

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features: the input feature names (``x0, x1, ...`` if none).

        Parameters
        ----------
        input_features : array-like of str or None
            Input feature names; checked against those seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "layout_in_")
        return _check_feature_names_in(self, input_features)


class RandomPermutation(_SameColumnsMixin, ColumnMapTransformer):
    """Shuffle weights among columns: globally, within each layer or within each tensor.

    Reproduces the input modifications of the paper's Table 9 (Appendix C): a global permutation
    of all weights, permutations within every layer or within chosen layers (e.g. the three
    convolutions, or the final dense layer), mixing biases and kernels or not. Output column j
    holds input column ``permutation_[j]``; the columns keep their layout positions, so a model
    fitted on unmodified weights can predict on the output and the change of its predictions
    measures its sensitivity.

    The permutation is drawn once in ``fit`` (from ``random_state``) and the same column
    permutation is applied to every row, so ``transform`` is deterministic. This matches the
    paper's protocol, which applies one modification phi to each of 1000 test CNNs and averages
    ``|F(phi(W)) - F(W)|``; a per-row permutation would need a random state in ``transform``.

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` infers a one-tensor layout named ``weights`` from X's width
        at fit (so the transformer runs on arbitrary matrices, e.g. in scikit-learn's checks).
    scope : {"global", "layer", "tensor"}, default="global"
        Which columns may swap: all chosen columns ("global"), columns of the same layer
        ("layer") or of the same tensor ("tensor").
    layers : list of str, str or None, default=None
        Layers whose weights are permuted (``None``: all); other columns stay in place.
    mix_kernel_bias : bool, default=True
        If False, kernels and biases are permuted separately: "layer" then equals "tensor", and
        "global" permutes each kind across the chosen layers. Ignored for "tensor".
    random_state : int, RandomState instance or None, default=None
        Seed of the permutation.
    chunk_size : int or None, default=None
        Rows processed at a time (``None``: 512).
    n_jobs : int or None, default=None
        Threads over row chunks.
    handle_nonfinite : {"error", "propagate"}, default="error"
        "error" raises on NaN/inf in X; "propagate" moves them like any other value.

    Attributes
    ----------
    permutation_ : ndarray of int of shape (n_params,)
        Output column j is input column ``permutation_[j]``.
    layout_in_ : Layout
        The layout used (``layout`` or the inferred one).
    n_features_in_ : int
        Number of columns of X.
    feature_names_in_ : ndarray of str
        Column names of X if it was a DataFrame with string column names.

    See Also
    --------
    WeightScaler : multiply chosen layers by a constant.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.features import RandomPermutation
    >>> layout = Layout.from_shapes([("n/a/bias:0", (2,)), ("n/a/kernel:0", (3,)),
    ...                              ("n/b/bias:0", (1,))])
    >>> X = np.arange(6.0).reshape(1, 6)
    >>> perm = RandomPermutation(layout, scope="tensor", random_state=0).fit(X)
    >>> sorted(perm.transform(X)[0, 2:5].tolist())
    [2.0, 3.0, 4.0]
    >>> perm.transform(X)[0, 5]
    np.float64(5.0)
    """

    _parameter_constraints: dict = {
        **LayoutTransformer._parameter_constraints,
        "scope": [StrOptions({"global", "layer", "tensor"})],
        "layers": [list, tuple, str, None],
        "mix_kernel_bias": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        scope: str = "global",
        layers: list[str] | None = None,
        mix_kernel_bias: bool = True,
        random_state=None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
        handle_nonfinite: str = "error",
    ):
        self.layout = layout
        self.scope = scope
        self.layers = layers
        self.mix_kernel_bias = mix_kernel_bias
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.handle_nonfinite = handle_nonfinite

    def _plan(self, layout: Layout) -> list[str]:
        rng = check_random_state(self.random_state)
        groups: dict[tuple, list[np.ndarray]] = {}
        for e in layout.select(self.layers):
            entry = layout[e.name]
            if self.scope == "tensor":
                key = (entry.name,)
            else:
                key = (entry.layer,) if self.scope == "layer" else ()
                if not self.mix_kernel_bias:
                    key += (entry.kind,)
            groups.setdefault(key, []).append(np.arange(entry.start, entry.stop))
        permutation = np.arange(layout.n_params)
        for parts in groups.values():
            cols = np.concatenate(parts)
            permutation[cols] = rng.permutation(cols)
        self.permutation_ = permutation
        self._index = permutation
        self._factor = None
        return [str(i) for i in range(layout.n_params)]


class WeightScaler(_SameColumnsMixin, ColumnMapTransformer):
    """Multiply the weights of chosen layers by a constant factor (paper, Table 9: "scale").

    For ReLU networks, scaling all weights of one layer by c > 0 scales the logits but keeps the
    predicted classes, so the accuracy is unchanged; a predictor that is sensitive to this is
    not scale invariant. The product is computed in X's dtype.

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` infers a one-tensor layout named ``weights`` from X's width
        at fit (so the transformer runs on arbitrary matrices, e.g. in scikit-learn's checks).
    factor : float, default=1.0
        The constant c.
    layers : list of str, str or None, default=None
        Layers to scale (``None``: all).
    kinds : list of str, str or None, default=None
        Tensor kinds to scale, e.g. ``"kernel"`` (``None``: all).
    chunk_size : int or None, default=None
        Rows processed at a time (``None``: 512).
    n_jobs : int or None, default=None
        Threads over row chunks.
    handle_nonfinite : {"error", "propagate"}, default="error"
        "error" raises on NaN/inf in the output (including overflow); "propagate" keeps them.

    Attributes
    ----------
    columns_ : ndarray of int
        Columns that are multiplied by ``factor``.
    layout_in_ : Layout
        The layout used (``layout`` or the inferred one).
    n_features_in_ : int
        Number of columns of X.
    feature_names_in_ : ndarray of str
        Column names of X if it was a DataFrame with string column names.

    See Also
    --------
    RandomPermutation : shuffle weights among columns.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.features import WeightScaler
    >>> layout = Layout.from_shapes([("n/a/kernel:0", (2,)), ("n/b/kernel:0", (2,))])
    >>> WeightScaler(layout, factor=10.0, layers=["b"]).fit_transform(np.ones((1, 4)))
    array([[ 1.,  1., 10., 10.]])
    """

    _parameter_constraints: dict = {
        **LayoutTransformer._parameter_constraints,
        "factor": [Interval(Real, None, None, closed="neither")],
        "layers": [list, tuple, str, None],
        "kinds": [list, tuple, str, None],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        factor: float = 1.0,
        layers: list[str] | None = None,
        kinds: list[str] | None = None,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
        handle_nonfinite: str = "error",
    ):
        self.layout = layout
        self.factor = factor
        self.layers = layers
        self.kinds = kinds
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.handle_nonfinite = handle_nonfinite

    def _plan(self, layout: Layout) -> list[str]:
        self.columns_ = layout.columns(self.layers, self.kinds)
        self._index = None
        self._factor = float(self.factor)
        self._scaled = np.zeros(layout.n_params, dtype=bool)
        self._scaled[self.columns_] = True
        return [str(i) for i in range(layout.n_params)]
