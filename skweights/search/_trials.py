"""Running a study's trials: the cross-validation objective (fold-wise pruning) and the worker
loop that stops once the study holds ``n_trials`` finished trials, counted over all workers."""

from __future__ import annotations

import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import clone
from sklearn.utils import _safe_indexing

from skweights.search._spaces import suggest_params

#: Names accepted by ``WeightSearchCV(pruner=...)``.
PRUNERS = ("median", "halving", "hyperband")

#: Trial user attribute naming the worker (``host:pid``) that ran the trial.
WORKER_ATTR = "worker"
#: Trial user attribute of a trial pruned before it started because the study was full.
SURPLUS_ATTR = "surplus"


def worker_id() -> str:
    """``host:pid`` of this process, recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def make_pruner(pruner, n_splits: int) -> optuna.pruners.BasePruner | None:
    """An Optuna pruner from a name of `PRUNERS`, a pruner object, or None (no pruning).

    Trials report the mean score of their first ``k`` folds at step ``k`` (1 to ``n_splits``),
    so the resource of successive halving and Hyperband is the number of folds evaluated.

    Examples
    --------
    >>> from skweights.search import make_pruner
    >>> type(make_pruner("halving", 3)).__name__
    'SuccessiveHalvingPruner'
    >>> make_pruner(None, 3) is None
    True
    """
    if pruner is None or isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=n_splits, reduction_factor=3
        )
    raise ValueError(f"pruner must be one of {PRUNERS}, a BasePruner or None; got {pruner!r}")


class Quota:
    """How many trials of a study count toward ``n_trials``, over every worker.

    A trial counts when it finished (``COMPLETE``, or ``PRUNED`` by the pruner) or is running
    in a live worker. Whether another worker's ``RUNNING`` trial is alive is known only with a
    heartbeat (a dead one is failed after the grace period) or in memory; otherwise only this
    process's running trials count, and concurrent workers may overshoot by ``n_workers - 1``.
    """

    def __init__(self, study: optuna.Study, n_trials: int | None):
        self.study = study
        self.n_trials = n_trials
        storage = study._storage
        self.heartbeat = optuna.storages._heartbeat.is_heartbeat_enabled(storage)
        in_memory = isinstance(storage, optuna.storages.InMemoryStorage)
        self.sees_all_running = self.heartbeat or in_memory
        self.own: set[int] = set()
        self._lock = threading.Lock()

    @staticmethod
    def finished(trial: FrozenTrial) -> bool:
        if trial.state == TrialState.COMPLETE:
            return True
        return trial.state == TrialState.PRUNED and not trial.user_attrs.get(SURPLUS_ATTR)

    def _alive(self, trial: FrozenTrial) -> bool:
        return trial.state == TrialState.RUNNING and (
            self.sees_all_running or trial.number in self.own
        )

    def counts(self, trials: Sequence[FrozenTrial], before: int | None = None) -> tuple:
        """(finished, alive running, waiting) trials, running ones numbered below ``before``."""
        finished = sum(self.finished(t) for t in trials)
        running = sum(self._alive(t) and (before is None or t.number < before) for t in trials)
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        return finished, running, waiting

    def is_surplus(self, trial: optuna.Trial) -> bool:
        """Whether ``trial`` (just started) would exceed ``n_trials``: the study is full."""
        with self._lock:
            self.own.add(trial.number)
        if self.n_trials is None:
            return False
        trials = self.study.get_trials(deepcopy=False)
        finished, running, _ = self.counts(trials, before=trial.number)
        return finished + running >= self.n_trials

    def release(self, number: int) -> None:
        with self._lock:
            self.own.discard(number)


class CVObjective:
    """The score of one configuration: the mean of ``scorer`` over fixed CV folds.

    With ``pruning``, the running mean is reported after every fold but the last
    (``trial.report(mean, step=k)``) and the trial stops when the study's pruner says so.
    Every trial uses the same ``splits``, so the scores of all trials are comparable.
    """

    def __init__(
        self,
        estimator,
        space: Mapping[str, Any],
        X,
        y,
        splits: list[tuple[np.ndarray, np.ndarray]],
        scorer: Callable,
        *,
        error_score: float,
        fit_params: Mapping[str, Any],
        pruning: bool,
        quota: Quota,
    ):
        self.estimator = estimator
        self.space = space
        self.X, self.y = X, y
        self.splits = splits
        self.scorer = scorer
        self.error_score = error_score
        self.fit_params = dict(fit_params)
        self.pruning = pruning
        self.quota = quota

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker_id())
        try:
            if self.quota.is_surplus(trial):
                trial.set_user_attr(SURPLUS_ATTR, True)
                raise optuna.TrialPruned("the study already holds n_trials trials")
            return self._cross_validate(trial)
        finally:
            self.quota.release(trial.number)

    def _fit_and_score(self, params, train, test) -> tuple[float, float, float]:
        model = clone(self.estimator).set_params(**params)
        start = time.perf_counter()
        try:
            X, y = _safe_indexing(self.X, train), _safe_indexing(self.y, train)
            model.fit(X, y, **self.fit_params)
            fit_time = time.perf_counter() - start
            X, y = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
            score = self.scorer(model, X, y)
        except Exception:
            if math.isnan(self.error_score):
                raise
            return float(self.error_score), time.perf_counter() - start, 0.0
        return float(score), fit_time, time.perf_counter() - start - fit_time

    def _cross_validate(self, trial: optuna.Trial) -> float:
        params = suggest_params(trial, self.space)
        scores, fit_times, score_times = [], [], []
        for k, (train, test) in enumerate(self.splits, start=1):
            try:
                score, fit_time, score_time = self._fit_and_score(params, train, test)
            except Exception as exc:  # a failed trial, not a failed search
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
                return float("nan")
            scores.append(score)
            fit_times.append(fit_time)
            score_times.append(score_time)
            trial.set_user_attr(f"split{k - 1}_test_score", score)
            if self.pruning and k < len(self.splits):
                trial.report(float(np.mean(scores)), step=k)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after {k} of {len(self.splits)} folds")
        mean = float(np.mean(scores))
        for name, values in [("test_score", scores), ("fit_time", fit_times)]:
            trial.set_user_attr(f"mean_{name}", float(np.mean(values)))
            trial.set_user_attr(f"std_{name}", float(np.std(values)))
        trial.set_user_attr("mean_score_time", float(np.mean(score_times)))
        trial.set_user_attr("std_score_time", float(np.std(score_times)))
        return mean


def run_trials(
    study: optuna.Study,
    objective: CVObjective,
    *,
    timeout: float | None,
    callbacks: list,
    n_jobs: int = 1,
    poll_interval: float = 1.0,
) -> None:
    """Run trials in this process until the study holds ``objective.quota.n_trials`` trials.

    A worker whose remaining trials are all running elsewhere waits while those are alive
    (heartbeat storages): if their worker dies, the stale trial is failed, re-queued and run
    here, so the study ends with exactly ``n_trials`` finished trials. Each worker makes at most
    as many attempts as trials were missing when it started (failed trials do not count).
    """
    quota = objective.quota
    deadline = None if timeout is None else time.monotonic() + timeout
    # at most as many attempts as trials were missing: failing trials do not loop forever
    attempts = itertools.count()
    budget = math.inf
    if quota.n_trials is not None:
        budget = quota.n_trials - quota.counts(study.get_trials(deepcopy=False))[0]

    def loop() -> None:
        while deadline is None or time.monotonic() < deadline:
            if quota.n_trials is not None:
                if quota.heartbeat:
                    fail_stale_trials(study)
                finished, running, waiting = quota.counts(study.get_trials(deepcopy=False))
                if finished >= quota.n_trials:
                    return
                if finished + running >= quota.n_trials and not waiting:
                    if not quota.heartbeat:
                        return
                    time.sleep(poll_interval)
                    continue
            if next(attempts) >= budget:
                return
            study.optimize(objective, n_trials=1, callbacks=callbacks, gc_after_trial=False)

    if n_jobs == 1:
        loop()
        return
    n_jobs = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    with ThreadPoolExecutor(n_jobs) as pool:
        for future in [pool.submit(loop) for _ in range(n_jobs)]:
            future.result()
