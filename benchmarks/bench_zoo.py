"""Networks/hour of the batched zoo generator vs one Keras model at a time.

Usage: ``python benchmarks/bench_zoo.py [--quick] [--datasets digits mnist_5k] [--workers 2]
[--n-batched 256] [--n-naive 5]``. Everything is measured in the same run (the machine is
shared, so the ratios are the figures to quote). Prints a markdown table.

- **batched**: the whole `generate_zoo` call with its defaults (groups of 64 networks, default
  checkpoints): start-up, compiling or loading compiled programs, training, the checkpoint
  evaluations and writing the zoo.
- **naive, same zoo**: `train_naive` with the same checkpoints: a fresh Keras model per
  network, ``model.fit`` between checkpoints, ``model.evaluate`` on the test set and on the
  network's own training subset at each checkpoint, weights kept. This produces what the
  generator produces, so ``batched / naive`` is the like-for-like speed-up.
- **naive, fit only**: ``model.fit`` for all epochs and one test evaluation, no checkpoints: a
  lower bound on any one-at-a-time generator's cost (the speed-up against it is a lower bound).

The naive networks are the first ``--n-naive`` configurations of the same sampler, timed after
one untimed warm-up network.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main(argv=None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few networks (CI)")
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist_5k"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--n-batched", type=int, default=256)
    parser.add_argument("--n-naive", type=int, default=5)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the workers to a core each"
    )
    args = parser.parse_args(argv)
    from skweights.zoo import default_checkpoints, generate_zoo, sample_hyperparameters
    from skweights.zoo._images import load_images
    from skweights.zoo._naive import train_naive

    n_batched, n_naive = (32, 2) if args.quick else (args.n_batched, args.n_naive)
    epochs = 3 if args.quick else args.epochs
    checkpoints = default_checkpoints(epochs)
    rows = []
    for dataset in args.datasets:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            generate_zoo(
                tmp,
                dataset=dataset,
                n_networks=n_batched,
                epochs=epochs,
                workers=args.workers,
                progress=False,
                pin_workers=not args.no_pin,
            )
            batched = n_batched / (time.perf_counter() - t) * 3600
        images = load_images(dataset)
        configs = sample_hyperparameters(n_naive + 1, seed=0)
        # one untimed network first: imports and one-time initialisation are not charged to
        # either naive variant (each network still compiles its own Keras model, as it must)
        train_naive(configs[-1:], images, 1, checkpoints=[0, 1])
        configs = configs[:n_naive]
        t = time.perf_counter()
        zoo_rows = train_naive(configs, images, epochs, checkpoints=checkpoints)
        naive_zoo = n_naive / (time.perf_counter() - t) * 3600
        t = time.perf_counter()
        train_naive(configs, images, epochs)
        naive_fit = n_naive / (time.perf_counter() - t) * 3600
        final = np.median([r["test_accuracy"][-1] for r in zoo_rows])
        rows.append((dataset, epochs, n_batched, batched, n_naive, naive_zoo, naive_fit, final))
        print(rows[-1], flush=True)
    print(
        f"\ncheckpoints {checkpoints}, {args.workers} workers"
        f"{' (not pinned)' if args.no_pin else ''}\n\n"
        "| dataset | epochs | batched nets | batched nets/h | naive nets | naive nets/h "
        "(same zoo) | speed-up | naive nets/h (fit only) | speed-up (lower bound) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d, e, nb, b, nn, nz, nf, _ in rows:
        print(
            f"| {d} | {e} | {nb} | {b:,.0f} | {nn} | {nz:,.0f} | {b / nz:.1f}x | {nf:,.0f} "
            f"| {b / nf:.1f}x |"
        )
    return rows


if __name__ == "__main__":
    main()
