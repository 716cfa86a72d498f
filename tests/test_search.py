"""Tests for `skweights.search`: the paper's spaces and the resumable, shareable CV search."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from skweights.models._gbm import EarlyStoppingLGBMRegressor
from skweights.search import (
    PAPER_SPACES,
    WeightSearchCV,
    gbm_space,
    logit_linear_space,
    mlp_space,
    search_report,
)

ROOT = Path(__file__).resolve().parents[1]
RIDGE_SPACE = {"alpha": FloatDistribution(1e-3, 100.0, log=True)}


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.5 * rng.normal(size=n)
    return X, y


def _complete(study):
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


# ------------------------------------------------------------------------------------ spaces
def test_gbm_space_matches_paper_a4_and_switches_colsample_on_width():
    space = gbm_space(4970)
    assert (space["num_leaves"].low, space["num_leaves"].high) == (20, 1000)
    assert (space["max_depth"].low, space["max_depth"].high) == (5, 15)
    assert space["learning_rate"].log and space["learning_rate"].low == 1e-2
    assert space["max_bin"].choices == (63, 127, 255)
    assert space["subsample_freq"].choices == (1,)
    assert space["colsample_bytree"] == FloatDistribution(1e-2, 1e-1, log=True)
    assert gbm_space(1000)["colsample_bytree"] == FloatDistribution(0.7, 1.0)
    assert gbm_space(50, high_dimensional_threshold=10)["colsample_bytree"].log
    assert "colsample_bytree" not in gbm_space()


def test_spaces_are_fresh_copies_of_the_read_only_paper_ranges():
    space = mlp_space()
    space["n_layers"] = FloatDistribution(0, 1)
    assert PAPER_SPACES["mlp"]["n_layers"].high == 9
    with pytest.raises(TypeError):
        PAPER_SPACES["mlp"]["n_layers"] = None


def test_mlp_and_logit_linear_spaces_name_real_constructor_parameters():
    from skweights.models._logit_linear import LogitLinearRegressor
    from skweights.models._mlp import WeightMLP

    assert set(mlp_space()) <= set(WeightMLP().get_params())
    assert PAPER_SPACES["mlp"]["learning_rate"] == FloatDistribution(1e-2, 0.5, log=True)
    for solver in ("lbfgs", "adam"):
        assert set(logit_linear_space(solver)) <= set(LogitLinearRegressor().get_params())
    assert logit_linear_space()["alpha"] == FloatDistribution(1e-8, 1e-3, log=True)


# ------------------------------------------------------------------------------------ search
def test_cv_results_are_one_row_per_completed_trial_and_refit_uses_the_best():
    X, y = _data()
    search = WeightSearchCV(Ridge(), RIDGE_SPACE, n_trials=6, random_state=0).fit(X, y)
    res = search.cv_results_
    assert search.n_trials_ == 6 and len(res["params"]) == 6
    splits = np.column_stack([res[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(res["mean_test_score"], splits.mean(axis=1))
    np.testing.assert_allclose(res["std_test_score"], splits.std(axis=1))
    assert res["rank_test_score"][search.best_index_] == 1
    assert search.best_score_ == res["mean_test_score"].max()
    assert search.best_params_ == res["params"][search.best_index_]
    assert search.best_estimator_.alpha == search.best_params_["alpha"]
    np.testing.assert_allclose(search.predict(X), search.best_estimator_.predict(X))
    assert search.score(X, y) == pytest.approx(search.best_estimator_.score(X, y))
    assert len(search_report(search)) == 6


def test_best_score_is_the_kendall_tau_on_seeded_shuffled_folds():
    from skweights.metrics import kendall_tau_scorer

    X, y = _data()
    search = WeightSearchCV(
        Ridge(), RIDGE_SPACE, n_trials=3, scoring=kendall_tau_scorer, random_state=7
    ).fit(X, y)
    expected = cross_val_score(
        Ridge(**search.best_params_),
        X,
        y,
        cv=KFold(3, shuffle=True, random_state=7),
        scoring=kendall_tau_scorer,
    )
    assert search.best_score_ == pytest.approx(expected.mean())


def test_seeded_random_sampler_is_reproducible():
    X, y = _data()

    def params(seed):
        search = WeightSearchCV(
            Ridge(), RIDGE_SPACE, n_trials=3, sampler="random", sampler_seed=seed, refit=False
        )
        return search.fit(X, y).cv_results_["params"]

    assert params(1) == params(1)
    assert params(1) != params(2)


def test_pipeline_step_prefix_and_gbm_width_after_the_preceding_steps():
    X, y = _data(80)
    pipe = make_pipeline(
        PolynomialFeatures(degree=2),  # 3 -> 10 features, above the threshold of 5
        EarlyStoppingLGBMRegressor(n_estimators=15, stopping_rounds=3, random_state=0),
    )
    space = functools.partial(gbm_space, high_dimensional_threshold=5)
    search = WeightSearchCV(pipe, space, n_trials=2, step="earlystoppinglgbmregressor")
    search.fit(X, y)
    colsample = search.best_params_["earlystoppinglgbmregressor__colsample_bytree"]
    assert 0.01 <= colsample <= 0.1
    assert search.best_estimator_[-1].colsample_bytree == colsample
    assert search.best_estimator_[-1].subsample_freq == 1


def test_named_gbm_space_on_a_plain_estimator_uses_the_input_width():
    X, y = _data(80)
    model = EarlyStoppingLGBMRegressor(n_estimators=10, stopping_rounds=3, random_state=0)
    search = WeightSearchCV(make_pipeline(StandardScaler(), model), "gbm", n_trials=2).fit(X, y)
    params = search.cv_results_["params"]
    assert all(0.7 <= p["earlystoppinglgbmregressor__colsample_bytree"] <= 1 for p in params)
    assert all(
        round(p["earlystoppinglgbmregressor__subsample"] * 10) in range(1, 11) for p in params
    )


def test_unknown_step_and_failing_trials_raise_clear_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="step 'nope' not found"):
        WeightSearchCV(make_pipeline(Ridge()), RIDGE_SPACE, step="nope", n_trials=1).fit(X, y)
    bad = {"alpha": FloatDistribution(-2.0, -1.0)}  # Ridge rejects negative alpha
    with pytest.raises(ValueError, match="no completed trial"):
        WeightSearchCV(Ridge(), bad, n_trials=2).fit(X, y)


def test_clone_keeps_parameters():
    search = WeightSearchCV(Ridge(), "gbm", n_trials=7, storage="sqlite:///x.db")
    params = clone(search).get_params(deep=False)
    assert params["n_trials"] == 7 and params["storage"] == "sqlite:///x.db"


# ---------------------------------------------------------------------- storage and resume
def test_resume_on_sqlite_keeps_finished_trials_and_runs_only_the_rest(tmp_path):
    X, y = _data()
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    ran = []

    def search(n_trials):
        return WeightSearchCV(
            Ridge(),
            RIDGE_SPACE,
            n_trials=n_trials,
            storage=storage,
            study_name="resume",
            random_state=0,
            callbacks=[lambda study, trial: ran.append(trial.number)],
        ).fit(X, y)

    first = search(2)  # the "interrupted" search
    assert ran == [0, 1]
    before = first.cv_results_["params"]
    resumed = search(4)
    assert ran == [0, 1, 2, 3]
    assert resumed.n_trials_ == 4 and resumed.cv_results_["params"][:2] == before
    search(4)  # nothing left to run: only the refit
    assert ran == [0, 1, 2, 3]
    with pytest.warns(UserWarning, match="different search space"):
        WeightSearchCV(
            Ridge(),
            {"alpha": FloatDistribution(1.0, 2.0)},
            n_trials=4,
            storage=storage,
            study_name="resume",
        ).fit(X, y)


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from optuna.distributions import FloatDistribution
    from sklearn.linear_model import Ridge
    from skweights.search import WeightSearchCV

    class SlowRidge(Ridge):
        def fit(self, X, y, sample_weight=None):
            time.sleep(float(sys.argv[4]))
            return super().fit(X, y, sample_weight)

    storage, n_trials, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.5 * rng.normal(size=60)
    ready = out + ".ready"
    open(ready, "w").close()
    if len(sys.argv) > 5:  # wait until the other worker is ready too
        while not all(__import__("os").path.exists(p) for p in sys.argv[5:]):
            time.sleep(0.05)
    done = []
    def record(study, trial):
        done.append(trial.number)
        with open(out, "w") as f:
            json.dump(done, f)
    WeightSearchCV(
        SlowRidge(), {"alpha": FloatDistribution(1e-3, 100.0, log=True)}, n_trials=n_trials,
        storage=storage, study_name="shared", callbacks=[record], refit=False,
    ).fit(X, y)
    """
)


def _worker(tmp_path, storage, n_trials, name, sleep, wait_for=()):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(script), storage, str(n_trials), str(out), str(sleep)]
    cmd += [str(tmp_path / f"{other}.json.ready") for other in wait_for]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.Popen(cmd, cwd=ROOT, env=env), out


def test_sigkilled_search_resumes_with_the_remaining_trials(tmp_path):
    X, y = _data()
    storage = f"sqlite:///{tmp_path / 'killed.db'}"
    proc, out = _worker(tmp_path, storage, 4, "killed", sleep=0.3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(json.loads(out.read_text() or "[]")) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    study = optuna.load_study(study_name="shared", storage=storage)
    kept = [t.number for t in _complete(study)]
    assert 2 <= len(kept) < 4, "the worker must be killed mid-search"
    ran = []
    search = WeightSearchCV(
        Ridge(),
        RIDGE_SPACE,
        n_trials=4,
        storage=storage,
        study_name="shared",
        callbacks=[lambda study, trial: ran.append(trial.number)],
    ).fit(X, y)
    assert len(ran) == 4 - len(kept)
    assert sorted(search.cv_results_["trial_number"]) == sorted(kept + ran)
    assert search.n_trials_ == 4


def test_two_worker_processes_share_one_journal_study(tmp_path):
    storage = f"journal:///{tmp_path / 'shared.log'}"
    n_trials = 6
    a, out_a = _worker(tmp_path, storage, n_trials, "a", 0.05, wait_for=("b",))
    b, out_b = _worker(tmp_path, storage, n_trials, "b", 0.05, wait_for=("a",))
    assert a.wait(timeout=120) == 0 and b.wait(timeout=120) == 0
    done_a, done_b = json.loads(out_a.read_text()), json.loads(out_b.read_text())
    assert done_a and done_b, "both workers must have run trials"
    assert set(done_a).isdisjoint(done_b)
    from skweights.search import make_storage

    study = optuna.load_study(study_name="shared", storage=make_storage(storage))
    numbers = sorted(t.number for t in _complete(study))
    assert numbers == sorted(done_a + done_b)
    # each worker stops once the study holds n_trials; a trial in flight may finish on top
    assert n_trials <= len(numbers) <= n_trials + 1


# ------------------------------------------------------------------ conditional parameters
def test_mlp_space_draws_adam_learning_rates_in_its_own_range_only():
    from skweights.search._spaces import suggest_params

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = mlp_space()
    drawn = {"adam": [], "sgd": []}
    for _ in range(300):
        params = suggest_params(study.ask(), space)
        drawn[params["optimizer"]].append(params["learning_rate"])
    adam, sgd = np.array(drawn["adam"]), np.array(drawn["sgd"])
    assert len(adam) > 100 and len(sgd) > 100
    assert adam.min() >= 1e-4 and adam.max() <= 3e-3  # the paper's range reaches 0.5
    assert sgd.min() >= 1e-3 and sgd.max() <= 0.5 and (sgd > 0.05).any()


def test_conditional_parameter_is_given_back_under_the_estimator_name(zoo):
    from skweights.features import LayerStatistics
    from skweights.search import Conditional

    X = LayerStatistics(zoo.layout).fit_transform(zoo.weights)
    space = {
        "solver": optuna.distributions.CategoricalDistribution(("cholesky", "svd")),
        "alpha": Conditional(
            "solver",
            {"cholesky": FloatDistribution(1e-3, 1e-2), "svd": FloatDistribution(10, 100)},
        ),
    }
    pipe = make_pipeline(StandardScaler(), Ridge())
    search = WeightSearchCV(pipe, space, n_trials=8, sampler_seed=0).fit(X, zoo.target)
    for params in search.cv_results_["params"]:
        low, high = (1e-3, 1e-2) if params["ridge__solver"] == "cholesky" else (10, 100)
        assert low <= params["ridge__alpha"] <= high
    assert set(search.best_params_) == {"ridge__solver", "ridge__alpha"}
    assert search.best_estimator_[-1].alpha == search.best_params_["ridge__alpha"]
    recorded = set(search.study_.best_trial.params)
    assert recorded - {"ridge__solver"} <= {
        "ridge__alpha[solver=cholesky]",
        "ridge__alpha[solver=svd]",
    }


# ------------------------------------------------------------------------------- pruning
def test_pruned_trials_stop_between_the_shared_folds_and_count_as_finished(zoo):
    from skweights.features import LayerStatistics

    X = LayerStatistics(zoo.layout).fit_transform(zoo.weights)
    space = {"alpha": FloatDistribution(1e-4, 1e6, log=True)}  # most alphas are much worse
    pipe = make_pipeline(StandardScaler(), Ridge())
    search = WeightSearchCV(
        pipe, space, n_trials=20, pruner="median", sampler="random", sampler_seed=0, random_state=3
    ).fit(X, zoo.target)
    trials = search.study_.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(pruned) + len(complete) == 20
    assert all(set(t.intermediate_values) <= {1, 2} for t in pruned)
    assert search.n_trials_ == len(complete)
    # every trial is scored on the same folds: a complete trial's scores are plain CV scores
    best = search.study_.best_trial
    expected = cross_val_score(
        clone(pipe).set_params(**best.params),
        X,
        zoo.target,
        cv=KFold(3, shuffle=True, random_state=3),
    )
    np.testing.assert_allclose(
        [best.user_attrs[f"split{k}_test_score"] for k in range(3)], expected
    )
    # a pruned trial's reported value is the mean of its first folds, on the same folds
    first = pruned[0]
    step = max(first.intermediate_values)
    folds = KFold(3, shuffle=True, random_state=3).split(X)
    scores = [
        clone(pipe)
        .set_params(**first.params)
        .fit(X[tr], zoo.target[tr])
        .score(X[te], zoo.target[te])
        for (tr, te), _ in zip(folds, range(step))
    ]
    assert first.intermediate_values[step] == pytest.approx(np.mean(scores))


# -------------------------------------------------------------- seeding and exact counts
def test_sampler_seed_is_independent_of_the_fold_seed():
    X, y = _data()

    def params(**kwargs):
        search = WeightSearchCV(Ridge(), RIDGE_SPACE, n_trials=3, refit=False, **kwargs)
        return search.fit(X, y).cv_results_["params"]

    # one --seed for split and folds no longer makes every worker propose the same sequence
    assert params(random_state=0) != params(random_state=0)
    assert params(random_state=0, sampler_seed=5) == params(random_state=1, sampler_seed=5)


def test_threads_of_one_worker_end_with_exactly_n_trials():
    X, y = _data()
    search = WeightSearchCV(Ridge(), RIDGE_SPACE, n_trials=7, n_jobs=2, refit=False).fit(X, y)
    states = [t.state for t in search.study_.get_trials()]
    assert states.count(TrialState.COMPLETE) == 7
    surplus = [t for t in search.study_.get_trials() if t.user_attrs.get("surplus")]
    assert all(t.state == TrialState.PRUNED and not t.params for t in surplus)


# ---------------------------------------------------------------------- storages and CLI
def test_storage_urls_and_missing_drivers_give_one_line_errors():
    from skweights.search import make_storage
    from skweights.search._storage import _missing_driver

    with pytest.raises(ValueError, match=r"sqlite:///FILE, postgresql://.*journal:///FILE"):
        make_storage("notaurl")
    with pytest.raises(ImportError, match=r"'mysqlclient'.*pip install 'mysqlclient'"):
        make_storage("mysql://user@localhost/db")
    with pytest.raises(ValueError, match="cannot connect to storage postgresql") as refused:
        make_storage("postgresql://user:secret@127.0.0.1:1/db")  # nothing listens on port 1
    assert "secret" not in str(refused.value) and "\n" not in str(refused.value)
    missing = ImportError("no psycopg")
    missing.name = "psycopg"
    message = str(_missing_driver("postgresql://u@h/db", missing))
    assert "'psycopg[binary]'" in message and "pip install 'skweights[postgres]'" in message
    assert "\n" not in message


def _cli(*args):
    from skweights.cli import main

    return main([str(a) for a in args])


def test_fit_search_options_are_checked_in_one_line(zoo_path, tmp_path, capsys):
    out = tmp_path / "p.joblib"
    assert _cli("fit", zoo_path, "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", out) == 1
    assert "--storage configure a search: add --search N" in capsys.readouterr().err
    assert _cli("fit", zoo_path, "--search", 2, "--storage", "notaurl", "--out", out) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "journal:///FILE; got 'notaurl'" in err
    assert _cli("fit", zoo_path, "--search", 0, "--out", out, "--quiet") == 0  # 0: no search


def test_same_fit_command_resumes_its_study_and_other_settings_are_refused(
    zoo_path, tmp_path, capfd
):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    out = tmp_path / "p.joblib"
    args = ["fit", zoo_path, "--search", 2, "--storage", storage, "--out", out]
    try:
        assert _cli(*args, "--quiet") == 0
        assert "Trial 0 finished" not in capfd.readouterr().err  # --quiet silences Optuna
        assert _cli(*args[:3], 3, *args[4:]) == 0  # the same command with a larger N resumes
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.n_trials == 3 and summary.study_name.startswith("stats-gbm-")
    settings = summary.user_attrs["skweights_settings"]
    assert {settings[k] for k in ("features", "estimator", "seed")} == {"stats", "gbm", 0}
    capfd.readouterr()
    # a different seed is a different split: by default another study, by name an error
    assert _cli(*args, "--seed", 1, "--study-name", summary.study_name, "--quiet") == 1
    err = capfd.readouterr().err.strip()
    assert err.count("\n") == 0 and "created with seed=0 but this worker has seed=1" in err


def test_fit_uses_a_heartbeat_for_database_urls_only(zoo, tmp_path):
    from skweights.cli import build_parser
    from skweights.cli._fit import _make_search
    from skweights.predictor import make_predictor

    def search(*extra):
        args = build_parser().parse_args(["fit", "zoo", "--search", "3", "--out", "x", *extra])
        return _make_search(args, make_predictor(zoo.layout), zoo)

    assert search("--storage", f"sqlite:///{tmp_path / 's.db'}").heartbeat_interval == 60
    assert search("--storage", "sqlite:///s.db", "--heartbeat", "0").heartbeat_interval is None
    assert search("--storage", f"journal:///{tmp_path / 's.log'}").heartbeat_interval is None
    assert search().study_name is None  # in memory: nothing to share or resume
    first = search("--storage", "sqlite:///s.db").study_name
    assert first == search("--storage", "sqlite:///s.db").study_name
    assert first != search("--storage", "sqlite:///s.db", "--train-fraction", "0.6").study_name
