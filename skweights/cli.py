"""The ``skweights`` command line: ``zoo generate``, ``fit``, ``predict``, ``demo``.

Each command registers its parser in one ``_add_<command>_parser(subparsers)`` function and sets
``func``; new commands (``fit``, ``predict``, ``bench``) plug in the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _checkpoint_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated epochs such as 0,1,2,3,20, got {text!r}"
        ) from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected epochs >= 0, got {text!r}")
    return sorted(set(values))


def _schedule(args: argparse.Namespace) -> dict:
    """``epochs`` and ``checkpoints`` of ``zoo generate``: the preset's, or the options'."""
    from skweights.zoo import schedule_preset

    if args.preset is None:
        return {
            "epochs": 18 if args.epochs is None else args.epochs,
            "checkpoints": args.checkpoints,
        }
    preset = schedule_preset(args.preset)
    for name in ("epochs", "checkpoints"):
        given = getattr(args, name)
        if given is not None and given != preset[name]:
            raise ValueError(
                f"--{name} {given} conflicts with --preset {args.preset} "
                f"({name} {preset[name]}); drop one of them"
            )
    return preset


def _zoo_generate(args: argparse.Namespace) -> int:
    from skweights.zoo import generate_zoo

    path = generate_zoo(
        args.out,
        dataset=args.dataset,
        n_networks=args.n_networks,
        **_schedule(args),
        seed=args.seed,
        workers=args.workers,
        group_size=args.group_size,
        batch_size=args.batch_size,
        progress=not args.quiet,
        data_home=args.data_home,
    )
    print(path)
    return 0


def _zoo_split(args: argparse.Namespace) -> int:
    from skweights.datasets import write_nfn_split

    print(write_nfn_split(args.zoo, args.out, random_state=args.seed))
    return 0


def _add_zoo_parser(subparsers) -> None:
    from skweights.zoo._presets import SCHEDULE_PRESETS

    zoo = subparsers.add_parser("zoo", help="generate zoos of trained CNNs, write NFN splits")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    gen = zoo_sub.add_parser(
        "generate",
        help="train a zoo in the Small CNN Zoo format (resumable)",
        description="Train N small CNNs with hyperparameters of paper A.2 and write weights.npy, "
        "metrics.csv.gz and layout.csv to --out. Re-running with the same arguments resumes.",
    )
    gen.add_argument("--dataset", default="digits", help="image dataset (default: digits)")
    gen.add_argument("--n-networks", type=_positive_int, default=200)
    gen.add_argument("--epochs", type=_positive_int, default=None, help="default: 18")
    gen.add_argument(
        "--checkpoints",
        type=_checkpoint_list,
        default=None,
        help="comma-separated epochs to record (default: 0-3, every ~epochs/4.3, last)",
    )
    gen.add_argument(
        "--preset",
        choices=sorted(SCHEDULE_PRESETS),
        default=None,
        help="training schedule: paper (18 epochs) or released (86 epochs, checkpoints "
        "0,1,2,3,20,40,60,80,86: the released zoo's, which NFN's loader expects)",
    )
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--workers", type=_positive_int, default=1)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--group-size", type=_positive_int, default=64)
    gen.add_argument("--batch-size", type=_positive_int, default=128)
    gen.add_argument("--data-home", default=None)
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_zoo_generate)
    split = zoo_sub.add_parser(
        "split",
        help="write an NFN split file (*_split.csv) for a zoo",
        description="Write a random order of all rows of the zoo's files in the format of NFN's "
        "experiments/predict_gen_data_splits/*_split.csv (a '0' first line, then one row index "
        "per line), for NFN's ZooDataset(idcs_file=...) or skweights.datasets.nfn_split.",
    )
    split.add_argument("zoo", help="zoo directory (weights.npy, metrics.csv.gz, layout.csv)")
    split.add_argument("--out", required=True, help="split file to write, e.g. zoo_split.csv")
    split.add_argument("--seed", type=int, default=0, help="seed of the permutation")
    split.set_defaults(func=_zoo_split)


FEATURES = ("stats", "std-stats", "global-stats", "norms", "weights", "dense")
ESTIMATORS = ("gbm", "logit-linear", "mlp")


def make_predictor(layout, features: str = "stats", estimator: str = "gbm", random_state=0):
    """The Pipeline behind ``skweights fit``: a feature transformer then a regressor.

    Parameters
    ----------
    layout : Layout
        Layout of the weight matrix.
    features : {"stats", "std-stats", "global-stats", "norms", "weights", "dense"}
        Per-layer statistics (W_L, variance or std), global statistics (W̄), l1+l2 norms per
        tensor, all raw weights (W), or the dense layer's raw weights (W⁴).
    estimator : {"gbm", "logit-linear", "mlp"}
        LightGBM with early stopping on a validation fraction of the training data, the
        logit-linear model, or `WeightMLP`.
    random_state : int
        Seed of the estimator.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skweights.features import LayerNorms, LayerSelector, LayerStatistics
    from skweights.models import EarlyStoppingLGBMRegressor, LogitLinearRegressor, WeightMLP

    feature_steps = {
        "stats": lambda: LayerStatistics(layout),
        "std-stats": lambda: LayerStatistics(
            layout, statistics=("mean", "std", "q0", "q25", "q50", "q75", "q100")
        ),
        "global-stats": lambda: LayerStatistics(layout, per_layer=False),
        "norms": lambda: LayerNorms(layout),
        "weights": lambda: FunctionTransformer(feature_names_out="one-to-one"),
        "dense": lambda: LayerSelector(layout, layers=[layout.layers[-1]]),
    }
    estimators = {
        "gbm": lambda: EarlyStoppingLGBMRegressor(random_state=random_state, n_jobs=1),
        "logit-linear": lambda: LogitLinearRegressor(random_state=random_state),
        "mlp": lambda: WeightMLP(random_state=random_state),
    }
    if features not in feature_steps:
        raise ValueError(f"unknown feature set {features!r}; expected one of {FEATURES}")
    if estimator not in estimators:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    return Pipeline([("features", feature_steps[features]()), ("model", estimators[estimator]())])


def _fit(args: argparse.Namespace) -> int:
    import joblib

    from skweights._format import atomic_write_bytes
    from skweights.datasets import load_zoo, paper_split
    from skweights.metrics import kendall_tau

    zoo = load_zoo(args.zoo, step="final")
    model = make_predictor(zoo.layout, args.features, args.estimator, args.seed)
    train, test = paper_split(len(zoo.target), n_train=args.train_fraction, random_state=args.seed)
    if args.search:
        from skweights.search import WeightSearchCV

        space = {"gbm": "gbm", "logit-linear": "logit_linear", "mlp": "mlp"}[args.estimator]
        model = WeightSearchCV(
            model,
            space,
            n_trials=args.search,
            step="model",
            storage=args.storage,
            random_state=args.seed,
            progress=not args.quiet,
        )
    model.fit(zoo.weights[train], zoo.target[train])
    best = getattr(model, "best_estimator_", model)
    pred = best.predict(zoo.weights[test])
    r2 = best.score(zoo.weights[test], zoo.target[test])
    tau = kendall_tau(zoo.target[test], pred)
    import io

    buffer = io.BytesIO()
    joblib.dump({"model": best, "layout": zoo.layout, "features": args.features}, buffer)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(
        f"held-out ({len(test)} networks): R² = {r2:.3f}, Kendall τ = {tau:.3f}; "
        f"saved predictor to {args.out}"
    )
    return 0


def load_predictor(path):
    """Load a predictor written by ``skweights fit`` (a dict with ``model`` and ``layout``).

    The file is a joblib pickle, which can run code when loaded: load only files you trust.
    (Zoo data files, unlike predictors, are never unpickled.)
    """
    import joblib

    saved = joblib.load(path)
    if not isinstance(saved, dict) or "model" not in saved or "layout" not in saved:
        raise ValueError(f"{path} is not a predictor saved by `skweights fit`")
    return saved


def read_weights_input(source, layout):
    """Weights to predict for: a zoo directory, a ``.npy`` matrix/vector or a ``.keras`` model.

    Returns ``(X, names)`` with one name per row.
    """
    from pathlib import Path

    import numpy as np

    source = Path(source)
    if source.is_dir():
        from skweights.datasets import load_zoo

        zoo = load_zoo(source, step="final")
        return zoo.weights, list(zoo.metrics["modeldir"])
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.suffix == ".npy":
        X = np.load(source, allow_pickle=False)
        X = X.reshape(1, -1) if X.ndim == 1 else X
        return X, [f"{source.name}[{i}]" for i in range(len(X))]
    if source.suffix == ".keras":
        import os

        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        model = keras.models.load_model(source, compile=False)
        return layout.flatten_keras(model, match="position")[None, :], [source.name]
    raise ValueError(
        f"cannot read weights from {source}: expected a zoo directory, a .npy file "
        "or a .keras model"
    )


def _predict(args: argparse.Namespace) -> int:
    saved = load_predictor(args.predictor)
    X, names = read_weights_input(args.input, saved["layout"])
    if X.shape[1] != saved["layout"].n_params:
        raise ValueError(
            f"{args.input} has {X.shape[1]} weights per network but the predictor was fitted "
            f"on a layout of {saved['layout'].n_params} parameters"
        )
    pred = saved["model"].predict(X)
    lines = ["name,predicted_accuracy"] + [f"{n},{p:.6f}" for n, p in zip(names, pred)]
    text = "\n".join(lines) + "\n"
    if args.out:
        from skweights._format import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from skweights._demo import run_demo

    run_demo(
        out=args.out,
        n_networks=args.n_networks,
        epochs=args.epochs,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
    )
    return 0


def _add_fit_parser(subparsers) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="train an accuracy predictor on a zoo directory and save it",
        description="Fit features + estimator on the final checkpoints of a zoo, report R² and "
        "Kendall τ on a held-out split, save the fitted predictor with joblib.",
    )
    fit.add_argument("zoo", help="zoo directory (weights.npy, metrics.csv.gz, layout.csv)")
    fit.add_argument("--features", choices=FEATURES, default="stats")
    fit.add_argument("--estimator", choices=ESTIMATORS, default="gbm")
    fit.add_argument("--search", type=_positive_int, default=0, help="Optuna CV trials (0: off)")
    fit.add_argument("--storage", default=None, help="Optuna storage URL to resume/share search")
    fit.add_argument("--train-fraction", type=float, default=0.5)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", required=True, help="where to save the predictor (.joblib)")
    fit.add_argument("--quiet", action="store_true")
    fit.set_defaults(func=_fit)


def _add_predict_parser(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict accuracies with a saved predictor",
        description="Predict the test accuracy of networks from their weights: a zoo directory, "
        "a .npy of flattened weights (one row per network) or a saved Keras model (.keras).",
    )
    predict.add_argument(
        "predictor",
        help="file written by `skweights fit` (a joblib pickle: load only files you trust)",
    )
    predict.add_argument("input", help="zoo directory, .npy or .keras")
    predict.add_argument("--out", default=None, help="CSV file (default: standard output)")
    predict.set_defaults(func=_predict)


def _add_demo_parser(subparsers) -> None:
    from skweights._demo import DEFAULT_ZOO

    demo = subparsers.add_parser(
        "demo",
        help="the main job on embedded data: digits zoo -> statistics + LightGBM -> R², τ",
    )
    demo.add_argument("--out", default="demo-output")
    demo.add_argument("--n-networks", type=_positive_int, default=DEFAULT_ZOO["n_networks"])
    demo.add_argument("--epochs", type=_positive_int, default=DEFAULT_ZOO["epochs"])
    demo.add_argument("--seed", type=int, default=DEFAULT_ZOO["seed"])
    demo.add_argument("--workers", type=_positive_int, default=2)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_demo)


def _benchmarks_dir():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(args: argparse.Namespace) -> int:
    import runpy

    bench_dir = _benchmarks_dir()
    available = sorted(p.stem for p in bench_dir.glob("*.py") if not p.stem.startswith("_"))
    if args.name not in available:
        where = f"in {bench_dir}" if available else f"({bench_dir} not found: run from a checkout)"
        raise ValueError(f"unknown benchmark {args.name!r}; expected one of {available} {where}")
    sys.path.insert(0, str(bench_dir))
    old_argv = sys.argv
    sys.argv = [f"{args.name}.py", *args.args]
    try:
        runpy.run_path(str(bench_dir / f"{args.name}.py"), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        sys.argv = old_argv
        sys.path.remove(str(bench_dir))
    return 0


def _add_bench_parser(subparsers) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="run a benchmark script of benchmarks/ (e.g. table2_features --quick)",
        description="Run benchmarks/NAME.py with the remaining arguments, e.g. "
        "`skweights bench table2_features --quick` or `skweights bench bench_zoo --quick`.",
    )
    bench.add_argument("name", help="script name without .py, e.g. table1_estimators")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    bench.set_defaults(func=_bench)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skweights`` command."""
    parser = argparse.ArgumentParser(
        prog="skweights", description="Predict a neural network's accuracy from its weights."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_zoo_parser(sub)
    _add_fit_parser(sub)
    _add_predict_parser(sub)
    _add_demo_parser(sub)
    _add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (errors: one line on stderr, code 1 or 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"skweights: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
