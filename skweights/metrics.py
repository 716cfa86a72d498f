"""Metrics for accuracy predictors: rank correlation and prediction sensitivity.

The paper reports R² (``sklearn.metrics.r2_score``, which is also every regressor's ``score``),
Kendall's rank correlation τ between predicted and true accuracies (Table 4 and the transfer
experiments), and the mean absolute difference (MAD) between the predictions for original and
modified weights (Table 9, the permutation and scale sensitivity study).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import make_scorer
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils._param_validation import validate_params

__all__ = ["kendall_tau", "kendall_tau_scorer", "mean_absolute_difference"]


def _check_pair(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-d float arrays of the same length, with errors naming the arguments."""
    a = column_or_1d(np.asarray(a, dtype=np.float64))
    b = column_or_1d(np.asarray(b, dtype=np.float64))
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, "
            f"got {a.shape[0]} and {b.shape[0]}"
        )
    check_consistent_length(a, b)
    if a.shape[0] == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty; expected at least one value")
    for name, values in zip(names, (a, b)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or infinity; expected finite values")
    return a, b


@validate_params(
    {"y_true": ["array-like"], "y_pred": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def kendall_tau(y_true, y_pred) -> float:
    """Kendall's rank correlation τ-b between true and predicted values.

    τ-b (``scipy.stats.kendalltau`` with ``variant="b"``) counts concordant minus discordant
    pairs and corrects for ties, so it measures how well the predictor *ranks* networks by
    accuracy, independently of any monotone rescaling of the predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True values (e.g. test accuracies).
    y_pred : array-like of shape (n_samples,)
        Predicted values.

    Returns
    -------
    tau : float
        In ``[-1, 1]``. Policy for degenerate input: if either array is constant (every pair is
        tied), τ is undefined and ``0.0`` is returned, the value of an uninformative ranking (a
        constant predictor); fewer than two samples raise ``ValueError``.

    Raises
    ------
    ValueError
        If the lengths differ, there are fewer than two samples, or a value is not finite.

    See Also
    --------
    kendall_tau_scorer : The same metric as a scorer for ``cross_val_score`` / ``GridSearchCV``.

    Examples
    --------
    >>> from skweights.metrics import kendall_tau
    >>> round(kendall_tau([0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 0.8, 0.9]), 4)
    0.6667
    >>> kendall_tau([0.1, 0.5, 0.9], [0.3, 0.3, 0.3])
    0.0
    """
    y_true, y_pred = _check_pair(y_true, y_pred, ("y_true", "y_pred"))
    if y_true.shape[0] < 2:
        raise ValueError(
            f"kendall_tau needs at least 2 samples to form a pair, got {y_true.shape[0]}"
        )
    if np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return 0.0
    return float(stats.kendalltau(y_true, y_pred, variant="b").statistic)


#: ``kendall_tau`` as a scorer (greater is better), e.g.
#: ``cross_val_score(model, X, y, scoring=kendall_tau_scorer)``.
kendall_tau_scorer = make_scorer(kendall_tau, greater_is_better=True)


@validate_params(
    {"pred_original": ["array-like"], "pred_modified": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def mean_absolute_difference(pred_original, pred_modified) -> float:
    """Mean absolute difference (MAD) between two predictions for the same networks.

    The paper's sensitivity measure (Table 9): for a predictor ``F`` and a weight modification
    ``φ`` (a scaling or a permutation), ``mean |F(φ(W)) - F(W)|`` over test networks ``W``.

    Parameters
    ----------
    pred_original : array-like of shape (n_samples,)
        Predictions for the original weights.
    pred_modified : array-like of shape (n_samples,)
        Predictions for the modified weights, in the same row order.

    Returns
    -------
    mad : float
        Non-negative; ``0.0`` when the predictor is invariant to the modification.

    Examples
    --------
    >>> from skweights.metrics import mean_absolute_difference
    >>> round(mean_absolute_difference([0.5, 0.8], [0.6, 0.7]), 4)
    0.1
    """
    a, b = _check_pair(pred_original, pred_modified, ("pred_original", "pred_modified"))
    return float(np.mean(np.abs(a - b)))
