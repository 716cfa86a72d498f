"""skweights: predict a neural network's accuracy from its weights, the scikit-learn way.

The light names (layout, features, regressors, metrics, loaders) are imported on first use, so
``import skweights`` is fast and never imports Keras, JAX, Optuna or matplotlib.

>>> import skweights
>>> skweights.Layout.small_cnn_zoo().n_params
4970
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "Layout": "skweights.layout",
    "LayoutEntry": "skweights.layout",
    "LayerStatistics": "skweights.features",
    "LayerNorms": "skweights.features",
    "LayerSelector": "skweights.features",
    "RandomPermutation": "skweights.features",
    "WeightScaler": "skweights.features",
    "LogitLinearRegressor": "skweights.models",
    "WeightMLP": "skweights.models",
    "NeuralFunctionalRegressor": "skweights.models",
    "PermutationAugmentedRegressor": "skweights.models",
    "EarlyStoppingLGBMRegressor": "skweights.models",
    "kendall_tau": "skweights.metrics",
    "kendall_tau_scorer": "skweights.metrics",
    "mean_absolute_difference": "skweights.metrics",
    "load_zoo": "skweights.datasets",
    "paper_split": "skweights.datasets",
    "nfn_split": "skweights.datasets",
    "fetch_small_cnn_zoo": "skweights.datasets",
    "WeightSearchCV": "skweights.search",
    "make_predictor": "skweights.predictor",
    "save_predictor": "skweights.predictor",
    "load_predictor": "skweights.predictor",
    "ConformalPredictor": "skweights.intervals",
    "generate_zoo": "skweights.zoo",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skweights' has no attribute {name!r}")


def __dir__():
    return __all__
