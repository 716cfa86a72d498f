"""Paper Figures 2–5 on our zoos, as PNGs in ``benchmarks/figures/`` (or ``--out``).

- ``fig2_accuracy_histograms.png``: test-accuracy histogram per zoo, and train vs. test accuracy.
- ``fig3_bias_ranges_<zoo>.png``: range (q100 − q0) of the first conv layer's biases against
  that of the dense layer's biases, coloured by test accuracy.
- ``fig4_true_vs_predicted.png``: GBM on W_L, true vs. predicted test accuracy with Kendall τ,
  for every (training zoo, evaluated zoo) pair (in-domain on the diagonal).
- ``fig5_feature_importance_<zoo>.png``: LightGBM split-count importance of the GBM on all
  weights W (paper Fig. 5) with names like ``dense/bias:3``, plus the gain importance of the
  GBM on W_L (names like ``conv2d/bias:q100``).

Usage::

    python benchmarks/figures.py
    python benchmarks/figures.py --quick --zoo DIR --out /tmp/figs
    python benchmarks/figures.py --mode paper --zoo D --zoo M --only fig4 --suffix _17k
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from skweights.features import LayerSelector, LayerStatistics  # noqa: E402
from skweights.plotting import (  # noqa: E402
    plot_accuracy_histograms,
    plot_feature_importance,
    plot_layer_statistic_scatter,
    plot_true_vs_predicted,
    save_figure,
)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower()


FIGURES = ("fig2", "fig3", "fig4", "fig5")


def run(argv=None) -> list[Path]:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES,
        default=list(FIGURES),
        help="draw these figures only (fig4 and fig5 refit GBMs; fig5 one on all weights W)",
    )
    p.add_argument(
        "--suffix", default="", help="appended to every file name, e.g. _17k for the paper zoos"
    )
    args = C.parse(p, argv)
    out = Path(args.out) if args.out is not None else C.FIGURE_DIR
    written = []
    for name, draw in (("fig2", _fig2), ("fig3", _fig3), ("fig4", _fig4), ("fig5", _fig5)):
        if name in args.only:
            for stem, fig in draw(args):
                written.append(save_figure(fig, out / f"{stem}{args.suffix}.png"))
                plt.close("all")
    for path in written:
        print(path)
    return written


def _fig2(args):
    test_acc = {z.name: z.target for z in args.zoos}
    train_acc = None
    if all("train_accuracy" in z.metrics for z in args.zoos):
        train_acc = {z.name: z.metrics["train_accuracy"].to_numpy(float) for z in args.zoos}
    yield "fig2_accuracy_histograms", plot_accuracy_histograms(test_acc, train_acc)


def _fig3(args):
    for zoo in args.zoos:
        layers = zoo.layout.layers
        stats = LayerStatistics(zoo.layout, statistics=("q0", "q100"), kinds=["bias"])
        frame = stats.set_output(transform="pandas").fit_transform(zoo.weights)
        ax = plot_layer_statistic_scatter(
            frame, zoo.target, x=f"{layers[0]}/bias:range", y=f"{layers[-1]}/bias:range"
        )
        ax.set_title(f"{zoo.name}: bias ranges (paper Fig. 3)")
        yield f"fig3_bias_ranges_{_slug(zoo.name)}", ax.figure


def _fig4(args):
    n = len(args.zoos)
    fig, axes = plt.subplots(n, n, figsize=(4.5 * n, 4.5 * n), squeeze=False)
    for i, source in enumerate(args.zoos):
        model = C.fit_best(source, "gbm", "W_L", args.n_trials, args.quick, args.seed)
        for j, target in enumerate(args.zoos):
            X = C.features(target, "W_L")[target.test]
            plot_true_vs_predicted(
                target.target[target.test],
                model.predict(X),
                ax=axes[i, j],
                title=f"{source.name} → {target.name}",
            )
    fig.suptitle("GBM on W_L: true vs. predicted test accuracy (paper Fig. 4)")
    fig.tight_layout()
    yield "fig4_true_vs_predicted", fig


def _fig5(args):
    for zoo in args.zoos:
        fig, axes = plt.subplots(1, 2, figsize=(13, 7))
        model = C.fit_best(zoo, "gbm", "W", args.n_trials, args.quick, args.seed)
        names = LayerSelector(zoo.layout).fit(zoo.weights[:1]).get_feature_names_out()
        plot_feature_importance(
            model, feature_names=list(names), top=20, importance_type="split", ax=axes[0]
        )
        axes[0].set_title(f"{zoo.name}: GBM on W, split counts (paper Fig. 5)")
        model = C.fit_best(zoo, "gbm", "W_L", args.n_trials, args.quick, args.seed)
        names = LayerStatistics(zoo.layout).fit(zoo.weights[:1]).get_feature_names_out()
        plot_feature_importance(
            model, feature_names=list(names), top=20, importance_type="gain", ax=axes[1]
        )
        axes[1].set_title(f"{zoo.name}: GBM on W_L, gain")
        fig.tight_layout()
        yield f"fig5_feature_importance_{_slug(zoo.name)}", fig


if __name__ == "__main__":
    run()
