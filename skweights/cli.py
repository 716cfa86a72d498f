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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


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
        scheduler=args.scheduler,
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
    gen.add_argument(
        "--workers", type=_positive_int, default=1, help="local worker processes (default: 1)"
    )
    gen.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="train on a dask cluster, e.g. tcp://HOST:8786 (results come back here; workers "
        "need no shared disk)",
    )
    gen.add_argument("--seed", type=_non_negative_int, default=0)
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


#: Confidence levels of `fit --interval` without values.
DEFAULT_LEVELS = (0.8, 0.9, 0.95)
#: ``fit --pruner`` choices: "none" and `skweights.search.PRUNERS` (not imported: Optuna is slow)
PRUNERS = ("none", "median", "halving", "hyperband")


def _fit(args: argparse.Namespace) -> int:
    from skweights._format import check_output_file

    check_output_file(args.out)
    from skweights.datasets import load_zoo, paper_split
    from skweights.metrics import kendall_tau
    from skweights.predictor import make_predictor, save_predictor, zoo_architecture

    if args.features is None:
        from skweights.predictor import RAW_WEIGHT_ESTIMATORS

        args.features = "weights" if args.estimator in RAW_WEIGHT_ESTIMATORS else "stats"
    _check_search_options(args)
    zoo = load_zoo(args.zoo, step="final")
    model = make_predictor(zoo.layout, args.features, args.estimator, args.seed)
    train, test = paper_split(len(zoo.target), n_train=args.train_fraction, random_state=args.seed)
    if args.search:
        model = _make_search(args, model, zoo)
    model.fit(zoo.weights[train], zoo.target[train])
    best = getattr(model, "best_estimator_", model)
    report = ""
    if args.interval is not None:
        from skweights.intervals import interval_coverage
        from skweights.predictor import fit_interval_predictor

        levels = args.interval or DEFAULT_LEVELS
        best = fit_interval_predictor(
            best, zoo.weights[train], zoo.target[train], levels, random_state=args.seed
        )
        coverage = [
            interval_coverage(zoo.target[test], best.predict_interval(zoo.weights[test], level))
            for level in best.confidence_levels_
        ]
        cells = ", ".join(f"{lv:g}: {c:.2f}" for lv, c in zip(best.confidence_levels_, coverage))
        report = f", interval coverage {cells}"
    pred = best.predict(zoo.weights[test])
    r2 = best.score(zoo.weights[test], zoo.target[test])
    tau = kendall_tau(zoo.target[test], pred)
    save_predictor(
        args.out,
        best,
        zoo.layout,
        features=args.features,
        estimator=args.estimator,
        architecture=zoo_architecture(zoo.metrics, zoo.layout),
    )
    print(
        f"held-out ({len(test)} networks): R² = {r2:.3f}, Kendall τ = {tau:.3f}{report}; "
        f"saved predictor to {args.out}"
    )
    return 0


def _check_search_options(args: argparse.Namespace) -> None:
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("storage", "study_name", "sampler_seed", "heartbeat", "timeout")
        if getattr(args, name) is not None
    ] + (["--pruner"] if args.pruner != "none" else [])
    if not args.search and given:
        raise ValueError(f"{', '.join(given)} configure a search: add --search N (N >= 1)")
    if args.storage is not None:
        from skweights.search import make_storage

        make_storage(args.storage)  # a malformed URL or a missing driver fails before loading


def zoo_fingerprint(zoo) -> str:
    """A content hash of a loaded zoo (layout, shape of the weights, targets), for study names."""
    import hashlib
    import io

    import numpy as np

    layout = io.StringIO()
    zoo.layout.to_csv(layout)
    digest = hashlib.sha256(layout.getvalue().encode())
    digest.update(repr(zoo.weights.shape).encode())
    digest.update(np.ascontiguousarray(zoo.target, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def search_settings(args: argparse.Namespace, zoo) -> dict:
    """What identifies the search of ``skweights fit``: workers with equal settings share it."""
    return {
        "zoo": zoo_fingerprint(zoo),
        "features": args.features,
        "estimator": args.estimator,
        "train_fraction": args.train_fraction,
        "seed": args.seed,
        "cv": 3,
    }


class _NoInterruptTraceback:
    """Logging filter: Optuna logs a trial stopped by Ctrl-C with a traceback; keep one line."""

    def filter(self, record) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            record.exc_info = None
        return True


#: Optuna's logger of failed trials (``optuna.study._optimize``).
OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"


def _make_search(args: argparse.Namespace, model, zoo):
    import logging

    import optuna

    logger = logging.getLogger(OPTUNA_TRIAL_LOGGER)
    if not any(isinstance(f, _NoInterruptTraceback) for f in logger.filters):
        logger.addFilter(_NoInterruptTraceback())

    from skweights.search import DEFAULT_HEARTBEAT, WeightSearchCV, is_rdb_url, study_name_for

    if args.quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = search_settings(args, zoo)
    study_name = args.study_name
    if study_name is None and args.storage is not None:
        study_name = study_name_for(settings, prefix=f"{args.features}-{args.estimator}")
    heartbeat = args.heartbeat
    if heartbeat is None and is_rdb_url(args.storage):
        heartbeat = DEFAULT_HEARTBEAT
    space = {"gbm": "gbm", "logit-linear": "logit_linear", "mlp": "mlp", "nfn": "nfn"}[
        args.estimator
    ]
    return WeightSearchCV(
        model,
        space,
        n_trials=args.search,
        timeout=args.timeout,
        step="model",
        storage=args.storage,
        study_name=study_name,
        study_settings=settings,
        heartbeat_interval=heartbeat or None,
        sampler_seed=args.sampler_seed,
        pruner=None if args.pruner == "none" else args.pruner,
        random_state=args.seed,
        progress=not args.quiet,
    )


def _predict(args: argparse.Namespace) -> int:
    import csv
    import io

    from skweights.predictor import load_predictor, read_weights_input

    if args.out:
        from skweights._format import check_output_file

        check_output_file(args.out)
    saved = load_predictor(args.predictor, allow_pickle=args.allow_pickle)
    model = saved["model"]
    if args.interval is not None and not hasattr(model, "predict_interval"):
        raise ValueError(
            f"{args.predictor} has no prediction intervals; refit it with "
            f"`skweights fit ... --interval {args.interval:g}`"
        )
    X, names = read_weights_input(
        args.input,
        saved["layout"],
        architecture=saved.get("architecture"),
        check_architecture=not args.no_architecture_check,
    )
    pred = model.predict(X)
    header, columns = ["name", "predicted_accuracy"], [names, pred]
    if args.interval is not None:
        bounds = model.predict_interval(X, args.interval)
        header += ["lower", "upper"]
        columns += [bounds[:, 0], bounds[:, 1]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for name, *values in zip(*columns):
        writer.writerow([name, *(f"{v:.6f}" for v in values)])
    if args.out:
        from skweights._format import atomic_write_text

        atomic_write_text(args.out, buffer.getvalue())
    else:
        sys.stdout.write(buffer.getvalue())
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
        "Kendall τ on a held-out split, save the fitted predictor (a skops archive).",
    )
    fit.add_argument("zoo", help="zoo directory (weights.npy, metrics.csv.gz, layout.csv)")
    from skweights.predictor import ESTIMATORS, FEATURE_SETS

    fit.add_argument(
        "--features",
        choices=tuple(FEATURE_SETS),
        default=None,
        help="default: weights for --estimator nfn (it reads raw weights), else stats",
    )
    fit.add_argument("--estimator", choices=tuple(ESTIMATORS), default="gbm")
    fit.add_argument("--train-fraction", type=_fraction, default=0.5)
    fit.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the split, the CV folds and the estimator",
    )
    fit.add_argument(
        "--interval",
        type=_fraction,
        nargs="*",
        default=None,
        metavar="LEVEL",
        help="calibrate conformal prediction intervals (MAPIE, on training networks only) at "
        "these confidence levels (default with no LEVEL: 0.8 0.9 0.95)",
    )
    fit.add_argument(
        "--out", default="predictor.skops", help="where to save the predictor (.skops)"
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar, no per-trial log")
    search = fit.add_argument_group(
        "hyperparameter search",
        "3-fold cross-validated Optuna search on the training split; the best configuration is "
        "refitted. The same command on several machines with one --storage shares one study.",
    )
    search.add_argument(
        "--search",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="search until the study holds N finished trials (default 0: no search, fit the "
        "estimator's defaults)",
    )
    search.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="Optuna storage to resume or share the search: sqlite:///FILE, "
        "postgresql://USER:PASSWORD@HOST/DB (pip install 'skweights[postgres]'), any SQLAlchemy "
        "URL, or journal:///FILE (default: in memory)",
    )
    search.add_argument(
        "--study-name",
        default=None,
        help="default: derived from the zoo's content, --features, --estimator, "
        "--train-fraction and --seed, so the same command resumes and workers join one study",
    )
    search.add_argument(
        "--sampler-seed",
        type=_non_negative_int,
        default=None,
        help="seed of the TPE sampler (default: fresh per worker, so workers never propose the "
        "same configurations)",
    )
    search.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="none",
        help="stop trials that trail the others after 1 or 2 of the 3 folds (default: none)",
    )
    search.add_argument(
        "--heartbeat",
        type=_non_negative_int,
        default=None,
        metavar="SECONDS",
        help="RDB storages: a running trial beats every SECONDS; one silent for 2 x SECONDS "
        "(killed worker) is failed and re-run (default 60 for RDB URLs; 0: off; journal "
        "storages have no heartbeat)",
    )
    search.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop starting trials after SECONDS (the study can be resumed)",
    )
    fit.set_defaults(func=_fit)


def _add_predict_parser(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict accuracies with a saved predictor",
        description="Predict the test accuracy of networks from their weights: a zoo directory, "
        "a .npy of flattened weights (one row per network), a saved Keras model (.keras), or "
        "one network's named tensors (.safetensors / .npz; ours or PyTorch's names and layouts).",
    )
    predict.add_argument("predictor", help="file written by `skweights fit` (.skops)")
    predict.add_argument("input", help="zoo directory, .npy, .keras, .safetensors or .npz")
    predict.add_argument(
        "--interval",
        type=_fraction,
        default=None,
        metavar="LEVEL",
        help="add lower,upper columns: the prediction interval at this confidence level (one "
        "the predictor was calibrated for with `fit --interval`)",
    )
    predict.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a joblib pickle predictor (older skweights). A pickle runs code when "
        "loaded: only for files you trust",
    )
    predict.add_argument(
        "--no-architecture-check",
        action="store_true",
        help="predict for a .keras model even if its layers, activations or input shape differ "
        "from the zoo's networks",
    )
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
    demo.add_argument("--seed", type=_non_negative_int, default=DEFAULT_ZOO["seed"])
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
    """Run the command line; return the exit code.

    Every failure ends in one line ``skweights: error: ...`` on stderr and exit code 1 (2 for
    a bad argument, from argparse; 130 for Ctrl-C). An unexpected error prints its traceback
    too when ``SKWEIGHTS_DEBUG=1``.
    """
    import warnings

    from skweights._errors import error_line, show_traceback

    parser = build_parser()
    args = parser.parse_args(argv)
    format_warning = warnings.formatwarning
    warnings.formatwarning = _warning_line
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("skweights: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if show_traceback():
            import traceback

            traceback.print_exc()
        print(f"skweights: error: {error_line(exc)}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = format_warning


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A warning shown by the command line: one line, without the source line Python adds."""
    return f"skweights: warning: {' '.join(str(message).split())}\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
