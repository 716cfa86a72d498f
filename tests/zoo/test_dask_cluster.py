"""A zoo trained on a real dask cluster: ``dask scheduler`` + two ``dask worker`` processes.

The cluster is started the way users start one (the ``dask`` command, on 127.0.0.1 only), each
worker in a private working directory of its own: nothing is shared with the client but the
network, so the zoo can only reach the client's disk through the results.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from skweights.zoo import generate_zoo

pytest.importorskip("distributed")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _cluster import dask_cluster  # noqa: E402

KW = {"dataset": "digits", "n_networks": 12, "epochs": 2, "seed": 7, "group_size": 2}
ZOO_FILES = ("weights.npy", "metrics.csv.gz", "layout.csv")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask-cluster")]


def _bytes(path: Path) -> dict[str, bytes]:
    return {f: (path / f).read_bytes() for f in ZOO_FILES}


@pytest.fixture
def cluster(tmp_path):
    """(address, [worker processes]) of a scheduler and two single-threaded workers."""
    with dask_cluster(tmp_path, n_workers=2) as (address, workers):
        yield address, workers


@pytest.fixture(scope="module")
def local_zoo(tmp_path_factory) -> Path:
    return generate_zoo(tmp_path_factory.mktemp("local"), progress=False, workers=2, **KW)


def test_a_cluster_zoo_equals_the_local_one_even_when_a_worker_is_killed(
    cluster, local_zoo, tmp_path
):
    address, workers = cluster
    out = tmp_path / "client-disk" / "zoo"
    errors = []

    def run():
        try:
            generate_zoo(out, scheduler=address, progress=False, **KW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 600
    while not list(out.glob(".shards/group-*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    still_running = thread.is_alive()
    workers[0].send_signal(signal.SIGKILL)  # its group in flight is rescheduled on the other
    thread.join(900)
    assert not errors, errors
    assert still_running, "the generation ended before a worker could be killed"
    assert _bytes(out) == _bytes(local_zoo)
    # nothing the workers wrote: their private directories hold no zoo file
    for w in ("w0", "w1"):
        assert not list((tmp_path / w).rglob("*.npz")) and not list((tmp_path / w).rglob("*.npy"))


def test_the_cli_trains_on_a_cluster(cluster, local_zoo, tmp_path, capsys):
    from skweights.cli import main

    address, _ = cluster
    out = tmp_path / "cli"
    args = ["zoo", "generate", "--out", str(out), "--scheduler", address, "--quiet"]
    args += ["--dataset", "digits", "--n-networks", "12", "--epochs", "2", "--seed", "7"]
    assert main([*args, "--group-size", "2"]) == 0
    assert _bytes(out) == _bytes(local_zoo)


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path):
    with pytest.raises(OSError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        generate_zoo(tmp_path / "z", scheduler="tcp://127.0.0.1:9", progress=False, **KW)
