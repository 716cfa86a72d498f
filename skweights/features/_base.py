"""Shared machinery of the weight-space transformers: validation of X against a layout, chunking.

Every transformer here reads X in blocks of ``chunk_size`` rows and writes into a preallocated
output, so a memory-mapped ``weights.npy`` of the full released zoo (270k x 4970 float32, 5.4 GB)
is never loaded at once. Finiteness is checked per chunk as a by-product of a float64 row sum
(a float64 sum of float32 values is finite exactly when every value is finite), so checking costs
no extra memory.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ..layout import Layout

#: Rows per chunk unless the user says otherwise: 512 x 4970 float32 is 10 MB, so a chunk and
#: its float64 temporaries stay in cache (measured fastest in benchmarks/bench_features.py).
DEFAULT_CHUNK_SIZE = 512

#: Name of the single tensor of the layout inferred when ``layout=None``.
INFERRED_TENSOR = "weights"


def infer_layout(n_features: int) -> Layout:
    """One-tensor layout ``weights`` of ``n_features`` columns (used when ``layout=None``)."""
    return Layout.from_shapes([(INFERRED_TENSOR, (n_features,))])


def row_chunks(n_rows: int, chunk_size: int | None) -> list[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows (one slice if ``None``)."""
    step = max(1, n_rows if chunk_size is None else int(chunk_size))
    return [slice(i, min(i + step, n_rows)) for i in range(0, max(n_rows, 1), step)]


def run_chunks(func, n_rows: int, chunk_size: int | None, n_jobs: int | None) -> None:
    """Call ``func(rows)`` for every row chunk, in threads if ``n_jobs`` asks for it.

    numpy's sort, partition and reductions release the GIL, so threads parallelise them without
    copying (or pickling a memory map of) X.
    """
    chunks = row_chunks(n_rows, chunk_size)
    if n_jobs in (None, 1) or len(chunks) == 1:
        for rows in chunks:
            func(rows)
    else:
        Parallel(n_jobs=n_jobs, prefer="threads")(delayed(func)(rows) for rows in chunks)


def raise_nonfinite(rows: slice, bad: np.ndarray, where: str) -> None:
    """Raise the error for non-finite values found in ``X[rows]`` (``bad`` is a row mask).

    The row named is the first bad one of this check (one tensor of one chunk for the feature
    transformers), not necessarily the first bad row of X: no extra pass is made to find it.
    """
    first = rows.start + int(np.flatnonzero(bad)[0])
    raise ValueError(
        f"X contains NaN or infinity (row {first}, {where}); pass "
        "handle_nonfinite='propagate' to compute features anyway, or drop those rows "
        "(load_zoo(drop_nonfinite=True))"
    )


class LayoutTransformer(TransformerMixin, BaseEstimator):
    """Base class: validates X against ``layout``, chunks rows, names output features.

    Subclasses implement ``_plan(layout)`` (returns the output feature names and stores whatever
    the transform needs) and ``_transform_rows(X, rows, out)`` (fills ``out[rows]``).
    """

    _parameter_constraints: dict = {
        "layout": [Layout, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "handle_nonfinite": [StrOptions({"error", "propagate"})],
    }

    #: Output dtype is X's float dtype unless a subclass has a ``dtype`` parameter.
    def _out_dtype(self, X: np.ndarray) -> np.dtype:
        dtype = getattr(self, "dtype", None)
        return np.dtype(X.dtype if dtype is None else dtype)

    def _check_dtype(self) -> None:
        """A ``dtype`` parameter must name a real floating dtype (statistics are not integers)."""
        dtype = getattr(self, "dtype", None)
        if dtype is None:
            return
        try:
            got = np.dtype(dtype)
        except TypeError:
            got = None
        if got is None or got.kind != "f":
            raise ValueError(
                "dtype must be a real floating dtype such as np.float32 or np.float64, got "
                f"{got.name if got is not None else repr(dtype)}"
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.handle_nonfinite == "propagate"
        if getattr(self, "dtype", None) is None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -------------------------------------------------------------- validation
    def _validate_X(self, X, reset: bool) -> np.ndarray:
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
        )
        if reset:
            self._check_dtype()
            layout = self.layout if self.layout is not None else infer_layout(X.shape[1])
            if X.shape[1] != layout.n_params:
                raise ValueError(
                    f"X has {X.shape[1]} columns but the layout describes "
                    f"{layout.n_params} parameters"
                )
            self.layout_in_ = layout
        return X

    def _check_finite(self, X: np.ndarray) -> None:
        if self.handle_nonfinite == "propagate":
            return

        columns = self._input_columns()

        def check(rows: slice) -> None:
            block = X[rows] if columns is None else X[rows][:, columns]
            sums = np.sum(block, axis=1, dtype=np.float64)
            bad = ~np.isfinite(sums)
            if bad.any():
                raise_nonfinite(rows, bad, "found while fitting")

        run_chunks(check, X.shape[0], self._chunk_size(), self.n_jobs)

    def _input_columns(self) -> np.ndarray | None:
        """Columns of X the output depends on (``None``: all), the ones ``fit`` checks for NaN/inf.

        ``fit`` must refuse exactly what ``transform`` refuses, so NaN/inf in the weights of a
        layer that is not selected (``layers``/``kinds``) is ignored by both.
        """
        layers, kinds = getattr(self, "layers", None), getattr(self, "kinds", None)
        if layers is None and kinds is None:
            return None
        return self.layout_in_.columns(layers, kinds)

    def _chunk_size(self) -> int:
        return DEFAULT_CHUNK_SIZE if self.chunk_size is None else self.chunk_size

    def _setup(self) -> None:
        names = self._plan(self.layout_in_)
        self._feature_names_out = np.asarray(names, dtype=object)

    # -------------------------------------------------------------- public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X against the layout (and for NaN/inf unless ``handle_nonfinite="propagate"``).

        Parameters
        ----------
        X : array-like of shape (n_networks, n_params)
            Flattened weights, one network per row; may be a memory map.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X = self._validate_X(X, reset=True)
        self._setup()
        self._check_finite(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform in one pass over X (see ``fit`` and ``transform``).

        Parameters
        ----------
        X : array-like of shape (n_networks, n_params)
            Flattened weights, one network per row.
        y : None
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_networks, n_features_out)
            The features.
        """
        X = self._validate_X(X, reset=True)
        self._setup()
        return self._transform_validated(X)

    def transform(self, X):
        """Compute the features of each row of X, chunk by chunk.

        Parameters
        ----------
        X : array-like of shape (n_networks, n_params)
            Flattened weights, one network per row; may be a memory map.

        Returns
        -------
        X_new : ndarray of shape (n_networks, n_features_out)
            The features; float32 input gives float32 output unless ``dtype`` says otherwise.
        """
        check_is_fitted(self, "layout_in_")
        X = self._validate_X(X, reset=False)
        return self._transform_validated(X)

    def _transform_validated(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], len(self._feature_names_out)), dtype=self._out_dtype(X))

        def fill(rows: slice) -> None:
            self._transform_rows(X, rows, out)
            if self.handle_nonfinite == "error":
                self._check_overflow(out, rows)

        run_chunks(fill, X.shape[0], self._chunk_size(), self.n_jobs)
        return out

    def _check_overflow(self, out: np.ndarray, rows: slice) -> None:
        """Finite input must give finite features: refuse a value too large for ``out.dtype``.

        Runs after ``_transform_rows`` has refused non-finite input, so anything non-finite
        here is an overflow (e.g. the L1 norm of large float32 weights cast back to float32).
        """
        bad = ~np.isfinite(out[rows])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            wider = "dtype=np.float64 or " if hasattr(self, "dtype") else ""
            raise ValueError(
                f"feature {self._feature_names_out[col]} of row {rows.start + row} overflows "
                f"{out.dtype} (finite weights, infinite feature); pass {wider}"
                "handle_nonfinite='propagate'"
            )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None
            Only checked against the names seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "layout_in_")
        _check_feature_names_in(self, input_features, generate_names=False)
        return self._feature_names_out.copy()

    # -------------------------------------------------------------- subclass hooks
    def _plan(self, layout: Layout) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_rows(self, X, rows: slice, out: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError
