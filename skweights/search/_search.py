"""`WeightSearchCV`: a resumable, shareable, prunable cross-validated Optuna search."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import optuna
from optuna.distributions import distribution_to_json
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

from skweights.search._spaces import SPACES, Conditional, check_space, estimator_params, gbm_space
from skweights.search._storage import check_study_settings, make_storage
from skweights.search._trials import (
    PRUNERS,
    SURPLUS_ATTR,
    CVObjective,
    Quota,
    make_pruner,
    run_trials,
)


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

    Each trial cross-validates one configuration on the same seeded folds (``study.optimize``
    with a fold-wise objective, so a pruner can stop it between folds). On top of Optuna it adds
    the paper's named spaces, Pipeline step prefixes, durable, resumable and shared studies
    (``n_trials`` counts the finished trials of the whole study over all workers, see the
    module docstring) and scikit-learn-style ``cv_results_``.

    Parameters
    ----------
    estimator : estimator object
        Regressor or Pipeline to tune.
    space : {"gbm", "mlp", "logit_linear", "nfn"}, dict or callable
        A name from `SPACES`, a ``{param: optuna distribution}`` dict (names as the step
        estimator's, unprefixed), or a callable ``n_features -> dict``. ``"gbm"`` picks
        ``colsample_bytree``'s range from the width of the input seen by the step.
    n_trials : int, default=100
        Number of finished (complete or pruned) trials the study should hold, over all workers
        (the paper uses 1000).
    timeout : float or None, default=None
        Stop starting new trials after this many seconds of this ``fit``.
    cv : int, cross-validation generator or iterable, default=3
        An int means ``KFold(cv, shuffle=True)`` seeded with ``random_state`` (0 when None).
    scoring : str, callable or None, default="r2"
        Any scikit-learn scorer name or scorer, e.g. `skweights.metrics.kendall_tau_scorer`.
    sampler : {"tpe", "random"} or optuna.samplers.BaseSampler, default="tpe"
        Names are seeded with ``sampler_seed``.
    sampler_seed : int or None, default=None
        Seed of a named sampler, mixed with the number of trials already in the study (a resumed
        search continues instead of replaying). None: fresh OS entropy, so that workers started
        with the same command never propose the same configurations.
    pruner : {"median", "halving", "hyperband"}, optuna.pruners.BasePruner or None, default=None
        Stops trials between folds (see `make_pruner`). None: every trial runs all folds.
    storage : str, optuna.storages.BaseStorage or None, default=None
        See `make_storage`. None keeps the study in memory.
    heartbeat_interval : int or None, default=None
        For RDB URLs: seconds between the heartbeats of a running trial; a trial silent for
        twice as long is failed and re-queued (see `make_storage`). None: no heartbeat.
    study_name : str or None, default=None
        Name of the study in ``storage`` (None: a generated unique name).
    study_settings : dict or None, default=None
        What identifies this search (data, features, split, ...), JSON-serialisable. Stored in
        the user attributes of a new study; joining a study created with different settings
        raises a ValueError naming the first differing one.
    load_if_exists : bool, default=True
        Resume the study ``study_name`` if it exists in ``storage``.
    step : str or None, default=None
        Name of the Pipeline step (``"gbm"``, nested as ``"model__gbm"``) the space applies to;
        the parameters become ``gbm__num_leaves``, .... None with a Pipeline means its last step.
    refit : bool, default=True
        Refit the best configuration on all of ``X`` as ``best_estimator_``.
    error_score : float, default=np.nan
        Score of a fold whose fit fails. With NaN, a trial with a failing fold is marked failed
        (its exception in the trial's ``error`` user attribute) and does not count toward
        ``n_trials``.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds of an integer ``cv`` (not the sampler: see ``sampler_seed``).
    n_jobs : int, default=1
        Trials run in parallel threads of this process (-1: one per CPU).
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
        One entry per completed trial (pruned ones have no full score), ordered by trial
        number: ``params``, ``param_<name>``, ``mean_test_score``, ``std_test_score``,
        ``split<k>_test_score``, ``rank_test_score``, fit and score times, ``trial_number``.
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
    make_storage, make_pruner : Storages from URLs; pruners from names.

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
    >>> search = WeightSearchCV(pipe, "gbm", n_trials=3, sampler_seed=0).fit(X, y)
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
        "sampler_seed": [Interval(Integral, 0, None, closed="left"), None],
        "pruner": [StrOptions(set(PRUNERS)), optuna.pruners.BasePruner, None],
        "storage": [str, optuna.storages.BaseStorage, None],
        "heartbeat_interval": [Interval(Integral, 1, None, closed="left"), None],
        "study_name": [str, None],
        "study_settings": [dict, None],
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
        sampler_seed: int | None = None,
        pruner=None,
        storage=None,
        heartbeat_interval: int | None = None,
        study_name: str | None = None,
        study_settings: dict | None = None,
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
        self.sampler_seed = sampler_seed
        self.pruner = pruner
        self.storage = storage
        self.heartbeat_interval = heartbeat_interval
        self.study_name = study_name
        self.study_settings = study_settings
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

    def _resolve_space(self, X, step: str | None) -> dict[str, Any]:
        _, prefix = _step_estimator(self.estimator, step)
        if isinstance(self.space, Mapping):
            space = dict(self.space)
        elif isinstance(self.space, str) and self.space != "gbm":
            space = SPACES[self.space]()
        else:
            n_features = _n_features_at_step(self.estimator, step, X)
            space = gbm_space(n_features) if self.space == "gbm" else self.space(n_features)
        check_space(space)
        return {
            prefix + name: Conditional(prefix + d.on, d.distributions)
            if isinstance(d, Conditional)
            else d
            for name, d in space.items()
        }

    def _make_cv(self):
        if isinstance(self.cv, Integral):
            seed = self.random_state if isinstance(self.random_state, Integral) else 0
            return KFold(int(self.cv), shuffle=True, random_state=seed)
        return check_cv(self.cv)

    def _make_study(self, space: dict, n_samples: int, n_splits: int) -> optuna.Study:
        storage = make_storage(self.storage, heartbeat_interval=self.heartbeat_interval)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(
                storage=storage,
                study_name=self.study_name,
                direction="maximize",
                load_if_exists=self.load_if_exists,
                pruner=make_pruner(self.pruner, n_splits) or optuna.pruners.NopPruner(),
            )
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError(
                f"study {study.study_name!r} minimises; expected a study that maximises the score"
            )
        if self.study_settings is not None:
            check_study_settings(study, self.study_settings)
        study.sampler = self._make_sampler(len(study.get_trials(deepcopy=False)))
        signature = {"space": _space_json(space), "n_samples": int(n_samples)}
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

    def _make_sampler(self, n_existing: int) -> optuna.samplers.BaseSampler:
        if isinstance(self.sampler, optuna.samplers.BaseSampler):
            return self.sampler
        seed = None
        if self.sampler_seed is not None:
            base = check_random_state(self.sampler_seed).randint(np.iinfo(np.int32).max)
            sequence = np.random.SeedSequence([base, n_existing])
            seed = int(sequence.generate_state(1)[0])
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

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
        step = self._resolve_step()
        space = self._resolve_space(X, step)
        self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        cv = self._make_cv()
        splits = list(cv.split(X, y, groups))
        self.n_splits_ = len(splits)
        self.study_ = self._make_study(space, _num_samples(X), self.n_splits_)
        objective = CVObjective(
            self.estimator,
            space,
            X,
            y,
            splits,
            self.scorer_,
            error_score=self.error_score,
            fit_params=fit_params,
            pruning=not isinstance(self.study_.pruner, optuna.pruners.NopPruner),
            quota=Quota(self.study_, self.n_trials),
        )
        self._run(objective)

        trials = self.study_.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not trials:
            raise ValueError(
                f"study {self.study_.study_name!r} has no completed trial: every "
                "cross-validation fit failed (see the trials' 'error' user attribute)"
            )
        self.n_trials_ = len(trials)
        self.cv_results_ = _cv_results(trials, space, self.n_splits_)
        self.best_index_ = int(np.argmax(self.cv_results_["mean_test_score"]))
        self.best_params_ = dict(self.cv_results_["params"][self.best_index_])
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        if self.refit:
            start = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
        return self

    def _run(self, objective: CVObjective) -> None:
        quota = objective.quota
        # a trial pruned because the study was already full is no trial of the search
        callbacks = [_unless_surplus(callback) for callback in self.callbacks or []]
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            finished = quota.counts(self.study_.get_trials(deepcopy=False))[0]
            remaining = None if self.n_trials is None else max(0, self.n_trials - finished)
            bar = tqdm(total=remaining, desc=f"search {self.study_.study_name}")
            callbacks.append(lambda study, trial: quota.finished(trial) and bar.update(1))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                run_trials(
                    self.study_,
                    objective,
                    timeout=self.timeout,
                    callbacks=callbacks,
                    n_jobs=self.n_jobs,
                )
        finally:
            if bar is not None:
                bar.close()
        self._warn_if_short(quota)

    def _warn_if_short(self, quota) -> None:
        """A search that ends with fewer finished trials than asked says so (rerun continues)."""
        if self.n_trials is None or self.timeout is not None:
            return
        trials = self.study_.get_trials(deepcopy=False)
        finished = quota.counts(trials)[0]
        if finished < self.n_trials:
            failed = sum(t.state == optuna.trial.TrialState.FAIL for t in trials)
            warnings.warn(
                f"study {self.study_.study_name!r} holds {finished} of {self.n_trials} finished "
                f"trials ({failed} failed); rerun the same search to continue",
                RuntimeWarning,
                stacklevel=3,
            )

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


def _unless_surplus(callback):
    def call(study: optuna.Study, trial) -> None:
        if not trial.user_attrs.get(SURPLUS_ATTR):
            callback(study, trial)

    return call


def _space_json(space: Mapping[str, Any]) -> dict[str, Any]:
    def as_json(d):
        if isinstance(d, Conditional):
            choices = {str(k): distribution_to_json(v) for k, v in d.distributions.items()}
            return {"on": d.on, "distributions": choices}
        return distribution_to_json(d)

    return {name: as_json(d) for name, d in sorted(space.items())}


def _cv_results(trials: list, space: Mapping[str, Any], n_splits: int) -> dict[str, Any]:
    """scikit-learn-style ``cv_results_`` from completed trials (their user attributes)."""
    attrs = [trial.user_attrs for trial in trials]
    params = [estimator_params(trial.params, space) for trial in trials]
    results: dict[str, Any] = {
        "trial_number": np.array([trial.number for trial in trials]),
        "params": params,
    }
    for name in sorted({name for p in params for name in p}):
        column = np.ma.masked_all(len(trials), dtype=object)
        for i, p in enumerate(params):
            if name in p:
                column[i] = p[name]
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
