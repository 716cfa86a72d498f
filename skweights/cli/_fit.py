"""``skweights fit``: train a predictor on a zoo, optionally by a (shared) CV search."""

from __future__ import annotations

import argparse

from skweights.cli._types import fraction, non_negative_int

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


def _make_search(args: argparse.Namespace, model, zoo):
    import optuna

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


def add_fit_parser(subparsers) -> None:
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
    fit.add_argument("--train-fraction", type=fraction, default=0.5)
    fit.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the split, the CV folds and the estimator",
    )
    fit.add_argument(
        "--interval",
        type=fraction,
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
        type=non_negative_int,
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
        type=non_negative_int,
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
        type=non_negative_int,
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
