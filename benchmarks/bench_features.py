"""Speed and memory of the weight-space feature transformers (issue 5).

Measures, on a synthetic float32 matrix with the Small CNN Zoo layout (4970 columns):

- ``X.copy()``: the memory-bandwidth floor (``--memmap``: ``np.array(X)``, the mapped matrix
  copied into memory, timed after the transformers so that its 5 GB do not count in their
  memory; reading the map 512 rows at a time into one reused buffer is printed too);
- LayerStatistics (the paper's 7 statistics per tensor, W_L) and a naive per-tensor
  ``np.mean`` / ``np.var`` / ``np.quantile`` implementation;
- LayerNorms (L1, L2 per tensor) and a naive ``np.linalg.norm`` implementation;

and prints a markdown table with times, ratios to the copy and to the naive version, and the peak
resident memory. Each transformer runs with every ``--n-jobs`` value (default: 1 and 2 threads,
i.e. one core and the whole 2-core machine). Targets: LayerStatistics <= 10x copy, LayerNorms
<= 3x copy, peak memory of the 270k-row memory-mapped run < 2 GB. Every time is the best of
``--repeat`` runs; the copy is the best of 5, so noise makes the ratios worse, not better.

Usage::

    python benchmarks/bench_features.py                      # 20k rows in memory, 1 and 2 threads
    python benchmarks/bench_features.py --quick              # 2k rows, a smoke test
    python benchmarks/bench_features.py --rows 270000 --memmap   # full released zoo size

In ``--memmap`` mode the matrix is written chunk by chunk to a temporary ``.npy`` and opened
with ``np.load(..., mmap_mode="r")``; the naive baselines are skipped (they would load all of
it). Memory is reported as peak anonymous RSS (sampled): ``ru_maxrss`` also counts the mapped
file pages that were read, which are page cache, not memory the process holds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from functools import partial

import numpy as np

from skweights.features import PAPER_STATISTICS, LayerNorms, LayerStatistics
from skweights.layout import Layout


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonPeak:
    """Peak anonymous resident memory (RssAnon, MB) sampled every 10 ms in a thread.

    ``ru_maxrss`` also counts the file-backed pages of a memory map that were read (page cache
    the kernel may drop at any time), so for the memmap run the private memory is what matters.
    """

    def __enter__(self):
        self.peak, self._stop = rss_anon_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_anon_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_mb())


def rss_anon_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def timed(func, repeat: int = 1) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def naive_statistics(X: np.ndarray, layout: Layout) -> np.ndarray:
    cols = []
    for e in layout:
        w = X[:, e.slice]
        cols += [np.mean(w, axis=1), np.var(w, axis=1)]
        cols += list(np.quantile(w, [0, 0.25, 0.5, 0.75, 1], axis=1))
    return np.column_stack(cols)


def naive_norms(X: np.ndarray, layout: Layout) -> np.ndarray:
    cols = []
    for e in layout:
        w = X[:, e.slice]
        cols += [np.linalg.norm(w, ord=1, axis=1), np.linalg.norm(w, axis=1)]
    return np.column_stack(cols)


def synthetic(rows: int, n_params: int, seed: int = 0, out=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((rows, n_params), dtype=np.float32) if out is None else out
    for start in range(0, rows, 10000):
        stop = min(rows, start + 10000)
        X[start:stop] = rng.standard_normal((stop - start, n_params), dtype=np.float32) * 0.1
    return X


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows of the synthetic matrix")
    parser.add_argument("--memmap", action="store_true", help="write a temp .npy and mmap it")
    parser.add_argument("--quick", action="store_true", help="2000 rows, one repeat")
    parser.add_argument(
        "--n-jobs", type=int, nargs="+", default=[1, 2], help="threads for the transformers"
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="rows per chunk")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    args = parser.parse_args(argv)
    rows = 2000 if args.quick else args.rows
    repeat = 1 if args.quick or args.memmap else args.repeat
    layout = Layout.small_cnn_zoo()
    transformers = [
        (
            n_jobs,
            LayerStatistics(
                layout, statistics=PAPER_STATISTICS, n_jobs=n_jobs, chunk_size=args.chunk_size
            ),
            LayerNorms(layout, n_jobs=n_jobs, chunk_size=args.chunk_size),
        )
        for n_jobs in args.n_jobs
    ]

    tmpdir = None
    if args.memmap:
        tmpdir = tempfile.TemporaryDirectory()
        path = os.path.join(tmpdir.name, "weights.npy")
        with open(path, "wb") as f:  # plain writes: no dirty mapped pages in this process
            header = {"descr": "<f4", "fortran_order": False, "shape": (rows, layout.n_params)}
            np.lib.format.write_array_header_1_0(f, header)
            for start in range(0, rows, 10000):
                n = min(rows, start + 10000) - start
                f.write(synthetic(n, layout.n_params, seed=start).tobytes())
        X = np.load(path, mmap_mode="r")

        def chunked_copy():
            for start in range(0, rows, 512):
                np.array(X[start : start + 512])

        # reading every row once into a reused buffer: what any chunked transformer must do
        t_read, _ = timed(chunked_copy, repeat=3)
        rss_before = peak_rss_mb()
        t_naive_s = t_naive_n = None
    else:
        X = synthetic(rows, layout.n_params)
        t_copy, _ = timed(X.copy, repeat=5)
        rss_before = peak_rss_mb()
        t_naive_s, ref_s = timed(lambda: naive_statistics(X, layout), repeat=1)
        t_naive_n, ref_n = timed(lambda: naive_norms(X, layout), repeat=1)

    results = []  # (n_jobs, t_stats, t_norms, anon peak stats, anon peak norms)
    for n_jobs, stats, norms in transformers:
        with AnonPeak() as anon_s:
            t_stats, out_s = timed(partial(stats.fit_transform, X), repeat=repeat)
        with AnonPeak() as anon_n:
            t_norms, out_n = timed(partial(norms.fit_transform, X), repeat=repeat)
        if not args.memmap:
            assert np.allclose(out_s, ref_s, rtol=1e-4, atol=1e-6), "statistics differ from naive"
            assert np.allclose(out_n, ref_n, rtol=1e-4, atol=1e-6), "norms differ from naive"
        results.append((n_jobs, t_stats, t_norms, anon_s.peak, anon_n.peak))
    peak = peak_rss_mb()
    if args.memmap:  # the same floor as in memory: a plain copy of the whole matrix

        def copy_all():
            return np.array(X).shape

        t_copy, _ = timed(copy_all, repeat=1)

    size_gb = rows * layout.n_params * 4 / 1e9
    mode = "memmap" if args.memmap else "in memory"
    print(
        f"\n{rows} rows x {layout.n_params} float32 ({size_gb:.2f} GB, {mode}), "
        f"chunk_size={args.chunk_size or 'default'}, {os.cpu_count()} CPUs\n"
    )
    print("| what | time (s) | / copy | / naive | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    floor = "`np.array(X)` of the memmap" if args.memmap else "`X.copy()`"
    print(f"| {floor} (bandwidth floor) | {t_copy:.3f} | 1.0 | | |")
    if args.memmap:
        print(
            f"| read the map 512 rows at a time (reused buffer) | {t_read:.3f} | "
            f"{t_read / t_copy:.1f} | | |"
        )

    def row(name, t, naive, target):
        ratio = t / t_copy
        vs_naive = f"{t / naive:.2f}" if naive else "n/a"
        ok = "ok" if ratio <= target else "MISSED"
        print(f"| {name} | {t:.3f} | {ratio:.1f} | {vs_naive} | <= {target}x copy: {ok} |")

    for n_jobs, t_stats, _, _, _ in results:
        row(f"LayerStatistics, 7 stats x 8 tensors (W_L), n_jobs={n_jobs}", t_stats, t_naive_s, 10)
    if t_naive_s:
        print(
            f"| naive np.mean/np.var/np.quantile | {t_naive_s:.3f} | "
            f"{t_naive_s / t_copy:.1f} | 1.0 | |"
        )
    for n_jobs, _, t_norms, _, _ in results:
        row(f"LayerNorms, L1+L2 x 8 tensors, n_jobs={n_jobs}", t_norms, t_naive_n, 3)
    if t_naive_n:
        print(f"| naive np.linalg.norm | {t_naive_n:.3f} | {t_naive_n / t_copy:.1f} | 1.0 | |")
    print(
        f"\npeak RSS while the transformers ran (ru_maxrss, counts mapped file pages read): "
        f"{peak:.0f} MB "
        f"(before the transformers: {rss_before:.0f} MB)"
    )
    anon = max(max(r[3], r[4]) for r in results)
    print(
        "peak anonymous memory (RssAnon) while the transformers ran: "
        + ", ".join(f"n_jobs={r[0]}: {max(r[3], r[4]):.0f} MB" for r in results)
    )
    if args.memmap:
        print(f"private memory < 2 GB target: {'ok' if anon < 2048 else 'MISSED'}")
    if tmpdir is not None:
        del X
        tmpdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
