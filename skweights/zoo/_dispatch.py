"""Running group tasks: on local worker processes or on a dask.distributed cluster.

Both dispatchers take the same `GroupTask` list and yield ``(group, result, environment)`` as
groups finish, in any order. Workers never write files: results come back to the generating
process, which alone writes the shards (`skweights.zoo._store`), so cluster workers need no
shared file system and a killed generation leaves no worker writing behind it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GroupTask:
    """Everything a worker needs to train one group (small: no images, no weights)."""

    group: int
    configs: list[dict]
    dataset: str
    data_home: str | None
    epochs: int
    checkpoints: list[int]
    batch_size: int
    pad_to: int


def train_task(task: GroupTask, pin=None, parent_pid: int | None = None):
    """Train one group in this (worker) process; return ``(group, result, environment)``."""
    from skweights.zoo._worker import configure_worker, environment, watch_parent

    if parent_pid is not None:
        watch_parent(parent_pid)
    configure_worker(pin)
    from skweights.zoo._images import load_images
    from skweights.zoo._trainer import train_group

    images = load_images(task.dataset, data_home=task.data_home)
    result = train_group(
        task.configs,
        images,
        task.epochs,
        task.checkpoints,
        task.batch_size,
        pad_to=task.pad_to,
    )
    return task.group, result, environment()


# ------------------------------------------------------------------------------ local
def pinning_cores(workers: int) -> list[int] | None:
    """The cores to pin local workers to (one each), or None (no pinning).

    Two unpinned workers on 2 cores were 19-27 % slower than two pinned ones. Pinning applies
    only when every worker gets a core of its own; it does not change any number of the zoo.
    """
    if workers < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores if workers <= len(cores) else None


def run_local(
    tasks: Sequence[GroupTask], workers: int, pin_workers: bool = True
) -> Iterator[tuple[int, dict, dict]]:
    """Train ``tasks`` on ``workers`` local processes (loky), yielding results as they finish.

    Even one worker is a separate process, so that the generating process's own JAX set-up
    (threads, flags) never enters a zoo. Workers exit when this process dies.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky import get_reusable_executor

    if not tasks:
        return
    cores = pinning_cores(workers) if pin_workers else None
    pin_dir = tempfile.mkdtemp(prefix="skweights-cores-") if cores else None
    pin = None if pin_dir is None else (pin_dir, cores)
    executor = get_reusable_executor(max_workers=workers, timeout=60)
    pending = set()
    queue = list(tasks)
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # a few ahead, longest first
                pending.add(executor.submit(train_task, queue.pop(0), pin, os.getpid()))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    finally:
        if pin_dir is not None:
            shutil.rmtree(pin_dir, ignore_errors=True)


# ------------------------------------------------------------------------------ dask
def check_dispatch(backend: str | None, scheduler: Any) -> None:
    """Refuse a bad ``backend`` or ``scheduler`` before anything is planned or written."""
    if backend not in (None, "loky", "dask"):
        raise ValueError(f"backend must be None, 'loky' or 'dask', got {backend!r}")
    if scheduler is None or not isinstance(scheduler, str):
        return  # None, or a Client (checked when used)
    if "://" not in scheduler and ":" not in scheduler:
        raise ValueError(
            f"scheduler must be a dask scheduler address such as 'tcp://127.0.0.1:8786' or a "
            f"distributed.Client, got {scheduler!r}"
        )


def _dask_client(scheduler: Any):
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "training on a dask cluster needs dask.distributed: "
            "pip install 'skweights[distributed]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is None:
        from distributed import get_client

        try:
            return get_client(), False
        except ValueError:
            raise ValueError(
                "backend='dask' needs a cluster: pass scheduler='tcp://HOST:8786' or create a "
                "distributed.Client first"
            ) from None
    check_dispatch("dask", scheduler)
    if not isinstance(scheduler, str):
        raise ValueError(
            f"scheduler must be an address or a distributed.Client, got {scheduler!r}"
        )
    try:
        return Client(scheduler, timeout="20s"), True
    except OSError as exc:
        raise OSError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None


def run_dask(tasks: Sequence[GroupTask], scheduler: Any) -> Iterator[tuple[int, dict, dict]]:
    """Train ``tasks`` on a dask cluster, yielding results as they come back.

    A worker lost mid-group has its group rescheduled by the scheduler on another worker;
    results travel back to this process (no shared file system needed).
    """
    if not tasks:
        return
    from distributed import as_completed

    client, own = _dask_client(scheduler)
    token = os.urandom(4).hex()
    try:
        futures = [
            client.submit(train_task, t, key=f"skweights-group-{t.group}-{token}", pure=False)
            for t in tasks
        ]
        try:
            for future in as_completed(futures):
                result = future.result()
                future.release()
                yield result
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()


def dispatch(
    tasks: Iterable[GroupTask],
    workers: int,
    backend: str | None,
    scheduler: Any,
    pin_workers: bool,
) -> Iterator[tuple[int, dict, dict]]:
    """Pick the dispatcher: dask when a scheduler (or ``backend="dask"``) is given, else local."""
    tasks = list(tasks)
    check_dispatch(backend, scheduler)
    if scheduler is not None or backend == "dask":
        return run_dask(tasks, scheduler)
    return run_local(tasks, workers, pin_workers)
