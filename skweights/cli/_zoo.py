"""``skweights zoo generate`` and ``skweights zoo split``."""

from __future__ import annotations

import argparse

from skweights.cli._types import checkpoint_list, non_negative_int, positive_int


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
        scheduler=args.scheduler,
    )
    print(path)
    return 0


def _zoo_split(args: argparse.Namespace) -> int:
    from skweights.datasets import write_nfn_split

    print(write_nfn_split(args.zoo, args.out, random_state=args.seed))
    return 0


def add_zoo_parser(subparsers) -> None:
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
    gen.add_argument("--n-networks", type=positive_int, default=200)
    gen.add_argument("--epochs", type=positive_int, default=None, help="default: 18")
    gen.add_argument(
        "--checkpoints",
        type=checkpoint_list,
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
        "--workers", type=positive_int, default=1, help="local worker processes (default: 1)"
    )
    gen.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="train on a dask cluster, e.g. tcp://HOST:8786 (results come back here; workers "
        "need no shared disk)",
    )
    gen.add_argument("--seed", type=non_negative_int, default=0)
    gen.add_argument("--group-size", type=positive_int, default=64)
    gen.add_argument("--batch-size", type=positive_int, default=128)
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
