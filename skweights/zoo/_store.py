"""The output directory of a generation: exclusive lock, manifest, checksummed shards.

Layout of ``OUT/.shards/``: ``manifest.json`` (the generation's arguments and `environment`),
``lock`` (held for the whole run; ``owner.json`` names the holder) and one
``group-<g>-<sha256 prefix>.npz`` per finished group. Only the process holding the lock
writes; every file is written to a temporary name, fsynced and renamed, so a kill at any point
leaves finished shards intact. A shard whose bytes do not match the checksum in its name (a
disk error, a truncated copy) is reported and trained again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skweights._format import LAYOUT_FILE, METRICS_FILE, WEIGHTS_FILE, atomic_write_bytes

SHARD_DIR = ".shards"
MANIFEST = "manifest.json"
LOCK = "lock"
OWNER = "owner.json"
ZOO_FILES = (WEIGHTS_FILE, METRICS_FILE, LAYOUT_FILE)
SHARD_KEYS = ("weights", "network", "step", "test_accuracy", "test_loss", "train_accuracy",
              "train_loss", "group", "runs")  # fmt: skip


class GenerationLockedError(BlockingIOError):
    """Another process is generating into the same output directory."""


def check_output_dir(out: str | os.PathLike) -> Path:
    """The output directory as a Path, refusing paths the generator must not write to.

    Refuses an empty path, a path that is a file or lies under one, and a directory holding zoo
    files that no generation of ours wrote (no ``.shards/manifest.json``: e.g. a downloaded
    Small CNN Zoo), which would be overwritten.
    """
    if not str(out).strip():
        raise ValueError("the output directory is empty (''); give a directory for the zoo")
    out = Path(out)
    if out.resolve() == Path(out.resolve().anchor):
        raise ValueError(
            f"cannot write a zoo to {out}: it is the root of the file system; give a "
            "directory of its own, such as zoos/digits"
        )
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"cannot write a zoo to {out}: {parent} is a file, not a directory")
    present = [f for f in ZOO_FILES if (out / f).exists()]
    if present and not (out / SHARD_DIR / MANIFEST).is_file():
        raise ValueError(
            f"{out} already holds {', '.join(present)} that this generator did not write "
            f"(no {SHARD_DIR}/{MANIFEST}); refusing to overwrite them: choose another output "
            "directory"
        )
    return out


class ShardStore:
    """Exclusive access to ``OUT/.shards`` for one generation (a context manager).

    Parameters
    ----------
    out : Path
        The zoo directory.
    owner : mapping
        What to tell a second writer about this one (arguments); pid, host and start time are
        added.
    """

    def __init__(self, out: Path, owner: Mapping[str, Any]) -> None:
        self.out = Path(out)
        self.dir = self.out / SHARD_DIR
        self.owner = dict(owner)
        self._lock = None

    # ---------------------------------------------------------------- lock
    def __enter__(self) -> ShardStore:
        from filelock import FileLock, Timeout

        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.dir / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise GenerationLockedError(
                f"{self.out} is being written by another generation ({self._holder()}); wait "
                "for it to finish or choose another output directory"
            ) from None
        self._lock = lock
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        atomic_write_bytes(self.dir / OWNER, json.dumps({**info, **self.owner}).encode())
        self._remove_temporary_files()
        return self

    def __exit__(self, *exc) -> None:
        try:
            (self.dir / OWNER).unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock = None

    def _holder(self) -> str:
        info = None
        for _ in range(20):  # the holder writes owner.json right after taking the lock
            try:
                info = json.loads((self.dir / OWNER).read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        if info is None:
            return "holder unknown"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.pop("started", 0)))
        pid, host = info.pop("pid", "?"), info.pop("host", "?")
        args = ", ".join(f"{k}={v}" for k, v in info.items())
        return f"pid {pid} on {host}, started {started}, {args}"

    def _remove_temporary_files(self) -> None:
        """Temporary files of killed writes (ours only: hidden names ending in .tmp)."""
        names = [*ZOO_FILES, MANIFEST, OWNER, "group-"]
        for folder in (self.out, self.dir):
            for path in folder.glob(".*.tmp"):
                if any(path.name.startswith(f".{n}") for n in names):
                    path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- manifest
    def read_manifest(self) -> dict | None:
        path = self.dir / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); delete {self.dir}") from None
        if not isinstance(manifest, dict):
            raise ValueError(
                f"{path} holds a JSON {type(manifest).__name__}, expected the object this "
                f"generator writes (edited by hand?); delete {self.dir}"
            )
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        atomic_write_bytes(self.dir / MANIFEST, json.dumps(manifest, indent=1).encode())

    def zoo_complete(self) -> bool:
        return all((self.out / f).exists() for f in ZOO_FILES)

    def zoo_problem(self, shape: tuple[int, int]) -> str | None:
        """Why the finished ``weights.npy`` is not the ``shape`` matrix it must be, or None."""
        from skweights._format import weights_header

        try:
            found = weights_header(self.out / WEIGHTS_FILE)[0]
        except (OSError, ValueError) as exc:
            return str(exc)
        if tuple(found) != tuple(shape):
            return f"{self.out / WEIGHTS_FILE} has shape {found}, expected {shape}"
        return None

    # ---------------------------------------------------------------- shards
    def shard_path(self, group: int) -> Path | None:
        """The finished shard of ``group`` (checksum not yet verified), or None."""
        found = sorted(self.dir.glob(f"group-{group:05d}-*.npz"))
        return found[-1] if found else None

    def finished_groups(self, n_groups: int) -> set[int]:
        return {g for g in range(n_groups) if self.shard_path(g) is not None}

    def write_shard(self, group: int, result: Mapping[str, np.ndarray]) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(result[k]) for k in SHARD_KEYS})
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = atomic_write_bytes(self.dir / f"group-{group:05d}-{digest}.npz", data)
        _fsync_dir(self.dir)
        return path

    def read_shard(self, group: int, runs: Sequence[int]) -> dict[str, np.ndarray] | None:
        """The arrays of ``group``'s shard, or None (with a warning) when it is corrupt.

        A shard is good when its bytes match the checksum in its name and it holds the networks
        ``runs`` of ``group`` (so a shard copied or renamed to another group's name is caught).
        A corrupt shard is deleted so that the next run trains the group again.
        """
        path = self.shard_path(group)
        if path is None:
            return None
        data = path.read_bytes()
        expected = path.stem.rsplit("-", 1)[-1]
        problem = None
        if hashlib.sha256(data).hexdigest()[:16] != expected:
            problem = f"its checksum is not {expected} ({len(data)} bytes)"
        else:
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    shard = {k: z[k] for k in z.files}
                missing = set(SHARD_KEYS) - set(shard)
                if missing:
                    problem = f"it lacks {sorted(missing)}"
                elif int(shard["group"]) != group or not np.array_equal(shard["runs"], runs):
                    problem = f"it holds the networks of group {int(shard['group'])}"
            except Exception as exc:  # a checksummed file np cannot read: written by others
                problem = f"it cannot be read ({type(exc).__name__}: {exc})"
        if problem is not None:
            warnings.warn(
                f"shard {path} is corrupt: {problem}; deleting it, group {group} will be "
                "trained again",
                RuntimeWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            return None
        return shard

    def verify_shards(self, groups: Sequence[Sequence[int]]) -> set[int]:
        """Verify every finished shard of ``groups`` (run indices per group); the good ones."""
        return {
            g
            for g in self.finished_groups(len(groups))
            if self.read_shard(g, groups[g]) is not None
        }


def _fsync_dir(path: Path) -> None:
    if sys.platform.startswith("win"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
