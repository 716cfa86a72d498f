"""Optuna storages from URLs (with heartbeats and clear driver errors) and study identity:
default study names derived from the search's settings, and the check that a worker joining a
study runs the same search."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

#: Storage URL forms, for error messages.
STORAGE_FORMS = (
    "sqlite:///FILE, postgresql://USER:PASSWORD@HOST:PORT/DB, mysql://USER@HOST/DB (any "
    "SQLAlchemy URL) or journal:///FILE"
)

#: Python module of a database driver -> (pip requirement, skweights extra or None).
_DRIVERS = {
    "psycopg": ("psycopg[binary]", "postgres"),
    "psycopg2": ("psycopg2-binary", None),
    "MySQLdb": ("mysqlclient", None),
    "pymysql": ("PyMySQL", None),
    "pyodbc": ("pyodbc", None),
    "oracledb": ("oracledb", None),
}

#: Heartbeat interval (seconds) ``skweights fit`` uses for RDB storages unless told otherwise.
DEFAULT_HEARTBEAT = 60


def _parse_rdb_url(url: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            f"storage must be a URL of the form {STORAGE_FORMS}; got {url!r}"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 (the ``postgres`` extra), whichever default the installed SQLAlchemy has
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _missing_driver(url: str, exc: ImportError) -> ImportError:
    module = None
    while exc is not None and module is None:
        module = getattr(exc, "name", None)
        exc = exc.__cause__
    requirement, extra = _DRIVERS.get((module or "").split(".")[0], (module, None))
    hint = f"pip install 'skweights[{extra}]'" if extra else f"pip install '{requirement}'"
    scheme = url.split(":", 1)[0].split("+")[0]
    return ImportError(
        f"storage {scheme}:// needs the database driver {requirement!r} "
        f"(module {module!r} not found): {hint}"
    )


def is_rdb_url(storage: Any) -> bool:
    """Whether ``storage`` is an RDB (SQLAlchemy) URL rather than a journal URL or an object."""
    return isinstance(storage, str) and not storage.startswith("journal:")


def make_storage(
    storage: str | optuna.storages.BaseStorage | None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = 3,
):
    """An Optuna storage from a URL: ``journal:///path.log``, an RDB URL, or a storage object.

    ``journal://`` URLs give a ``JournalStorage`` on a ``JournalFileBackend`` (the path follows
    ``journal://``, so ``journal:///tmp/s.log`` is ``/tmp/s.log``). SQLite URLs get a 60 s lock
    timeout so that several local processes can share one file. ``postgresql://`` URLs use
    psycopg 3 (``pip install skweights[postgres]``). ``None`` stays ``None`` (in-memory).

    Parameters
    ----------
    storage : str, optuna.storages.BaseStorage or None
    heartbeat_interval : int or None, default=None
        RDB URLs only: a running trial records a heartbeat every ``heartbeat_interval`` seconds;
        one silent for ``grace_period`` seconds (a killed worker's) is marked ``FAIL`` by the
        next worker that starts a trial and re-queued with the same parameters. Journal
        storages have no heartbeat in Optuna: a killed worker's trial stays ``RUNNING``.
    grace_period : int or None, default=None
        None: ``2 * heartbeat_interval`` (Optuna's default).
    max_retry : int or None, default=3
        How often one configuration is re-queued after its worker died (None: always).

    Examples
    --------
    >>> from skweights.search import make_storage
    >>> make_storage(None) is None
    True
    >>> make_storage("notaurl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: storage must be a URL of the form sqlite:///FILE, ...; got 'notaurl'
    """
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise TypeError(f"storage must be a URL, a BaseStorage or None; got {storage!r}")
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = storage[len("journal://") :] if storage.startswith("journal://") else ""
        if not path:
            raise ValueError(f"a journal storage URL is journal:///FILE; got {storage!r}")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    url = _parse_rdb_url(storage)
    sqlite = url.drivername.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}
    heartbeat: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if heartbeat_interval:
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            heartbeat = {
                "heartbeat_interval": int(heartbeat_interval),
                "grace_period": grace_period,
                "heartbeat_stale_trial_callback": retry,
            }
        return _connect(url, engine_kwargs, heartbeat)


def _connect(url, engine_kwargs: dict, heartbeat: dict, attempts: int = 3):
    """An RDBStorage; workers that start together may race to create the tables: retry."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(
                url.render_as_string(hide_password=False), engine_kwargs=engine_kwargs, **heartbeat
            )
        except ImportError as exc:
            raise _missing_driver(url.drivername, exc) from None
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise ValueError(
                f"cannot connect to storage {url.render_as_string(hide_password=True)}: {reason}"
            ) from None


def study_name_for(settings: Mapping[str, Any], prefix: str = "skweights") -> str:
    """A study name that is a function of ``settings`` (JSON-serialisable): equal settings,
    equal name, so the same command resumes its study and several machines join one.

    Examples
    --------
    >>> from skweights.search import study_name_for
    >>> study_name_for({"estimator": "gbm", "seed": 0}, prefix="gbm")
    'gbm-3bb802f538a3'
    """
    text = json.dumps(settings, sort_keys=True, default=str)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


#: User attribute of a study holding the settings it was created with.
SETTINGS_ATTR = "skweights_settings"


def check_study_settings(study: optuna.Study, settings: Mapping[str, Any]) -> None:
    """Store ``settings`` in a new study's user attributes, or check a joined study's.

    Raises
    ------
    ValueError
        One line naming the first setting that differs (the study's value vs this worker's).
    """
    settings = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None:
        study.set_user_attr(SETTINGS_ATTR, settings)
        return
    for key in sorted(set(stored) | set(settings)):
        if stored.get(key) != settings.get(key):
            raise ValueError(
                f"study {study.study_name!r} was created with {key}={stored.get(key)!r} but this "
                f"worker has {key}={settings.get(key)!r}; use the same settings to join it or "
                "another --study-name"
            )
