"""Accuracy predictors of the paper (appendix A.3) as scikit-learn regressors.

``LogitLinearRegressor`` needs only numpy/scipy. ``WeightMLP`` trains a Keras 3 network, but
Keras is imported only when it is fitted or unpickled, so ``import skweights.models`` stays light.
``NeuralFunctionalRegressor`` (beyond the paper: a hidden-neuron-permutation equivariant network
on the raw weights, NFN-HNP) imports JAX only in ``fit`` and ``predict``.
``PermutationAugmentedRegressor`` trains any regressor on randomly hidden-neuron-permuted copies
of the training networks as well (data augmentation for models that are not invariant).
The paper's third predictor, gradient boosting, is ``lightgbm.LGBMRegressor`` used directly, or
``EarlyStoppingLGBMRegressor`` (imported on first use) which early-stops on a validation fraction
carved from its training data.
"""

from ._augment import PermutationAugmentedRegressor
from ._logit_linear import LogitLinearRegressor
from ._mlp import WeightMLP
from ._nfn import NeuralFunctionalRegressor
from ._nfn_structure import hidden_neuron_permutation, random_hidden_neuron_permutations

__all__ = [
    "EarlyStoppingLGBMRegressor",
    "LogitLinearRegressor",
    "NeuralFunctionalRegressor",
    "PermutationAugmentedRegressor",
    "WeightMLP",
    "hidden_neuron_permutation",
    "random_hidden_neuron_permutations",
]


def __getattr__(name: str):
    if name == "EarlyStoppingLGBMRegressor":
        from ._gbm import EarlyStoppingLGBMRegressor

        return EarlyStoppingLGBMRegressor
    raise AttributeError(f"module 'skweights.models' has no attribute {name!r}")
