"""The paper's logit-linear accuracy predictor: ``sigmoid(<w, x> + b)`` fitted on squared error.

Paper appendix A.3: "We use a logit-linear (instead of plain linear) model because the targets
(test accuracies) are in [0, 1]". The objective is smooth, so the default solver minimises it
exactly with L-BFGS and an analytic gradient (deterministic); ``solver="adam"`` trains it with
seeded mini-batch Adam, as the paper did.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy import optimize
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["LogitLinearRegressor"]


def resolve_output_range(output_range, y: np.ndarray) -> tuple[float, float]:
    """The interval ``(low, high)`` that the sigmoid output is mapped onto.

    ``"auto"`` learns ``[min(y), max(y)]`` (widened to width 1 if ``y`` is constant); a pair
    ``(low, high)`` is checked and every target must lie inside it (inclusive).
    """
    if isinstance(output_range, str):  # "auto", the only string the constraints allow
        low, high = float(np.min(y)), float(np.max(y))
        if high == low:
            low, high = low - 0.5, high + 0.5
        return low, high
    if len(output_range) != 2:
        raise ValueError(
            f"output_range must be 'auto' or a pair (low, high), got {len(output_range)} values"
        )
    low, high = float(output_range[0]), float(output_range[1])
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(
            f"output_range must be a finite pair with low < high, got ({low}, {high})"
        )
    y_min, y_max = float(np.min(y)), float(np.max(y))
    if y_min < low or y_max > high:
        raise ValueError(
            f"y has values outside output_range=({low}, {high}): min {y_min:.6g}, "
            f"max {y_max:.6g}. A sigmoid output cannot reach them; pass "
            "output_range='auto' to map the output onto [min(y), max(y)]."
        )
    return low, high


def standardization(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales (1 for constant columns, or everywhere if not ``standardize``)."""
    if not standardize:
        return np.zeros(X.shape[1]), np.ones(X.shape[1])
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    return mean, scale


def objective(params: np.ndarray, X: np.ndarray, t: np.ndarray, alpha: float, fit_intercept):
    """``mean((sigmoid(X w + b) - t)**2) + alpha * ||w||**2`` and its gradient in ``(w, b)``.

    ``params`` is ``w`` followed by ``b`` (``b`` is held at 0 if not ``fit_intercept``).
    """
    w, b = params[:-1], params[-1]
    p = expit(X @ w + b)
    r = p - t
    loss = float(np.mean(r**2) + alpha * (w @ w))
    g = (2.0 / t.shape[0]) * r * p * (1.0 - p)
    grad = np.empty_like(params)
    grad[:-1] = X.T @ g + 2.0 * alpha * w
    grad[-1] = g.sum() if fit_intercept else 0.0
    return loss, grad


class LogitLinearRegressor(RegressorMixin, BaseEstimator):
    """Logit-linear regressor ``sigmoid(<w, x> + b)`` trained on squared error with an l2 penalty.

    The paper's linear accuracy predictor (Unterthiner et al. 2020, appendix A.3). The sigmoid
    output lies in ``(0, 1)``, the range of test accuracies; ``output_range`` maps it onto
    another interval. Fitting minimises, on standardised inputs ``z = (x - mean) / scale`` and
    targets ``t = (y - low) / (high - low)``::

        mean((sigmoid(<w, z> + b) - t) ** 2) + alpha * ||w|| ** 2

    Parameters
    ----------
    alpha : float, default=1e-4
        l2 penalty on the weights ``w`` (not on the intercept), as in Keras' ``l2`` regulariser.
    solver : {"lbfgs", "adam"}, default="lbfgs"
        ``"lbfgs"`` minimises the objective with ``scipy.optimize.minimize`` and an analytic
        gradient (deterministic); ``"adam"`` runs mini-batch Adam seeded by ``random_state``.
    max_iter : int, default=1000
        L-BFGS iterations, or Adam epochs.
    tol : float, default=1e-6
        L-BFGS gradient tolerance, or for Adam the minimum improvement of the epoch loss over
        10 epochs before stopping.
    learning_rate : float, default=0.01
        Adam step size (ignored by ``"lbfgs"``).
    batch_size : int, default=128
        Adam mini-batch size (ignored by ``"lbfgs"``).
    fit_intercept : bool, default=True
        Whether to learn ``b``.
    standardize : bool, default=True
        Standardise each input column before fitting (the penalty then acts on standardised
        weights, like glmnet's ``standardize``). Network weights have tiny scales, so this keeps
        the problem well conditioned. ``coef_`` and ``intercept_`` are reported for the
        original inputs either way.
    output_range : "auto" or tuple of (float, float), default=(0.0, 1.0)
        Interval the sigmoid is mapped onto. With a pair, every ``y`` must lie inside it (a
        ``ValueError`` says otherwise); ``"auto"`` uses ``[min(y), max(y)]`` of the training
        targets, for targets that are not accuracies.
    random_state : int, RandomState instance or None, default=None
        Seeds Adam's initialisation and batch order (``"lbfgs"`` is deterministic).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Weights ``w`` for the original (unstandardised) inputs.
    intercept_ : float
        Intercept ``b`` for the original inputs.
    output_range_ : tuple of (float, float)
        The interval predictions are mapped onto.
    n_iter_ : int
        L-BFGS iterations or Adam epochs run.
    loss_ : float
        Final value of the objective.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, if ``X`` had string column names.

    See Also
    --------
    WeightMLP : The paper's fully-connected network predictor.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.models import LogitLinearRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = 1 / (1 + np.exp(-(X @ [1.0, -2.0, 0.5] + 0.3)))
    >>> model = LogitLinearRegressor(alpha=0.0).fit(X, y)
    >>> np.round(model.coef_, 3), round(model.intercept_, 3)
    (array([ 1. , -2. ,  0.5]), 0.3)
    >>> round(model.score(X, y), 4)
    1.0
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "solver": [StrOptions({"lbfgs", "adam"})],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "standardize": ["boolean"],
        "output_range": [StrOptions({"auto"}), tuple, list],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        alpha: float = 1e-4,
        *,
        solver: str = "lbfgs",
        max_iter: int = 1000,
        tol: float = 1e-6,
        learning_rate: float = 0.01,
        batch_size: int = 128,
        fit_intercept: bool = True,
        standardize: bool = True,
        output_range: str | tuple[float, float] = (0.0, 1.0),
        random_state=None,
    ):
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.output_range = output_range
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the weights and intercept.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (e.g. flattened weights or layer statistics).
        y : array-like of shape (n_samples,)
            Targets, inside ``output_range`` (e.g. test accuracies in ``[0, 1]``).

        Returns
        -------
        self : LogitLinearRegressor
            The fitted regressor.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        low, high = resolve_output_range(self.output_range, y)
        t = (y - low) / (high - low)
        mean, scale = standardization(X, self.standardize)
        if not self.fit_intercept:  # centring would reintroduce an intercept
            mean[:] = 0.0
        Z = (X - mean) / scale

        params = np.zeros(X.shape[1] + 1)
        if self.fit_intercept:
            m = np.clip(t.mean(), 1e-3, 1 - 1e-3)
            params[-1] = np.log(m / (1 - m))
        if self.solver == "lbfgs":
            params, self.loss_, self.n_iter_ = self._fit_lbfgs(params, Z, t)
        else:
            params, self.loss_, self.n_iter_ = self._fit_adam(params, Z, t)

        w, b = params[:-1], params[-1]
        self.coef_ = w / scale
        self.intercept_ = float(b - self.coef_ @ mean)
        self.output_range_ = (low, high)
        return self

    def _fit_lbfgs(self, params, Z, t):
        result = optimize.minimize(
            objective,
            params,
            args=(Z, t, self.alpha, self.fit_intercept),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-15},
        )
        if not result.success and result.nit >= self.max_iter:
            warnings.warn(
                f"L-BFGS did not converge in max_iter={self.max_iter} iterations "
                f"(gradient norm {np.linalg.norm(result.jac):.3g} > tol={self.tol}); "
                "increase max_iter or alpha.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return result.x, float(result.fun), int(result.nit)

    def _fit_adam(self, params, Z, t):
        rng = check_random_state(self.random_state)
        params[:-1] = rng.normal(scale=0.01, size=Z.shape[1])
        m, v = np.zeros_like(params), np.zeros_like(params)
        beta1, beta2, eps, step = 0.9, 0.999, 1e-7, 0
        n = Z.shape[0]
        losses = []
        for epoch in range(1, self.max_iter + 1):
            order = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                _, grad = objective(params, Z[idx], t[idx], self.alpha, self.fit_intercept)
                step += 1
                m = beta1 * m + (1 - beta1) * grad
                v = beta2 * v + (1 - beta2) * grad**2
                m_hat = m / (1 - beta1**step)
                v_hat = v / (1 - beta2**step)
                params = params - self.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
            losses.append(objective(params, Z, t, self.alpha, self.fit_intercept)[0])
            if epoch > 10 and losses[-11] - min(losses[-10:]) < self.tol:
                break
        return params, float(losses[-1]), epoch

    def predict(self, X) -> np.ndarray:
        """Predict ``low + (high - low) * sigmoid(X @ coef_ + intercept_)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predictions inside ``output_range_`` (in ``(0, 1)`` by default).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        low, high = self.output_range_
        return low + (high - low) * expit(X @ self.coef_ + self.intercept_)
