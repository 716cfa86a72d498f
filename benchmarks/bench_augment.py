"""Random hidden-neuron permutations as data augmentation: raw-weight models with and without.

A GBM or an MLP on the raw (flattened) weights is not invariant to permutations of the hidden
neurons; `PermutationAugmentedRegressor` trains it on every training network plus
``--copies`` randomly permuted copies. Both are trained on the same ``paper_split`` training
networks and scored on the same held-out ones (final checkpoints); each early-stops on a
validation fraction of its own training rows.

Usage::

    python benchmarks/bench_augment.py --zoo DIR --n-train 2000 --copies 0 4 --predictors gbm mlp
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

#: Display names of the raw-weight predictors.
PREDICTORS = {"gbm": "GBM on raw weights", "mlp": "WeightMLP on raw weights"}


def make_predictor(kind: str, layout, copies: int, seed: int):
    """``kind`` on the raw weights, wrapped in the augmentation with ``copies`` copies."""
    from skweights.models import (
        EarlyStoppingLGBMRegressor,
        PermutationAugmentedRegressor,
        WeightMLP,
    )

    if kind == "gbm":
        model = EarlyStoppingLGBMRegressor(
            n_estimators=2000,
            learning_rate=0.05,
            num_leaves=31,
            colsample_bytree=0.3,
            subsample=0.8,
            subsample_freq=1,
            stopping_rounds=50,
            random_state=seed,
            n_jobs=1,
        )
    elif kind == "mlp":
        model = WeightMLP(n_layers=3, n_units=256, epochs=200, patience=10, random_state=seed)
    else:
        raise ValueError(f"predictor kind must be one of {sorted(PREDICTORS)}, got {kind!r}")
    return PermutationAugmentedRegressor(model, layout, n_copies=copies, random_state=seed)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", type=Path, required=True, help="zoo directory")
    p.add_argument("--n-train", type=int, default=2000, help="training networks")
    p.add_argument("--n-test", type=int, default=None, help="held-out networks (default all)")
    p.add_argument("--copies", type=int, nargs="+", default=[0, 4])
    p.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=list(PREDICTORS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = p.parse_args(argv)

    from sklearn.metrics import r2_score

    from skweights.datasets import load_zoo, paper_split
    from skweights.metrics import kendall_tau

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import markdown_table

    bunch = load_zoo(args.zoo, step="final")
    train, test = paper_split(len(bunch.target), n_train=args.n_train, random_state=args.seed)
    test = test[: args.n_test]
    X, y = bunch.weights, bunch.target
    results, rows = [], []
    for kind in args.predictors:
        for copies in args.copies:
            model = make_predictor(kind, bunch.layout, copies, args.seed)
            start = time.perf_counter()
            model.fit(X[train], y[train])
            fit_time = time.perf_counter() - start
            pred = model.predict(X[test])
            r = {
                "kind": kind,
                "copies": copies,
                "tau": float(kendall_tau(y[test], pred)),
                "r2": float(r2_score(y[test], pred)),
                "fit_time": fit_time,
            }
            print(f"{kind} copies={copies}: τ {r['tau']:.3f}, R² {r['r2']:.3f}", file=sys.stderr)
            results.append(r)
            rows.append(
                [PREDICTORS[kind], copies, f"{len(train)} / {len(test)}", f"{r['tau']:.3f}"]
                + [f"{r['r2']:.3f}", f"{fit_time:.0f}"]
            )
    headers = ["predictor", "permuted copies", "train / test nets", "Kendall τ", "R²", "fit (s)"]
    text = f"zoo `{args.zoo.name}` (final checkpoints)\n\n" + markdown_table(headers, rows)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
