"""A real dask cluster on 127.0.0.1, started the way users start one (the ``dask`` command).

Used by ``bench_dask.py`` and ``tests/zoo/test_dask_cluster.py``: one ``dask scheduler`` and
``n_workers`` single-threaded ``dask worker`` processes, each in a private working directory of
its own (nothing shared with the client but the network).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def _start(args, cwd: Path, log: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        args, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(procs) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@contextlib.contextmanager
def dask_cluster(workdir: Path, n_workers: int = 2, timeout: float = 120.0):
    """Yield ``(address, worker processes)``; everything is stopped on exit."""
    from distributed import Client

    workdir = Path(workdir)
    scheduler_file = workdir / "scheduler" / "scheduler.json"
    procs = [
        _start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            workdir / "scheduler",
            workdir / "scheduler.log",
        )
    ]  # fmt: skip
    try:
        deadline = time.time() + timeout
        while not scheduler_file.exists():
            if time.time() > deadline or procs[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start; see {workdir}/scheduler.log")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [
            _start(
                [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--local-directory", str(workdir / f"w{i}" / "local")],
                workdir / f"w{i}",
                workdir / f"worker{i}.log",
            )
            for i in range(n_workers)
        ]  # fmt: skip
        procs += workers
        with Client(address, timeout=f"{timeout}s") as client:
            client.wait_for_workers(n_workers, timeout=timeout)
        yield address, workers
    finally:
        _stop(procs)
