"""Conformal prediction intervals around any skweights predictor, with MAPIE.

`ConformalPredictor` wraps a regressor (e.g. a Pipeline of
:func:`skweights.predictor.make_predictor`) in MAPIE's cross-conformal regressor (CV+, the
jackknife+ of K folds): ``fit`` fits the regressor on all rows and on ``cv`` folds, and
calibrates the intervals on the out-of-fold residuals of those same rows. Only the rows given to
``fit`` (the training networks) are used.
MAPIE is imported inside ``fit``, so ``import skweights`` stays light.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["ConformalPredictor", "interval_coverage"]


def _levels(confidence_level) -> tuple[float, ...]:
    levels = np.atleast_1d(np.asarray(confidence_level, dtype=float)).ravel()
    if levels.size == 0 or not np.all((levels > 0) & (levels < 1)):
        raise ValueError(f"confidence_level must be numbers in (0, 1), got {confidence_level!r}")
    return tuple(float(v) for v in levels)


class ConformalPredictor(RegressorMixin, BaseEstimator):
    """A regressor with cross-conformal prediction intervals (MAPIE ``CrossConformalRegressor``).

    Parameters
    ----------
    estimator : regressor, default=None
        Regressor to wrap (cloned). ``None``: ``sklearn.linear_model.LinearRegression``.
    confidence_level : float or sequence of float, default=(0.8, 0.9)
        Confidence level(s) in (0, 1) calibrated by ``fit``; :meth:`predict_interval` can
        return any of them.
    cv : int or cross-validation generator, default=5
        Folds whose out-of-fold residuals calibrate the intervals (an int: shuffled
        ``KFold`` seeded by ``random_state``).
    method : {"plus", "base", "minmax"}, default="plus"
        MAPIE's cross-conformal method (``"plus"``: CV+, the jackknife+ of K folds).
    random_state : int, RandomState instance or None, default=None
        Seed of the folds.

    Attributes
    ----------
    conformal_ : mapie.regression.CrossConformalRegressor
        The fitted and conformalized MAPIE object.
    confidence_levels_ : tuple of float
        The calibrated confidence levels.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    See Also
    --------
    interval_coverage : fraction of true values inside their intervals.
    skweights.plotting.plot_prediction_intervals : intervals against true accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = X @ [1.0, 2.0, 0.0] + rng.normal(size=200)
    >>> model = ConformalPredictor(confidence_level=0.9, random_state=0).fit(X, y)
    >>> lower, upper = model.predict_interval(X[:2]).T
    >>> bool(np.all(lower < model.predict(X[:2]))), bool(np.all(upper > model.predict(X[:2])))
    (True, True)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "confidence_level": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "method": [StrOptions({"plus", "base", "minmax"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self, estimator=None, confidence_level=(0.8, 0.9), cv=5, method="plus", random_state=None
    ) -> None:
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.cv = cv
        self.method = method
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y) -> ConformalPredictor:
        """Fit the regressor on all rows and on each fold; calibrate on out-of-fold residuals.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : ConformalPredictor
        """
        from mapie.regression import CrossConformalRegressor
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import KFold

        levels = _levels(self.confidence_level)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=(np.float64, np.float32))
        estimator = LinearRegression() if self.estimator is None else clone(self.estimator)
        cv = self.cv
        if isinstance(cv, Integral):
            if cv > len(y):
                raise ValueError(f"cv={cv} folds need as many samples, got n_samples={len(y)}")
            cv = KFold(n_splits=int(cv), shuffle=True, random_state=self.random_state)
        self.conformal_ = CrossConformalRegressor(
            estimator=estimator,
            confidence_level=list(levels),
            method=self.method,
            cv=cv,
            random_state=self.random_state,
        ).fit_conformalize(X, y)
        self.confidence_levels_ = levels
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions of the regressor fitted on all rows of ``fit``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.conformal_.predict(X, aggregate_point_predictions=None)

    def predict_interval(self, X, confidence_level: float | None = None) -> np.ndarray:
        """Prediction intervals ``(lower, upper)`` at one of the calibrated levels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        confidence_level : float, default=None
            One of ``confidence_levels_``; ``None``: the first of them.

        Returns
        -------
        intervals : ndarray of shape (n_samples, 2)
            Lower and upper bounds.
        """
        check_is_fitted(self)
        levels = self.confidence_levels_
        level = levels[0] if confidence_level is None else float(confidence_level)
        matches = [i for i, v in enumerate(levels) if np.isclose(v, level)]
        if not matches:
            raise ValueError(
                f"the intervals were calibrated for confidence levels {list(levels)}, got "
                f"{confidence_level!r}; refit with that level in confidence_level"
            )
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        _, intervals = self.conformal_.predict_interval(X, aggregate_point_predictions=None)
        return np.asarray(intervals[:, :, matches[0]], dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # the default linear model on the checks' data
        return tags


def interval_coverage(y_true, intervals) -> float:
    """Fraction of ``y_true`` inside ``[lower, upper]`` (``intervals`` of shape (n, 2)).

    Examples
    --------
    >>> interval_coverage([0.1, 0.5, 0.9], [[0.0, 0.2], [0.6, 0.7], [0.8, 1.0]])
    0.6666666666666666
    """
    y = np.asarray(y_true, dtype=float).ravel()
    bounds = np.asarray(intervals, dtype=float)
    if bounds.shape != (len(y), 2):
        raise ValueError(f"intervals must have shape ({len(y)}, 2), got {bounds.shape}")
    return float(np.mean((bounds[:, 0] <= y) & (y <= bounds[:, 1])))
