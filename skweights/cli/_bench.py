"""``skweights bench NAME``: run a script of the checkout's ``benchmarks/``."""

from __future__ import annotations

import argparse
import sys


def _benchmarks_dir():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "benchmarks"


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


def add_bench_parser(subparsers) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="run a benchmark script of benchmarks/ (e.g. table2_features --quick)",
        description="Run benchmarks/NAME.py with the remaining arguments, e.g. "
        "`skweights bench table2_features --quick` or `skweights bench bench_zoo --quick`.",
    )
    bench.add_argument("name", help="script name without .py, e.g. table1_estimators")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    bench.set_defaults(func=_bench)
