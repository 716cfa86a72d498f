"""Search throughput with and without pruning: trials/hour and best CV score after a fixed time.

One `skweights.search.WeightSearchCV` run per pruner, each with the same wall-clock budget
(``--budget`` seconds), the same 3 seeded folds of the training split, the same sampler seed,
and the benchmarks' GBM (`_common.make_estimator("gbm")`) on per-layer statistics (W_L, computed
once, outside the budget). A pruned trial stops after 1 or 2 of its 3 folds when it trails the
trials before it on the same folds (`skweights.search.make_pruner`), so more configurations fit
in the budget. Reported per pruner: trials finished (complete + pruned), trials per hour, the
wall time per fold fitted (configurations differ in cost: TPE steers each run elsewhere), the
best mean CV R² among the complete trials, and the test R² of that configuration refitted on the
training split.

Usage::

    python benchmarks/bench_search.py [--zoo DIR] [--budget 300] [--pruners none halving]
    python benchmarks/bench_search.py --quick   # seconds, for CI

Without ``--zoo`` the default digits zoo of the benchmarks is generated or reused under
``zoos/`` (``SKWEIGHTS_BENCH_ZOOS``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402

PRUNER_CHOICES = ("none", "median", "halving", "hyperband")


def search_once(zoo, X, pruner: str, budget: float, quick: bool, seed: int) -> dict:
    """One time-budgeted search; its counts, rate and scores."""
    from optuna.trial import TrialState
    from sklearn.base import clone

    from skweights.search import WeightSearchCV

    estimator, space = _common.make_estimator("gbm", quick, seed)
    X_train, y_train = X[zoo.train], zoo.target[zoo.train]
    start = time.perf_counter()
    search = WeightSearchCV(
        estimator,
        space,
        n_trials=None,
        timeout=budget,
        cv=3,
        refit=False,
        random_state=seed,
        sampler_seed=seed,
        pruner=None if pruner == "none" else pruner,
    ).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    trials = search.study_.get_trials(deepcopy=False)
    n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    n_pruned = len(pruned)
    # a pruned trial fitted as many folds as steps it reported
    folds = 3 * n_complete + sum(max(t.intermediate_values, default=0) for t in pruned)
    best = clone(estimator).set_params(**search.best_params_).fit(X_train, y_train)
    return {
        "pruner": pruner,
        "complete": n_complete,
        "pruned": n_pruned,
        "seconds": seconds,
        "per_hour": (n_complete + n_pruned) / seconds * 3600,
        "seconds_per_fold": seconds / max(folds, 1),
        "cv_r2": search.best_score_,
        "test_r2": best.score(X[zoo.test], zoo.target[zoo.test]),
    }


def main(argv=None) -> list[dict]:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=None, help="seconds per search (300)")
    p.add_argument("--pruners", nargs="+", choices=PRUNER_CHOICES, default=["none", "halving"])
    p.add_argument("--features", default="W_L", choices=sorted(_common.FEATURE_SETS))
    args = _common.parse(p, argv)
    budget = args.budget or (2.0 if args.quick else 300.0)
    rows = []
    for zoo in args.zoos[:1]:
        X = _common.features(zoo, args.features)
        for pruner in args.pruners:
            result = search_once(zoo, X, pruner, budget, args.quick, args.seed)
            rows.append(result)
            print(f"{zoo.name} {pruner}: {result}", file=sys.stderr)
    zoo = args.zoos[0]
    table = _common.markdown_table(
        [
            "pruner",
            "trials (complete + pruned)",
            "trials/hour",
            "s per fold fit",
            "best CV R²",
            "test R²",
        ],
        [
            [
                r["pruner"],
                f"{r['complete'] + r['pruned']} ({r['complete']} + {r['pruned']})",
                f"{r['per_hour']:,.0f}",
                f"{r['seconds_per_fold']:.2f}",
                f"{r['cv_r2']:.4f}",
                f"{r['test_r2']:.4f}",
            ]
            for r in rows
        ],
    )
    notes = (
        f"{zoo.name} zoo, {len(zoo.target):,} networks ({len(zoo.train):,} training, 3-fold CV "
        f"on them), features {args.features}, GBM, {budget:.0f} s per search, sampler seed "
        f"{args.seed}; `python benchmarks/bench_search.py --zoo {Path(zoo.path)} --budget "
        f"{budget:.0f}`."
    )
    _common.emit(args, "Search with and without pruning", table, notes)
    return rows


if __name__ == "__main__":
    main()
