"""Paper Table 4 in our terms: a GBM trained on the standard CNN zoo ranks wider/shallower CNNs.

The paper trains a GBM on the final dense layer's statistics (W_L⁴, 14 numbers for any
architecture) of CIFAR10-GS CNNs and ranks 216 Wide-ResNet32 models of widths x1, x2, x4
(DEMOGEN), reporting Kendall τ between the predictions and the test and the train accuracies,
beside τ(train, test). Here the training zoo is our standard zoo (3 conv layers of 16 units) and
the ranked zoos are CNNs of other widths (16, 32, 64 units: x1, x2, x4) and depths (3 and 2 conv
layers; 4 valid stride-2 convolutions need 31-pixel images), trained on the same images with
hyperparameters of another seed. Features are chosen by a layer's role, never by its name,
so that they exist for any depth: the final layer, the first convolution, and the hidden
convolutions pooled together.

Usage::

    python benchmarks/table4_architectures.py                    # generates zoos on first use
    python benchmarks/table4_architectures.py --zoo TRAIN_ZOO --target ZOO --target ZOO
    python benchmarks/table4_architectures.py --quick
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import paper_numbers as P  # noqa: E402

from skweights.metrics import kendall_tau  # noqa: E402

#: The training zoo per mode (the standard architecture, the paper's 18 epochs).
TRAIN_SPECS = {
    "full": {"dataset": "digits", "n_networks": 256, "epochs": 18, "seed": 0},
    "quick": {"dataset": "digits", "n_networks": 96, "epochs": 6, "seed": 0},
}
#: Ranked zoos per mode: (n_layers, n_units, n_networks); seed 1 (other hyperparameters than
#: the training zoo's, the same ones for every architecture).
TARGETS = {
    "full": [(3, 16, 64), (3, 32, 32), (3, 64, 32), (2, 16, 64), (2, 32, 32)],
    "quick": [(2, 32, 8)],
}
TARGET_EPOCHS = {"full": 18, "quick": 1}

#: Feature sets defined by layer roles: key -> (symbol, plain name, roles).
FEATURES = {
    "final": ("W_L⁴", "final layer stats (the paper's)", ("final",)),
    "first_final": ("W_L¹'⁴", "first conv + final layer stats", ("first", "final")),
    "roles": (
        "W_L^roles",
        "first conv + pooled hidden convs + final",
        ("first", "hidden", "final"),
    ),
    "global": ("W̄", "stats of all weights", ("all",)),
}
N_BOOTSTRAP = 200


# ------------------------------------------------------------------------------ roles
def layer_roles(layout) -> dict[str, list[str]]:
    """Layers by role: ``first`` conv, ``hidden`` convs after it, ``final`` (dense) layer.

    A convolution is a layer with a 4-d (HWIO) kernel; the final layer must have a 2-d one.
    """
    kernels = {e.layer: e.shape for e in layout if e.kind == "kernel"}
    convs = [layer for layer, shape in kernels.items() if len(shape) == 4]
    final = layout.layers[-1]
    if len(kernels.get(final, ())) != 2 or not convs:
        raise ValueError(
            f"expected convolutions (4-d kernels) then a dense layer (2-d kernel), got kernel "
            f"shapes {kernels}"
        )
    return {"first": convs[:1], "hidden": convs[1:], "final": [final]}


def role_features(zoo: C.Zoo, key: str) -> np.ndarray:
    """Feature matrix ``key`` of `FEATURES`: the same columns for a CNN of any depth >= 2."""
    from skweights.features import LayerStatistics

    if key in zoo.features:
        return zoo.features[key]
    roles = layer_roles(zoo.layout)
    blocks = []
    for role in FEATURES[key][2]:
        if role == "all":
            blocks.append(LayerStatistics(zoo.layout, per_layer=False))
        elif role == "hidden":  # any number of hidden convs: each kind's weights pooled
            if not roles["hidden"]:
                raise ValueError(f"{zoo.path} has no hidden convolution; {key} needs one")
            blocks += [
                LayerStatistics(zoo.layout, layers=roles["hidden"], kinds=[kind], per_layer=False)
                for kind in ("bias", "kernel")
            ]
        else:
            blocks.append(LayerStatistics(zoo.layout, layers=roles[role]))
    X = np.hstack([b.fit_transform(zoo.weights) for b in blocks]).astype(np.float32)
    zoo.features[key] = X
    return X


# ------------------------------------------------------------------------------ zoos
def _ensure(name: str, spec: dict) -> Path:
    out = C.zoo_dir(name, spec)
    if not (out / "weights.npy").is_file():
        from skweights.zoo import generate_zoo

        start = time.perf_counter()
        generate_zoo(out, workers=2, progress=True, **spec)
        print(f"generated {out} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out


def default_targets(mode: str, dataset: str) -> list[Path]:
    return [
        _ensure(
            dataset,
            {
                "dataset": dataset,
                "n_networks": n,
                "epochs": TARGET_EPOCHS[mode],
                "seed": 1,
                "n_layers": n_layers,
                "n_units": n_units,
            },
        )
        for n_layers, n_units, n in TARGETS[mode]
    ]


def architecture(zoo: C.Zoo) -> tuple[int, int]:
    """(conv layers, units) of a zoo's networks, from its hyperparameter columns."""
    hp = zoo.hyperparameters
    return int(hp["num_layers"].iloc[0]), int(hp["num_units"].iloc[0])


# ------------------------------------------------------------------------------ model
def fit_gbm(train: C.Zoo, key: str, n_trials: int, quick: bool, seed: int):
    """GBM chosen by 3-fold CV search on all networks of the training zoo, refitted on them."""
    from skweights.search import WeightSearchCV

    estimator, space = C.make_estimator("gbm", quick, seed)
    search = WeightSearchCV(
        estimator, space, n_trials=n_trials, cv=3, refit=True, random_state=seed
    )
    return search.fit(role_features(train, key), train.target)


def tau_with_std(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float]:
    """Kendall τ-b and its bootstrap standard deviation over networks."""
    rng = np.random.default_rng(seed)
    boot = [kendall_tau(a[i], b[i]) for i in rng.integers(0, len(a), (N_BOOTSTRAP, len(a)))]
    return kendall_tau(a, b), float(np.nanstd(boot))


def _cell(value: tuple[float, float]) -> str:
    return f"{value[0]:.3f} ± {value[1]:.3f}"


def _paper(row: str, width: float) -> str:
    key = {1: "x1", 2: "x2", 4: "x4"}.get(width)
    return "—" if key is None else f"{P.TABLE4_TAU[row][key]:.2f}"


# ------------------------------------------------------------------------------ run
def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--target", action="append", type=Path, help="zoo to rank (repeatable)")
    p.add_argument("--dataset", default="digits", help="dataset of the default zoos")
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=list(FEATURES))
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    mode = "quick" if quick else "full"
    if "--zoo" not in argv:
        dataset = argv[argv.index("--dataset") + 1] if "--dataset" in argv else "digits"
        argv += ["--zoo", str(_ensure(dataset, {**TRAIN_SPECS[mode], "dataset": dataset}))]
    args = C.parse(p, argv)
    train = args.zoos[0]
    targets = [C.load(t) for t in (args.target or default_targets(mode, args.dataset))]
    base_units = architecture(train)[1]

    start = time.perf_counter()
    models = {k: fit_gbm(train, k, args.n_trials, args.quick, args.seed) for k in args.features}
    rows, feature_rows = [], []
    for zoo in targets:
        n_layers, n_units = architecture(zoo)
        width = n_units / base_units
        test = zoo.target
        trainacc = zoo.metrics["train_accuracy"].to_numpy(dtype=np.float64)
        preds = {k: m.predict(role_features(zoo, k)) for k, m in models.items()}
        label = f"{n_layers} conv × {n_units} (x{width:g})"
        main = args.features[0]
        rows.append(
            [
                label,
                len(test),
                _cell(tau_with_std(preds[main], test, args.seed)),
                _cell(tau_with_std(preds[main], trainacc, args.seed)),
                _cell(tau_with_std(trainacc, test, args.seed)),
                _paper("pred_test", width),
                _paper("pred_train", width),
                _paper("train_test", width),
            ]
        )
        feature_rows.append(
            [label]
            + [
                f"{kendall_tau(preds[k], test):.3f} / {kendall_tau(preds[k], trainacc):.3f}"
                for k in args.features
            ]
        )
    seconds = time.perf_counter() - start
    symbol = FEATURES[args.features[0]][0]
    headers = [
        "ranked zoo",
        "networks",
        f"τ(pred, test) {symbol}",
        f"τ(pred, train) {symbol}",
        "τ(train, test)",
        "paper τ(pred, test)",
        "paper τ(pred, train)",
        "paper τ(train, test)",
    ]
    feature_headers = ["ranked zoo"] + [
        f"{FEATURES[k][0]} ({FEATURES[k][1]})" for k in args.features
    ]
    table = (
        C.markdown_table(headers, rows)
        + "\n\nτ(pred, test) / τ(pred, train) per feature set:\n\n"
        + C.markdown_table(feature_headers, feature_rows)
    )
    notes = (
        f"GBM (LightGBM, best of {args.n_trials} 3-fold CV-search trials) trained on all "
        f"{len(train.target)} networks of {train.path.name} "
        f"({architecture(train)[0]} conv × {base_units} units), final checkpoints; each ranked "
        f"zoo is scored on all its networks. ± is the bootstrap std over networks "
        f"({N_BOOTSTRAP} resamples). Paper: Table 4, GBM on W_L⁴ of CIFAR10-GS ranking 216 "
        f"DEMOGEN Wide-ResNet32 of widths x1/x2/x4 (no depth variation). Training and scoring "
        f"took {seconds:.0f} s."
    )
    return C.emit(args, "Table 4 — ranking other architectures (Kendall τ)", table, notes)


if __name__ == "__main__":
    run()
