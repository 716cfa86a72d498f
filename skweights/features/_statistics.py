"""Per-tensor summary statistics of flattened weights (the paper's W_L / W-bar features)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from ..layout import Layout
from ._base import LayoutTransformer, raise_nonfinite
from ._order import order_statistics

__all__ = ["LayerStatistics", "PAPER_STATISTICS"]

#: The 7 statistics of the paper (Unterthiner et al. 2020, Sec. 3), in its order.
PAPER_STATISTICS = ("mean", "var", "q0", "q25", "q50", "q75", "q100")

_QUANTILE = re.compile(r"^q(\d+(?:\.\d*)?|\.\d+)$")


def parse_statistic(name: str) -> float | None:
    """``None`` for mean/var/std, the quantile fraction in [0, 1] for ``"q<percent>"``."""
    if name in ("mean", "var", "std"):
        return None
    match = _QUANTILE.match(name) if isinstance(name, str) else None
    if match is None or not 0 <= float(match.group(1)) <= 100:
        raise ValueError(
            f"unknown statistic {name!r}; expected 'mean', 'var', 'std' or 'q<p>' with "
            "0 <= p <= 100 (e.g. 'q25')"
        )
    return float(match.group(1)) / 100


@dataclass
class _QuantilePlan:
    """Order statistics and weights reproducing ``np.quantile(..., method="linear")``.

    ``kth`` are the ranks needed; ``lo``/``hi`` index into them (the two neighbours of each
    quantile's virtual index) and ``gamma`` is the interpolation weight. A quantile that falls
    on an element (``gamma == 0``) needs no neighbour: for finite values numpy's
    ``a + (b - a) * 0`` is ``a``. Rows with infinities must go through ``np.quantile`` itself.
    """

    lo: np.ndarray
    hi: np.ndarray
    gamma: np.ndarray
    kth: np.ndarray
    qs: list

    @classmethod
    def make(cls, n: int, qs: list[float]) -> _QuantilePlan:
        # Same arithmetic as numpy's "linear" method: virtual index (n - 1) * q, floor and next,
        # both clipped to the last element when the virtual index reaches it.
        virtual = (n - 1) * np.asarray(qs, dtype=np.float64)
        lo = np.floor(virtual)
        hi = lo + 1
        top = virtual >= n - 1
        lo[top] = n - 1
        hi[top] = n - 1
        gamma = virtual - lo
        gamma[top] = virtual[top] - (-1)  # numpy keeps index -1 here; b - a == 0 anyway
        hi[gamma == 0] = lo[gamma == 0]  # on an element: no neighbour needed (finite values)
        lo, hi = lo.astype(np.intp), hi.astype(np.intp)
        kth = np.unique(np.concatenate((lo, hi)))
        return cls(np.searchsorted(kth, lo), np.searchsorted(kth, hi), gamma, kth, list(qs))

    def __call__(self, order: np.ndarray) -> np.ndarray:
        """Quantiles (rows x len(qs), float64) from the order statistics ``order[:, kth]``."""
        a, b = order[:, self.lo], order[:, self.hi]
        diff = b - a  # in the block's dtype, as numpy does; the rest in float64
        out = a + diff * self.gamma
        upper = np.broadcast_to(self.gamma >= 0.5, out.shape)
        np.subtract(b, diff * (1 - self.gamma), out=out, where=upper)
        return out


class LayerStatistics(LayoutTransformer):
    """Summary statistics of each tensor's weights: mean, variance and quantiles.

    For each tensor of the layout (kernel and bias separately) compute the chosen statistics of
    its weights; with the default 7 statistics of the paper (W_L features, Unterthiner et al.
    2020) this gives 56 features for the Small CNN Zoo CNN. With ``per_layer=False`` the
    statistics are computed once over all selected weights (the paper's W-bar features).

    Quantiles equal ``np.quantile(w, q)`` (method ``"linear"``) exactly: each tensor block is
    partitioned once per chunk at the needed order statistics and interpolated as numpy does.
    Sums are accumulated in float64. With float64 output (``dtype=np.float64`` or float64 X) mean
    and variance agree with numpy's float64 results to ~1e-15 relative; with float32
    output the variance is summed from float32 deviations (relative error < 2e-7, i.e. float32
    rounding; ``np.var`` on float32 accumulates in float32 and is off by ~1e-6). Quantiles are
    exact in both cases. Output is float32 for float32 input unless ``dtype`` is given.

    The cost is dominated by finding the order statistics of each tensor block: row minima and
    maxima for q0 and q100, a row-wise sort for narrow tensors, and an exact radix select
    (``skweights.features._order``, ~2x faster than the sort) for tensors of 1024 weights or
    more.

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` infers a one-tensor layout named ``weights`` from X's width
        at fit (so the transformer runs on arbitrary matrices, e.g. in scikit-learn's checks).
    statistics : tuple of str, default=("mean", "var", "q0", "q25", "q50", "q75", "q100")
        ``"mean"``, ``"var"``, ``"std"`` (the released colab uses std) or ``"q<p>"`` for the
        p-th percentile, ``0 <= p <= 100``.
    layers : list of str or None, default=None
        Layers to describe (``None``: all).
    kinds : list of str or None, default=None
        Tensor kinds to describe, e.g. ``["kernel"]`` (``None``: all).
    per_layer : bool, default=True
        True: statistics per tensor. False: statistics over all selected weights at once.
    ddof : int, default=0
        Delta degrees of freedom of ``"var"`` and ``"std"``: the sum of squared deviations is
        divided by ``n - ddof`` for a tensor of ``n`` weights, as in ``np.var(w, ddof=ddof)``.
        0 (divide by ``n``) is the paper's colab (``np.var``/``np.std``); 1 (divide by ``n - 1``)
        is ``torch.var``'s default and thereby NFN's ``StatFeaturizer``. Every described tensor
        (or the pooled weights with ``per_layer=False``) must have more than ``ddof`` weights.
    chunk_size : int or None, default=None
        Rows processed at a time (``None``: 512). Memory use is a small multiple of one chunk.
    n_jobs : int or None, default=None
        Threads over row chunks (numpy releases the GIL while partitioning and summing).
    dtype : numpy dtype or None, default=None
        Output dtype; ``None`` keeps X's float dtype (integers become float64).
    handle_nonfinite : {"error", "propagate"}, default="error"
        "error" raises on NaN/inf in the selected tensors of X (in ``fit`` and ``transform``
        alike). "propagate" gives what numpy would: a tensor with a NaN has NaN for every
        statistic (as ``np.quantile`` and ``np.mean``), ±inf give ±inf or NaN by IEEE
        arithmetic.

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
    LayerNorms : L1/L2 norms per tensor.
    LayerSelector : raw weights of chosen layers.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.features import LayerStatistics
    >>> layout = Layout.small_cnn_zoo()
    >>> X = np.random.default_rng(0).normal(size=(5, layout.n_params)).astype(np.float32)
    >>> stats = LayerStatistics(layout).fit(X)
    >>> stats.transform(X).shape
    (5, 56)
    >>> stats.get_feature_names_out()[:3].tolist()
    ['conv2d/bias:mean', 'conv2d/bias:var', 'conv2d/bias:q0']
    >>> LayerStatistics(layout, per_layer=False, statistics=("std", "q50")).fit_transform(X).shape
    (5, 2)
    """

    _parameter_constraints: dict = {
        **LayoutTransformer._parameter_constraints,
        "statistics": [tuple, list],
        "layers": [list, tuple, str, None],
        "kinds": [list, tuple, str, None],
        "per_layer": ["boolean"],
        "ddof": [Interval(Integral, 0, None, closed="left")],
        "dtype": [type, str, np.dtype, None],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        statistics: tuple[str, ...] = PAPER_STATISTICS,
        layers: list[str] | None = None,
        kinds: list[str] | None = None,
        per_layer: bool = True,
        ddof: int = 0,
        chunk_size: int | None = None,
        n_jobs: int | None = None,
        dtype=None,
        handle_nonfinite: str = "error",
    ):
        self.layout = layout
        self.statistics = statistics
        self.layers = layers
        self.kinds = kinds
        self.per_layer = per_layer
        self.ddof = ddof
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.handle_nonfinite = handle_nonfinite

    def _plan(self, layout: Layout) -> list[str]:
        stats = list(self.statistics)
        if not stats:
            raise ValueError("statistics is empty; expected at least one, e.g. ('mean',)")
        if len(set(stats)) != len(stats):
            raise ValueError(f"statistics has duplicates: {stats}")
        fractions = [parse_statistic(s) for s in stats]
        selected = layout.select(self.layers, self.kinds)  # validates names
        columns = layout.columns(self.layers, self.kinds)
        if self.per_layer:
            groups = [(e.short_name, layout[e.name].slice) for e in selected]
        else:
            contiguous = columns[-1] - columns[0] + 1 == len(columns)
            cols = slice(int(columns[0]), int(columns[-1]) + 1) if contiguous else columns
            groups = [("all", cols)]
        qs = [f for f in fractions if f is not None]
        self._stats = stats
        self._groups = []
        for label, cols in groups:
            n = cols.stop - cols.start if isinstance(cols, slice) else len(cols)
            if n <= self.ddof and ("var" in stats or "std" in stats):
                raise ValueError(
                    f"ddof={self.ddof} needs more than {self.ddof} weights per described "
                    f"tensor, but {label} has {n}"
                )
            self._groups.append((label, cols, _QuantilePlan.make(n, qs) if qs else None))
        return [f"{label}:{s}" for label, _, _ in self._groups for s in stats]

    def _transform_rows(self, X, rows: slice, out: np.ndarray) -> None:
        k = len(self._stats)
        propagate = self.handle_nonfinite == "propagate"
        with np.errstate(invalid="ignore"):  # NaN/inf only get here with "propagate"
            for g, (label, cols, qplan) in enumerate(self._groups):
                self._describe(X, rows, out, g, label, cols, qplan, k, propagate)

    def _describe(self, X, rows, out, g, label, cols, qplan, k, propagate) -> None:
        """Fill the ``k`` output columns of group ``g`` for ``X[rows]``."""
        block = X[rows, cols]  # a view for slices: nothing below writes to it
        n = block.shape[1]
        total = np.sum(block, axis=1, dtype=np.float64)
        if not propagate:
            bad = ~np.isfinite(total)
            if bad.any():
                raise_nonfinite(rows, bad, f"tensor {label}")
        values = {"mean": total / n}
        if "var" in self._stats or "std" in self._stats:
            if out.dtype == np.float32 and block.dtype == np.float32:
                # float32 deviations, squares summed in float64: relative error < 2e-7
                dev = block - values["mean"].astype(np.float32)[:, None]
                np.square(dev, out=dev)
                values["var"] = np.sum(dev, axis=1, dtype=np.float64) / (n - self.ddof)
            else:
                dev = np.subtract(block, values["mean"][:, None], dtype=np.float64)
                values["var"] = np.einsum("ij,ij->i", dev, dev) / (n - self.ddof)
            values["std"] = np.sqrt(values["var"])
        if qplan is not None:
            quantiles = qplan(order_statistics(block, qplan.kth))
            if propagate:  # rows with NaN/inf: whatever np.quantile gives (NaN, inf, ...)
                bad = np.flatnonzero(~np.isfinite(total))
                if bad.size:
                    quantiles[bad] = np.quantile(block[bad], qplan.qs, axis=1).T
            q_iter = iter(quantiles.T)
        dest = out[rows, g * k : (g + 1) * k]
        for j, s in enumerate(self._stats):
            dest[:, j] = values[s] if s in values else next(q_iter)
