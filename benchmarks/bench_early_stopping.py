"""Early stopping from weights: compute saved vs good runs lost, per checkpoint epoch.

For each checkpoint epoch k of a zoo (every run trained for E epochs), the runs are split at
random into a training and a held-out part (by run). A predictor of the run's *final* test
accuracy from its weights at epoch k (`skweights.keras.fit_early_predictor`: per-layer
statistics + LightGBM) is fitted on the training runs. On the held-out runs, those predicted
below a threshold (by default the ``--quantile`` fraction of held-out runs with the lowest
predictions; ``--threshold`` for an absolute one) are stopped at epoch k, and we report

- the fraction of training compute saved (a stopped run costs k of its E epochs),
- how many of the truly best 10% runs (by final accuracy) were wrongly stopped,
- Kendall τ between predicted and final accuracy,
- the same "best 10% lost" for the classic baseline that stops the same number of runs with the
  lowest *current* test accuracy at epoch k (as successive halving / Hyperband do).

Usage::

    python benchmarks/bench_early_stopping.py [--quick] [--zoo DIR] [--quantile 0.5]

Without ``--zoo`` the default digits zoo of the benchmarks is generated or reused under
``zoos/``. The markdown table is printed and appended to ``benchmarks/RESULTS_early_stopping.md``
(``--no-save`` to skip).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS_early_stopping.md"


def checkpoint_epochs(path: Path) -> tuple[list[int], int]:
    """Checkpoint epochs of a zoo and its runs' (most common) final epoch."""
    import pandas as pd

    from skweights._format import METRICS_FILE, read_metrics

    metrics = read_metrics(Path(path) / METRICS_FILE)
    steps = pd.to_numeric(metrics["step"]).astype(int)
    final = int(steps.groupby(metrics["modeldir"]).max().mode().iloc[0])
    return sorted(set(steps.tolist())), final


def evaluate_epoch(
    path: Path,
    epoch: int,
    train_fraction: float = 0.5,
    quantile: float = 0.5,
    threshold: float | None = None,
    seed: int = 0,
) -> dict:
    """Fit the epoch-``epoch`` predictor on training runs, early-stop the held-out runs."""
    from skweights.datasets import paper_split
    from skweights.keras import load_early_checkpoints
    from skweights.metrics import kendall_tau

    data = load_early_checkpoints(path, epoch)
    train, test = paper_split(len(data.target), n_train=train_fraction, random_state=seed)
    from skweights.predictor import make_predictor

    model = make_predictor(data.layout, "stats", "gbm", random_state=seed)
    model[-1].set_params(n_jobs=1)  # see fit_early_predictor: 1 thread is fastest here
    model.fit(data.weights[train], data.target[train])
    predicted = model.predict(data.weights[test])
    final = data.target[test]
    total_epochs = data.final_step[test].astype(float)
    if threshold is None:
        # stop the ``quantile`` fraction of runs with the lowest predictions (ties broken by
        # run order, so a predictor with tied predictions still stops that many runs)
        stopped = np.zeros(len(predicted), dtype=bool)
        stopped[np.argsort(predicted, kind="stable")[: int(round(quantile * len(predicted)))]] = (
            True
        )
        cut = float(predicted[stopped].max()) if stopped.any() else float("nan")
    else:
        stopped = predicted < threshold
        cut = float(threshold)
    n_stop = int(stopped.sum())

    best = final >= np.quantile(final, 0.9)  # the truly best 10% of held-out runs
    # baseline: stop the same number of runs with the lowest current test accuracy
    baseline = np.zeros_like(stopped)
    baseline[np.argsort(data.accuracy_at_epoch[test], kind="stable")[:n_stop]] = True
    saved = np.where(stopped, (total_epochs - epoch) / total_epochs, 0.0)
    compute_saved = float(np.sum(saved * total_epochs) / np.sum(total_epochs))
    return {
        "epoch": epoch,
        "final_epoch": int(np.median(total_epochs)),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "tau": kendall_tau(final, predicted),
        "tau_current": kendall_tau(final, data.accuracy_at_epoch[test]),
        "threshold": cut,
        "stopped": n_stop,
        "compute_saved": compute_saved,
        "n_best": int(best.sum()),
        "best_lost": int((stopped & best).sum()),
        "best_lost_baseline": int((baseline & best).sum()),
        "best_run_kept": bool(not stopped[np.argmax(final)]),
        "mean_final_kept": float(final[~stopped].mean()) if n_stop < len(final) else np.nan,
        "mean_final_all": float(final.mean()),
    }


def markdown(rows: list[dict]) -> str:
    headers = [
        "epoch k / E",
        "τ (pred. vs final)",
        "τ (acc. at k vs final)",
        "threshold",
        "stopped",
        "compute saved",
        "best-10% stopped (weights)",
        "best-10% stopped (acc. at k)",
        "best run kept",
        "mean final acc. kept / all",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for r in rows:
        cells = [
            f"{r['epoch']} / {r['final_epoch']}",
            f"{r['tau']:.3f}",
            f"{r['tau_current']:.3f}",
            f"{r['threshold']:.3f}",
            f"{r['stopped']} / {r['n_test']}",
            f"{100 * r['compute_saved']:.1f}%",
            f"{r['best_lost']} / {r['n_best']}",
            f"{r['best_lost_baseline']} / {r['n_best']}",
            "yes" if r["best_run_kept"] else "no",
            f"{r['mean_final_kept']:.3f} / {r['mean_final_all']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def default_zoo(quick: bool) -> Path:
    sys.path.insert(0, str(HERE))
    from _common import ensure_zoo

    return ensure_zoo("digits", "quick" if quick else "full")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", default=None, help="zoo directory (default: generate/reuse)")
    parser.add_argument("--quick", action="store_true", help="small default zoo, few epochs")
    parser.add_argument("--quantile", type=float, default=0.5, help="stop this fraction of runs")
    parser.add_argument(
        "--threshold", type=float, default=None, help="absolute threshold (overrides --quantile)"
    )
    parser.add_argument("--train-fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, nargs="+", default=None, help="checkpoints to use")
    parser.add_argument("--results", default=str(RESULTS), help="markdown file to append to")
    parser.add_argument("--no-save", action="store_true", help="do not append to --results")
    args = parser.parse_args(argv)
    if not 0 < args.quantile < 1:
        parser.error(f"--quantile must be in (0, 1), got {args.quantile}")

    path = Path(args.zoo) if args.zoo else default_zoo(args.quick)
    epochs, final = checkpoint_epochs(path)
    chosen = args.epochs or [e for e in epochs if e < final]
    if args.quick and not args.epochs:
        chosen = chosen[:3]
    start = time.perf_counter()
    rows = [
        evaluate_epoch(path, k, args.train_fraction, args.quantile, args.threshold, args.seed)
        for k in chosen
    ]
    seconds = time.perf_counter() - start
    rule = (
        f"threshold {args.threshold}"
        if args.threshold is not None
        else f"the {args.quantile:.0%} of runs with the lowest predictions are stopped "
        "(threshold column: the highest prediction stopped)"
    )
    table = markdown(rows)
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python benchmarks/bench_early_stopping.py", *given])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = (
        f"## Early stopping from weights — {path.name} ({stamp})\n\n"
        f"Per-layer statistics + LightGBM predicting the final test accuracy from the weights "
        f"at epoch k, fitted on {rows[0]['n_train']} runs, evaluated on {rows[0]['n_test']} "
        f"held-out runs; {rule}. Baseline column: stop the same number of runs with the lowest "
        f"test accuracy at epoch k. {seconds:.0f} s.\n\n"
        f"Command: `{command}`\n\n{table}\n"
    )
    print(report)
    if not args.no_save:
        results = Path(args.results)
        prefix = "" if results.exists() else "# Early-stopping benchmark results\n\n"
        with results.open("a", encoding="utf-8") as fh:
            fh.write(prefix + report + "\n")
    return report


if __name__ == "__main__":
    main()
