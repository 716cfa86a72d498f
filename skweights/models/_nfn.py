"""A permutation-equivariant neural functional (NFN-HNP) as a scikit-learn regressor.

`NeuralFunctionalRegressor` reads each row of flattened weights through a `Layout` as the
kernels and biases of a chain of layers, applies layers that are equivariant to permutations of
the hidden neurons (Zhou et al., "Permutation Equivariant Neural Functionals", NeurIPS 2023, the
HNP variant), averages over the permutable axes and maps the invariant result through an MLP
head to a sigmoid output.

Why JAX directly and not Keras layers: the equivariant layer is a handful of means, matrix
products and broadcasts over a *list* of differently shaped tensors per network, which Keras
layers would have to wrap one by one without adding anything; written as plain ``jax.numpy``
functions of a parameter pytree, one ``jax.jit``-compiled program runs a whole epoch of Adam
steps (a ``lax.scan`` over the batches), the parameters are numpy arrays on the estimator
(pickling needs nothing special), and there is no per-batch framework overhead on CPU. Adam
is the ten lines of the paper's update (no optax: not a dependency here). JAX is imported
inside `fit` and `predict` only.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..layout import Layout
from ._logit_linear import resolve_output_range, standardization
from ._nfn_structure import network_objects

__all__ = ["NeuralFunctionalRegressor"]


def _network():
    from . import _nfn_network

    return _nfn_network


class NeuralFunctionalRegressor(RegressorMixin, BaseEstimator):
    """Hidden-neuron-permutation equivariant network on raw weights (NFN-HNP), JAX on CPU.

    Every row of X is one network, unflattened with ``layout``: per layer a kernel (dense
    ``(in, out)`` or convolution ``(*spatial, in, out)``, as Keras stores them) and optionally a
    bias. Kernels are read as ``(out, in, spatial)`` and the dense layer as a 1x1 convolution.
    Input and output neurons stay fixed; the neurons between layers are exchangeable. The model
    is ``len(hidden_channels)`` HNP-equivariant linear layers (parameters tied across the
    permutation orbits) each followed by a ReLU, an invariant pooling (mean over the permutable
    axes) and an MLP head with a sigmoid output, trained with Adam on ``loss``. Permuting the
    hidden neurons of any input network leaves its prediction unchanged (up to float rounding).

    Each weight and bias tensor is standardised with one scalar mean and scale computed over the
    training rows (``normalize=True``): a scalar per tensor keeps the symmetry.

    Early stopping (``early_stopping=True``) holds out ``validation_fraction`` of the *training*
    rows, monitors their mean squared error after every epoch and restores the best epoch's
    parameters. It never looks at test data.

    Each epoch runs as one compiled program (a ``lax.scan`` over its batches), on objects
    gathered from the rows once per ``fit``; the cost is the model's own arithmetic (see
    ``benchmarks/bench_nfn_speed.py``: 350-700 networks x epochs per second with the default
    sizes on 2 CPU cores shared with other jobs, i.e. 7-15 minutes for 10,000 networks x 30
    epochs).

    Parameters
    ----------
    layout : Layout or None, default=None
        Column layout of X. ``None`` reads the columns as the kernel of one dense layer with a
        single output (no hidden neurons; lets the estimator run on arbitrary matrices).
    hidden_channels : tuple of int, default=(8, 8)
        Channels of each equivariant layer. NFN's predict-generalisation setting is
        ``(16, 16, 5)``, about 5x the compute: a convolution kernel's entries carry
        ``channels x 3 x 3`` features each, so the cost grows with the square of the width.
    head_units : tuple of int, default=(256, 256)
        Widths of the ReLU layers of the head (NFN: two layers of 1000).
    loss : {"binary_crossentropy", "squared_error"}, default="binary_crossentropy"
        Training objective on the targets mapped onto ``[0, 1]`` by ``output_range``.
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=32
        Networks per Adam step (capped at the number of training rows). The last batch of an
        epoch is completed with randomly drawn training rows, so the step is compiled once.
    epochs : int, default=50
        Maximum number of passes over the training rows.
    early_stopping : bool, default=True
        Stop when the validation error has not improved for ``patience`` epochs and restore
        the parameters of the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping (at least one row).
    patience : int, default=8
        Epochs without improvement before early stopping.
    reduce_on_plateau : bool, default=True
        With early stopping, halve the learning rate after ``patience // 2`` epochs without
        improvement (the count restarts after each halving; stopping counts from the best
        epoch).
    normalize : bool, default=True
        Standardise each tensor with a scalar mean and scale of the training rows.
    statistics : bool, default=False
        Also feed the paper's per-layer statistics of the input weights (`LayerStatistics`,
        standardised) to the head, beside the pooled features (NFN's ``append_stats``). They
        are invariant too.
    output_range : "auto" or tuple of (float, float), default=(0.0, 1.0)
        Interval the sigmoid is mapped onto; with a pair, every ``y`` must lie inside it.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial parameters, the validation split and the batch order; an int makes
        ``fit`` reproducible.
    verbose : int, default=0
        Print one line per epoch if positive.

    Attributes
    ----------
    params_ : dict
        Trained parameters as numpy arrays (``"layers"``: per equivariant layer one dict per
        tensor, ``"head"``: the dense layers of the head).
    statistics_mean_, statistics_scale_ : ndarray of shape (n_statistics,)
        Standardisation of the statistics fed to the head (empty without ``statistics``).
    tensor_mean_, tensor_scale_ : ndarray of shape (n_tensors,)
        Scalar standardisation of each tensor of ``layout_`` (zeros and ones without
        ``normalize``).
    layout_ : Layout
        The layout used (``layout``, or the inferred one-layer layout).
    history_ : dict of list of float
        Per-epoch ``"loss"`` (mean training objective), ``"learning_rate"`` and, with early
        stopping, ``"val_mse"``.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int or None
        1-based epoch whose parameters were kept by early stopping (None without it).
    fit_time_ : float
        Seconds spent in ``fit``.
    output_range_ : tuple of (float, float)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only if X had string column names.

    See Also
    --------
    WeightMLP : fully-connected network on any features (the paper's DNN).
    skweights.features.LayerStatistics : the paper's per-layer statistics, for GBMs.

    Examples
    --------
    >>> import numpy as np
    >>> from skweights.layout import Layout
    >>> from skweights.models import NeuralFunctionalRegressor
    >>> layout = Layout.from_shapes(
    ...     [("fc1/bias", (8,)), ("fc1/kernel", (3, 8)), ("fc2/bias", (1,)),
    ...      ("fc2/kernel", (8, 1))]
    ... )
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, layout.n_params))
    >>> y = 1 / (1 + np.exp(-X[:, 8:32].mean(axis=1) * 4))
    >>> model = NeuralFunctionalRegressor(layout, hidden_channels=(4,), epochs=5, random_state=0)
    >>> model.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "layout": [Layout, None],
        "hidden_channels": [tuple, list],
        "head_units": [tuple, list],
        "loss": [StrOptions({"binary_crossentropy", "squared_error"})],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "reduce_on_plateau": ["boolean"],
        "normalize": ["boolean"],
        "statistics": ["boolean"],
        "output_range": [StrOptions({"auto"}), tuple, list],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        layout: Layout | None = None,
        *,
        hidden_channels: tuple[int, ...] = (8, 8),
        head_units: tuple[int, ...] = (256, 256),
        loss: str = "binary_crossentropy",
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        epochs: int = 50,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 8,
        reduce_on_plateau: bool = True,
        normalize: bool = True,
        statistics: bool = False,
        output_range: str | tuple[float, float] = (0.0, 1.0),
        random_state=None,
        verbose: int = 0,
    ):
        self.layout = layout
        self.hidden_channels = hidden_channels
        self.head_units = head_units
        self.loss = loss
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.reduce_on_plateau = reduce_on_plateau
        self.normalize = normalize
        self.statistics = statistics
        self.output_range = output_range
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------------------
    def _resolve_layout(self, n_features: int) -> Layout:
        if self.layout is None:
            return Layout.from_shapes([("dense/kernel", (n_features, 1))])
        if self.layout.n_params != n_features:
            raise ValueError(
                f"X has {n_features} columns but the layout describes "
                f"{self.layout.n_params} parameters"
            )
        return self.layout

    @staticmethod
    def _check_widths(name: str, widths) -> tuple[int, ...]:
        widths = tuple(widths)
        if not all(isinstance(w, numbers.Integral) and w >= 1 for w in widths):
            raise ValueError(f"{name} must be positive integers, got {widths}")
        return tuple(int(w) for w in widths)

    def _standardization(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.layout_)
        if not self.normalize:
            return np.zeros(n), np.ones(n)
        mean, scale = np.empty(n), np.empty(n)
        for k, entry in enumerate(self.layout_):
            block = X[:, entry.slice]
            mean[k] = block.mean(dtype=np.float64)
            scale[k] = block.std(dtype=np.float64)
        scale[~(scale > 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
        return mean, scale

    def _normalized(self, X: np.ndarray) -> np.ndarray:
        sizes = [entry.size for entry in self.layout_]
        mean = np.repeat(self.tensor_mean_, sizes)
        scale = np.repeat(self.tensor_scale_, sizes)
        return ((X - mean) / scale).astype(np.float32)

    def _statistics(self, X: np.ndarray) -> np.ndarray:
        """The head's extra inputs: per-layer statistics of X (no columns without them)."""
        if not self.statistics:
            return np.zeros((X.shape[0], 0), np.float32)
        from ..features import LayerStatistics

        return LayerStatistics(self.layout_).fit_transform(X).astype(np.float64)

    def _split(self, n_samples: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation row indices (validation empty without early stopping)."""
        from skweights.models._split import validation_split

        return validation_split(n_samples, self.validation_fraction, self.early_stopping, rng)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)
            Flattened weights, one network per row, in ``layout``'s column order.
        y : array-like of shape (n_samples,)
            Targets inside ``output_range`` (e.g. test accuracies in ``[0, 1]``).

        Returns
        -------
        self : NeuralFunctionalRegressor
            The fitted regressor.
        """
        start = time.perf_counter()
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64], y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        channels = self._check_widths("hidden_channels", self.hidden_channels)
        head_units = self._check_widths("head_units", self.head_units)
        self.layout_ = self._resolve_layout(X.shape[1])
        spec, indices = network_objects(self.layout_)
        low, high = resolve_output_range(self.output_range, y)
        self.output_range_ = (low, high)

        rng = check_random_state(self.random_state)
        train, val = self._split(X.shape[0], rng)
        self.tensor_mean_, self.tensor_scale_ = self._standardization(X[train])
        Z = self._normalized(X)
        S = self._statistics(X)
        self.statistics_mean_, self.statistics_scale_ = standardization(S[train], True)
        S = ((S - self.statistics_mean_) / self.statistics_scale_).astype(np.float32)
        t = ((y - low) / (high - low)).astype(np.float32)

        net = _network()
        fold = [idx.shape[-1] for idx in indices]
        params = net.to_jax(net.init_params(rng, spec, fold, channels, head_units, S.shape[1]))
        opt = net.to_jax(net.adam_init(params))
        objects = net.gather(Z, indices)
        val_objects = [o[val] for o in objects]
        device = net.to_jax((objects, S, t))
        batch_size = min(self.batch_size, train.shape[0])
        n_batches = -(-train.shape[0] // batch_size)

        self.history_ = {"loss": [], "learning_rate": []}
        if self.early_stopping:
            self.history_["val_mse"] = []
        best, best_params, self.best_epoch_ = np.inf, None, None
        learning_rate, last_change = self.learning_rate, 0
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(train)
            extra = rng.choice(train, n_batches * batch_size - train.shape[0], replace=False)
            batches = np.concatenate([order, extra]).reshape(n_batches, batch_size)
            params, opt, losses = net.train_epoch(
                params,
                opt,
                *device,
                batches.astype(np.int32),
                np.float32(learning_rate),
                spec,
                self.loss,
            )
            self.history_["loss"].append(float(np.mean(np.asarray(losses))))
            self.history_["learning_rate"].append(learning_rate)
            line = f"epoch {epoch}: loss {self.history_['loss'][-1]:.6g}"
            if self.early_stopping:
                logits = net.predict_logits(params, val_objects, S[val], spec)
                val_mse = float(np.mean((self._to_output(logits) - y[val]) ** 2))
                self.history_["val_mse"].append(val_mse)
                line += f", val_mse {val_mse:.6g}"
                if val_mse < best:
                    best, best_params, self.best_epoch_ = val_mse, net.to_numpy(params), epoch
            if self.verbose:
                print(f"{line} ({time.perf_counter() - start:.0f} s)", flush=True)
            if self.early_stopping and epoch - self.best_epoch_ >= self.patience:
                break
            plateau = epoch - max(self.best_epoch_ or 0, last_change)
            wait = max(1, self.patience // 2)
            if self.early_stopping and self.reduce_on_plateau and plateau >= wait:
                learning_rate, last_change = learning_rate / 2, epoch
        self.params_ = best_params if best_params is not None else net.to_numpy(params)
        self.n_iter_ = epoch
        self.fit_time_ = time.perf_counter() - start
        return self

    def _to_output(self, logits: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        low, high = self.output_range_
        return low + (high - low) * expit(logits)

    def predict(self, X) -> np.ndarray:
        """Predict targets (e.g. test accuracies) of the networks in X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)
            Flattened weights in ``layout``'s column order.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predictions inside ``output_range_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        spec, indices = network_objects(self.layout_)
        S = (self._statistics(X) - self.statistics_mean_) / self.statistics_scale_
        net = _network()
        objects = net.gather(self._normalized(X), indices)
        logits = net.predict_logits(self.params_, objects, S.astype(np.float32), spec)
        return self._to_output(logits)
