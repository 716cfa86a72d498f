"""Cross-validated hyperparameter search with Optuna, over the search spaces of the paper (A.4).

The paper tunes every accuracy predictor by evaluating 1k configurations with 3-fold
cross-validation on the training networks and refitting the best one. `WeightSearchCV` does that
for any scikit-learn estimator or Pipeline; `gbm_space`, `mlp_space` and `logit_linear_space`
return the paper's spaces as plain ``{name: optuna distribution}`` dicts that you can edit.
The paper's ranges live in one read-only constant, `PAPER_SPACES`.

Storage, resuming and distributed search
----------------------------------------
``storage=None`` keeps the study in memory. Any Optuna storage makes the search durable:

- ``storage="sqlite:///search.db"`` (any SQLAlchemy URL, e.g. ``postgresql://user@host/db``),
- ``storage="journal:///path/search.log"`` (an ``optuna.storages.JournalStorage`` on a
  ``JournalFileBackend``; safe for several processes on one machine or on a shared file system),
- or any ``optuna.storages.BaseStorage`` instance.

``n_trials`` is the number of **completed** trials the study should hold, counted over every
run and every worker. Re-running the same search after an interruption keeps the finished trials
and runs only the remaining ``n_trials - n_complete`` ones (a trial that was running when the
process died stays ``RUNNING`` in the storage, is not counted and is ignored; failed trials are
not counted either). With ``n_trials`` already reached, ``fit`` only refits the best trial.

To spread one search over several machines, start the same command on each of them with the same
RDB URL (PostgreSQL or MySQL; SQLite only for processes on one machine) and the same
``study_name``. Each worker samples new configurations from the shared history and stops once the
study holds ``n_trials`` completed trials; trials still in flight in other workers then finish
too, so the total may exceed ``n_trials`` by at most ``n_workers - 1``. Give each worker a
different ``random_state`` (or leave it ``None``), otherwise seeded samplers propose the same
configurations on every worker. Integer ``cv`` always means the same shuffled folds (seeded
with ``random_state``, or 0), so the scores of all workers and runs are comparable.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import Ridge
>>> from optuna.distributions import FloatDistribution
>>> from skweights.search import WeightSearchCV
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 3))
>>> y = X @ [1.0, 2.0, 0.0] + 0.1 * rng.normal(size=60)
>>> space = {"alpha": FloatDistribution(1e-3, 10.0, log=True)}
>>> search = WeightSearchCV(Ridge(), space, n_trials=5, random_state=0).fit(X, y)
>>> search.n_trials_, len(search.cv_results_["params"])
(5, 5)
>>> bool(search.best_score_ > 0.9)
True
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import KFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

__all__ = [
    "HIGH_DIMENSIONAL_THRESHOLD",
    "PAPER_SPACES",
    "SPACES",
    "WeightSearchCV",
    "gbm_space",
    "logit_linear_space",
    "make_storage",
    "mlp_space",
    "nfn_space",
    "search_report",
]

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


def mlp_space() -> dict[str, BaseDistribution]:
    """The paper's DNN search space (A.4), for `skweights.models.WeightMLP`.

    The paper samples the initialiser's *variance* log-uniformly from ``[1e-3, 0.1]``; here the
    range is applied to ``WeightMLP``'s ``init_std``. The learning rate range ``[1e-2, 0.5]`` is
    the paper's as printed.

    Returns
    -------
    space : dict of str to optuna.distributions.BaseDistribution

    Examples
    --------
    >>> from skweights.search import mlp_space
    >>> sorted(mlp_space())[:3]
    ['batch_size', 'dropout', 'init_std']
    """
    return copy.deepcopy(dict(PAPER_SPACES["mlp"]))


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


def nfn_space() -> dict[str, BaseDistribution]:
    """A search space for `skweights.models.NeuralFunctionalRegressor` (not from the paper).

    Around NFN's predict-generalisation setting (three equivariant layers, Adam at ``1e-3``,
    binary cross-entropy): the width of the equivariant layers and of the head, the step size,
    the batch size and the loss. The widths are categorical tuples (Optuna stores them as JSON
    lists in a persistent storage, which the estimator accepts too).

    Returns
    -------
    space : dict of str to optuna.distributions.BaseDistribution

    Examples
    --------
    >>> from skweights.search import nfn_space
    >>> sorted(nfn_space())
    ['batch_size', 'head_units', 'hidden_channels', 'learning_rate', 'loss']
    """
    with warnings.catch_warnings():  # Optuna prefers scalar choices; tuples work
        warnings.filterwarnings("ignore", "Choices for a categorical", UserWarning)
        hidden = CategoricalDistribution(((8, 8), (8, 8, 4), (16, 16, 5)))
        head = CategoricalDistribution(((128,), (256, 256)))
    return {
        "hidden_channels": hidden,
        "head_units": head,
        "learning_rate": FloatDistribution(3e-4, 3e-3, log=True),
        "batch_size": CategoricalDistribution((16, 32, 64)),
        "loss": CategoricalDistribution(("binary_crossentropy", "squared_error")),
    }


#: Names accepted by ``WeightSearchCV(space=...)``.
SPACES: Mapping[str, Callable[..., dict]] = MappingProxyType(
    {
        "gbm": gbm_space,
        "mlp": mlp_space,
        "logit_linear": logit_linear_space,
        "nfn": nfn_space,
    }
)


def make_storage(storage: str | optuna.storages.BaseStorage | None):
    """An Optuna storage from a URL: ``journal:///path.log``, an RDB URL, or a storage object.

    ``journal://`` URLs give a ``JournalStorage`` on a ``JournalFileBackend`` (the path follows
    ``journal://``, so ``journal:///tmp/s.log`` is ``/tmp/s.log``). SQLite URLs get a 60 s lock
    timeout so that several local processes can share one file. ``None`` stays ``None``
    (in-memory).

    Examples
    --------
    >>> from skweights.search import make_storage
    >>> make_storage(None) is None
    True
    """
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if storage.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage[len("journal://") :]))
    if storage.startswith("sqlite"):
        return optuna.storages.RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(storage)


def _step_estimator(estimator, step: str | None):
    """The sub-estimator the space applies to, and the ``step__`` prefix of its params."""
    if step is None:
        return estimator, ""
    target = estimator
    for part in step.split("__"):
        params = target.get_params(deep=False)
        if isinstance(target, Pipeline):
            params = dict(target.steps)
        if part not in params:
            raise ValueError(
                f"step {step!r} not found: {type(target).__name__} has sub-estimators "
                f"{sorted(k for k, v in params.items() if hasattr(v, 'fit'))}"
            )
        target = params[part]
    return target, f"{step}__"


def _n_features_at_step(estimator, step: str | None, X) -> int:
    """Width of the input the ``step`` estimator sees (fits the Pipeline steps before it)."""
    n_features = np.shape(X)[1]
    if step is None or not isinstance(estimator, Pipeline):
        return n_features
    names = [name for name, _ in estimator.steps]
    first = step.split("__")[0]
    index = names.index(first)
    if index == 0:
        return n_features
    return np.shape(clone(estimator[:index]).fit_transform(X))[1]


class WeightSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Cross-validated Optuna search over the paper's (or any) hyperparameter space.

    A thin layer over `optuna_integration.OptunaSearchCV` (which runs the trials:
    ``cross_validate`` inside each trial's objective) that adds the paper's named spaces,
    Pipeline step prefixes, durable and resumable studies (``n_trials`` counts completed trials
    of the whole study, see the module docstring), seeded shuffled folds and scikit-learn-style
    ``cv_results_``.

    Parameters
    ----------
    estimator : estimator object
        Regressor or Pipeline to tune.
    space : {"gbm", "mlp", "logit_linear", "nfn"}, dict or callable
        A name from `SPACES`, a ``{param: optuna distribution}`` dict (names as the step
        estimator's, unprefixed), or a callable ``n_features -> dict``. ``"gbm"`` picks
        ``colsample_bytree``'s range from the width of the input seen by the step.
    n_trials : int, default=100
        Number of completed trials the study should hold (the paper uses 1000).
    timeout : float or None, default=None
        Stop starting new trials after this many seconds of this ``fit``.
    cv : int, cross-validation generator or iterable, default=3
        An int means ``KFold(cv, shuffle=True)`` seeded with ``random_state`` (0 when None).
    scoring : str, callable or None, default="r2"
        Any scikit-learn scorer name or scorer, e.g. `skweights.metrics.kendall_tau_scorer`.
    sampler : {"tpe", "random"} or optuna.samplers.BaseSampler, default="tpe"
        Names are seeded from ``random_state`` and the number of trials already in the study.
    storage : str, optuna.storages.BaseStorage or None, default=None
        See `make_storage`. None keeps the study in memory.
    study_name : str or None, default=None
        Name of the study in ``storage`` (None: a generated unique name).
    load_if_exists : bool, default=True
        Resume the study ``study_name`` if it exists in ``storage``.
    step : str or None, default=None
        Name of the Pipeline step (``"gbm"``, nested as ``"model__gbm"``) the space applies to;
        the parameters become ``gbm__num_leaves``, .... None with a Pipeline means its last step.
    refit : bool, default=True
        Refit the best configuration on all of ``X`` as ``best_estimator_``.
    error_score : float, default=np.nan
        Score of a fold whose fit fails. A trial whose folds all fail is marked failed and does
        not count toward ``n_trials``. (``"raise"`` is not offered: OptunaSearchCV turns a
        ``ValueError`` raised in ``cross_validate`` into a failed trial.)
    random_state : int, RandomState instance or None, default=None
        Seeds the sampler and the folds.
    n_jobs : int, default=1
        Trials run in parallel threads of this process (Optuna's ``n_jobs``).
    callbacks : list of callable or None, default=None
        Extra ``callback(study, frozen_trial)`` run after each trial.
    progress : bool, default=False
        Show a tqdm progress bar over this run's trials.

    Attributes
    ----------
    best_estimator_ : estimator
        The best configuration refitted on all of ``X`` (when ``refit=True``).
    best_params_ : dict
        Parameters of the best completed trial (prefixed like the space).
    best_score_ : float
        Its mean cross-validated score.
    best_index_ : int
        Index of the best trial in ``cv_results_``.
    cv_results_ : dict of str to ndarray or list
        One entry per completed trial, ordered by trial number: ``params``, ``param_<name>``,
        ``mean_test_score``, ``std_test_score``, ``split<k>_test_score``, ``rank_test_score``,
        fit and score times, and ``trial_number``.
    study_ : optuna.Study
        The study (with the trials of earlier runs and other workers).
    n_trials_ : int
        Completed trials in the study.
    n_splits_ : int
        Number of cross-validation folds.
    scorer_ : callable
        The scorer used for the search and by `score`.
    refit_time_ : float
        Seconds spent refitting the best configuration.

    See Also
    --------
    gbm_space, mlp_space, logit_linear_space : The paper's spaces.
    optuna_integration.OptunaSearchCV : The search this class wraps.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skweights.models._gbm import EarlyStoppingLGBMRegressor
    >>> from skweights.search import WeightSearchCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 4))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=90)
    >>> pipe = make_pipeline(
    ...     StandardScaler(), EarlyStoppingLGBMRegressor(n_estimators=30, random_state=0)
    ... )
    >>> search = WeightSearchCV(pipe, "gbm", n_trials=3, random_state=0).fit(X, y)
    >>> sorted(search.best_params_)[:2]
    ['earlystoppinglgbmregressor__colsample_bytree', 'earlystoppinglgbmregressor__learning_rate']
    >>> search.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "space": [StrOptions(set(SPACES)), Mapping, callable],
        "n_trials": [Interval(Integral, 1, None, closed="left"), None],
        "timeout": [Interval(Real, 0, None, closed="neither"), None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "sampler": [StrOptions({"tpe", "random"}), optuna.samplers.BaseSampler],
        "storage": [str, optuna.storages.BaseStorage, None],
        "study_name": [str, None],
        "load_if_exists": ["boolean"],
        "step": [str, None],
        "refit": ["boolean"],
        "error_score": [Real],
        "random_state": ["random_state"],
        "n_jobs": [Integral],
        "callbacks": [list, None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        estimator,
        space,
        *,
        n_trials: int | None = 100,
        timeout: float | None = None,
        cv=3,
        scoring="r2",
        sampler="tpe",
        storage=None,
        study_name: str | None = None,
        load_if_exists: bool = True,
        step: str | None = None,
        refit: bool = True,
        error_score=np.nan,
        random_state=None,
        n_jobs: int = 1,
        callbacks: list | None = None,
        progress: bool = False,
    ):
        self.estimator = estimator
        self.space = space
        self.n_trials = n_trials
        self.timeout = timeout
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.storage = storage
        self.study_name = study_name
        self.load_if_exists = load_if_exists
        self.step = step
        self.refit = refit
        self.error_score = error_score
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callbacks = callbacks
        self.progress = progress

    # ----------------------------------------------------------------------------- set-up
    def _resolve_step(self) -> str | None:
        if self.step is None and isinstance(self.estimator, Pipeline):
            return self.estimator.steps[-1][0]
        return self.step

    def _resolve_space(self, X, step: str | None) -> dict[str, BaseDistribution]:
        _, prefix = _step_estimator(self.estimator, step)
        if isinstance(self.space, Mapping):
            space = dict(self.space)
        elif isinstance(self.space, str) and self.space != "gbm":
            space = SPACES[self.space]()
        else:
            n_features = _n_features_at_step(self.estimator, step, X)
            space = gbm_space(n_features) if self.space == "gbm" else self.space(n_features)
        for name, distribution in space.items():
            if not isinstance(distribution, BaseDistribution):
                raise TypeError(
                    f"space[{name!r}] must be an optuna distribution, "
                    f"got {type(distribution).__name__}"
                )
        return {prefix + name: distribution for name, distribution in space.items()}

    def _make_cv(self):
        if isinstance(self.cv, Integral):
            seed = self.random_state if isinstance(self.random_state, Integral) else 0
            return KFold(int(self.cv), shuffle=True, random_state=seed)
        return check_cv(self.cv)

    def _make_study(self, space: dict, n_samples: int) -> optuna.Study:
        study = optuna.create_study(
            storage=make_storage(self.storage),
            study_name=self.study_name,
            direction="maximize",
            load_if_exists=self.load_if_exists,
        )
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError(
                f"study {study.study_name!r} minimises; expected a study that maximises the score"
            )
        n_existing = len(study.get_trials(deepcopy=False))
        if isinstance(self.sampler, optuna.samplers.BaseSampler):
            study.sampler = self.sampler
        else:
            seed = None
            if self.random_state is not None:
                base = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
                seed = int(np.random.SeedSequence([base, n_existing]).generate_state(1)[0])
            sampler_class = {
                "tpe": optuna.samplers.TPESampler,
                "random": optuna.samplers.RandomSampler,
            }
            study.sampler = sampler_class[self.sampler](seed=seed)
        signature = {
            "space": {name: distribution_to_json(d) for name, d in sorted(space.items())},
            "n_samples": int(n_samples),
        }
        previous = study.user_attrs.get("skweights_search")
        if previous is None:
            study.set_user_attr("skweights_search", signature)
        elif json.dumps(previous, sort_keys=True) != json.dumps(signature, sort_keys=True):
            warnings.warn(
                f"study {study.study_name!r} was started with a different search space or "
                f"number of samples ({previous['n_samples']} vs {n_samples}); the scores of its "
                "earlier trials may not be comparable",
                UserWarning,
                stacklevel=3,
            )
        return study

    # -------------------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, groups=None, **fit_params) -> WeightSearchCV:
        """Run the remaining trials of the study, then refit the best configuration.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (only the training split: the folds are carved from it).
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.
        **fit_params
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : WeightSearchCV
        """
        from optuna_integration import OptunaSearchCV

        step = self._resolve_step()
        space = self._resolve_space(X, step)
        self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        cv = self._make_cv()
        self.n_splits_ = cv.get_n_splits(X, y, groups)
        self.study_ = self._make_study(space, _num_samples(X))

        n_complete = len(self.study_.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        remaining = None if self.n_trials is None else max(0, self.n_trials - n_complete)
        callbacks = list(self.callbacks or [])
        if self.n_trials is not None:
            callbacks.insert(0, MaxTrialsCallback(self.n_trials, states=(TrialState.COMPLETE,)))
        bar = None
        if self.progress and remaining != 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=remaining, desc=f"search {self.study_.study_name}")
            callbacks.append(lambda study, trial: bar.update(1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            inner = OptunaSearchCV(
                self.estimator,
                space,
                cv=cv,
                error_score=self.error_score,
                n_jobs=self.n_jobs,
                n_trials=remaining,
                refit=False,
                scoring=self.scorer_,
                study=self.study_,
                timeout=self.timeout,
                callbacks=callbacks,
            )
        try:
            if remaining != 0:
                with warnings.catch_warnings():
                    # OptunaSearchCV reports fold scores to the deprecated optuna.terminator
                    warnings.filterwarnings(
                        "ignore", message=".*optuna.terminator", category=FutureWarning
                    )
                    # nan-means over the fold scores of a trial whose fits all failed
                    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
                    warnings.filterwarnings("ignore", message="Mean of empty slice")
                    inner.fit(X, y, groups=groups, **fit_params)
        finally:
            if bar is not None:
                bar.close()

        trials = self.study_.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not trials:
            raise ValueError(
                f"study {self.study_.study_name!r} has no completed trial: every "
                "cross-validation fit failed; fit the estimator with one of the trial's "
                "params to see the exception"
            )
        self.n_trials_ = len(trials)
        self.cv_results_ = _cv_results(trials, self.n_splits_)
        self.best_index_ = int(np.argmax(self.cv_results_["mean_test_score"]))
        best = trials[self.best_index_]
        self.best_params_ = dict(best.params)
        self.best_score_ = float(best.value)
        if self.refit:
            start = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
        return self

    # ---------------------------------------------------------------------- delegation
    def _check_refit(self) -> bool:
        check_is_fitted(self, "study_")
        if not self.refit:
            raise AttributeError("refit=False: there is no best_estimator_ to predict with")
        return True

    @available_if(_check_refit)
    def predict(self, X) -> np.ndarray:
        """Predict with the refitted best estimator."""
        return self.best_estimator_.predict(X)

    def score(self, X, y) -> float:
        """``scorer_`` of the refitted best estimator on ``(X, y)``."""
        self._check_refit()
        return self.scorer_(self.best_estimator_, X, y)

    @property
    def n_features_in_(self) -> int:
        """Number of features seen by the refitted best estimator."""
        self._check_refit()
        return self.best_estimator_.n_features_in_


def _cv_results(trials: list, n_splits: int) -> dict[str, Any]:
    """scikit-learn-style ``cv_results_`` from completed trials (user attrs of OptunaSearchCV)."""
    attrs = [trial.user_attrs for trial in trials]
    results: dict[str, Any] = {
        "trial_number": np.array([trial.number for trial in trials]),
        "params": [dict(trial.params) for trial in trials],
    }
    names = sorted({name for trial in trials for name in trial.params})
    for name in names:
        column = np.ma.masked_all(len(trials), dtype=object)
        for i, trial in enumerate(trials):
            if name in trial.params:
                column[i] = trial.params[name]
        results[f"param_{name}"] = column
    keys = [f"split{k}_test_score" for k in range(n_splits)]
    keys += ["mean_test_score", "std_test_score", "mean_fit_time", "std_fit_time"]
    keys += ["mean_score_time", "std_score_time"]
    for key in keys:
        results[key] = np.array([a.get(key, np.nan) for a in attrs], dtype=np.float64)
    results["mean_test_score"] = np.array([trial.value for trial in trials], dtype=np.float64)
    results["rank_test_score"] = rankdata(-results["mean_test_score"], method="min").astype(
        np.int32
    )
    return results


def search_report(search: WeightSearchCV):
    """The search's trials as a DataFrame (Optuna's ``trials_dataframe``), best first.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from optuna.distributions import FloatDistribution
    >>> from skweights.search import WeightSearchCV, search_report
    >>> X, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    >>> space = {"alpha": FloatDistribution(1e-3, 1.0, log=True)}
    >>> search = WeightSearchCV(Ridge(), space, n_trials=3, random_state=0).fit(X, y)
    >>> report = search_report(search)
    >>> len(report), "params_alpha" in report.columns
    (3, True)
    """
    check_is_fitted(search, "study_")
    frame = search.study_.trials_dataframe()
    frame = frame[frame["state"] == TrialState.COMPLETE.name]
    return frame.sort_values("value", ascending=False).reset_index(drop=True)
