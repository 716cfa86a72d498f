"""Accuracy predictors of the paper (appendix A.3) as scikit-learn regressors.

``LogitLinearRegressor`` needs only numpy/scipy. ``WeightMLP`` trains a Keras 3 network, but
Keras is imported only when it is fitted or unpickled, so ``import skweights.models`` stays light.
The paper's third predictor, gradient boosting, is ``lightgbm.LGBMRegressor`` used directly.
"""

from ._logit_linear import LogitLinearRegressor
from ._mlp import WeightMLP

__all__ = ["LogitLinearRegressor", "WeightMLP"]
