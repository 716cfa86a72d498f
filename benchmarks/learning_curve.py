"""Learning curves: test R² and Kendall τ against the number of training networks.

The paper's sample-complexity argument (15,000 training networks), measured: for every input
feature set and estimator, the model is trained on random subsamples of the training split of
growing size (250 … 15,000, capped by the split) and scored on the whole, FIXED held-out test
split; each point is the mean ± std over ``--repeats`` subsamples (and estimator seeds).

The configuration is the same at every size: the estimator's benchmark defaults
(`_common.make_estimator`), or with ``--tuned`` the best configuration of the cell's CV search
on the whole training split (`_common.evaluate`, shared with Tables 1/2 through the cache).
Each point is cached under the benchmark cache, so an interrupted run resumes.

Writes ``learning_curve_<zoo>.png`` (into ``benchmarks/figures/`` or ``--out``'s directory) and
a markdown table.

Usage::

    python benchmarks/learning_curve.py --mode paper                       # 17k-network zoos
    python benchmarks/learning_curve.py --zoo DIR --train-fraction 2000 --features W_L
    python benchmarks/learning_curve.py --quick --zoo DIR --out /tmp/lc.md
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import paper_numbers as P  # noqa: E402

from skweights.metrics import kendall_tau  # noqa: E402

SIZES = (250, 500, 1000, 2000, 4000, 8000, 15000)
QUICK_SIZES = (12, 24, 48)
FEATURES = ("W_L", "W_L4", "lambda", "W")
ESTIMATORS = ("gbm", "lin")


def sizes_for(zoo: C.Zoo, sizes) -> list[int]:
    """``sizes`` capped by the training split (its full size is the last point)."""
    n = len(zoo.train)
    capped = sorted({min(int(s), n) for s in sizes})
    return capped


def _configured(zoo: C.Zoo, kind: str, feature: str, args, seed: int):
    if kind == "nfn" and feature != "W":
        raise ValueError(f"the 'nfn' estimator reads raw weights (feature 'W'), got {feature!r}")
    paper = zoo.protocol == "paper"
    estimator, _ = C.make_estimator(kind, args.quick, seed, paper=paper, layout=zoo.layout)
    if args.tuned:
        best = C.evaluate(zoo, kind, feature, args.n_trials, args.quick, args.seed)
        estimator.set_params(**best["best_params"])
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return estimator


def point(zoo: C.Zoo, kind: str, feature: str, size: int, repeat: int, args) -> dict:
    """R², τ and seconds of one (cell, size, repeat): cached like `_common.evaluate`."""
    from sklearn.metrics import r2_score

    seed = args.seed + repeat
    estimator = _configured(zoo, kind, feature, args, seed)
    parts = {
        "zoo": zoo.fingerprint,
        "kind": kind,
        "feature": feature,
        "size": size,
        "repeat": repeat,
        "seed": args.seed,
        "n_train": len(zoo.train),
        "estimator": C.estimator_key(estimator),
        "version": 1,
    }
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    path = C.CACHE_DIR / f"lc-{kind}-{feature}-{digest}.json"
    if not args.no_cache and path.is_file():
        return json.loads(path.read_text())
    start = time.perf_counter()
    rows = np.random.RandomState(seed).choice(zoo.train, size=size, replace=False)
    X = C.features(zoo, feature)
    model = estimator.fit(X[rows], zoo.target[rows])
    pred = model.predict(X[zoo.test])
    y = zoo.target[zoo.test]
    result = {
        **parts,
        "r2": float(r2_score(y, pred)),
        "tau": float(kendall_tau(y, pred)),
        "seconds": time.perf_counter() - start,
    }
    C.write_json_atomic(path, result)
    return result


def curves(zoo: C.Zoo, args) -> dict[tuple[str, str], dict[int, list[dict]]]:
    """``{(kind, feature): {size: [point of each repeat]}}`` for one zoo."""
    out = {}
    for feature in args.features:
        for kind in args.estimators:
            if kind == "nfn" and feature != "W":  # the neural functional reads raw weights
                continue
            out[kind, feature] = {
                size: [point(zoo, kind, feature, size, r, args) for r in range(args.repeats)]
                for size in sizes_for(zoo, args.sizes)
            }
    return out


def _label(kind: str, feature: str) -> str:
    return f"{C.ESTIMATOR_NAMES[kind]} on {C.FEATURE_SETS[feature].symbol}"


def plot(zoo: C.Zoo, curve: dict, path: Path) -> Path:
    """Two panels (R², τ) against training networks (log scale), one line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skweights.plotting import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
    sizes = sorted(next(iter(curve.values())))
    for (kind, feature), by_size in curve.items():
        for ax, metric in zip(axes, ("r2", "tau"), strict=True):
            values = np.array([[p[metric] for p in by_size[s]] for s in sizes])
            ax.errorbar(
                sizes, values.mean(axis=1), yerr=values.std(axis=1), marker="o", capsize=3,
                label=_label(kind, feature),
            )  # fmt: skip
    reference = {"r2": P.table2("W_L", "MNIST"), "tau": P.TABLE3_TAU["MNIST"]["MNIST"]}
    for ax, metric, name in zip(axes, ("r2", "tau"), ("test R²", "test Kendall τ"), strict=True):
        ax.axhline(reference[metric], color="grey", ls="--", lw=1, label="paper MNIST, GBM on W_L")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes], minor=False)
        ax.minorticks_off()
        ax.set_ylim(top=1.0)
        ax.set_xlabel("training networks")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(bottom=max(-0.1, axes[0].get_ylim()[0]))
    # below the panels: inside, the legend hides the curves of the lower cells
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=min(4, len(labels)))
    fig.suptitle(f"Learning curves on {zoo.name} ({len(zoo.test)} fixed test networks)")
    path = save_figure(fig, path)
    plt.close(fig)
    return path


def table(zoo: C.Zoo, curve: dict) -> str:
    sizes = sorted(next(iter(curve.values())))
    headers = ["cell (R² / τ)"] + [f"{s:,}" for s in sizes]
    rows = []
    for (kind, feature), by_size in curve.items():
        row = [_label(kind, feature)]
        for s in sizes:
            r2 = C.mean_std([p["r2"] for p in by_size[s]])
            tau = C.mean_std([p["tau"] for p in by_size[s]])
            row.append(f"{r2} / {tau}")
        rows.append(row)
    return f"**{zoo.name}** ({len(zoo.test)} test networks)\n\n" + C.markdown_table(headers, rows)


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=int, default=None, help=f"default {SIZES}")
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=C.FEATURE_SETS)
    p.add_argument(
        "--estimators", nargs="+", default=list(ESTIMATORS), choices=C.ESTIMATOR_NAMES,
        help="estimator kinds; 'nfn' (the neural functional) runs on the raw weights only",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=None, help="subsamples per size (default 3)")
    p.add_argument("--tuned", action="store_true", help="use each cell's CV-searched config")
    args = C.parse(p, argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else SIZES)
    args.repeats = args.repeats or (2 if args.quick else 3)
    fig_dir = C.FIGURE_DIR
    if args.out is not None:
        fig_dir = Path(args.out).parent if Path(args.out).suffix == ".md" else Path(args.out)

    start = time.perf_counter()
    blocks, figures = [], []
    for zoo in args.zoos:
        curve = curves(zoo, args)
        slug = "".join(ch if ch.isalnum() else "_" for ch in zoo.name).strip("_").lower()
        figures.append(plot(zoo, curve, fig_dir / f"learning_curve_{slug}.png"))
        blocks.append(table(zoo, curve))
    config = (
        "the best of "
        + ", ".join(
            f"{C.trials_for(kind, args.n_trials)} ({C.ESTIMATOR_NAMES[kind]})"
            for kind in args.estimators
        )
        + " CV-search trials on the whole training split"
        if args.tuned
        else "the benchmark defaults of `_common.make_estimator` (no search)"
    )
    notes = (
        f"Cells: test R² / Kendall τ, mean ± std over {args.repeats} random subsamples of the "
        f"training split (at the split's full size they coincide: estimator seeds only); the "
        f"test split is fixed. Configuration at every size: {config}. "
        f"Zoos: {C.zoo_summary(args.zoos)}. Figures: {', '.join(f.name for f in figures)}. "
        f"{time.perf_counter() - start:.0f} s (cached points are free)."
    )
    return C.emit(args, "Learning curves — R² and τ against training networks",
                  "\n\n".join(blocks), notes)  # fmt: skip


if __name__ == "__main__":
    run()
