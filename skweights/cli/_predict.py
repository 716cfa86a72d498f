"""``skweights predict``: predicted accuracies of networks read from files."""

from __future__ import annotations

import argparse
import sys

from skweights.cli._types import fraction


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


def add_predict_parser(subparsers) -> None:
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
        type=fraction,
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
