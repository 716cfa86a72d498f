"""Zoo generator: the zoo CNN, the hyperparameter sampler of paper A.2, a vectorised trainer.

Importing this package does not import keras or jax; they are imported when a network is built
or trained.
"""

from skweights.zoo._architecture import build_cnn, cnn_layout, param_shapes
from skweights.zoo._generate import default_checkpoints, generate_zoo
from skweights.zoo._hyperparameters import HYPERPARAMETER_RANGES, sample_hyperparameters
from skweights.zoo._presets import RELEASED_SCHEDULE, SCHEDULE_PRESETS, schedule_preset

__all__ = [
    "HYPERPARAMETER_RANGES",
    "RELEASED_SCHEDULE",
    "SCHEDULE_PRESETS",
    "build_cnn",
    "cnn_layout",
    "default_checkpoints",
    "generate_zoo",
    "param_shapes",
    "sample_hyperparameters",
    "schedule_preset",
]
