"""The ``skweights`` command line: ``zoo``, ``fit``, ``predict``, ``demo`` and ``bench``.

One module per command (``_zoo``, ``_fit``, ``_predict``, ``_demo``, ``_bench``; argument types
in ``_types``). Each registers its parser in one ``add_<command>_parser(subparsers)`` function
and sets ``func``; `main` is the single error path (one line per failure, never a traceback).
The library never imports this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from skweights.cli._bench import add_bench_parser
from skweights.cli._demo import add_demo_parser
from skweights.cli._fit import add_fit_parser
from skweights.cli._predict import add_predict_parser
from skweights.cli._zoo import add_zoo_parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skweights`` command."""
    parser = argparse.ArgumentParser(
        prog="skweights", description="Predict a neural network's accuracy from its weights."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_zoo_parser(sub)
    add_fit_parser(sub)
    add_predict_parser(sub)
    add_demo_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Every failure ends in one line ``skweights: error: ...`` on stderr and exit code 1 (2 for
    a bad argument, from argparse; 130 for Ctrl-C). An unexpected error prints its traceback
    too when ``SKWEIGHTS_DEBUG=1``.
    """
    import warnings

    from skweights._errors import error_line, quiet_interrupted_trials, show_traceback

    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_interrupted_trials()
    format_warning = warnings.formatwarning
    warnings.formatwarning = _warning_line
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("skweights: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _while_interrupted(exc):
            print("skweights: interrupted", file=sys.stderr)
            return 130
        if show_traceback():
            import traceback

            traceback.print_exc()
        print(f"skweights: error: {error_line(exc)}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = format_warning


def _while_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a Ctrl-C unwound (a ``KeyboardInterrupt`` in its context).

    Code that cleans up in ``finally`` can fail there and mask the interrupt, e.g. Optuna's
    trial loop when Ctrl-C lands while it commits a trial.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A warning shown by the command line: one line, without the source line Python adds."""
    return f"skweights: warning: {' '.join(str(message).split())}\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
