"""Stop hopeless training runs early: predict a run's final accuracy from its current weights.

The paper (section 5) notes that accuracy predicted from weights early in training ranks runs
by their *final* accuracy well, so runs predicted to end badly can be stopped to save compute.
This module brings that to Keras:

- :func:`load_early_checkpoints` pairs each run's weights at epoch ``k`` with the same run's
  final test accuracy (joined on ``modeldir``);
- :func:`fit_early_predictor` fits a weights → final-accuracy predictor on those pairs;
- :class:`AccuracyFromWeights` is a ``keras.callbacks.Callback`` that, at chosen epochs,
  flattens the model's weights through a :class:`~skweights.layout.Layout`, predicts the final
  accuracy, logs it as ``logs["predicted_accuracy"]`` and stops training below a threshold.

Importing this module imports Keras (on the JAX backend unless ``KERAS_BACKEND`` is set);
``import skweights`` never does.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from collections.abc import Iterable, Mapping, Sequence  # noqa: E402
from numbers import Integral, Real  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402

__all__ = ["AccuracyFromWeights", "fit_early_predictor", "load_early_checkpoints"]


def load_early_checkpoints(path: str | os.PathLike, epoch: int) -> Bunch:
    """Weights of each run at ``epoch`` with the same run's *final* test accuracy.

    Parameters
    ----------
    path : path-like
        Zoo directory in the Small CNN Zoo format, holding checkpoints at ``epoch`` (the
        ``step`` column) and a final checkpoint per run.
    epoch : int
        Checkpoint epoch (``step``) whose weights are returned; ``0`` is the initialisation.

    Returns
    -------
    Bunch
        ``weights`` (n_runs, n_params) at ``epoch``; ``target`` the final ``test_accuracy`` of
        each run; ``accuracy_at_epoch`` the test accuracy at ``epoch``; ``final_step`` the
        run's last epoch; ``modeldir``; ``layout``. Runs whose weights or accuracies are not
        finite at ``epoch`` or at the end are left out.

    Examples
    --------
    >>> import tempfile
    >>> from skweights._format import METRICS_COLUMNS, write_zoo
    >>> from skweights.layout import Layout
    >>> layout = Layout.from_shapes([("net/fc/bias:0", (1,)), ("net/fc/kernel:0", (1, 1))])
    >>> rows = [{c: 0 for c in METRICS_COLUMNS} | {"modeldir": f"run{r}", "step": s,
    ...          "test_accuracy": r / 2 + s / 8} for r in range(2) for s in (0, 1, 2)]
    >>> weights = np.arange(12, dtype=float).reshape(6, 2)
    >>> d = write_zoo(tempfile.mkdtemp(), weights, pd.DataFrame(rows), layout)
    >>> early = load_early_checkpoints(d, epoch=1)
    >>> early.weights.tolist(), early.target.tolist(), list(early.modeldir)
    ([[2.0, 3.0], [8.0, 9.0]], [0.25, 0.75], ['run0', 'run1'])
    """
    import warnings

    from skweights.datasets import load_zoo

    if not isinstance(epoch, Integral) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # non-finite runs: dropped and counted
        final = load_zoo(path, step="final")
        try:
            early = load_zoo(path, step=int(epoch))
        except ValueError as exc:
            steps = sorted(set(load_zoo(path, step="all", mmap=True).metrics["step"].tolist()))
            raise ValueError(
                f"the zoo at {path} has no usable checkpoint at epoch {epoch}; "
                f"expected one of its checkpoint epochs {steps}"
            ) from exc
    final_accuracy = pd.Series(final.target, index=final.metrics["modeldir"].to_numpy())
    final_step = pd.Series(final.metrics["step"].to_numpy(dtype=int), index=final_accuracy.index)
    modeldir = early.metrics["modeldir"].to_numpy()
    keep = np.flatnonzero(pd.Index(modeldir).isin(final_accuracy.index))
    modeldir = modeldir[keep]
    return Bunch(
        weights=np.asarray(early.weights[keep]),
        target=final_accuracy.loc[modeldir].to_numpy(dtype=np.float64),
        accuracy_at_epoch=early.target[keep],
        final_step=final_step.loc[modeldir].to_numpy(),
        modeldir=modeldir,
        layout=early.layout,
        epoch=int(epoch),
    )


def fit_early_predictor(
    zoo_path: str | os.PathLike,
    epoch: int | Sequence[int],
    features: str = "stats",
    estimator: str = "gbm",
    random_state: int = 0,
    n_jobs: int = 1,
):
    """Fit a predictor of a run's final test accuracy from its weights at ``epoch``.

    The predictor is the Pipeline of ``skweights fit`` (see
    :func:`skweights.predictor.make_predictor`) fitted on :func:`load_early_checkpoints` of
    every run in the zoo.

    Parameters
    ----------
    zoo_path : path-like
        Zoo directory with checkpoints at ``epoch``.
    epoch : int or sequence of int
        Checkpoint epoch(s) to learn from. A sequence gives one predictor per epoch.
    features : str, default="stats"
        Feature set of :func:`skweights.predictor.make_predictor` (``"stats"``: per-layer
        statistics).
    estimator : {"gbm", "logit-linear", "mlp"}, default="gbm"
        Regressor of :func:`skweights.predictor.make_predictor`.
    random_state : int, default=0
        Seed of the regressor.
    n_jobs : int, default=1
        Threads of the regressor, when it has an ``n_jobs`` parameter. One thread is the fastest
        for the few hundred rows of a zoo: LightGBM's OpenMP threads on a busy machine can be
        100x slower than one thread.

    Returns
    -------
    predictor : Pipeline or dict of int to Pipeline
        A fitted Pipeline taking flattened weights, or ``{epoch: Pipeline}`` for a sequence of
        epochs (the form :class:`AccuracyFromWeights` accepts to use each epoch's own
        predictor).
    """
    from skweights.predictor import make_predictor

    if not isinstance(epoch, Integral):
        return {
            int(e): fit_early_predictor(
                zoo_path, int(e), features, estimator, random_state, n_jobs
            )
            for e in epoch
        }
    data = load_early_checkpoints(zoo_path, epoch)
    model = make_predictor(data.layout, features, estimator, random_state)
    if "n_jobs" in model[-1].get_params():
        model[-1].set_params(n_jobs=n_jobs)
    return model.fit(data.weights, data.target)


class AccuracyFromWeights(keras.callbacks.Callback):
    """Keras callback: predict the final accuracy from the current weights, stop if too low.

    At the end of each chosen epoch the model's weights are flattened through ``layout``
    (:meth:`skweights.layout.Layout.flatten_keras` with ``match="position"``) and passed to
    ``predictor``. The prediction is written to ``logs["predicted_accuracy"]`` (so it shows in
    the progress bar and in ``model.fit(...).history``) and appended to :attr:`history`. When it
    is below ``threshold`` (at an epoch ≥ ``min_epoch``), ``model.stop_training`` is set.

    Epochs are counted as in a zoo's ``step`` column: the end of Keras' epoch index ``i`` is
    epoch ``i + 1`` (``i + 1`` epochs of training done).

    Parameters
    ----------
    predictor : estimator, dict of int to estimator, or path-like
        A fitted regressor taking flattened weights, e.g. from :func:`fit_early_predictor`; a
        mapping ``{epoch: regressor}`` using each epoch's own regressor; or the path of a file
        written by ``skweights fit``.
    layout : Layout, default=None
        Column order of the predictor's input. ``None``: the layout saved with the predictor
        file, else the ``layout`` of the predictor's first Pipeline step (e.g.
        `LayerStatistics`), else :meth:`Layout.small_cnn_zoo`.
    epochs : int or iterable of int, default=None
        Epochs (≥ 1) at which to predict. ``None``: the keys of a mapping ``predictor``, else
        every epoch.
    threshold : float, default=None
        Stop training when the predicted final accuracy is below this. ``None``: never stop,
        only log.
    min_epoch : int, default=1
        Never stop before this epoch (predictions are still logged).
    verbose : int, default=1
        ``1``: print one line per prediction and when stopping; ``0``: silent.

    Attributes
    ----------
    history : list of dict
        One ``{"epoch", "predicted_accuracy", "stopped"}`` per prediction of the last ``fit``.
    stopped_epoch : int or None
        Epoch at which training was stopped, ``None`` if it was not.

    Examples
    --------
    >>> from skweights.keras import AccuracyFromWeights, fit_early_predictor  # doctest: +SKIP
    >>> predictor = fit_early_predictor("zoos/digits", epoch=[1, 2])  # doctest: +SKIP
    >>> stop = AccuracyFromWeights(predictor, threshold=0.5)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=18, callbacks=[stop])  # doctest: +SKIP
    >>> stop.history[-1]["predicted_accuracy"], stop.stopped_epoch  # doctest: +SKIP
    """

    def __init__(
        self,
        predictor: Any,
        layout: Any = None,
        epochs: int | Iterable[int] | None = None,
        threshold: float | None = None,
        min_epoch: int = 1,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        self.predictor = predictor
        self.layout = layout
        self.epochs = epochs
        self.threshold = threshold
        self.min_epoch = min_epoch
        self.verbose = verbose
        self.history: list[dict] = []
        self.stopped_epoch: int | None = None

    # ------------------------------------------------------------------ validation
    def _resolve(self) -> None:
        from skweights.layout import Layout

        predictor, layout = self.predictor, self.layout
        if isinstance(predictor, str | os.PathLike):
            from skweights.predictor import load_predictor

            saved = load_predictor(Path(predictor))
            predictor = saved["model"]
            layout = layout if layout is not None else saved["layout"]
        if isinstance(predictor, Mapping):
            if not predictor:
                raise ValueError("predictor is an empty mapping; expected {epoch: regressor}")
            bad = [k for k in predictor if not isinstance(k, Integral) or k < 1]
            if bad:
                raise ValueError(f"predictor mapping keys must be epochs >= 1, got {bad}")
            predictors = {int(k): v for k, v in predictor.items()}
        else:
            predictors = {None: predictor}
        for p in predictors.values():
            if not hasattr(p, "predict"):
                raise TypeError(
                    f"predictor must be a fitted regressor with predict(), got {type(p).__name__}"
                )
        if layout is None:
            first = next(iter(predictors.values()))
            steps = getattr(first, "steps", None)
            layout = getattr(steps[0][1], "layout", None) if steps else None
            layout = layout if isinstance(layout, Layout) else Layout.small_cnn_zoo()
        if not isinstance(layout, Layout):
            raise TypeError(f"layout must be a skweights Layout or None, got {type(layout)}")

        if self.epochs is None:
            epochs = None if None in predictors else set(predictors)
        else:
            epochs = {self.epochs} if isinstance(self.epochs, Integral) else set(self.epochs)
            bad = [e for e in epochs if not isinstance(e, Integral) or e < 1]
            if bad or not epochs:
                raise ValueError(f"epochs must be ints >= 1 (epochs of training done), got {bad}")
            missing = sorted(epochs - set(predictors)) if None not in predictors else []
            if missing:
                raise ValueError(
                    f"no predictor for epochs {missing}; the predictor mapping has epochs "
                    f"{sorted(predictors)}"
                )
        if self.threshold is not None and (
            not isinstance(self.threshold, Real) or not np.isfinite(self.threshold)
        ):
            raise ValueError(f"threshold must be a finite number or None, got {self.threshold!r}")
        if not isinstance(self.min_epoch, Integral) or self.min_epoch < 0:
            raise ValueError(f"min_epoch must be a non-negative int, got {self.min_epoch!r}")
        self.predictors_, self.layout_, self.epochs_ = predictors, layout, epochs

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Validate the parameters, resolve the predictor and layout, reset :attr:`history`."""
        self._resolve()
        self.history = []
        self.stopped_epoch = None

    def predict_final_accuracy(self, epoch: int | None = None) -> float:
        """Predicted final accuracy of the model in its current state.

        ``epoch`` selects the regressor when ``predictor`` is a mapping.
        """
        if not hasattr(self, "predictors_"):
            self._resolve()
        weights = self.layout_.flatten_keras(self.model, match="position")
        if not np.all(np.isfinite(weights)):
            return float("nan")
        predictor = self.predictors_.get(epoch, self.predictors_.get(None))
        if predictor is None:
            raise ValueError(f"no predictor for epoch {epoch}; have {sorted(self.predictors_)}")
        return float(np.asarray(predictor.predict(weights[None, :])).ravel()[0])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Predict after Keras epoch index ``epoch`` (epoch ``epoch + 1``), maybe stop."""
        done = epoch + 1
        if self.epochs_ is not None and done not in self.epochs_:
            return
        predicted = self.predict_final_accuracy(done)
        if logs is not None:
            logs["predicted_accuracy"] = predicted
        # a NaN prediction means the weights diverged: such a run will not recover
        below = self.threshold is not None and not predicted >= self.threshold
        stop = below and done >= self.min_epoch
        self.history.append({"epoch": done, "predicted_accuracy": predicted, "stopped": stop})
        if self.verbose:
            print(f"epoch {done}: predicted final accuracy {predicted:.4f}")
        if stop:
            self.stopped_epoch = done
            self.model.stop_training = True
            if self.verbose:
                print(
                    f"epoch {done}: stopping, predicted final accuracy {predicted:.4f} "
                    f"< threshold {self.threshold}"
                )
