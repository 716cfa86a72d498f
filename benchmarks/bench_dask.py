"""Networks/hour on a real dask cluster (1 and 2 workers) against local worker processes.

Usage: ``python benchmarks/bench_dask.py [--quick] [--dataset digits] [--n-networks 256]
[--epochs 18]``. All runs train the same zoo in one run of this script (the machine is shared,
so the ratios are the figures to quote), and each checks that its bytes equal the local zoo's.
The cluster is started as users start one (``dask scheduler`` + ``dask worker --nthreads 1``,
on 127.0.0.1, each worker in a private directory). An untimed warm-up generation first fills
JAX's persistent compilation cache; each timed run then includes its workers' start-up
(importing JAX, loading the compiled programs), as a user's would.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _cluster import dask_cluster
from _common import markdown_table

FILES = ("weights.npy", "metrics.csv.gz", "layout.csv")


def _timed(out: Path, **kw) -> float:
    from skweights.zoo import generate_zoo

    start = time.perf_counter()
    generate_zoo(out, progress=False, **kw)
    return time.perf_counter() - start


def main(argv=None) -> list[list]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny zoo (CI)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--n-networks", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=18)
    args = parser.parse_args(argv)
    n, epochs = (8, 2) if args.quick else (args.n_networks, args.epochs)
    kw = {"dataset": args.dataset, "n_networks": n, "epochs": epochs, "seed": 11}
    if args.quick:
        kw["group_size"] = 4
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _timed(tmp / "warm-up", workers=2, **{**kw, "n_networks": 4})  # compiled programs cached
        local = _timed(tmp / "local", workers=2, **kw)
        reference = {f: (tmp / "local" / f).read_bytes() for f in FILES}
        rows.append(
            ["local, 2 worker processes (pinned)", f"{n / local * 3600:,.0f}", "1.00", "-"]
        )
        for n_workers in (1, 2):
            with dask_cluster(tmp / f"cluster{n_workers}", n_workers) as (address, _):
                seconds = _timed(tmp / f"dask{n_workers}", scheduler=address, **kw)
            same = {f: (tmp / f"dask{n_workers}" / f).read_bytes() for f in FILES} == reference
            rows.append(
                [
                    f"dask, {n_workers} worker{'s' * (n_workers > 1)} (--nthreads 1)",
                    f"{n / seconds * 3600:,.0f}",
                    f"{local / seconds:.2f}",
                    "yes" if same else "NO",
                ]
            )
    header = ["dispatch", "networks/hour", "rate vs local", "same bytes as local"]
    print(f"{args.dataset}, {n} networks x {epochs} epochs")
    print(markdown_table(header, rows))
    return rows


if __name__ == "__main__":
    main()
