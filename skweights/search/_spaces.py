"""The paper's search spaces (A.4) as ``{name: optuna distribution}`` dicts, and how a trial
samples them (including `Conditional` parameters such as the learning rate per optimizer)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

#: Inputs with more features than this count as "high-dimensional" for the GBM's
#: ``colsample_bytree`` (the paper's all-weights inputs W, W², W³ and (λ, W) have 4970, ~1000+
#: and ~2000+ columns; its statistics inputs have at most a few hundred).
HIGH_DIMENSIONAL_THRESHOLD = 1000

_INITIALIZERS = ("glorot_normal", "he_normal", "orthogonal", "normal", "truncated_normal")

#: The paper's search spaces (appendix A.4), read-only. The space functions copy from here.
#: ``gbm`` lacks ``colsample_bytree``, which depends on the input width (``gbm_colsample_bytree``).
PAPER_SPACES: Mapping[str, Mapping[str, BaseDistribution]] = MappingProxyType(
    {
        "gbm": MappingProxyType(
            {
                "num_leaves": IntDistribution(20, 1000),
                "max_depth": IntDistribution(5, 15),
                "learning_rate": FloatDistribution(1e-2, 1e-1, log=True),
                "max_bin": CategoricalDistribution((63, 127, 255)),
                "min_child_weight": IntDistribution(1, 5),
                "reg_lambda": FloatDistribution(1e-3, 100.0),
                "reg_alpha": FloatDistribution(1e-6, 5.0),
                "subsample": FloatDistribution(0.1, 1.0, step=0.1),
                "subsample_freq": CategoricalDistribution((1,)),  # fixed to 1 by the paper
            }
        ),
        "gbm_colsample_bytree": MappingProxyType(
            {
                "high_dimensional": FloatDistribution(1e-2, 1e-1, log=True),
                "low_dimensional": FloatDistribution(0.7, 1.0),
            }
        ),
        "mlp": MappingProxyType(
            {
                "n_layers": IntDistribution(3, 9),
                "n_units": IntDistribution(256, 511),
                "dropout": FloatDistribution(0.0, 0.2),
                "l2": FloatDistribution(1e-8, 1e-3, log=True),
                "learning_rate": FloatDistribution(1e-2, 0.5, log=True),
                "init_std": FloatDistribution(1e-3, 0.1, log=True),
                "optimizer": CategoricalDistribution(("adam", "sgd")),
                "batch_size": CategoricalDistribution((64, 128, 256, 512)),
                "initializer": CategoricalDistribution(_INITIALIZERS),
            }
        ),
    }
)

#: `mlp_space`'s learning rate per optimizer. The paper prints one range, [1e-2, 0.5], for both
#: Adam and SGD; Adam at 0.05 collapses `WeightMLP` to constant outputs (R² -0.24 on 8,000 digits
#: networks, while lr 3e-4 gives 0.941), so Adam gets its usual range and SGD the paper's.
MLP_LEARNING_RATES: Mapping[str, FloatDistribution] = MappingProxyType(
    {
        "adam": FloatDistribution(1e-4, 3e-3, log=True),
        "sgd": FloatDistribution(1e-3, 0.5, log=True),
    }
)


@dataclass(frozen=True)
class Conditional:
    """A parameter whose distribution depends on the value of a categorical parameter.

    In a space, ``{"optimizer": CategoricalDistribution(("adam", "sgd")), "learning_rate":
    Conditional("optimizer", {"adam": ..., "sgd": ...})}`` samples the optimizer first, then the
    learning rate from the optimizer's distribution. Optuna records it under its own name per
    branch (``learning_rate[optimizer=adam]``), so the sampler models each branch separately;
    ``best_params_`` and ``cv_results_["params"]`` give it back as ``learning_rate``.

    Parameters
    ----------
    on : str
        Name of the categorical parameter (in the same space, unprefixed) it depends on.
    distributions : mapping of choice to optuna distribution
        One distribution per choice of ``on``.

    Examples
    --------
    >>> from skweights.search import Conditional, mlp_space
    >>> lr = mlp_space()["learning_rate"]
    >>> isinstance(lr, Conditional), lr.on, lr.distributions["adam"].high
    (True, 'optimizer', 0.003)
    """

    on: str
    distributions: Mapping[Any, BaseDistribution]

    def trial_name(self, name: str, choice: Any) -> str:
        """The name under which Optuna records ``name`` for one ``choice`` of ``on``."""
        on = self.on.rsplit("__", 1)[-1]
        return f"{name}[{on}={choice}]"


def gbm_space(
    n_features: int | None = None,
    *,
    high_dimensional_threshold: int = HIGH_DIMENSIONAL_THRESHOLD,
) -> dict[str, BaseDistribution]:
    """The paper's LightGBM search space (A.4), for `EarlyStoppingLGBMRegressor` or LGBMRegressor.

    Parameters
    ----------
    n_features : int or None, default=None
        Number of input features the GBM sees. ``colsample_bytree`` is log-uniform on
        ``[0.01, 0.1]`` for more than ``high_dimensional_threshold`` features and uniform on
        ``[0.7, 1]`` otherwise; ``None`` leaves ``colsample_bytree`` out of the space.
    high_dimensional_threshold : int, default=1000
        Width above which an input counts as high-dimensional.

    Returns
    -------
    space : dict of str to optuna.distributions.BaseDistribution
        A fresh dict, safe to edit.

    Examples
    --------
    >>> from skweights.search import gbm_space
    >>> gbm_space(4970)["colsample_bytree"]
    FloatDistribution(high=0.1, log=True, low=0.01, step=None)
    >>> gbm_space(120)["colsample_bytree"]
    FloatDistribution(high=1.0, log=False, low=0.7, step=None)
    """
    space = copy.deepcopy(dict(PAPER_SPACES["gbm"]))
    if n_features is not None:
        key = "high_dimensional" if n_features > high_dimensional_threshold else "low_dimensional"
        space["colsample_bytree"] = copy.deepcopy(PAPER_SPACES["gbm_colsample_bytree"][key])
    return space


def mlp_space() -> dict[str, BaseDistribution | Conditional]:
    """The paper's DNN search space (A.4), for `skweights.models.WeightMLP`.

    The paper samples the initialiser's *variance* log-uniformly from ``[1e-3, 0.1]``; here the
    range is applied to ``WeightMLP``'s ``init_std``. The learning rate is a `Conditional` on the
    optimizer (`MLP_LEARNING_RATES`): Adam log-uniform on ``[1e-4, 3e-3]``, SGD on
    ``[1e-3, 0.5]``, instead of the paper's single ``[1e-2, 0.5]`` (``PAPER_SPACES["mlp"]``),
    in which Adam diverges.

    Returns
    -------
    space : dict of str to optuna distribution or Conditional

    Examples
    --------
    >>> from skweights.search import mlp_space
    >>> sorted(mlp_space())[:3]
    ['batch_size', 'dropout', 'init_std']
    """
    space: dict[str, Any] = copy.deepcopy(dict(PAPER_SPACES["mlp"]))
    space["learning_rate"] = Conditional("optimizer", copy.deepcopy(dict(MLP_LEARNING_RATES)))
    return space


def logit_linear_space(solver: str = "lbfgs") -> dict[str, BaseDistribution]:
    """The paper's logit-linear space: the DNN protocol with zero hidden layers.

    Mapped onto `skweights.models.LogitLinearRegressor`: the paper's l2 coefficient becomes
    ``alpha``. With ``solver="adam"`` the paper's learning rate and batch size are searched too
    (``"lbfgs"``, the default solver, has neither; the paper's initialiser choice has no
    counterpart because the logit-linear objective is convex).

    Parameters
    ----------
    solver : {"lbfgs", "adam"}, default="lbfgs"

    Returns
    -------
    space : dict of str to optuna.distributions.BaseDistribution

    Examples
    --------
    >>> from skweights.search import logit_linear_space
    >>> logit_linear_space()
    {'alpha': FloatDistribution(high=0.001, log=True, low=1e-08, step=None)}
    >>> sorted(logit_linear_space("adam"))
    ['alpha', 'batch_size', 'learning_rate', 'solver']
    """
    if solver not in ("lbfgs", "adam"):
        raise ValueError(f"solver must be 'lbfgs' or 'adam', got {solver!r}")
    mlp = PAPER_SPACES["mlp"]
    space = {"alpha": copy.deepcopy(mlp["l2"])}
    if solver == "adam":
        space["solver"] = CategoricalDistribution(("adam",))
        space["learning_rate"] = copy.deepcopy(mlp["learning_rate"])
        space["batch_size"] = copy.deepcopy(mlp["batch_size"])
    return space


#: Names accepted by ``WeightSearchCV(space=...)``.
SPACES: Mapping[str, Callable[..., dict]] = MappingProxyType(
    {"gbm": gbm_space, "mlp": mlp_space, "logit_linear": logit_linear_space}
)


def check_space(space: Mapping[str, Any]) -> None:
    """Raise if an entry is neither a distribution nor a `Conditional` on a categorical entry."""
    for name, distribution in space.items():
        if isinstance(distribution, Conditional):
            parent = space.get(distribution.on)
            if not isinstance(parent, CategoricalDistribution):
                raise ValueError(
                    f"space[{name!r}] is conditional on {distribution.on!r}, which must be a "
                    f"CategoricalDistribution of the same space; got {type(parent).__name__}"
                )
            missing = set(parent.choices) - set(distribution.distributions)
            if missing:
                raise ValueError(
                    f"space[{name!r}] has no distribution for {distribution.on}="
                    f"{sorted(map(str, missing))}"
                )
        elif not isinstance(distribution, BaseDistribution):
            raise TypeError(
                f"space[{name!r}] must be an optuna distribution or a Conditional, "
                f"got {type(distribution).__name__}"
            )


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise TypeError(f"unsupported distribution {type(distribution).__name__} for {name!r}")


def suggest_params(trial: optuna.Trial, space: Mapping[str, Any]) -> dict[str, Any]:
    """Sample ``space`` in ``trial``; return the estimator parameters (conditionals resolved)."""
    params = {
        name: _suggest(trial, name, d)
        for name, d in space.items()
        if not isinstance(d, Conditional)
    }
    for name, conditional in space.items():
        if isinstance(conditional, Conditional):
            choice = params[conditional.on]
            distribution = conditional.distributions[choice]
            params[name] = _suggest(trial, conditional.trial_name(name, choice), distribution)
    return {name: params[name] for name in space}


def estimator_params(trial_params: Mapping[str, Any], space: Mapping[str, Any]) -> dict:
    """The estimator parameters of a trial's recorded ``params`` (inverse of `suggest_params`)."""
    params = {name: trial_params[name] for name in space if name in trial_params}
    for name, conditional in space.items():
        if isinstance(conditional, Conditional) and conditional.on in params:
            key = conditional.trial_name(name, params[conditional.on])
            if key in trial_params:
                params[name] = trial_params[key]
    return params
