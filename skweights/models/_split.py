"""The validation split of the training rows shared by the neural regressors."""

from __future__ import annotations

import numpy as np


def validation_split(
    n_samples: int, fraction: float, early_stopping: bool, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices (validation empty without early stopping).

    Examples
    --------
    >>> train, val = validation_split(10, 0.2, True, np.random.RandomState(0))
    >>> len(train), len(val), sorted(np.r_[train, val].tolist()) == list(range(10))
    (8, 2, True)
    """
    if not early_stopping:
        return np.arange(n_samples), np.arange(0)
    n_val = max(1, int(round(fraction * n_samples)))
    if n_samples - n_val < 1:
        raise ValueError(
            f"early_stopping needs at least 2 samples (1 for training, 1 for validation), "
            f"got n_samples = {n_samples}; set early_stopping=False"
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
