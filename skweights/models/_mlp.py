"""The paper's fully-connected network accuracy predictor (DNN), a Keras 3 model in an estimator.

Keras is imported inside :meth:`WeightMLP.fit` and when a fitted model is unpickled, never at
module import. Predictions are computed with numpy from the trained weights (``coefs_``,
``intercepts_``, named as in ``sklearn.neural_network.MLPRegressor``), so they are exact float64,
independent of the batch, and need no deep-learning backend.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._logit_linear import resolve_output_range, standardization

__all__ = ["WeightMLP"]

#: Weight initialisers of paper A.4 -> Keras initialiser class names.
INITIALIZERS = {
    "glorot_normal": "GlorotNormal",
    "he_normal": "HeNormal",
    "orthogonal": "Orthogonal",
    "normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal",
}


def _get_weights(model) -> list[np.ndarray]:
    """The model's variables as numpy arrays (``Model.get_weights`` warns under numpy 2)."""
    return [np.array(v.value) for v in model.weights]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


class WeightMLP(RegressorMixin, BaseEstimator):
    """Fully-connected ReLU network with a sigmoid output, trained on squared error (Keras 3).

    The paper's DNN accuracy predictor (Unterthiner et al. 2020, appendices A.3 and A.4):
    ``n_layers`` dense ReLU layers of ``n_units`` units with dropout and an l2 penalty on every
    kernel, biases initialised to zero, and a one-unit sigmoid output layer. Inputs are
    standardised per column inside the estimator (``standardize=True``; the paper does not say
    how it scaled its inputs, and raw network weights have tiny scales). The sigmoid output is
    mapped onto ``output_range`` (test accuracies: ``(0, 1)``).

    Early stopping (``early_stopping=True``) holds out ``validation_fraction`` of the *training*
    data, monitors the mean squared error on it after every epoch and restores the best weights.
    It never looks at test data.

    Parameters
    ----------
    n_layers : int, default=3
        Number of hidden layers (paper range: 3 to 9).
    n_units : int, default=256
        Units per hidden layer (paper range: 256 to 511).
    dropout : float, default=0.0
        Dropout rate after every hidden layer (paper range: 0 to 0.2).
    l2 : float, default=1e-5
        l2 penalty coefficient on every kernel, added to the loss as ``l2 * sum(kernel ** 2)``
        (paper range: log-uniform, up to 1e-3).
    learning_rate : float, default=1e-3
        Optimiser step size.
    optimizer : {"adam", "sgd"}, default="adam"
        Keras optimiser.
    batch_size : int, default=128
        Mini-batch size (paper: 64, 128, 256 or 512); capped at the number of training rows.
        All batches have this size (the last batch of an epoch is completed with randomly
        drawn training rows), so the training step is compiled once.
    initializer : {"glorot_normal", "he_normal", "orthogonal", "normal", "truncated_normal"}, \
            default="glorot_normal"
        Kernel initialiser. Biases start at zero.
    init_std : float, default=0.05
        Standard deviation of the ``"normal"`` and ``"truncated_normal"`` initialisers (ignored
        by the others, which scale with the layer width).
    epochs : int, default=100
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Stop when the validation error has not improved for ``patience`` epochs and restore
        the weights of the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping (at least one row).
    patience : int, default=10
        Epochs without improvement before early stopping.
    standardize : bool, default=True
        Standardise each input column with the training mean and standard deviation.
    output_range : "auto" or tuple of (float, float), default=(0.0, 1.0)
        Interval the sigmoid is mapped onto. With a pair, every ``y`` must lie inside it;
        ``"auto"`` uses ``[min(y), max(y)]`` of the training targets.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisers, dropout, the validation split and the batch order; an int makes
        ``fit`` reproducible (identical predictions when fitted twice).
    verbose : int, default=0
        Print one line per epoch if positive.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (inputs: standardised features, output: sigmoid in ``(0, 1)``).
    coefs_ : list of ndarray
        Kernel of each dense layer, as float64 (used by :meth:`predict`).
    intercepts_ : list of ndarray
        Bias of each dense layer, as float64.
    history_ : dict of list of float
        Per-epoch ``"loss"`` (the training objective, mean over batches, with the l2 penalty)
        and, with early stopping, ``"val_mse"`` (mean squared error on the held-out rows, in
        units of ``y``).
    n_iter_ : int
        Epochs run.
    best_epoch_ : int or None
        1-based epoch whose weights were kept by early stopping (None without it).
    mean_, scale_ : ndarray of shape (n_features,)
        Input standardisation (zeros and ones if ``standardize=False``).
    output_range_ : tuple of (float, float)
        The interval predictions are mapped onto.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, if ``X`` had string column names.

    See Also
    --------
    LogitLinearRegressor : The paper's logit-linear predictor (``n_layers=0`` in its terms).
    sklearn.neural_network.MLPRegressor : scikit-learn's own network regressor.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.models import WeightMLP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> y = 1 / (1 + np.exp(-X[:, 0] * X[:, 1]))
    >>> model = WeightMLP(n_layers=2, n_units=32, epochs=60, random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.8), model.predict(X[:2]).shape
    (True, (2,))
    """

    _parameter_constraints: dict = {
        "n_layers": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_units": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "l2": [Interval(numbers.Real, 0, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "initializer": [StrOptions(set(INITIALIZERS))],
        "init_std": [Interval(numbers.Real, 0, None, closed="neither")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "standardize": ["boolean"],
        "output_range": [StrOptions({"auto"}), tuple, list],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_layers: int = 3,
        n_units: int = 256,
        *,
        dropout: float = 0.0,
        l2: float = 1e-5,
        learning_rate: float = 1e-3,
        optimizer: str = "adam",
        batch_size: int = 128,
        initializer: str = "glorot_normal",
        init_std: float = 0.05,
        epochs: int = 100,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 10,
        standardize: bool = True,
        output_range: str | tuple[float, float] = (0.0, 1.0),
        random_state=None,
        verbose: int = 0,
    ):
        self.n_layers = n_layers
        self.n_units = n_units
        self.dropout = dropout
        self.l2 = l2
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.initializer = initializer
        self.init_std = init_std
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.output_range = output_range
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------------------
    def _split(self, n_samples: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation row indices (validation empty without early stopping)."""
        from skweights.models._split import validation_split

        return validation_split(n_samples, self.validation_fraction, self.early_stopping, rng)

    def _build(self, n_features: int, rng: np.random.RandomState):
        keras = _keras()
        seeds = iter(rng.randint(np.iinfo(np.int32).max, size=2 * self.n_layers + 1).tolist())

        def initializer():
            cls = getattr(keras.initializers, INITIALIZERS[self.initializer])
            if self.initializer in ("normal", "truncated_normal"):
                return cls(mean=0.0, stddev=self.init_std, seed=next(seeds))
            return cls(seed=next(seeds))

        def dense(units, activation):
            return keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=initializer(),
                bias_initializer="zeros",
                kernel_regularizer=keras.regularizers.L2(self.l2) if self.l2 > 0 else None,
            )

        layers = [keras.Input((n_features,))]
        for _ in range(self.n_layers):
            layers.append(dense(self.n_units, "relu"))
            if self.dropout > 0:
                layers.append(keras.layers.Dropout(self.dropout, seed=next(seeds)))
        layers.append(dense(1, "sigmoid"))
        model = keras.Sequential(layers)
        optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[self.optimizer]
        model.compile(
            optimizer=optimizer(learning_rate=self.learning_rate),
            loss="mse",
        )
        return model

    def _store_weights(self, model) -> None:
        dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
        self.coefs_ = [np.array(layer.kernel.value, dtype=np.float64) for layer in dense]
        self.intercepts_ = [np.array(layer.bias.value, dtype=np.float64) for layer in dense]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (e.g. flattened weights or layer statistics).
        y : array-like of shape (n_samples,)
            Targets, inside ``output_range`` (e.g. test accuracies in ``[0, 1]``).

        Returns
        -------
        self : WeightMLP
            The fitted regressor.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        low, high = resolve_output_range(self.output_range, y)
        self.output_range_ = (low, high)
        self.mean_, self.scale_ = standardization(X, self.standardize)
        Z = ((X - self.mean_) / self.scale_).astype(np.float32)
        t = ((y - low) / (high - low)).astype(np.float32)

        rng = check_random_state(self.random_state)
        train, val = self._split(X.shape[0], rng)
        model = self._build(X.shape[1], rng)
        batch_size = min(self.batch_size, train.shape[0])
        # Every batch has the same size, so XLA compiles the training step once: the last batch
        # of an epoch is completed with other training rows drawn at random.
        n_padded = -(-train.shape[0] // batch_size) * batch_size

        self.history_ = {"loss": []}
        if self.early_stopping:
            self.history_["val_mse"] = []
        best, best_weights, self.best_epoch_ = np.inf, None, None
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(train)
            extra = rng.choice(train, n_padded - train.shape[0], replace=False)
            order = np.concatenate([order, extra])
            fitted = model.fit(
                Z[order], t[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0
            )
            self.history_["loss"].append(float(fitted.history["loss"][-1]))
            line = f"epoch {epoch}: loss {self.history_['loss'][-1]:.6g}"
            if self.early_stopping:
                self._store_weights(model)
                val_mse = float(np.mean((self._forward(Z[val]) - y[val]) ** 2))
                self.history_["val_mse"].append(val_mse)
                line += f", val_mse {val_mse:.6g}"
                if val_mse < best:
                    best, best_weights, self.best_epoch_ = val_mse, _get_weights(model), epoch
            if self.verbose:
                print(line)
            if self.early_stopping and epoch - self.best_epoch_ >= self.patience:
                break
        if best_weights is not None:
            model.set_weights(best_weights)
        self.n_iter_ = epoch
        self.model_ = model
        self._store_weights(model)
        return self

    def _forward(self, Z: np.ndarray) -> np.ndarray:
        """Network output mapped onto the output range, for standardised inputs ``Z``."""
        h = np.asarray(Z, dtype=np.float64)
        for W, b in zip(self.coefs_[:-1], self.intercepts_[:-1]):
            h = np.maximum(h @ W + b, 0.0)
        out = expit(h @ self.coefs_[-1] + self.intercepts_[-1])[:, 0]
        low, high = self.output_range_
        return low + (high - low) * out

    def predict(self, X) -> np.ndarray:
        """Predict targets with the trained network (numpy forward pass, float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predictions inside ``output_range_`` (in ``(0, 1)`` by default).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._forward((X - self.mean_) / self.scale_)

    # Pickling: store the Keras model as its config and weights, rebuilt on load.
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never detach model_ from self
        model = state.pop("model_", None)
        if model is not None:
            with warnings.catch_warnings():  # Keras' Variable.numpy() under numpy 2
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                state["_model_config"] = model.to_json()
            state["_model_weights"] = _get_weights(model)
        return state

    def __setstate__(self, state):
        config = state.pop("_model_config", None)
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if config is not None:
            keras = _keras()
            model = keras.models.model_from_json(config)
            model.set_weights(weights)
            self.model_ = model
