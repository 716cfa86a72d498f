"""``skweights bench NAME``: run a script of the checkout's ``benchmarks/``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _benchmarks_dir():
    """``benchmarks/`` of the checkout this package runs from (None when installed).

    The checkout is recognised by its ``pyproject.toml`` beside ``skweights/``: an installed
    package sits in ``site-packages``, whose ``benchmarks/`` (if any) belongs to another
    distribution and must not run.
    """
    root = Path(__file__).resolve().parents[2]
    return root / "benchmarks" if (root / "pyproject.toml").is_file() else None


def _bench(args: argparse.Namespace) -> int:
    import runpy

    bench_dir = _benchmarks_dir()
    scripts = [] if bench_dir is None else bench_dir.glob("*.py")
    available = sorted(p.stem for p in scripts if not p.stem.startswith("_"))
    if args.name not in available:
        root = Path(__file__).resolve().parents[2]
        where = (
            f"in {bench_dir}"
            if available
            else f"({root / 'benchmarks'} of a skweights checkout not found: run from a checkout)"
        )
        raise ValueError(f"unknown benchmark {args.name!r}; expected one of {available} {where}")
    sys.path.insert(0, str(bench_dir))
    old_argv = sys.argv
    sys.argv = [f"{args.name}.py", *args.args]
    try:
        runpy.run_path(str(bench_dir / f"{args.name}.py"), run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        # sys.exit("message"): Python would print the message and exit 1; so does main
        raise ValueError(str(exc.code)) from None
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
