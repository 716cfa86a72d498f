"""The process a group of networks is trained in: one XLA thread, a known environment.

A zoo's bytes must not depend on how its groups were dispatched (1 or 2 local workers, pinned
or not, loky or a dask cluster). XLA on CPU gives different results for the same compiled
program when its intra-op thread pool has more than one thread (the pool splits reductions
differently, and the difference grows through training). The pool is sized from the CPUs the
process may run on when JAX creates its CPU client. So every worker creates the client while
restricted to one core (`configure_worker`) and, unless it is pinned, lets its threads run on
any core again afterwards: one XLA thread, whichever core runs it.

`environment` describes what the bytes still depend on (generator version, jax/jaxlib version,
CPU kind); the generator stores it in the zoo's manifest and refuses to mix shards made under
another one.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading
from collections.abc import Sequence
from importlib import metadata

#: Version of the training computation. Bump it when a change to the trainer, the initialiser
#: or the worker set-up changes any number of a zoo: shards of another version are not mixed in.
TRAINER_VERSION = 1

_XLA_FLAG = "--xla_cpu_multi_thread_eigen=false"


class EnvironmentMismatchError(ValueError):
    """A worker would compute other numbers than the zoo's manifest promises."""


_configured = False  # this process created its XLA client under `configure_worker`
_pinned_for: str | None = None  # the pin_dir this worker process claimed its core in
_watched_parent: int | None = None


def cpu_kind() -> str:
    """The CPU model and a digest of its feature flags (what XLA compiles for).

    Examples
    --------
    >>> isinstance(cpu_kind(), str)
    True
    """
    model, flags = platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and model == platform.machine():
                    model = f"{platform.machine()} {value.strip()}"
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12] if flags else "unknown"
    return f"{model} (flags {digest})"


def environment() -> dict[str, object]:
    """What a zoo's bytes depend on besides its arguments, for the manifest.

    Examples
    --------
    >>> sorted(environment())
    ['cpu', 'jax', 'jaxlib', 'trainer']
    """

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "trainer": TRAINER_VERSION,
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "cpu": cpu_kind(),
    }


def _claim_core(pin_dir: str, cores: Sequence[int]) -> int | None:
    """Claim a free core: the first ``core-<i>`` token file this process creates in
    ``pin_dir`` (atomic O_EXCL, so two workers never get the same core). None when all are
    taken or ``pin_dir`` does not exist here (a worker on another machine)."""
    for core in cores:
        try:
            fd = os.open(
                os.path.join(pin_dir, f"core-{core}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            continue
        except OSError:
            return None
        os.close(fd)
        return core
    return None


def _set_affinity_of_all_threads(cores: set[int]) -> None:
    """``sched_setaffinity`` acts on one thread; XLA's pool threads need it too."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:
            pass  # a thread that ended meanwhile


def _create_xla_client_on_one_core(core: int | None) -> None:
    """Create JAX's CPU client while this process may run on one core only.

    ``core`` None: the lowest allowed core, and all allowed cores again afterwards.
    """
    if not hasattr(os, "sched_setaffinity"):  # not Linux: XLA's default pool, recorded as is
        import jax

        jax.devices("cpu")
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed) if core is None else core})
    import jax

    jax.devices("cpu")
    if core is None:
        _set_affinity_of_all_threads(allowed)


def _xla_client_exists() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", {}))


def configure_worker(pin: tuple[str, Sequence[int]] | None = None) -> None:
    """Prepare this process to train groups: one XLA thread, pinned to a core if asked.

    Idempotent. ``pin`` is ``(pin_dir, cores)``: claim a core of its own in ``pin_dir`` (one
    per generation) and stay on it.

    Raises
    ------
    EnvironmentMismatchError
        When JAX was already initialised in this process by something else: its thread pool
        may have several threads.
    """
    global _configured, _pinned_for
    if pin is not None and _pinned_for != pin[0]:
        core = _claim_core(*pin)
        if core is not None:
            os.sched_setaffinity(0, {core})
            if _configured:
                _set_affinity_of_all_threads({core})
            _pinned_for = pin[0]
    if _configured:
        return
    if _xla_client_exists():
        raise EnvironmentMismatchError(
            "JAX was initialised in this worker process before skweights could give it one "
            "XLA thread, so its results could differ from other workers'; train zoos in fresh "
            "worker processes (e.g. restart the dask workers)"
        )
    flags = os.environ.get("XLA_FLAGS", "")
    if _XLA_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_FLAG}".strip()
    core = min(os.sched_getaffinity(0)) if _pinned_for is not None else None
    _create_xla_client_on_one_core(core)
    _configured = True


def watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Exit this worker process as soon as ``parent_pid`` is no longer its parent.

    A generation killed with SIGKILL cannot stop its workers; they notice within
    ``interval`` seconds that they were re-parented and exit without writing anything.
    """
    global _watched_parent
    if _watched_parent == parent_pid or os.getppid() != parent_pid:
        return
    _watched_parent = parent_pid

    def watch():
        while os.getppid() == parent_pid:
            threading.Event().wait(interval)
        os._exit(1)

    threading.Thread(target=watch, name="skweights-parent-watch", daemon=True).start()
