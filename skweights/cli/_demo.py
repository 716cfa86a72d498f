"""``skweights demo``: the README quick start (a small zoo, a fit, a score)."""

from __future__ import annotations

import argparse

from skweights.cli._types import non_negative_int, positive_int


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


def add_demo_parser(subparsers) -> None:
    from skweights._demo import DEFAULT_ZOO

    demo = subparsers.add_parser(
        "demo",
        help="the main job on embedded data: digits zoo -> statistics + LightGBM -> R², τ",
    )
    demo.add_argument("--out", default="demo-output")
    demo.add_argument("--n-networks", type=positive_int, default=DEFAULT_ZOO["n_networks"])
    demo.add_argument("--epochs", type=positive_int, default=DEFAULT_ZOO["epochs"])
    demo.add_argument("--seed", type=non_negative_int, default=DEFAULT_ZOO["seed"])
    demo.add_argument("--workers", type=positive_int, default=2)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_demo)
