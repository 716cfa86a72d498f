"""Networks/hour of the batched zoo generator vs one Keras model at a time.

Usage: ``python benchmarks/bench_zoo.py [--quick] [--datasets digits mnist_5k] [--workers 2]
[--n-batched 256] [--n-naive 5]``. Both are measured in the same run (the machine is shared, so
the ratio is the figure to quote). Batched timing is the whole `generate_zoo` call, start-up,
compiling and writing included. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few networks (CI)")
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist_5k"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--n-batched", type=int, default=256)
    parser.add_argument("--n-naive", type=int, default=5)
    args = parser.parse_args(argv)
    from skweights.zoo import generate_zoo, sample_hyperparameters
    from skweights.zoo._images import load_images
    from skweights.zoo._naive import train_naive

    n_batched, n_naive = (32, 2) if args.quick else (args.n_batched, args.n_naive)
    epochs = 3 if args.quick else args.epochs
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
                group_size=max(1, -(-n_batched // args.workers)),
                progress=False,
            )
            batched = n_batched / (time.perf_counter() - t) * 3600
        images = load_images(dataset)
        configs = sample_hyperparameters(n_naive, seed=0)
        t = time.perf_counter()
        accs = train_naive(configs, images, epochs)
        naive = n_naive / (time.perf_counter() - t) * 3600
        rows.append((dataset, epochs, n_batched, batched, n_naive, naive, np.median(accs)))
        print(rows[-1], flush=True)
    print(
        "| dataset | epochs | batched nets | batched nets/h | naive nets | naive nets/h | ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for d, e, nb, b, nn, n, _ in rows:
        print(f"| {d} | {e} | {nb} | {b:,.0f} | {nn} | {n:,.0f} | {b / n:.1f}x |")


if __name__ == "__main__":
    main()
