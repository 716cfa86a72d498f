"""Hidden-neuron permutations as data augmentation for models that are not invariant to them.

Permuting the hidden neurons of a network (`hidden_neuron_permutation`) gives a different row
of weights for the same function, hence the same test accuracy. A model on raw weights
(`WeightMLP`, a GBM) sees every such row as a new network; `PermutationAugmentedRegressor`
trains it on each training network plus ``n_copies`` randomly permuted copies, so it can learn
that the permutation does not matter (the equivariant `NeuralFunctionalRegressor` needs no
augmentation: it is invariant by construction).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..layout import Layout
from ._nfn_structure import random_hidden_neuron_permutations

__all__ = ["PermutationAugmentedRegressor"]


class PermutationAugmentedRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Fit a regressor on the training networks and randomly permuted copies of them.

    ``fit(X, y)`` stacks ``X`` with ``n_copies`` copies in which every row's hidden neurons
    are permuted at random (each hidden layer, each row and each copy independently, see
    `random_hidden_neuron_permutations`), repeats ``y`` accordingly and fits a clone of
    ``estimator`` on the result. ``predict`` is the fitted clone's, on the rows as given.

    The copies are placed after the original rows. An estimator that early-stops on a random
    validation fraction of its training rows (`WeightMLP`, `EarlyStoppingLGBMRegressor`) may
    then validate on permuted copies of networks it trains on.

    Parameters
    ----------
    estimator : regressor
        Any scikit-learn regressor on the flattened weights (e.g. a `Pipeline`).
    layout : Layout or None
        Column layout of X (a chain of layers, as for `NeuralFunctionalRegressor`). ``None``
        reads the columns as one dense layer with a single output: no hidden neurons, so the
        copies equal X (lets the estimator run on arbitrary matrices).
    n_copies : int, default=4
        Permuted copies per training network (``0`` fits on X alone).
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.

    Attributes
    ----------
    estimator_ : regressor
        The clone of ``estimator`` fitted on the augmented rows.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only if X had string column names.

    See Also
    --------
    hidden_neuron_permutation : the permutation of one layer's hidden neurons.
    NeuralFunctionalRegressor : invariant to these permutations by construction.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skweights.layout import Layout
    >>> from skweights.models import PermutationAugmentedRegressor
    >>> layout = Layout.from_shapes([("a/kernel", (2, 3)), ("b/kernel", (3, 1))])
    >>> X = np.random.default_rng(0).normal(size=(20, layout.n_params))
    >>> model = PermutationAugmentedRegressor(Ridge(), layout, n_copies=2, random_state=0)
    >>> model.fit(X, X.sum(axis=1)).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "layout": [Layout, None],
        "n_copies": [Interval(numbers.Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self, estimator, layout: Layout | None = None, *, n_copies: int = 4, random_state=None
    ):
        self.estimator = estimator
        self.layout = layout
        self.n_copies = n_copies
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit a clone of ``estimator`` on X, its permuted copies and the repeated targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)
            Flattened weights in ``layout``'s column order.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : PermutationAugmentedRegressor
        """
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64], y_numeric=True)
        layout = self.layout
        if layout is None:
            layout = Layout.from_shapes([("dense/kernel", (X.shape[1], 1))])
        elif X.shape[1] != layout.n_params:
            raise ValueError(
                f"X has {X.shape[1]} columns but the layout describes {layout.n_params} parameters"
            )
        rng = check_random_state(self.random_state)
        copies = [random_hidden_neuron_permutations(layout, X, rng) for _ in range(self.n_copies)]
        self.estimator_ = clone(self.estimator).fit(
            np.vstack([X, *copies]), np.tile(y, self.n_copies + 1)
        )
        return self

    def predict(self, X) -> np.ndarray:
        """Predict with the fitted clone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return self.estimator_.predict(X)
