"""Hyperparameter ranges of the Small CNN Zoo (paper appendix A.2) and their sampler.

This module is the single source of truth for the ranges: the generator, the benchmarks and the
tests import `HYPERPARAMETER_RANGES` from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Ranges of paper A.2. ``(low, high)`` tuples of floats for the continuous parameters (sampled
#: log-uniformly for the names in `LOG_UNIFORM`, uniformly otherwise), tuples of choices (sampled
#: uniformly) for the categorical ones. ``w_init`` uses the released code's Keras names;
#: ``init_std`` is the standard deviation of ``RandomNormal`` / ``TruncatedNormal`` (the paper
#: calls it the initializer's "variance"; the other schemes ignore it, as the released code did).
HYPERPARAMETER_RANGES: dict[str, tuple] = {
    "learning_rate": (1e-3, 0.5),
    "l2reg": (1e-8, 1e-3),
    "dropout": (0.0, 0.7),
    "init_std": (1e-2, 0.5),
    "w_init": ("glorot_normal", "he_normal", "orthogonal", "RandomNormal", "TruncatedNormal"),
    "activation": ("relu", "tanh"),
    "train_fraction": (0.1, 0.25, 0.5, 1.0),
}

#: Continuous parameters sampled log-uniformly.
LOG_UNIFORM = frozenset({"learning_rate", "l2reg", "init_std"})
#: Continuous parameters sampled uniformly.
UNIFORM = frozenset({"dropout"})
#: Fixed settings of every configuration (released names).
FIXED = {"b_init": "zeros", "optimizer": "adam", "dnn_architecture": "cnn"}


def resolve_ranges(hyperparameter_ranges: Mapping[str, Any] | None = None) -> dict[str, tuple]:
    """Return the default ranges updated with `hyperparameter_ranges`, validated.

    Parameters
    ----------
    hyperparameter_ranges : mapping or None
        Overrides, same keys and value kinds as `HYPERPARAMETER_RANGES`.

    Returns
    -------
    ranges : dict
        The merged ranges.

    Examples
    --------
    >>> resolve_ranges({"dropout": (0.0, 0.0)})["dropout"]
    (0.0, 0.0)
    """
    ranges = dict(HYPERPARAMETER_RANGES)
    for key, value in dict(hyperparameter_ranges or {}).items():
        if key not in HYPERPARAMETER_RANGES:
            raise ValueError(
                f"Unknown hyperparameter {key!r}; expected one of {sorted(HYPERPARAMETER_RANGES)}."
            )
        value = tuple(value) if not isinstance(value, str) else (value,)
        if key in LOG_UNIFORM or key in UNIFORM:
            if len(value) != 2 or not float(value[0]) <= float(value[1]):
                raise ValueError(
                    f"{key} must be a (low, high) pair with low <= high, got {value}."
                )
            if key in LOG_UNIFORM and float(value[0]) <= 0:
                raise ValueError(f"{key} is log-uniform and needs low > 0, got {value}.")
            value = (float(value[0]), float(value[1]))
        elif len(value) == 0:
            raise ValueError(f"{key} needs at least one choice, got {value}.")
        ranges[key] = value
    return ranges


def sample_hyperparameters(
    n_networks: int, seed: int = 0, hyperparameter_ranges: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Sample one hyperparameter configuration per network (paper A.2).

    Configuration ``i`` depends only on ``(seed, i)``, so the first ``k`` configurations of a
    larger sample are the configurations of a smaller one. Each configuration gets its own
    ``random_seed`` (one seed per configuration, as in the paper).

    Parameters
    ----------
    n_networks : int
        Number of configurations.
    seed : int, default=0
        Seed of the whole sample.
    hyperparameter_ranges : mapping or None, default=None
        Overrides of `HYPERPARAMETER_RANGES`.

    Returns
    -------
    configs : list of dict
        Keys ``learning_rate, l2reg, dropout, init_std, w_init, activation, train_fraction,
        b_init, optimizer, random_seed``.

    Examples
    --------
    >>> configs = sample_hyperparameters(3, seed=0)
    >>> len(configs), sorted(configs[0])[:3]
    (3, ['activation', 'b_init', 'dropout'])
    >>> 1e-3 <= configs[0]["learning_rate"] <= 0.5
    True
    """
    if int(n_networks) < 0:
        raise ValueError(f"n_networks must be >= 0, got {n_networks}.")
    ranges = resolve_ranges(hyperparameter_ranges)
    configs = []
    for i in range(int(n_networks)):
        rng = np.random.default_rng([int(seed), i])
        config: dict[str, Any] = {}
        for key in HYPERPARAMETER_RANGES:  # fixed order: reproducible draws
            value = ranges[key]
            if key in LOG_UNIFORM:
                config[key] = float(np.exp(rng.uniform(np.log(value[0]), np.log(value[1]))))
            elif key in UNIFORM:
                config[key] = float(rng.uniform(value[0], value[1]))
            else:
                choice = value[int(rng.integers(len(value)))]
                config[key] = float(choice) if key == "train_fraction" else str(choice)
        config["b_init"] = FIXED["b_init"]
        config["optimizer"] = FIXED["optimizer"]
        config["random_seed"] = int(rng.integers(0, 2**31 - 1))
        configs.append(config)
    return configs
