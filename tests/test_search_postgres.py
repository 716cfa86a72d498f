"""`skweights fit --search` on a real PostgreSQL server that this module starts and stops.

The server is the Debian package ``postgresql`` (``.ci/run`` installs it): ``initdb`` into a
temporary directory, listening on 127.0.0.1 only (a free port, a private socket directory), run
as the ``postgres`` user when the tests run as root (the server refuses root). The tests are
skipped, saying why, only where no server can be found; with ``SKWEIGHTS_REQUIRE_POSTGRES=1``
(set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from skweights.cli import main; sys.exit(main(sys.argv[1:]))"

pytestmark = pytest.mark.slow


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _unavailable(reason: str):
    if os.environ.get("SKWEIGHTS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but {reason}")
    print(f"skipping the PostgreSQL tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """URL of a database on a fresh PostgreSQL server, stopped (and deleted) at the end."""
    bindir = _bindir()
    if bindir is None:
        _unavailable(
            "no initdb under /usr/lib/postgresql/*/bin or on PATH (apt install postgresql)"
        )
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="skweights-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            shutil.chown(root, user="postgres")
        except LookupError:
            shutil.rmtree(root)
            _unavailable("running as root and there is no 'postgres' user to run the server")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    port = _free_port()

    def run(*cmd):
        return subprocess.run([*run_as, *cmd], check=True, capture_output=True, text=True)

    started = False
    try:
        run("mkdir", str(sockets))
        run(bindir / "initdb", "-D", data, "-U", "skweights", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        run(bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
        started = True
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "skweights", "search")
        yield f"postgresql://skweights@127.0.0.1:{port}/search"
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text() if log.exists() else ""
        pytest.fail(f"starting PostgreSQL failed: {exc.cmd}: {exc.stderr}\n{server_log}")
    finally:
        if started:
            subprocess.run(
                [*run_as, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


def _fit_command(zoo_path, url, out, n_trials, *extra):
    return [
        sys.executable,
        "-c",
        CLI,
        "fit",
        str(zoo_path),
        "--search",
        str(n_trials),
        "--storage",
        url,
        "--heartbeat",
        "1",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")


def _only_study(storage):
    (summary,) = optuna.get_all_study_summaries(storage=storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _trials_of(storage, pid, state):
    """Numbers of the trials in ``state`` that the worker process ``pid`` ran."""
    try:
        study = _only_study(storage)
    except ValueError:  # no study yet
        return []
    worker = f"{socket.gethostname()}:{pid}"
    trials = study.get_trials(deepcopy=False, states=(state,))
    return [t.number for t in trials if t.user_attrs.get("worker") == worker]


def _in_transaction(url: str, pid: int) -> bool:
    """Whether a connection of process ``pid`` to the server is inside a transaction.

    Matched on the client ports the process holds (``pg_stat_activity.client_port``).
    """
    import psutil
    import psycopg

    process = psutil.Process(pid)
    connections = getattr(process, "net_connections", None) or process.connections
    ports = {c.laddr.port for c in connections(kind="tcp") if c.raddr}
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT client_port, state FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
    return any(port in ports and state != "idle" for port, state in rows)


def _stop_mid_trial(proc, storage, url, timeout=600):
    """SIGSTOP ``proc`` at a moment it has a running trial (after a finished one); return it.

    A stopped process cannot finish its trial, so the SIGKILL that follows is mid-trial. It is
    never left stopped inside a database transaction: its row locks would then block the next
    worker's stale-trial check until the kill, while the test waits for that worker's first
    trial before killing (a hang seen in CI). A SIGKILL ends the transaction; a SIGSTOP does not.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _trials_of(storage, proc.pid, TrialState.COMPLETE):
            proc.send_signal(signal.SIGSTOP)
            running = _trials_of(storage, proc.pid, TrialState.RUNNING)
            if running and not _in_transaction(url, proc.pid):
                return running[0]
            proc.send_signal(signal.SIGCONT)  # between two trials or mid-transaction: again
        time.sleep(0.02)
    raise AssertionError(f"worker {proc.pid} never had a running trial after a finished one")


def test_killed_worker_trial_is_failed_retried_and_the_study_ends_with_n_trials(
    postgres_url, zoo_path, tmp_path
):
    from skweights.search import make_storage

    n_trials = 8
    url = postgres_url
    storage = make_storage(url)
    host = socket.gethostname()
    a = subprocess.Popen(_fit_command(zoo_path, url, tmp_path / "a.joblib", n_trials), env=_env())
    b = None
    try:
        killed = _stop_mid_trial(a, storage, url)
        # B joins the study A created (same command, so the same derived study name)
        b = subprocess.Popen(
            _fit_command(zoo_path, url, tmp_path / "b.joblib", n_trials), env=_env()
        )
        _wait_for(
            lambda: (
                _trials_of(storage, b.pid, TrialState.RUNNING)
                or _trials_of(storage, b.pid, TrialState.COMPLETE)
                or None
            ),
            600,  # a fresh CLI process beside the rest of the suite on 2 cores
            "worker B's first trial",
        )
        a.send_signal(signal.SIGKILL)
        assert a.wait(timeout=30) == -signal.SIGKILL
        assert b.wait(timeout=600) == 0
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    # a rerun of the same command resumes the finished study: no new trial, only the refit
    rerun = subprocess.run(
        _fit_command(zoo_path, url, tmp_path / "c.joblib", n_trials),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "held-out" in rerun.stdout

    study = _only_study(storage)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] == n_trials, states
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0, states
    assert trials[killed].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state == TrialState.COMPLETE
    # the retry keeps what the killed trial had sampled before it died (maybe nothing yet)
    assert trials[killed].params.items() <= retry.params.items()
    assert retry.user_attrs["worker"] == f"{host}:{b.pid}"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    params = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(params)) == n_trials, "workers proposed the same configuration twice"
    workers = {t.user_attrs["worker"] for t in complete}
    assert workers == {f"{host}:{a.pid}", f"{host}:{b.pid}"}
    assert study.user_attrs["skweights_settings"]["estimator"] == "gbm"
