"""Scikit-learn transformers that turn flattened network weights into features.

All take a :class:`~skweights.layout.Layout` describing the columns of X (or ``layout=None`` to
treat X as one tensor), process rows in chunks (memory maps welcome) and support
``get_feature_names_out`` and ``set_output(transform="pandas")``.
"""

from ._norms import LayerNorms
from ._permutation import RandomPermutation, WeightScaler
from ._selection import LayerSelector
from ._statistics import PAPER_STATISTICS, LayerStatistics

__all__ = [
    "PAPER_STATISTICS",
    "LayerNorms",
    "LayerSelector",
    "LayerStatistics",
    "RandomPermutation",
    "WeightScaler",
]
