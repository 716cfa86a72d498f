"""The Small CNN Zoo file format: column names, atomic writers and raw readers.

A zoo is a directory holding three files, exactly as released by Unterthiner et al. (2020):

``weights.npy``
    ``(n_checkpoints, n_params)`` float32 matrix in C order, one flattened network per row.
``metrics.csv.gz``
    One row per checkpoint, same order as ``weights.npy``, columns :data:`METRICS_COLUMNS`
    (the ``step`` column holds the epoch, ``modeldir`` identifies the run).
``layout.csv``
    Which columns hold which tensor (see :class:`skweights.layout.Layout`).

Writers are atomic: each file is written to a temporary file in the same directory, flushed and
moved into place with :func:`os.replace`, so a reader never sees a half-written file and an
interrupted generator leaves either the old or the new file. Readers validate and raise errors
that say what was expected and what was found. Nothing here ever unpickles data.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CONFIG_PREFIX",
    "LAYOUT_FILE",
    "METRICS_COLUMNS",
    "METRICS_FILE",
    "WEIGHTS_FILE",
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_file",
    "download_zoo_archive",
    "get_data_home",
    "read_metrics",
    "read_weights",
    "weights_header",
    "write_zoo",
]

WEIGHTS_FILE = "weights.npy"
METRICS_FILE = "metrics.csv.gz"
LAYOUT_FILE = "layout.csv"
CONFIG_PREFIX = "config."

#: Columns of the released ``metrics.csv.gz``, in file order.
METRICS_COLUMNS: tuple[str, ...] = (
    "config.activation",
    "config.b_init",
    "config.dataset",
    "config.dnn_architecture",
    "config.dropout",
    "config.epochs",
    "config.epochs_between_checkpoints",
    "config.init_std",
    "config.l2reg",
    "config.learning_rate",
    "config.num_layers",
    "config.num_units",
    "config.optimizer",
    "config.random_seed",
    "config.train_fraction",
    "config.w_init",
    "modeldir",
    "step",
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
)


# --------------------------------------------------------------------------- atomic writers
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory + replace).

    The parent directory is created if needed. Returns the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_bytes(d / "sub" / "x.bin", b"abc").read_bytes()
    b'abc'
    """
    path = Path(path)
    with _atomic_file(path) as f:
        f.write(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; see :func:`atomic_write_bytes`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hello")
    >>> p.read_text()
    'hello'
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_save_npy(path: str | os.PathLike, array: Any) -> Path:
    """Save ``array`` as a ``.npy`` file atomically, never pickling (``allow_pickle=False``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_save_npy(pathlib.Path(tempfile.mkdtemp()) / "w.npy", np.eye(2, dtype="f4"))
    >>> np.load(p).dtype
    dtype('float32')
    """
    path = Path(path)
    array = np.asanyarray(array)
    with _atomic_file(path) as f:
        np.save(f, array, allow_pickle=False)
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Refuse, before any work, a file path that cannot be written as a file.

    Raises ``IsADirectoryError`` when ``path`` is a directory (or empty, i.e. the current
    directory) and ``NotADirectoryError`` when a component of its parent is a file. A missing
    parent is fine: the atomic writers create it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_file(d / "new" / "predictor.skops").name
    'predictor.skops'
    >>> check_output_file(d)
    Traceback (most recent call last):
    ...
    IsADirectoryError: cannot write ... is a directory; expected a file path such as .../out
    """
    text = os.fspath(path)
    path = Path(text)
    if not text or path.is_dir():
        raise IsADirectoryError(
            f"cannot write {text!r}: it is a directory; expected a file path such as "
            f"{path / 'out'}"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"cannot write {path}: {parent} is a file, not a directory"
                )
            break
    return path


@functools.lru_cache(maxsize=1)
def default_file_mode() -> int:
    """Permissions ``open(path, "w")`` gives a new file under the umask (read once, cached)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


class _atomic_file:
    """Context manager yielding a binary file that replaces ``path`` on successful exit."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __enter__(self):
        check_output_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.fchmod(fd, default_file_mode())  # mkstemp makes 0600; give what open() would
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


# --------------------------------------------------------------------------- zoo writer
def write_zoo(
    path: str | os.PathLike,
    weights: Any,
    metrics: pd.DataFrame | Mapping[str, Any],
    layout: Any,
) -> Path:
    """Write a zoo directory in the exact Small CNN Zoo format.

    Parameters
    ----------
    path : path-like
        Zoo directory; created if needed. Existing zoo files are replaced atomically.
    weights : array-like of shape (n_checkpoints, n_params)
        Flattened networks, one per row; saved as float32 in C order. Non-finite values are
        kept (the released files keep diverged runs; :func:`skweights.datasets.load_zoo` drops
        them).
    metrics : DataFrame or mapping of columns
        One row per checkpoint, in the same order as ``weights``. Must contain every column of
        :data:`METRICS_COLUMNS`; they are written in that order, extra columns after them.
    layout : Layout, or path to a ``layout.csv``
        Column layout; its ``n_params`` must equal ``weights.shape[1]``.

    Returns
    -------
    path : Path
        The zoo directory.

    Examples
    --------
    >>> import tempfile
    >>> from skweights.layout import Layout
    >>> layout = Layout.from_shapes([("net/fc/bias:0", (2,)), ("net/fc/kernel:0", (3, 2))])
    >>> row = {c: 0 for c in METRICS_COLUMNS} | {"modeldir": "run0", "step": 5}
    >>> out = write_zoo(tempfile.mkdtemp(), np.zeros((1, 8)), pd.DataFrame([row]), layout)
    >>> sorted(p.name for p in out.iterdir())
    ['layout.csv', 'metrics.csv.gz', 'weights.npy']
    """
    path = Path(path)
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (n_checkpoints, n_params), got an array of shape {weights.shape}"
        )
    if weights.dtype.kind not in "fiub":
        raise ValueError(f"weights must be numeric, got dtype {weights.dtype}")
    weights = np.ascontiguousarray(weights, dtype=np.float32)

    frame = metrics if isinstance(metrics, pd.DataFrame) else pd.DataFrame(dict(metrics))
    missing = [c for c in METRICS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"metrics is missing required columns {missing}")
    if len(frame) != weights.shape[0]:
        raise ValueError(
            f"metrics has {len(frame)} rows but weights has {weights.shape[0]} rows; "
            "expected one metrics row per weights row"
        )
    extra = [c for c in frame.columns if c not in METRICS_COLUMNS]
    frame = frame.loc[:, list(METRICS_COLUMNS) + extra].reset_index(drop=True)

    layout_text = _layout_csv_text(layout)
    from skweights.layout import Layout

    n_params = Layout.from_csv(io.StringIO(layout_text)).n_params
    if n_params != weights.shape[1]:
        raise ValueError(
            f"weights has {weights.shape[1]} columns "
            f"but the layout describes {n_params} parameters"
        )

    path.mkdir(parents=True, exist_ok=True)
    csv_bytes = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    atomic_write_bytes(path / METRICS_FILE, gzip.compress(csv_bytes, mtime=0))
    atomic_write_text(path / LAYOUT_FILE, layout_text)
    # weights last: its presence marks a complete zoo for readers that poll the directory.
    atomic_save_npy(path / WEIGHTS_FILE, weights)
    return path


def _layout_csv_text(layout: Any) -> str:
    if hasattr(layout, "to_csv") and hasattr(layout, "n_params"):
        buf = io.StringIO()
        layout.to_csv(buf)
        return buf.getvalue()
    if isinstance(layout, (str, os.PathLike)):
        return Path(layout).read_text(encoding="utf-8")
    raise TypeError(
        f"layout must be a skweights.layout.Layout or a path to a layout.csv, got {type(layout)}"
    )


# --------------------------------------------------------------------------- raw readers
def weights_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Read a ``.npy`` header without loading data: ``(shape, dtype, fortran_order, offset)``.

    Raises ``ValueError`` for a file that is not a ``.npy`` file or whose data is shorter than
    its header announces (a truncated download or an interrupted copy).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a valid .npy file: {exc}") from None
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(
            f"{path} holds Python objects (dtype {dtype}); expected a float32 matrix. "
            "Object arrays need unpickling, which skweights never does."
        )
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        raise ValueError(
            f"{path} is truncated: its header announces shape {shape} of {dtype} "
            f"({expected} bytes with the header) but the file has {size} bytes"
        )
    return tuple(shape), dtype, fortran, offset


def read_weights(path: str | os.PathLike, mmap: bool = False) -> np.ndarray:
    """Load a zoo's ``weights.npy``: a 2-D floating matrix, memory-mapped read-only if ``mmap``.

    Raises ``ValueError`` when the file is truncated, not 2-D, or not of a floating dtype.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {path}")
    shape, dtype, _, _ = weights_header(path)
    if len(shape) != 2:
        raise ValueError(
            f"{path} must hold a 2-D (n_checkpoints, n_params) matrix, got shape {shape}"
        )
    if dtype.kind != "f":
        raise ValueError(f"{path} must hold floating point weights (float32), got dtype {dtype}")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Load a zoo's ``metrics.csv.gz`` (or plain ``.csv``) and check its contents.

    ``modeldir`` is read as a string (it is an identifier, never opened as a path). Raises
    ``ValueError`` naming the file (and the row, 0-based as in ``weights.npy``) when the file is
    not gzip/CSV or is truncated, a required column is missing, ``step`` holds anything but
    whole epochs >= 0, ``test_accuracy`` lies outside [0, 1] (NaN is allowed: a diverged run),
    or two rows share a ``(modeldir, step)`` (a zoo concatenated with itself, or one
    ``modeldir`` for every run).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"metrics file not found: {path}")
    try:
        frame = pd.read_csv(path, compression="infer", dtype={"modeldir": str})
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path} is empty; expected a CSV header with columns {list(METRICS_COLUMNS)}"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path} is not a readable gzip-compressed CSV (truncated or another format: "
            f"{type(exc).__name__}: {exc})"
        ) from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a valid CSV file: {exc}") from None
    missing = [c for c in METRICS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} is missing required columns {missing}; "
            f"expected the Small CNN Zoo columns {list(METRICS_COLUMNS)}"
        )
    _check_steps(frame["step"], path)
    _check_accuracies(frame["test_accuracy"], path)
    _check_unique_checkpoints(frame, path)
    return frame


def _first_bad(mask: Any) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _show(value: Any) -> str:
    """``repr`` of a cell as the user wrote it (``8.5``, ``'final'``), not ``np.float64(8.5)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_steps(step: pd.Series, path: Path) -> None:
    values = pd.to_numeric(step, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"{path} column 'step' must hold epochs (whole numbers >= 0), got "
            f"{_show(step.iloc[i])} in row {i} ({int(bad.sum())} such rows)"
        )


def _check_accuracies(accuracy: pd.Series, path: Path) -> None:
    values = pd.to_numeric(accuracy, errors="coerce").to_numpy(dtype=float)
    not_number = np.isnan(values) & accuracy.notna().to_numpy()
    if not_number.any():
        i = _first_bad(not_number)
        raise ValueError(
            f"{path} column 'test_accuracy' must hold numbers, "
            f"got {_show(accuracy.iloc[i])} in row {i}"
        )
    with np.errstate(invalid="ignore"):
        bad = (values < 0) | (values > 1)
    if bad.any():
        i = _first_bad(bad)
        percent = 1 < np.nanmax(values) <= 100 and np.nanmin(values) >= 0
        hint = " (percentages? expected fractions)" if percent else ""
        raise ValueError(
            f"{path} column 'test_accuracy' must lie in [0, 1], got {_show(values[i])} in row {i} "
            f"({int(bad.sum())} such rows){hint}"
        )


def _check_unique_checkpoints(frame: pd.DataFrame, path: Path) -> None:
    known = frame[frame["modeldir"].notna()]
    dup = known.duplicated(subset=["modeldir", "step"], keep=False)
    if dup.any():
        rows = known.index[dup.to_numpy()]
        first = known.loc[rows[0]]
        same = rows[(known.loc[rows, "modeldir"] == first["modeldir"]).to_numpy()]
        same = same[(known.loc[same, "step"] == first["step"]).to_numpy()]
        raise ValueError(
            f"{path}: rows {same[0]} and {same[1]} are both modeldir {first['modeldir']!r} at "
            f"step {first['step']}; each (modeldir, step) must be one checkpoint, but "
            f"{len(rows)} rows share theirs (a zoo appended to itself, or one modeldir for "
            "every run?)"
        )


# --------------------------------------------------------------------------- data home, archives
def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Directory for downloaded data: ``data_home``, else ``$SKWEIGHTS_DATA``, else
    ``~/skweights_data`` (not created here).

    Examples
    --------
    >>> get_data_home("/tmp/zoos")
    PosixPath('/tmp/zoos')
    """
    if data_home is None:
        data_home = os.environ.get("SKWEIGHTS_DATA", os.path.join("~", "skweights_data"))
    return Path(data_home).expanduser()


_ZOO_FILES = (METRICS_FILE, LAYOUT_FILE, WEIGHTS_FILE)  # weights last: it marks completeness


def download_zoo_archive(
    url: str, target: str | os.PathLike, sha256: str | None = None, timeout: float = 60.0
) -> Path:
    """Download a zoo archive (any tar compression), verify it and extract the zoo files.

    The archive is streamed to a temporary file next to ``target`` while its SHA-256 is
    computed; it is rejected when it is shorter than its ``Content-Length``, when ``sha256`` is
    given and differs, or when it does not hold exactly one ``weights.npy``, ``metrics.csv.gz``
    and ``layout.csv`` (in one folder, regular files) whose row counts agree. Only those three
    members are read (never extracted by their archive paths), then moved into ``target``.
    The temporary files are removed in every case.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, archive = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    workdir = tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _stream(url, out, timeout, target)
        if sha256 is not None and digest != sha256.lower():
            raise ValueError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {digest} "
                f"({size} bytes); the download is corrupt or the archive changed"
            )
        _extract_zoo_members(archive, Path(workdir), url)
        target.mkdir(parents=True, exist_ok=True)
        for name in _ZOO_FILES:
            os.replace(Path(workdir) / name, target / name)
    finally:
        if os.path.exists(archive):
            os.unlink(archive)
        shutil.rmtree(workdir, ignore_errors=True)
    return target


def _stream(url: str, out, timeout: float, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length") if response.headers else None
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(
            f"could not download {url} ({reason}); check the network, or download the archive "
            f"by hand and extract {WEIGHTS_FILE}, {METRICS_FILE} and {LAYOUT_FILE} into {target}"
        ) from exc
    if expected is not None and expected.isdigit() and int(expected) != size:
        raise OSError(f"incomplete download of {url}: expected {expected} bytes, got {size}")
    return digest.hexdigest(), size


def _extract_zoo_members(archive: str, workdir: Path, url: str) -> None:
    try:
        tar = tarfile.open(archive, mode="r:*")
    except tarfile.TarError as exc:
        raise ValueError(f"{url} is not a readable tar archive: {exc}") from None
    with tar:
        found: dict[str, list[tarfile.TarInfo]] = {name: [] for name in _ZOO_FILES}
        for member in tar.getmembers():
            base = member.name.rstrip("/").rsplit("/", 1)[-1]
            if base in found and member.isfile():
                found[base].append(member)
        bad = {name: len(m) for name, m in found.items() if len(m) != 1}
        if bad:
            raise ValueError(
                f"{url} must hold exactly one of each of {list(_ZOO_FILES)}, found counts {bad}"
            )
        folders = {
            found[name][0].name.rsplit("/", 1)[0] if "/" in found[name][0].name else ""
            for name in _ZOO_FILES
        }
        if len(folders) != 1:
            raise ValueError(f"{url}: the zoo files are in different folders {sorted(folders)}")
        for name in _ZOO_FILES:
            source = tar.extractfile(found[name][0])
            with source, open(workdir / name, "wb") as out:
                shutil.copyfileobj(source, out, length=1 << 20)
    shape, _, _, _ = weights_header(workdir / WEIGHTS_FILE)
    n_metrics = len(read_metrics(workdir / METRICS_FILE))
    if len(shape) != 2 or shape[0] != n_metrics:
        raise ValueError(
            f"{url}: {WEIGHTS_FILE} has shape {shape} but {METRICS_FILE} has {n_metrics} rows"
        )
