"""Accuracy predictors: the factory behind ``skweights fit``, safe saving/loading, weight inputs.

- :func:`make_predictor` builds a Pipeline (feature set -> regressor) from the registries
  :data:`FEATURE_SETS` and :data:`ESTIMATORS` (dicts of factories: add an entry to extend them);
- :func:`save_predictor` / :func:`load_predictor` write and read predictor files with
  ``skops.io`` (default suffix ``.skops``). Loading never runs code from the file: only types of
  :func:`trusted_types` (our classes, LightGBM's, and the few scikit-learn/MAPIE ones a
  predictor holds) are rebuilt. Pickles (joblib) load only with ``allow_pickle=True``;
- :func:`read_weights_input` reads the networks to predict (zoo directory, ``.npy``,
  ``.keras``, ``.safetensors``, ``.npz``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skweights._inputs import read_weights_input, zoo_architecture

__all__ = [
    "ESTIMATORS",
    "FEATURE_SETS",
    "FORMAT",
    "FORMAT_VERSION",
    "SUFFIX",
    "fit_interval_predictor",
    "load_predictor",
    "make_predictor",
    "read_weights_input",
    "save_predictor",
    "trusted_types",
    "zoo_architecture",
]

#: Marker and version of the predictor file format (a skops archive of a dict).
FORMAT = "skweights-predictor"
FORMAT_VERSION = 1
SUFFIX = ".skops"

_PER_LAYER_STD = ("mean", "std", "q0", "q25", "q50", "q75", "q100")


def _stats(layout):
    from skweights.features import LayerStatistics

    return LayerStatistics(layout)


def _std_stats(layout):
    from skweights.features import LayerStatistics

    return LayerStatistics(layout, statistics=_PER_LAYER_STD)


def _global_stats(layout):
    from skweights.features import LayerStatistics

    return LayerStatistics(layout, per_layer=False)


def _norms(layout):
    from skweights.features import LayerNorms

    return LayerNorms(layout)


def _raw_weights(layout):
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(feature_names_out="one-to-one")


def _dense(layout):
    from skweights.features import LayerSelector

    return LayerSelector(layout, layers=[layout.layers[-1]])


def _gbm(random_state):
    from skweights.models import EarlyStoppingLGBMRegressor

    return EarlyStoppingLGBMRegressor(random_state=random_state, n_jobs=1)


def _logit_linear(random_state):
    from skweights.models import LogitLinearRegressor

    return LogitLinearRegressor(random_state=random_state)


def _mlp(random_state):
    from skweights.models import WeightMLP

    return WeightMLP(random_state=random_state)


#: Feature sets of :func:`make_predictor`: name -> factory ``f(layout) -> transformer``.
FEATURE_SETS: dict[str, Callable[[Any], Any]] = {
    "stats": _stats,
    "std-stats": _std_stats,
    "global-stats": _global_stats,
    "norms": _norms,
    "weights": _raw_weights,
    "dense": _dense,
}
#: Regressors of :func:`make_predictor`: name -> factory ``f(random_state) -> regressor``.
ESTIMATORS: dict[str, Callable[[Any], Any]] = {
    "gbm": _gbm,
    "logit-linear": _logit_linear,
    "mlp": _mlp,
}


def make_predictor(layout, features: str = "stats", estimator: str = "gbm", random_state=0):
    """The Pipeline behind ``skweights fit``: a feature transformer then a regressor.

    Parameters
    ----------
    layout : Layout
        Layout of the weight matrix.
    features : str, default="stats"
        A key of :data:`FEATURE_SETS`: per-layer statistics (``"stats"``: W_L with variance,
        ``"std-stats"``: with std), global statistics (``"global-stats"``: W̄), l1+l2 norms per
        tensor (``"norms"``), all raw weights (``"weights"``: W), or the dense layer's raw
        weights (``"dense"``: W⁴).
    estimator : str, default="gbm"
        A key of :data:`ESTIMATORS`: LightGBM early-stopping on a validation fraction of the
        training data (``"gbm"``), the logit-linear model, or `WeightMLP` (``"mlp"``).
    random_state : int, default=0
        Seed of the estimator.

    Returns
    -------
    Pipeline
        Steps ``("features", ...)`` and ``("model", ...)``, not fitted.

    Examples
    --------
    >>> from skweights.layout import Layout
    >>> make_predictor(Layout.small_cnn_zoo(), "norms", "logit-linear").named_steps["model"]
    LogitLinearRegressor(random_state=0)
    """
    from sklearn.pipeline import Pipeline

    if features not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {features!r}; expected one of {(*FEATURE_SETS,)}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {(*ESTIMATORS,)}")
    steps = [("features", FEATURE_SETS[features](layout))]
    return Pipeline([*steps, ("model", ESTIMATORS[estimator](random_state))])


def fit_interval_predictor(model, X, y, confidence_level=(0.8, 0.9), cv: int = 5, random_state=0):
    """Wrap ``model`` in a `ConformalPredictor` calibrated on ``(X, y)`` (training rows only).

    Returns the fitted :class:`skweights.intervals.ConformalPredictor`; its ``predict`` is
    ``model`` refitted on all of ``X``, its ``predict_interval(X, level)`` the intervals.
    """
    from skweights.intervals import ConformalPredictor

    return ConformalPredictor(
        model, confidence_level=confidence_level, cv=cv, random_state=random_state
    ).fit(X, y)


# ---------------------------------------------------------------------------- persistence
def _classes_of(module_names: list[str], prefix: str) -> set[str]:
    import importlib
    import inspect

    found = set()
    for name in module_names:
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__.startswith(prefix):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    return found


def trusted_types() -> list[str]:
    """Types a predictor file may hold: the explicit allow-list of :func:`load_predictor`.

    Derived from the classes of skweights (layout, features, models, intervals), of LightGBM's
    scikit-learn API and booster, and the few scikit-learn and MAPIE classes a saved
    predictor contains (Pipeline, FunctionTransformer, KFold, MAPIE's cross-conformal
    regressor and its absolute conformity score). Nothing else is ever rebuilt.
    """
    import pkgutil

    import skweights.features
    import skweights.models

    ours = ["skweights.layout", "skweights.intervals"]
    for package in (skweights.features, skweights.models):
        ours += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    names = _classes_of(ours, "skweights.")
    names |= _classes_of(["lightgbm.basic", "lightgbm.sklearn"], "lightgbm.")
    names |= {
        "collections.OrderedDict",
        "numpy.random.mtrand.RandomState",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.model_selection._split.KFold",
    }
    names |= _classes_of(["mapie.regression.regression", "mapie.estimator.regressor"], "mapie.")
    names |= _classes_of(["mapie.conformity_scores.bounds.absolute"], "mapie.")
    return sorted(names)


def save_predictor(path, model, layout, *, features=None, estimator=None, architecture=None):
    """Write a fitted predictor as a ``skops`` archive (atomically); returns the path.

    The archive holds a dict ``{"format", "format_version", "model", "layout", "features",
    "estimator", "architecture"}``; ``architecture`` (see :func:`zoo_architecture`) lets
    :func:`read_weights_input` refuse Keras models of another function.
    """
    import skops.io as sio

    from skweights._format import atomic_write_bytes

    saved = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "layout": layout,
        "features": features,
        "estimator": estimator,
        "architecture": architecture,
    }
    atomic_write_bytes(path, sio.dumps(saved))
    return Path(path)


_EXPECTED = f"a predictor file written by `skweights fit` (a skops archive, {SUFFIX})"


def load_predictor(path, *, allow_pickle: bool = False) -> dict:
    """Load a predictor file written by :func:`save_predictor` / ``skweights fit``.

    Parameters
    ----------
    path : path-like
        A ``.skops`` archive. It is read without running code: a type outside
        :func:`trusted_types` is refused before anything is rebuilt.
    allow_pickle : bool, default=False
        Also accept a joblib pickle (older skweights). **A pickle runs its code when loaded:
        allow it only for files you trust.**

    Returns
    -------
    dict
        With at least ``model`` and ``layout``.

    Raises
    ------
    ValueError
        Naming the file: empty, truncated, a pickle without ``allow_pickle``, untrusted types,
        or contents that are not a predictor.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; expected {_EXPECTED}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; expected {_EXPECTED}")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise ValueError(f"{path} is empty; expected {_EXPECTED}")
    if head[:2] == b"PK":  # a zip archive: skops
        return _check_contents(path, _load_skops(path))
    if allow_pickle:
        import joblib

        try:
            saved = joblib.load(path)
        except Exception as exc:  # any unpickling failure: the file is what is wrong
            raise ValueError(
                f"{path} could not be unpickled ({exc}); expected {_EXPECTED}"
            ) from None
        return _check_contents(path, saved)
    if head[:1] == b"\x80" or path.suffix in (".joblib", ".pkl", ".pickle"):
        raise ValueError(
            f"{path} is a pickle (joblib) file, not a skops predictor; a pickle can run "
            "code when loaded: pass allow_pickle=True (`--allow-pickle`) only if you trust it"
        )
    raise ValueError(f"{path} is not a zip archive; expected {_EXPECTED}")


def _load_skops(path: Path):
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = set(trusted_types())
    try:
        found = sio.get_untrusted_types(file=path)
        untrusted = [t for t in found if t not in allowed]
        if untrusted:
            raise ValueError(
                f"{path} holds types that are not trusted: {untrusted[:5]}; expected only the "
                "types of a skweights predictor (nothing was loaded)"
            )
        return sio.load(path, trusted=found)
    except UntrustedTypesFoundException as exc:
        raise ValueError(f"{path} holds types that are not trusted: {exc}") from None
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise ValueError(f"{path} is truncated or corrupt ({exc}); expected {_EXPECTED}") from None
    except (TypeError, AttributeError, ValueError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} could not be read as {_EXPECTED}: {exc}") from None


def _check_contents(path: Path, saved) -> dict:
    from skweights.layout import Layout

    if not isinstance(saved, dict) or "model" not in saved or "layout" not in saved:
        raise ValueError(
            f"{path} holds a {type(saved).__name__}, not a predictor; expected {_EXPECTED}"
        )
    version = saved.get("format_version", 0)
    if saved.get("format", FORMAT) != FORMAT or not isinstance(version, int):
        raise ValueError(f"{path} has format {saved.get('format')!r}; expected {FORMAT!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has predictor format version {version}, newer than this skweights "
            f"({FORMAT_VERSION}); upgrade skweights"
        )
    if not isinstance(saved["layout"], Layout) or not hasattr(saved["model"], "predict"):
        raise ValueError(f"{path} has no fitted model and Layout; expected {_EXPECTED}")
    saved["layout"] = Layout(saved["layout"].entries)  # validated again, as if read from CSV
    saved.setdefault("architecture", None)
    return saved
