"""Paper Table 9: sensitivity of a GBM trained on all weights W to permutations and scaling.

The GBM on W (best of the CV search, refitted on the training split) predicts the test
networks before and after each modification of paper Appendix C; the table reports the mean
absolute difference (MAD) of the two predictions. Permutations are drawn with
`skweights.features.RandomPermutation` (one permutation per seed applied to every test
network; MAD averaged over ``--n-perms`` seeds) and scaling uses
`skweights.features.WeightScaler`. "Within a layer" permutes inside each layer separately;
"mixing b. and w." lets biases and kernels of a layer swap places.

As a scale for the MADs, the notes give the MAD of the predictions from their own mean (what
a predictor that ignores its input entirely would change by, on average).

Usage::

    python benchmarks/table9_sensitivity.py
    python benchmarks/table9_sensitivity.py --quick --zoo DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import paper_numbers as P  # noqa: E402

from skweights.features import RandomPermutation, WeightScaler  # noqa: E402
from skweights.metrics import mean_absolute_difference  # noqa: E402

SCALES = (1e-3, 1e-1, 2.0, 10.0, 100.0)
WHERE = {"all": "all layers", "final": "final (dense) layer", "first3": "first 3 (conv) layers"}


def modifications(layout) -> list[tuple[tuple, str, object]]:
    """(paper key, description, factory(seed) -> unfitted transformer) in paper order."""
    layers = layout.layers
    where_layers = {"all": None, "final": [layers[-1]], "first3": layers[:3]}
    mods = []
    for c in SCALES:
        mods.append(
            (
                ("scale", c, None),
                f"scale, c = {c:g}",
                lambda s, c=c: WeightScaler(layout, factor=c),
            )
        )
    for mix in (True, False):
        mods.append(
            (
                ("global", "all", mix),
                f"global permutation ({'mixing' if mix else 'not mixing'} b. and w.)",
                lambda s, mix=mix: RandomPermutation(
                    layout, scope="global", mix_kernel_bias=mix, random_state=s
                ),
            )
        )
    for where in ("all", "final", "first3"):
        for mix in (True, False):
            mods.append(
                (
                    ("layer", where, mix),
                    f"permuting within {WHERE[where]} ({'mixing' if mix else 'not mixing'} b. "
                    "and w.)",
                    lambda s, where=where, mix=mix: RandomPermutation(
                        layout,
                        scope="layer",
                        layers=where_layers[where],
                        mix_kernel_bias=mix,
                        random_state=s,
                    ),
                )
            )
    return mods


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--n-perms", type=int, default=None, help="permutation seeds to average")
    args = C.parse(p, argv)
    n_perms = args.n_perms or (1 if args.quick else 3)
    results, scale_notes, r2s = {}, [], []
    for zoo in args.zoos:
        model = C.fit_best(zoo, "gbm", "W", args.n_trials, args.quick, args.seed)
        X = zoo.weights[zoo.test]
        base = model.predict(X)
        r2s.append(f"{zoo.name} test R² {_r2(zoo.target[zoo.test], base):.3f}")
        scale_notes.append(f"{zoo.name} {np.mean(np.abs(base - base.mean())):.4f}")
        for key, desc, factory in modifications(zoo.layout):
            seeds = [0] if key[0] == "scale" else range(n_perms)
            mads = []
            for s in seeds:
                modified = factory(s).fit_transform(X)
                mads.append(mean_absolute_difference(base, model.predict(modified)))
            results[zoo.name, key] = (desc, float(np.mean(mads)))
    keys = [key for key, _, _ in modifications(args.zoos[0].layout)]
    # paper order: descending paper MAD, our extra rows (no paper number) last
    keys.sort(key=lambda k: -P.TABLE9_MAD.get(k, -1.0))
    headers = ["modification φ", "MAD paper CIFAR10-GS"] + [
        f"MAD ours {z.name}" for z in args.zoos
    ]
    rows = []
    for key in keys:
        desc = results[args.zoos[0].name, key][0]
        paper = P.TABLE9_MAD.get(key)
        rows.append(
            [desc, "—" if paper is None else f"{paper:.4f}"]
            + [f"{results[z.name, key][1]:.4f}" for z in args.zoos]
        )
    notes = (
        f"GBM on W (all weights), best of {args.n_trials} CV-search trials refitted on the "
        f"training split ({'; '.join(r2s)}; paper's: R² 0.97). MAD over the test split, "
        f"permutations averaged over {n_perms} seed(s). Scale of a MAD (mean |F(W) − mean F|): "
        f"{'; '.join(scale_notes)}. Zoos: {C.zoo_summary(args.zoos)}."
    )
    return C.emit(
        args, "Table 9 — sensitivity of GBM on W (MAD)", C.markdown_table(headers, rows), notes
    )


def _r2(y, pred) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, pred))


if __name__ == "__main__":
    run()
