"""scikit-learn's estimator check battery over every estimator and transformer of skweights.

The two regressors run with ``output_range="auto"``: their default ``(0, 1)`` (test accuracies)
rejects the unbounded targets the checks generate, by design, so the checks exercise the
documented mode that maps the sigmoid onto ``[min(y), max(y)]``. ``WeightMLP`` is kept small
(one narrow hidden layer, few epochs) so the battery stays fast; its numerics are tested in
``tests/models/test_mlp.py``. ``NeuralFunctionalRegressor`` runs with ``layout=None`` (the
columns as one dense layer) and a tiny network; its symmetry and learning are tested on the real
zoo in ``tests/models/test_nfn.py``; ``PermutationAugmentedRegressor`` too runs with
``layout=None`` (nothing to permute; its augmentation is tested in
``tests/models/test_augment.py``). The feature transformers run with ``layout=None`` (one tensor
spanning all columns of X), which lets them accept the checks' arbitrary data.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from skweights.features import (
    LayerNorms,
    LayerSelector,
    LayerStatistics,
    RandomPermutation,
    WeightScaler,
)
from skweights.intervals import ConformalPredictor
from skweights.models import (
    LogitLinearRegressor,
    NeuralFunctionalRegressor,
    PermutationAugmentedRegressor,
    WeightMLP,
)

ESTIMATORS = [
    LogitLinearRegressor(output_range="auto"),
    LogitLinearRegressor(output_range="auto", solver="adam", max_iter=50, random_state=0),
    WeightMLP(
        n_layers=1,
        n_units=16,
        dropout=0.1,
        learning_rate=0.01,
        epochs=20,
        early_stopping=True,
        patience=5,
        output_range="auto",
        random_state=0,
    ),
    NeuralFunctionalRegressor(
        hidden_channels=(4,),
        head_units=(16,),
        learning_rate=0.01,
        batch_size=16,
        epochs=20,
        patience=5,
        output_range="auto",
        random_state=0,
    ),
    PermutationAugmentedRegressor(LogitLinearRegressor(output_range="auto"), random_state=0),
    LayerStatistics(),
    LayerNorms(),
    LayerSelector(),
    RandomPermutation(random_state=0),
    WeightScaler(factor=2.0),
    ConformalPredictor(random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
