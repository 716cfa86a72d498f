"""LightGBM regressor that early-stops on a validation split carved from its own training data.

The released colab of the paper passed the *test* split as LightGBM's ``eval_set``, so the number
of boosting rounds was chosen on test data. `EarlyStoppingLGBMRegressor` never sees anything but
the rows given to ``fit``: it holds out a seeded ``validation_fraction`` of them, boosts on the
rest and stops when the validation loss has not improved for ``stopping_rounds`` rounds. Inside
cross-validation (``cross_validate``, `skweights.search.WeightSearchCV`) every fold therefore
early-stops on a slice of that fold's training part, never on its test part.
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

import lightgbm
import numpy as np
from lightgbm import LGBMModel, LGBMRegressor
from sklearn.base import _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing, check_consistent_length, check_X_y
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, _check_y, _num_samples

__all__ = ["EarlyStoppingLGBMRegressor"]

#: Parameters of this class that are not LightGBM parameters (never passed to the booster).
_OWN_PARAMS = ("validation_fraction", "stopping_rounds")


def _eval_kwargs(X_val, y_val) -> dict:
    """The validation set as ``eval_X``/``eval_y`` (LightGBM >= 4.7) or ``eval_set`` (older)."""
    if "eval_X" in inspect.signature(LGBMModel.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,)}
    return {"eval_set": [(X_val, y_val)]}


class EarlyStoppingLGBMRegressor(LGBMRegressor):
    """LightGBM regressor that early-stops on a held-out slice of its training data.

    ``fit(X, y)`` splits the rows of ``X`` into a boosting part and a validation part
    (``validation_fraction`` of the rows, drawn with ``random_state``), boosts on the first
    and passes the second as LightGBM's ``eval_set`` with a
    ``lightgbm.early_stopping(stopping_rounds)`` callback. ``predict`` uses the best iteration.

    Every other keyword is a `lightgbm.LGBMRegressor` parameter (``num_leaves``,
    ``learning_rate``, ``subsample``, ``max_bin``, ...), so the GBM search space of
    `skweights.search.gbm_space` applies unchanged.

    Parameters
    ----------
    validation_fraction : float, default=0.1
        Fraction of the rows passed to ``fit`` held out for early stopping, in ``(0, 1)``. At
        least one row is held out and at least one row is kept for boosting.
    stopping_rounds : int, default=50
        Stop when the validation loss has not improved for this many boosting rounds.
    n_estimators : int, default=1000
        Maximum number of boosting rounds (LightGBM's own default, 100, is low once early
        stopping decides the actual number).
    verbose : int, default=-1
        LightGBM verbosity; ``-1`` silences its warnings such as "No further splits".
    **kwargs
        Any other `lightgbm.LGBMRegressor` parameter. ``random_state`` also seeds the
        validation split (``None``: a different split on each fit).

    Attributes
    ----------
    best_iteration_ : int
        Boosting round with the best validation loss (1-based, as in LightGBM).
    validation_indices_ : ndarray of shape (n_validation,)
        Positions, among the rows passed to ``fit``, of the rows held out for early stopping.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    lightgbm.LGBMRegressor : The wrapped estimator.
    skweights.search.WeightSearchCV : Cross-validated search with the paper's GBM space.

    Notes
    -----
    LightGBM keeps one histogram per leaf without a bound by default: about ``num_leaves ×
    n_features × max_bin × 16`` bytes. On raw weights that is large: 17 GiB for 859 leaves on
    the 4,970 weights of a Small CNN Zoo network (18.7 GB resident, measured). Pass
    ``histogram_pool_size`` (MB) to bound it when searching large ``num_leaves`` on raw
    weights; LightGBM then recomputes evicted histograms instead of subtracting them (slower;
    the same trees up to floating-point rounding).

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.models._gbm import EarlyStoppingLGBMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=200)
    >>> model = EarlyStoppingLGBMRegressor(n_estimators=500, stopping_rounds=10, random_state=0)
    >>> model = model.fit(X, y)
    >>> model.validation_indices_.shape
    (20,)
    >>> bool(model.best_iteration_ < 500)
    True
    """

    _parameter_constraints: dict = {
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "stopping_rounds": [Interval(Integral, 1, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        validation_fraction: float = 0.1,
        stopping_rounds: int = 50,
        n_estimators: int = 1000,
        verbose: int = -1,
        **kwargs,
    ) -> None:
        super().__init__(n_estimators=n_estimators, verbose=verbose, **kwargs)
        self.validation_fraction = validation_fraction
        self.stopping_rounds = stopping_rounds

    def _process_params(self, stage: str) -> dict:
        # Our own parameters are not LightGBM parameters: keep them away from the booster.
        params = super()._process_params(stage)
        for name in _OWN_PARAMS:
            params.pop(name, None)
        return params

    def _split_seed(self) -> int | np.random.RandomState | None:
        random_state = self.random_state
        if isinstance(random_state, np.random.Generator):
            return int(random_state.integers(np.iinfo(np.int32).max))
        return random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **fit_params) -> EarlyStoppingLGBMRegressor:
        """Boost on part of ``X`` and early-stop on the held-out rest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, split like the rows (the validation part weights the early-stopping
            loss).
        **fit_params
            Passed on to `lightgbm.LGBMRegressor.fit` (``callbacks`` are appended to the early
            stopping callback). ``eval_set`` is not allowed: the validation set is carved from
            ``X``.

        Returns
        -------
        self : EarlyStoppingLGBMRegressor
            Fitted estimator.
        """
        for key in ("eval_set", "eval_X", "eval_y", "eval_sample_weight"):
            if fit_params.get(key) is not None:
                raise ValueError(
                    f"{type(self).__name__} carves its validation set from X; expected no "
                    f"{key!r} fit parameter, got one"
                )
        if hasattr(X, "iloc"):  # a DataFrame: LightGBM keeps its column names and dtypes
            y = _check_y(y, y_numeric=True)
            check_consistent_length(X, y)
        else:
            X, y = check_X_y(
                X,
                y,
                accept_sparse=("csr", "csc"),
                dtype=(np.float64, np.float32),
                ensure_all_finite="allow-nan",
                y_numeric=True,
            )
        n_samples = _num_samples(X)
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to hold out a validation "
                f"row, got n_samples={n_samples}"
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        n_validation = min(max(1, math.ceil(self.validation_fraction * n_samples)), n_samples - 1)
        train_idx, val_idx = train_test_split(
            np.arange(n_samples), test_size=n_validation, random_state=self._split_seed()
        )
        val_idx = np.sort(val_idx)
        train_idx = np.sort(train_idx)
        X_train, X_val = _safe_indexing(X, train_idx), _safe_indexing(X, val_idx)
        y_train, y_val = _safe_indexing(y, train_idx), _safe_indexing(y, val_idx)
        w_train = w_val = None
        if sample_weight is not None:
            w_train = _safe_indexing(sample_weight, train_idx)
            w_val = [_safe_indexing(sample_weight, val_idx)]
        callbacks = [lightgbm.early_stopping(self.stopping_rounds, verbose=False)]
        callbacks += list(fit_params.pop("callbacks", None) or [])
        super().fit(
            X_train,
            y_train,
            sample_weight=w_train,
            **_eval_kwargs(X_val, y_val),
            eval_sample_weight=w_val,
            callbacks=callbacks,
            **fit_params,
        )
        self.validation_indices_ = val_idx
        return self

    def predict(self, X, **kwargs):
        """Predict with the best iteration; a DataFrame's columns are matched by name.

        LightGBM itself reads a DataFrame's columns by position, so a DataFrame with the
        training columns in another order would be predicted silently wrong: its columns are
        put back in the order of ``feature_names_in_``; other names raise a ``ValueError``.
        """
        return super().predict(self._align_columns(X), **kwargs)

    def _align_columns(self, X):
        names = getattr(self, "feature_names_in_", None)
        if names is None or not hasattr(X, "columns"):
            return X
        columns = [str(c) for c in X.columns]
        expected = [str(n) for n in names]
        if columns == expected:
            return X
        missing = [n for n in expected if n not in set(columns)]
        extra = [c for c in columns if c not in set(expected)]
        if missing or extra:
            raise ValueError(
                f"X has columns that differ from those seen in fit: missing {missing[:5]}, "
                f"unexpected {extra[:5]} (expected the {len(expected)} feature_names_in_)"
            )
        return X.set_axis(columns, axis=1)[expected]
