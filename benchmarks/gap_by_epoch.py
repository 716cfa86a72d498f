"""Single-layer inputs against training length: R² of each input at every checkpoint of a zoo.

On our zoos the dense-layer inputs fall far behind the per-layer statistics of all layers
(MNIST-5k: W_L⁴ 0.79 vs W_L 0.97), while in the paper they come close (0.948 vs 0.988). The
paper's MNIST networks ran ~15× more optimisation steps than ours (18 epochs of up to 60,000
images against 4,000). This script measures whether the gap depends on training length: every
checkpoint epoch of the zoo is a prediction problem of its own (weights at that epoch, test
accuracy at that epoch), solved with the same split and the same estimator for every input.

The estimator is the benchmark default GBM of `_common.make_estimator` (no search: the same
configuration at every epoch and for every input); the split is the paper split of the
networks present at every selected epoch. Columns per input: test R²; ``--min-fraction 0.5``
restricts training and test networks to ``train_fraction >= 0.5``.

Usage::

    python benchmarks/gap_by_epoch.py --mode paper --zoo DIR --features W_L W_L4
    python benchmarks/gap_by_epoch.py --mode paper --zoo LONG --train-fraction 1500 --repeats 5
    python benchmarks/gap_by_epoch.py --quick --zoo DIR --out /tmp/gap.md
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _protocols  # noqa: E402
import paper_numbers as P  # noqa: E402

FEATURES = ("W_L", "W_L4", "W_L14")


def zoo_at_epochs(path: Path, epochs, n_train, seed: int, protocol: str) -> dict[int, C.Zoo]:
    """One `_common.Zoo` per epoch, over the runs present (and finite) at every epoch.

    All of them share one paper split of those runs, so the rows of two epochs are the same
    networks at two points of their training.
    """
    from skweights.datasets import load_zoo, paper_split

    bunches = {e: load_zoo(path, step=int(e)) for e in epochs}
    runs = [set(b.metrics["modeldir"]) for b in bunches.values()]
    common = sorted(set.intersection(*runs))
    if not common:
        raise ValueError(f"no run of {path} has a finite checkpoint at every epoch {list(epochs)}")
    train, test = paper_split(len(common), n_train=n_train, random_state=seed)
    zoos = {}
    for epoch, b in bunches.items():
        index = {m: i for i, m in enumerate(b.metrics["modeldir"])}
        order = np.array([index[m] for m in common])
        zoos[epoch] = C.Zoo(
            path=Path(path),
            name=C.zoo_name(Path(path)),
            weights=np.asarray(b.weights[order], dtype=np.float32),
            target=np.asarray(b.target[order], dtype=np.float64),
            hyperparameters=b.hyperparameters.iloc[order].reset_index(drop=True),
            layout=b.layout,
            train=train,
            test=test,
            metrics=b.metrics.iloc[order].reset_index(drop=True),
            protocol=protocol,
        )
    return zoos


def r2_at(zoo: C.Zoo, feature: str, quick: bool, seed: int, min_fraction: float) -> float | None:
    """Test R² of the default GBM on ``feature`` (networks below ``min_fraction`` left out).

    None when too few networks are left for an honest number (`_protocols.subset_r2`).
    """
    estimator, _ = C.make_estimator("gbm", quick, seed, paper=zoo.protocol == "paper")
    train, test = _protocols.fraction_split(zoo, min_fraction)
    return _protocols.subset_r2(estimator, C.features(zoo, feature), zoo.target, train, test)


def _cell(values: list[float | None], signed: bool = False) -> str:
    """``0.948`` for one repeat, ``0.948 ± 0.005`` (mean ± std) for several; n/a if any is None."""
    if not values or any(v is None for v in values):
        return "n/a"
    text = f"{np.mean(values):+.3f}" if signed else f"{np.mean(values):.3f}"
    return text if len(values) == 1 else f"{text} ± {np.std(values):.3f}"


def r2_by_epoch(zoos: dict[int, C.Zoo], features, args, seed: int) -> dict[int, dict]:
    """``{epoch: {feature: R² or None}}`` on the paper split and estimator seed ``seed``.

    Every epoch gets the same split of the same networks.
    """
    from skweights.datasets import paper_split

    n = len(next(iter(zoos.values())).target)
    train, test = paper_split(n, n_train=args.train_fraction, random_state=seed)
    return {
        epoch: {
            f: r2_at(replace(zoo, train=train, test=test), f, args.quick, seed, args.min_fraction)
            for f in features
        }
        for epoch, zoo in zoos.items()
    }


def _gaps(r2: dict) -> list[float | None]:
    return [None if None in (r2["W_L"], r2[f]) else r2["W_L"] - r2[f] for f in r2 if f != "W_L"]


def plot(curves: dict[str, tuple[list[int], list[dict]]], features, path: Path) -> Path:
    """One panel per zoo: test R² of each input against the checkpoint epoch.

    ``curves`` maps a panel title to ``(epochs, runs)`` (`r2_by_epoch` per seed); error bars
    are the std over runs, dashed lines the paper's MNIST R² of the same input at epoch 18.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skweights.plotting import save_figure

    fig, axes = plt.subplots(
        1, len(curves), figsize=(5.5 * len(curves), 4.5), layout="constrained", squeeze=False
    )
    for ax, (title, (epochs, runs)) in zip(axes[0], curves.items(), strict=True):
        for i, f in enumerate(features):
            values = np.array([[np.nan if r[e][f] is None else r[e][f] for r in runs]
                               for e in epochs])  # fmt: skip
            color = f"C{i}"
            symbol = C.FEATURE_SETS[f].symbol
            ax.errorbar(epochs, values.mean(axis=1), yerr=values.std(axis=1), marker="o",
                        capsize=3, color=color, label=f"GBM on {symbol}")  # fmt: skip
            ax.axhline(P.table2(f, "MNIST"), color=color, ls="--", lw=1,
                       label=f"paper MNIST, {symbol}")  # fmt: skip
        ax.set_xticks(epochs)
        ax.set_xlabel("checkpoint epoch")
        ax.set_ylabel("test R²")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=min(3, len(labels)))
    fig.suptitle("Single-layer inputs against training length")
    path = save_figure(fig, path)
    plt.close(fig)
    return path


def available_epochs(path: Path) -> list[int]:
    import pandas as pd

    steps = pd.read_csv(Path(path) / "metrics.csv.gz", usecols=["step"])["step"]
    return sorted(int(s) for s in steps.unique())


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=C.FEATURE_SETS)
    p.add_argument(
        "--epochs", nargs="+", type=int, default=None, help="checkpoint epochs (default: all ≥ 1)"
    )
    p.add_argument(
        "--min-fraction",
        type=float,
        default=0.0,
        help="keep only networks with train_fraction >= this (default: all)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="splits and estimator seeds --seed, --seed+1, ...; cells are mean ± std (default: 1)",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="also draw R² against epoch, one panel per zoo, to this .png",
    )
    args = C.parse(p, argv)
    if args.figure is not None and args.figure.suffix.lower() != ".png":
        raise SystemExit(f"--figure must be a .png file, got {args.figure}")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    if not 0.0 <= args.min_fraction <= 1.0:  # also refuses nan
        raise SystemExit(f"--min-fraction must be in [0, 1], got {args.min_fraction}")
    args.features = list(dict.fromkeys(args.features))
    blocks, curves = [], {}
    for loaded in args.zoos:
        started = time.perf_counter()
        epochs = sorted(set(args.epochs or [e for e in available_epochs(loaded.path) if e >= 1]))
        missing = sorted(set(epochs) - set(available_epochs(loaded.path)))
        if missing:
            raise SystemExit(
                f"{loaded.path.name}: no checkpoint at epoch(s) {missing}; expected some of "
                f"{available_epochs(loaded.path)}"
            )
        zoos = zoo_at_epochs(loaded.path, epochs, args.train_fraction, args.seed, loaded.protocol)
        seeds = range(args.seed, args.seed + args.repeats)
        runs = [r2_by_epoch(zoos, args.features, args, seed) for seed in seeds]
        subset = f", train_fraction ≥ {args.min_fraction:g}" if args.min_fraction else ""
        n_train = len(_protocols.fraction_split(next(iter(zoos.values())), args.min_fraction)[0])
        n = len(next(iter(zoos.values())).target)
        curves[f"{loaded.name}: {n} networks, {n_train} train{subset}"] = (list(zoos), runs)
        headers = ["epoch", "mean test accuracy"]
        headers += [C.FEATURE_SETS[f].symbol for f in args.features]
        if "W_L" in args.features:
            headers += [f"W_L − {C.FEATURE_SETS[f].symbol}" for f in args.features if f != "W_L"]
        rows = []
        for epoch, zoo in zoos.items():
            train, test = _protocols.fraction_split(zoo, args.min_fraction)
            accuracy = zoo.target[np.concatenate([train, test])].mean()
            row = [str(epoch), f"{accuracy:.3f}"]
            row += [_cell([run[epoch][f] for run in runs]) for f in args.features]
            if "W_L" in args.features:
                gaps = [_gaps(run[epoch]) for run in runs]
                row += [_cell([g[i] for g in gaps], signed=True) for i in range(len(gaps[0]))]
            rows.append(row)
        paper = ", ".join(f"{C.FEATURE_SETS[f].symbol} {P.table2(f, 'MNIST'):.3f}"
                          for f in args.features)  # fmt: skip
        train, test = _protocols.fraction_split(next(iter(zoos.values())), args.min_fraction)
        subset = f"train_fraction ≥ {args.min_fraction:g} only; " if args.min_fraction else ""
        if args.repeats > 1:
            subset += f"{args.repeats} random splits, "
        blocks.append(
            f"**{loaded.name}** ({subset}{len(train)} train / {len(test)} test "
            f"networks present at every epoch; {time.perf_counter() - started:.0f} s)\n\n"
            + C.markdown_table(headers, rows)
            + f"\n\nPaper, MNIST at epoch 18 of 60,000 images: {paper}."
        )
    if args.figure is not None:
        blocks.append(f"Figure: {plot(curves, args.features, args.figure).name}.")
    notes = (
        "Test R² of the benchmark default GBM (no search) per checkpoint epoch: weights and test "
        "accuracy of the same networks at that epoch, one fixed split for every epoch (with "
        "--repeats: mean ± std over that many splits and estimator seeds); mean test accuracy "
        "of the networks scored (first split). n/a: too few networks to fit (the model "
        "predicts a constant)."
    )
    return C.emit(args, "Single-layer inputs against training length", "\n\n".join(blocks), notes)


if __name__ == "__main__":
    run()
