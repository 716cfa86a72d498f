"""Paper Table 1: R² of each estimator (L-Linear, GBM, DNN) on each input (W⁴, W, W̄, W_L).

For every zoo and (estimator, feature set) cell: hyperparameters by 3-fold CV on the training
split (`WeightSearchCV`, ``--n-trials`` configurations; DNN cells get a quarter of them), then
the best configuration trained on each CV training fold and scored on the held-out test split
(mean ± std over the 3 models). The paper's Table 1 is on CIFAR10-GS; we print its MNIST block
of Table 5 beside ours (closest to our digit zoos) and the CIFAR10-GS number in the caption.

Usage::

    python benchmarks/table1_estimators.py                   # full mode, default zoos
    python benchmarks/table1_estimators.py --mode paper      # 17k-network zoos, every cell
    python benchmarks/table1_estimators.py --quick --zoo DIR  # CI
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import paper_numbers as P  # noqa: E402

FEATURES = ("W4", "W", "W_bar", "W_L")


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--estimators", nargs="+", default=list(C.ESTIMATORS), choices=C.ESTIMATORS)
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=C.FEATURE_SETS)
    p.add_argument(
        "--dnn-features",
        nargs="*",
        default=None,
        choices=C.FEATURE_SETS,
        help="feature sets the DNN is run on (default: all in quick and paper mode, W4 and W_L "
        "in full mode: a DNN search costs ~50 GBM searches on 2 CPU cores)",
    )
    args = C.parse(p, argv)
    if args.dnn_features is None:
        args.dnn_features = list(args.features) if args.mode != "full" else ["W4", "W_L"]
    blocks = []
    for zoo in args.zoos:
        headers = ["estimator"] + [C.FEATURE_SETS[f].header for f in args.features]
        rows = []
        for kind in args.estimators:
            row = [C.ESTIMATORS[kind]]
            for feature in args.features:
                paper = P.TABLE5_MNIST_R2[kind].get(feature)
                if kind == "dnn" and feature not in args.dnn_features:
                    row.append(f"not run (time) · {C.paper_cell(paper, 'paper MNIST')}")
                    continue
                res = C.evaluate(
                    zoo, kind, feature, args.n_trials, args.quick, args.seed, not args.no_cache
                )
                row.append(
                    f"{C.mean_std(res['r2'])} (ours {zoo.name}) · "
                    f"{C.paper_cell(paper, 'paper MNIST')}"
                )
            rows.append(row)
        blocks.append(f"**{zoo.name}**\n\n" + C.markdown_table(headers, rows))
    cifar = "; ".join(
        f"{C.ESTIMATORS[k]}: "
        + ", ".join(f"{C.FEATURE_SETS[f].symbol} {v:.3f}" for f, v in P.TABLE1_CIFAR10[k].items())
        for k in args.estimators
    )
    budget = []
    if {"gbm", "lin"} & set(args.estimators):
        budget.append(f"{args.n_trials} CV-search trials per GBM/L-Linear cell")
    if "dnn" in args.estimators:
        ran = ", ".join(C.FEATURE_SETS[f].symbol for f in args.dnn_features) or "nothing"
        budget.append(f"{C.trials_for('dnn', args.n_trials)} per DNN cell (run on {ran})")
    notes = (
        f"Test R² (mean ± std over the best configuration trained on each of the 3 CV folds), "
        f"{' and '.join(budget)} (paper: 1k). "
        f"Zoos: {C.zoo_summary(args.zoos)}. Paper numbers: Table 5, MNIST block; "
        f"paper Table 1 itself is CIFAR10-GS ({cifar})."
    )
    return C.emit(args, "Table 1 — estimators × input features (R²)", "\n\n".join(blocks), notes)


if __name__ == "__main__":
    run()
