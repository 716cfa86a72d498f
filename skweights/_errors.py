"""The command line's error path: which exceptions a user can cause, and their one-line message.

:func:`skweights.cli.main` turns every failure into ``skweights: error: <message>`` on one line
and a non-zero exit. The library raises ``ValueError`` / ``OSError`` / ``KeyError`` with a
message that names the file or value and says what was expected; :func:`error_line` only
flattens it to one line (and adds what an ``ImportError`` needs: the package to install).
Anything else is a bug: one line too, and the traceback only when ``SKWEIGHTS_DEBUG=1``.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile

__all__ = [
    "DEBUG_ENV",
    "OPTUNA_TRIAL_LOGGER",
    "USER_ERRORS",
    "error_line",
    "quiet_interrupted_trials",
    "show_traceback",
]

#: Set to 1 to get the traceback of an unexpected error.
DEBUG_ENV = "SKWEIGHTS_DEBUG"

#: Exceptions caused by the user's input (files, arguments, environment), reported as is.
USER_ERRORS = (
    ValueError,  # includes sklearn's InvalidParameterError
    OSError,  # FileNotFoundError, IsADirectoryError, PermissionError, gzip.BadGzipFile, ...
    KeyError,
    ImportError,  # a missing optional dependency (extra or database driver)
    EOFError,
    zipfile.BadZipFile,
    tarfile.TarError,
)

_ERRNO = re.compile(r"^\[Errno -?\d+\] ")
#: What an exception raised without a message means (the file is named where it is read).
_NO_MESSAGE = {EOFError: "a file ended early (EOFError): is it empty or truncated?"}


def error_line(exc: BaseException) -> str:
    """The message of ``exc`` for ``skweights: error: ...``, on one line.

    Examples
    --------
    >>> error_line(KeyError("no tensor named 'x'"))
    "no tensor named 'x'"
    >>> error_line(FileNotFoundError(2, "No such file or directory", "zoo/weights.npy"))
    "No such file or directory: 'zoo/weights.npy'"
    >>> error_line(ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2"))
    "No module named 'psycopg2'; install the missing package (e.g. pip install psycopg2)"
    >>> error_line(EOFError())
    'a file ended early (EOFError): is it empty or truncated?'
    >>> error_line(RuntimeError("boom"))
    'unexpected RuntimeError: boom (set SKWEIGHTS_DEBUG=1 for the traceback)'
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # str(KeyError) is the repr of its argument
    elif isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {os.fsdecode(exc.filename)!r}"
    else:
        text = _ERRNO.sub("", str(exc)) or _NO_MESSAGE.get(type(exc), type(exc).__name__)
    if isinstance(exc, ImportError) and exc.name:
        top = exc.name.split(".")[0]
        text = f"{text}; install the missing package (e.g. pip install {top})"
    if not isinstance(exc, USER_ERRORS):
        text = f"unexpected {type(exc).__name__}: {text} (set {DEBUG_ENV}=1 for the traceback)"
    return " ".join(text.split())


def show_traceback() -> bool:
    """Whether ``SKWEIGHTS_DEBUG`` asks for tracebacks of unexpected errors."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


#: Optuna's logger of failed trials (``optuna.study._optimize``).
OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"


class _NoInterruptTraceback:
    """Logging filter: Optuna logs a trial stopped by Ctrl-C with a traceback; keep one line."""

    def filter(self, record) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            record.exc_info = None
        return True


def quiet_interrupted_trials() -> None:
    """Log a trial stopped by Ctrl-C in one line, without its traceback (any command's search).

    Only configures the ``logging`` logger by name: Optuna is not imported.
    """
    import logging

    logger = logging.getLogger(OPTUNA_TRIAL_LOGGER)
    if not any(isinstance(f, _NoInterruptTraceback) for f in logger.filters):
        logger.addFilter(_NoInterruptTraceback())
