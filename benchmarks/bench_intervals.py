"""Conformal prediction intervals: empirical coverage on held-out networks and mean width.

GBM on W_L (per-layer statistics) with the configuration chosen by CV search on the training
split (shared with Table 2 through the result cache), wrapped in
`skweights.intervals.ConformalPredictor` (MAPIE CV+, 5 folds). Calibration uses the training
networks only; coverage and width are measured on the test networks, over ``--repeats`` random
train/test splits (mean ± std). Target (issue 17): coverage within ±0.03 of nominal.

Usage::

    python benchmarks/bench_intervals.py
    python benchmarks/bench_intervals.py --quick --zoo DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402

from skweights.datasets import paper_split  # noqa: E402
from skweights.intervals import ConformalPredictor, interval_coverage  # noqa: E402

LEVELS = (0.8, 0.9)


def interval_rows(
    zoo, n_trials: int, quick: bool, seed: int, repeats: int, method: str = "plus"
) -> list[list]:
    """One row per confidence level: coverage and mean width over `repeats` splits."""
    result = C.evaluate(zoo, "gbm", "W_L", n_trials, quick=quick, seed=seed)
    estimator, _ = C.make_estimator("gbm", quick, seed)
    estimator.set_params(**result["best_params"])
    X, y = C.features(zoo, "W_L"), zoo.target
    coverage = {level: [] for level in LEVELS}
    width = {level: [] for level in LEVELS}
    for r in range(repeats):
        if r == 0:
            train, test = zoo.train, zoo.test
        else:
            train, test = paper_split(len(y), n_train=len(zoo.train), random_state=seed + r)
        model = ConformalPredictor(
            estimator, confidence_level=LEVELS, method=method, random_state=seed + r
        )
        model.fit(X[train], y[train])
        for level in LEVELS:
            bounds = model.predict_interval(X[test], level)
            coverage[level].append(interval_coverage(y[test], bounds))
            width[level].append(float(np.mean(bounds[:, 1] - bounds[:, 0])))
    n_test = len(zoo.test)
    rows = []
    for level in LEVELS:
        # sd of one split's coverage: test-set binomial + calibration-set spread
        sd = np.sqrt(level * (1 - level) * (1 / n_test + 1 / len(zoo.train)))
        rows.append(
            [
                zoo.name,
                method,
                f"{level:.1f}",
                C.mean_std(coverage[level]),
                f"±{sd:.3f}",
                C.mean_std(width[level]),
                f"{len(zoo.train)} / {n_test}",
            ]
        )
    return rows


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="random splits (default 5, quick 2)")
    p.add_argument(
        "--method",
        nargs="+",
        default=["plus"],
        choices=["plus", "base", "minmax"],
        help="MAPIE cross-conformal method(s): plus (CV+, default), base (CV), minmax",
    )
    args = C.parse(p, argv)
    repeats = args.repeats or (2 if args.quick else 5)
    rows = []
    for zoo in args.zoos:
        for method in args.method:
            rows += interval_rows(zoo, args.n_trials, args.quick, args.seed, repeats, method)
    headers = [
        "zoo",
        "method",
        "confidence level",
        "coverage (held out)",
        "sd of one split",
        "mean width",
        "train / test networks",
    ]
    notes = (
        f"GBM on W_L (per-layer statistics), best of {args.n_trials} CV-search trials, in "
        "MAPIE's CrossConformalRegressor (5 folds; plus: CV+, base: CV) calibrated on the "
        "training networks; "
        f"mean ± std over {repeats} random splits. 'sd of one split' is the sampling spread "
        "expected of one split's coverage, sqrt(p(1-p)(1/n_test + 1/n_train)). "
        f"Zoos: {C.zoo_summary(args.zoos)}. {C.machine()}"
    )
    return C.emit(
        args, "Prediction intervals — coverage and width", C.markdown_table(headers, rows), notes
    )


if __name__ == "__main__":
    run()
