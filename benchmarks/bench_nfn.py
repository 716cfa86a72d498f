"""NeuralFunctionalRegressor vs the paper's best predictors: τ, R², fit time, networks/second.

Three predictors of a network's test accuracy, each trained on the same training networks of
one zoo (final checkpoints) and scored on the same held-out networks:

- **GBM on W_L**: per-layer statistics (`LayerStatistics`) -> `EarlyStoppingLGBMRegressor`,
- **StatNN**: the same statistics -> `WeightMLP` (what Zhou et al. 2023 call StatNN),
- **NFN-HNP**: `NeuralFunctionalRegressor` on the raw weights.

Fixed hyperparameters (no search): each model early-stops on a validation fraction of its own
training networks, never on the test networks. Two protocols:

- ``paper``: `skweights.datasets.paper_split`, ``--n-train`` networks at random for training,
  the rest for test;
- ``nfn``: `skweights.datasets.nfn_split` (the second half of a fixed permutation is test; the
  first half, NFN's train + validation parts, is the training data, capped at ``--n-train``).

Usage::

    python benchmarks/bench_nfn.py --zoo DIR [--n-train 10000] [--protocols paper nfn]
    python benchmarks/bench_nfn.py --quick --zoo DIR   # CI: tiny models

Each finished cell (protocol x predictor) is cached under ``$SKWEIGHTS_BENCH_ZOOS/.bench-cache/``:
a stopped run resumes with the same command (``--no-cache`` fits every cell again).
The markdown table is printed (and written to ``--out``). Training speed is networks x epochs
per second of ``fit``; prediction speed is networks per second of ``predict``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

#: Display names of the predictors, in table order.
PREDICTORS = {
    "gbm": "GBM on W_L (per-layer stats)",
    "statnn": "StatNN (W_L -> WeightMLP)",
    "nfn": "NFN-HNP (NeuralFunctionalRegressor)",
}


def make_predictor(kind: str, layout, quick: bool, seed: int, verbose: int = 0, nfn_params=None):
    """A fresh, unfitted predictor of ``kind`` (raw weights in, accuracy out).

    ``nfn_params`` override the NFN's parameters (``--nfn-params``).
    """
    from sklearn.pipeline import make_pipeline

    from skweights.features import LayerStatistics
    from skweights.models import EarlyStoppingLGBMRegressor, NeuralFunctionalRegressor, WeightMLP

    if kind == "gbm":
        gbm = EarlyStoppingLGBMRegressor(
            n_estimators=60 if quick else 2000,
            learning_rate=0.1 if quick else 0.03,
            num_leaves=15 if quick else 63,
            min_child_samples=5 if quick else 20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            stopping_rounds=10 if quick else 100,
            random_state=seed,
            n_jobs=1,
        )
        return make_pipeline(LayerStatistics(layout), gbm)
    if kind == "statnn":
        mlp = WeightMLP(
            n_layers=3,
            n_units=64 if quick else 256,
            learning_rate=1e-3,
            epochs=10 if quick else 300,
            patience=3 if quick else 20,
            random_state=seed,
        )
        return make_pipeline(LayerStatistics(layout), mlp)
    if kind == "nfn":
        params = dict(hidden_channels=(4, 4), head_units=(32,), epochs=3) if quick else {}
        params.update(nfn_params or {})
        return NeuralFunctionalRegressor(layout, random_state=seed, verbose=verbose, **params)
    raise ValueError(f"predictor kind must be one of {sorted(PREDICTORS)}, got {kind!r}")


def splits(bunch, protocol: str, n_train: int | float, seed: int):
    """(train, test) positions of ``protocol`` ("paper" or "nfn")."""
    from skweights.datasets import nfn_split, paper_split

    if protocol == "paper":
        return paper_split(len(bunch.target), n_train=n_train, random_state=seed)
    if protocol == "nfn":
        train, val, test = nfn_split(bunch, random_state=seed)
        train = np.concatenate([train, val])
        if isinstance(n_train, float):
            n_train = int(n_train * len(bunch.target))
        return np.sort(train[:n_train]), test
    raise ValueError(f"protocol must be 'paper' or 'nfn', got {protocol!r}")


def _epochs(model) -> int:
    final = model[-1] if hasattr(model, "steps") else model
    return int(getattr(final, "n_iter_", getattr(final, "best_iteration_", 0)) or 1)


def run_cell(bunch, kind, protocol, n_train, quick, seed, verbose=0, nfn_params=None) -> dict:
    """Fit one predictor on one protocol's training networks; score it on its test networks."""
    from sklearn.metrics import r2_score

    from skweights.metrics import kendall_tau

    train, test = splits(bunch, protocol, n_train, seed)
    X, y = bunch.weights, bunch.target
    model = make_predictor(kind, bunch.layout, quick, seed, verbose, nfn_params)
    start = time.perf_counter()
    model.fit(X[train], y[train])
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(X[test])
    predict_time = time.perf_counter() - start
    epochs = _epochs(model)
    return {
        "kind": kind,
        "protocol": protocol,
        "n_train": len(train),
        "n_test": len(test),
        "tau": float(kendall_tau(y[test], pred)),
        "r2": float(r2_score(y[test], pred)),
        "fit_time": fit_time,
        "epochs": epochs,
        "train_nets_per_s": len(train) * epochs / fit_time,
        "predict_nets_per_s": len(test) / predict_time,
    }


def cached_cell(zoo_path, bunch, kind, protocol, n_train, quick, seed, verbose, nfn_params,
                no_cache=False) -> dict:  # fmt: skip
    """`run_cell`, its result cached beside the tables' cells (``.bench-cache/``).

    A run stopped after some cells (an NFN fit on 15,000 networks takes 3-12 min) keeps the
    finished ones: rerunning the command fits only the rest. A second run of a cell that is
    being fitted waits for the first (`_common.cell_lock`) instead of fitting it beside it.
    The key holds the zoo's fingerprint and every argument of the cell; ``no_cache`` fits
    again and overwrites.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as C

    parts = {
        "bench": "nfn",
        "zoo": C.zoo_fingerprint(zoo_path),
        "kind": kind,
        "feature": protocol,
        "n_train": n_train,
        "quick": quick,
        "seed": seed,
        "nfn_params": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in (nfn_params or {}).items()} if kind == "nfn" else None,
    }  # fmt: skip
    path = C.CACHE_DIR / f"bench_nfn-{C._cell_name(parts)}.json"
    if path.is_file() and not no_cache:
        return json.loads(path.read_text())
    with C.cell_lock(parts):  # a second run of this cell waits, then reads the first's result
        if path.is_file() and not no_cache:
            return json.loads(path.read_text())
        result = run_cell(bunch, kind, protocol, n_train, quick, seed, verbose, nfn_params)
        C.write_json_atomic(path, result)
    return result


def table(results: list[dict]) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import markdown_table

    headers = [
        "protocol",
        "predictor",
        "train / test nets",
        "Kendall τ",
        "R²",
        "fit time (s)",
        "epochs (GBM: rounds)",
        "train nets·epochs/s",
        "predict nets/s",
    ]
    rows = [
        [
            r["protocol"],
            PREDICTORS[r["kind"]],
            f"{r['n_train']} / {r['n_test']}",
            f"{r['tau']:.3f}",
            f"{r['r2']:.3f}",
            f"{r['fit_time']:.0f}",
            r["epochs"],
            "—" if r["kind"] == "gbm" else f"{r['train_nets_per_s']:,.0f}",
            f"{r['predict_nets_per_s']:,.0f}",
        ]
        for r in results
    ]
    return markdown_table(headers, rows)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", type=Path, required=True, help="zoo directory")
    p.add_argument("--n-train", type=float, default=None, help="training networks (or fraction)")
    p.add_argument("--protocols", nargs="+", default=["paper", "nfn"], choices=["paper", "nfn"])
    p.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=list(PREDICTORS))
    p.add_argument("--quick", action="store_true", help="tiny models (CI)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0, help="per-epoch lines of the NFN")
    p.add_argument(
        "--nfn-params",
        type=json.loads,
        default=None,
        help="JSON dict of NeuralFunctionalRegressor parameters, e.g. '{\"epochs\": 20}'",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    p.add_argument("--no-cache", action="store_true", help="fit every cell again")
    args = p.parse_args(argv)
    if args.nfn_params:
        for key in ("hidden_channels", "head_units"):
            if key in args.nfn_params:
                args.nfn_params[key] = tuple(args.nfn_params[key])

    from skweights.datasets import load_zoo

    bunch = load_zoo(args.zoo, step="final")
    n_train = args.n_train if args.n_train is not None else (0.5 if args.quick else 10000)
    n_train = int(n_train) if n_train >= 1 else float(n_train)
    results = []
    for protocol in args.protocols:
        for kind in args.predictors:
            cell = (bunch, kind, protocol, n_train, args.quick, args.seed)
            result = cached_cell(args.zoo, *cell, args.verbose, args.nfn_params, args.no_cache)
            print(
                f"{protocol} {kind}: τ {result['tau']:.3f}, R² {result['r2']:.3f}, "
                f"fit {result['fit_time']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(result)
    text = (
        f"zoo `{args.zoo.name}` ({len(bunch.target)} networks, final checkpoints); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"NFN parameters {args.nfn_params or 'default'}\n\n" + table(results)
    )
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
