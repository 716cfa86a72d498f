"""The paper's reference numbers (Unterthiner et al. 2020), the one place they live.

Transcribed from /work/shared/seeds/paper-predicting-accuracy-from-weights.txt (Tables 1, 2,
3, 5, 6, 9) and the "Reference numbers" of the Small CNN Zoo README. Keys: zoo collection
("MNIST", "FASHION", "CIFAR10", "SVHN"), estimator ("lin", "gbm", "dnn") and feature-set keys
of `benchmarks._common.FEATURE_SETS`.

Our zoos are trained on sklearn's 8×8 digits and a 5000-image MNIST subset, so the paper's
MNIST column is the closest reference for both.
"""

from __future__ import annotations

COLLECTIONS = ("MNIST", "FASHION", "CIFAR10", "SVHN")

#: Paper collection closest to each of our zoos (by display name of `_common.ZOO_NAMES`).
CLOSEST = {"digits": "MNIST", "MNIST-5k": "MNIST"}

#: Table 1 (CIFAR10-GS): R², estimator × features. Std < 0.004 except L-Linear/W̄ (0.034).
# Note: Table 1's columns print as "W W W W_L" in the text extraction; Table 5 (CIFAR10-GS
# block, GBM row: W⁴ .967, W .970, W̄ .857, W_L .977) fixes the order as W⁴, W, W̄, W_L.
TABLE1_CIFAR10 = {
    "lin": {"W4": 0.840, "W": 0.329, "W_bar": 0.345, "W_L": 0.730},
    "gbm": {"W4": 0.967, "W": 0.970, "W_bar": 0.857, "W_L": 0.977},
    "dnn": {"W4": 0.973, "W": 0.952, "W_bar": 0.825, "W_L": 0.977},
}

#: Table 2: GBM R² per feature set (rows) and collection (columns MNIST, FASHION, CIFAR10, SVHN).
TABLE2_GBM_R2: dict[str, tuple[float, float, float, float]] = {
    "W1": (0.921, 0.937, 0.944, 0.931),
    "W2": (0.905, 0.917, 0.893, 0.831),
    "W3": (0.904, 0.929, 0.913, 0.845),
    "W4": (0.976, 0.976, 0.967, 0.960),
    "W": (0.976, 0.976, 0.970, 0.968),
    "W_l1": (0.965, 0.962, 0.955, 0.961),
    "W_l2": (0.963, 0.959, 0.951, 0.961),
    "W_bar": (0.853, 0.896, 0.857, 0.778),
    "W_L": (0.988, 0.982, 0.977, 0.977),
    "lambda": (0.915, 0.931, 0.941, 0.924),
    "lambda_LR": (0.545, 0.598, 0.590, 0.390),
    "lambda_W": (0.980, 0.980, 0.975, 0.972),
    "W_L4": (0.948, 0.962, 0.919, 0.922),
    "W_L14": (0.965, 0.976, 0.962, 0.963),
}

#: Table 5 (R²) and Table 6 (MSE), W_L column: (mean, std) per collection and estimator.
TABLE5_R2_WL = {
    "MNIST": {"lin": (0.815, 0.001), "gbm": (0.988, 0.000), "dnn": (0.989, 0.000)},
    "FASHION": {"lin": (0.835, 0.000), "gbm": (0.982, 0.001), "dnn": (0.977, 0.001)},
    "CIFAR10": {"lin": (0.730, 0.001), "gbm": (0.977, 0.000), "dnn": (0.977, 0.001)},
    "SVHN": {"lin": (0.759, 0.006), "gbm": (0.977, 0.000), "dnn": (0.978, 0.001)},
}
TABLE6_MSE_WL = {
    "MNIST": {"lin": (0.016, 0.000), "gbm": (0.001, 0.000), "dnn": (0.001, 0.000)},
    "FASHION": {"lin": (0.009, 0.000), "gbm": (0.001, 0.000), "dnn": (0.001, 0.000)},
    "CIFAR10": {"lin": (0.003, 0.000), "gbm": (0.000, 0.000), "dnn": (0.000, 0.000)},
    "SVHN": {"lin": (0.004, 0.000), "gbm": (0.000, 0.000), "dnn": (0.000, 0.000)},
}
#: Table 5, MNIST block: R² of every estimator on the four Table 1 feature sets.
TABLE5_MNIST_R2 = {
    "lin": {"W4": 0.876, "W": 0.799, "W_bar": 0.410, "W_L": 0.815},
    "gbm": {"W4": 0.976, "W": 0.976, "W_bar": 0.853, "W_L": 0.988},
    "dnn": {"W4": 0.975, "W": 0.951, "W_bar": 0.819, "W_L": 0.989},
}

#: Table 3: Kendall τ, GBM on W_L trained on rows, evaluated on columns.
TABLE3_TAU = {
    "MNIST": {"MNIST": 0.92, "FASHION": 0.76, "CIFAR10": 0.78, "SVHN": 0.69},
    "FASHION": {"MNIST": 0.70, "FASHION": 0.90, "CIFAR10": 0.76, "SVHN": 0.66},
    "CIFAR10": {"MNIST": 0.70, "FASHION": 0.62, "CIFAR10": 0.90, "SVHN": 0.71},
    "SVHN": {"MNIST": 0.62, "FASHION": 0.57, "CIFAR10": 0.70, "SVHN": 0.85},
}

#: Table 4: Kendall τ on 216 DEMOGEN Wide-ResNet32 models per width (x1, x2, x4), GBM on W_L⁴
#: trained on CIFAR10-GS: predictions vs train / test accuracy, and train vs test accuracy.
TABLE4_TAU = {
    "pred_train": {"x1": 0.31, "x2": 0.58, "x4": 0.68},
    "pred_test": {"x1": 0.30, "x2": 0.59, "x4": 0.56},
    "train_test": {"x1": 0.83, "x2": 0.77, "x4": 0.64},
}

#: Table 9 (CIFAR10-GS, GBM on W, R² 0.97): MAD of predictions under each modification.
#: Keys: (kind, where, mix) for permutations, ("scale", c, None) for scaling.
TABLE9_MAD = {
    ("scale", 1e-3, None): 0.1353,
    ("scale", 1e-1, None): 0.1144,
    ("global", "all", True): 0.1100,
    ("layer", "all", True): 0.0893,
    ("layer", "final", True): 0.0680,
    ("layer", "all", False): 0.0671,
    ("layer", "final", False): 0.0585,
    ("scale", 100.0, None): 0.0470,
    ("scale", 10.0, None): 0.0465,
    ("scale", 2.0, None): 0.0401,
    ("layer", "first3", True): 0.0311,
    ("layer", "first3", False): 0.0133,
}

#: Small CNN Zoo README: released-config LightGBM R² (CV) on per-layer statistics and raw weights.
README_R2 = {
    "W_L": {"MNIST": 0.993, "FASHION": 0.993, "CIFAR10": 0.984, "SVHN": 0.986},
    "W": {"MNIST": 0.988, "FASHION": 0.990, "CIFAR10": 0.970, "SVHN": 0.971},
}

#: Published Kendall τ on CIFAR10-GS under NFN's split (second half of NFN's fixed order is the
#: test set): StatNN (Unterthiner et al.'s statistics + GBM, as reported by NFN, Zhou et al.
#: 2023), NFN-HNP (Zhou et al. 2023) and NG-T (Neural Graphs transformer, Kofinas et al. 2024).
NFN_TAU_CIFAR10 = {"StatNN": 0.915, "NFN-HNP": 0.934, "NG-T": 0.935}


def table2(feature: str, collection: str = "MNIST") -> float:
    """Table 2 GBM R² of ``feature`` on ``collection``.

    Examples
    --------
    >>> table2("W_L")
    0.988
    >>> table2("lambda_LR", "SVHN")
    0.39
    """
    return TABLE2_GBM_R2[feature][COLLECTIONS.index(collection)]
