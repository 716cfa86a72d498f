"""Load model zoos in the Small CNN Zoo format, split them, and fetch the released zoos.

A zoo directory holds ``weights.npy``, ``metrics.csv.gz`` and ``layout.csv`` (see
:mod:`skweights._format`). :func:`load_zoo` validates the three files against each other, selects
checkpoints, drops networks with non-finite weights and returns a :class:`~sklearn.utils.Bunch`.
:func:`paper_split` and :func:`nfn_split` reproduce the two splits used in the literature
(:func:`write_nfn_split` writes NFN's split file for any zoo);
:func:`fetch_small_cnn_zoo` downloads a released zoo once and loads it.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from skweights._format import (
    CONFIG_PREFIX,
    LAYOUT_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    atomic_write_text,
    download_zoo_archive,
    get_data_home,
    read_metrics,
    read_weights,
    weights_header,
)

__all__ = [
    "SMALL_CNN_ZOO_NAMES",
    "SMALL_CNN_ZOO_URL",
    "fetch_small_cnn_zoo",
    "get_data_home",
    "load_zoo",
    "nfn_split",
    "paper_split",
    "train_test_split_paper",
    "write_nfn_split",
]

#: Above this size ``weights.npy`` is memory-mapped by default (``mmap=None``).
MMAP_THRESHOLD_BYTES = 256 * 2**20

#: Archive names of the released zoos (``cifar10`` and ``svhn_cropped`` are grayscale).
SMALL_CNN_ZOO_NAMES = ("mnist", "fashion_mnist", "cifar10", "svhn_cropped")
_ALIASES = {"cifar10_gs": "cifar10", "svhn_gs": "svhn_cropped", "svhn": "svhn_cropped"}
#: Where the released archives live (the address used by NFN, Neural Graphs and ScaleGMN).
SMALL_CNN_ZOO_URL = "https://storage.googleapis.com/gresearch/smallcnnzoo-dataset/{name}.tar.xz"
#: SHA-256 of the released archives. The authors publish none, so this is empty by default and
#: a download is verified by size (``Content-Length``) and structure (the three files, a valid
#: ``.npy`` header, rows of metrics == rows of weights) instead; pass ``sha256=`` to pin one.
SMALL_CNN_ZOO_SHA256: dict[str, str] = {}


# --------------------------------------------------------------------------- load_zoo
def load_zoo(
    path: str | os.PathLike,
    step: str | int | Sequence[int] = "final",
    drop_nonfinite: bool = True,
    mmap: bool | None = None,
) -> Bunch:
    """Load a zoo directory in the Small CNN Zoo format.

    Parameters
    ----------
    path : path-like
        Directory holding ``weights.npy``, ``metrics.csv.gz`` and ``layout.csv``.
    step : "final", "all", int or list of int, default="final"
        Which checkpoints to keep. ``"final"``: the last checkpoint of each run (the largest
        ``step`` per ``modeldir``). Runs of the released zoos that diverged stopped before epoch
        86; their last checkpoint is kept because it is a real network with a measured accuracy
        (most are non-finite and dropped by ``drop_nonfinite``). Use ``step=86`` to keep only
        runs that completed, as NFN and its successors do. An int keeps that epoch, a list those
        epochs, ``"all"`` every row.
    drop_nonfinite : bool, default=True
        Drop the selected rows whose weights or ``test_accuracy`` are not finite; the count is
        reported in ``n_dropped_nonfinite`` and by a ``UserWarning``.
    mmap : bool or None, default=None
        Memory-map ``weights.npy`` read-only. ``None`` maps files larger than 256 MiB. When
        rows are selected or dropped, the selected rows are read into memory; with
        ``step="all"`` and nothing dropped, ``weights`` stays a memory map.

    Returns
    -------
    Bunch
        ``weights`` (n, n_params) float array; ``metrics`` DataFrame aligned with it (index
        0..n-1); ``target`` float64 ``test_accuracy``; ``hyperparameters`` DataFrame of the
        ``config.*`` columns without the prefix; ``layout`` (:class:`skweights.layout.Layout`);
        ``rows`` the row number of each kept network in the files; ``n_dropped_nonfinite``;
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from skweights._format import METRICS_COLUMNS, write_zoo
    >>> from skweights.layout import Layout
    >>> layout = Layout.from_shapes([("net/fc/bias:0", (2,)), ("net/fc/kernel:0", (3, 2))])
    >>> rows = [{c: 0 for c in METRICS_COLUMNS} | {"modeldir": f"run{i // 2}",
    ...          "step": 5 * (i % 2), "test_accuracy": i / 10} for i in range(4)]
    >>> d = write_zoo(tempfile.mkdtemp(), np.ones((4, 8)), pd.DataFrame(rows), layout)
    >>> zoo = load_zoo(d)
    >>> zoo.weights.shape, zoo.target.tolist(), zoo.rows.tolist()
    ((2, 8), [0.1, 0.3], [1, 3])
    """
    from skweights.layout import Layout

    path = Path(path)
    files = {name: path / name for name in (WEIGHTS_FILE, METRICS_FILE, LAYOUT_FILE)}
    missing = [name for name, f in files.items() if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{path} is not a complete zoo: missing {missing}; expected "
            f"{WEIGHTS_FILE}, {METRICS_FILE} and {LAYOUT_FILE}"
        )
    shape, dtype, _, _ = weights_header(files[WEIGHTS_FILE])
    if mmap is None:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        mmap = nbytes > MMAP_THRESHOLD_BYTES
    weights = read_weights(files[WEIGHTS_FILE], mmap=bool(mmap))
    metrics = read_metrics(files[METRICS_FILE])
    layout = Layout.from_csv(files[LAYOUT_FILE])

    n_rows, n_cols = weights.shape
    if n_rows == 0:
        raise ValueError(f"the zoo at {path} is empty: {WEIGHTS_FILE} has 0 rows")
    if len(metrics) != n_rows:
        raise ValueError(
            f"{METRICS_FILE} has {len(metrics)} rows but {WEIGHTS_FILE} has {n_rows} rows; "
            "expected one metrics row per network"
        )
    if layout.n_params != n_cols:
        raise ValueError(
            f"{WEIGHTS_FILE} has {n_cols} columns but {LAYOUT_FILE} describes "
            f"{layout.n_params} parameters"
        )

    rows = np.flatnonzero(_select_steps(metrics, step))
    n_dropped = 0
    if drop_nonfinite:
        finite = _finite_rows(weights, rows) & np.isfinite(
            metrics["test_accuracy"].to_numpy(dtype=float)[rows]
        )
        n_dropped = int((~finite).sum())
        rows = rows[finite]
        if n_dropped:
            warnings.warn(
                f"dropped {n_dropped} of {n_dropped + len(rows)} selected networks with "
                "non-finite weights or test accuracy",
                UserWarning,
                stacklevel=2,
            )
    if len(rows) == 0:
        raise ValueError(
            f"no networks left in {path} after selecting step={step!r} "
            f"and dropping {n_dropped} non-finite ones"
        )
    if len(rows) != n_rows:
        weights = np.asarray(weights[rows])
    selected = metrics.iloc[rows].reset_index(drop=True)
    config = [c for c in selected.columns if c.startswith(CONFIG_PREFIX)]
    hyperparameters = selected[config].rename(columns=lambda c: c[len(CONFIG_PREFIX) :])
    return Bunch(
        weights=weights,
        metrics=selected,
        target=selected["test_accuracy"].to_numpy(dtype=np.float64),
        hyperparameters=hyperparameters,
        layout=layout,
        rows=rows,
        n_dropped_nonfinite=n_dropped,
        path=path,
    )


def _select_steps(metrics: pd.DataFrame, step: Any) -> np.ndarray:
    steps = pd.to_numeric(metrics["step"]).to_numpy()  # whole numbers: checked by read_metrics
    if isinstance(step, str):
        if step == "all":
            return np.ones(len(steps), dtype=bool)
        if step == "final":
            if metrics["modeldir"].isna().any():
                raise ValueError(
                    f"{METRICS_FILE} column 'modeldir' has missing values; step='final' needs it "
                    "to identify each run (use step='all' or an int instead)"
                )
            last = pd.Series(steps).groupby(metrics["modeldir"].to_numpy()).transform("max")
            return steps == last.to_numpy()
        raise ValueError(f"step must be 'final', 'all', an int or a list of ints, got {step!r}")
    if _is_int(step):
        wanted = [step]
    else:
        wanted = list(step) if isinstance(step, (Sequence, np.ndarray, set)) else []
    if not wanted or not all(_is_int(s) for s in wanted):
        raise ValueError(f"step must be 'final', 'all', an int or a list of ints, got {step!r}")
    present = sorted(set(steps.astype(int).tolist()))
    absent = sorted(set(int(s) for s in wanted) - set(present))
    if absent:
        raise ValueError(f"no checkpoint at step {absent}; the zoo has steps {present}")
    return np.isin(steps, wanted)


def _is_int(value: Any) -> bool:
    """An integer that is not a bool (``True`` is an ``Integral`` but never means 1 here)."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _finite_rows(weights: np.ndarray, rows: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Row-wise ``isfinite(...).all()`` over ``weights[rows]``, in chunks (memmap friendly)."""
    out = np.empty(len(rows), dtype=bool)
    for i in range(0, len(rows), chunk):
        out[i : i + chunk] = np.isfinite(weights[rows[i : i + chunk]]).all(axis=1)
    return out


# --------------------------------------------------------------------------- splits
def _n_samples(n_or_bunch: Any) -> int:
    if isinstance(n_or_bunch, (bool, np.bool_)):
        raise ValueError(f"expected a number of networks, a Bunch or an array, got {n_or_bunch!r}")
    if isinstance(n_or_bunch, Integral):
        return int(n_or_bunch)
    if isinstance(n_or_bunch, Bunch) and "target" in n_or_bunch:
        return len(n_or_bunch.target)
    return len(n_or_bunch)


def paper_split(
    n_or_bunch: Any, n_train: int | float = 15000, random_state: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's split: ``n_train`` networks drawn at random for training, the rest for test.

    Parameters
    ----------
    n_or_bunch : int, Bunch from :func:`load_zoo`, or array-like
        The number of networks, or something whose length is.
    n_train : int or float, default=15000
        Training set size; a float in (0, 1) is a fraction (for zoos smaller than the paper's).
    random_state : int, RandomState or None, default=0

    Returns
    -------
    train, test : ndarray of int
        Sorted, disjoint row positions covering ``range(n)``.

    Examples
    --------
    >>> train, test = paper_split(10, n_train=0.7)
    >>> len(train), len(test), sorted(np.r_[train, test].tolist()) == list(range(10))
    (7, 3, True)
    """
    n = _n_samples(n_or_bunch)
    if isinstance(n_train, (bool, np.bool_)) or not isinstance(n_train, Real):
        raise ValueError(
            f"n_train must be an int (a count) or a float in (0, 1) (a fraction), got {n_train!r}"
        )
    if isinstance(n_train, Real) and not isinstance(n_train, Integral):
        if not 0 < n_train < 1:
            raise ValueError(f"a fractional n_train must be in (0, 1), got {n_train}")
        n_train = int(np.floor(n_train * n))
    n_train = int(n_train)
    if not 0 < n_train < n:
        raise ValueError(
            f"n_train={n_train} must be between 1 and n - 1 = {n - 1} for a zoo of {n} "
            "networks; pass a fraction such as n_train=0.5 for small zoos"
        )
    perm = check_random_state(random_state).permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


#: Name used in docs/architecture.md.
train_test_split_paper = paper_split


def nfn_split(
    zoo: Any, index_file: str | os.PathLike | None = None, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split of NFN, Neural Graphs and ScaleGMN (``ZooDataset`` in NFN's ``data_utils.py``).

    All rows of the zoo files are permuted by ``index_file``; the rows of ``zoo`` are taken in
    that order; the **second** half is the test split (NFN's code takes
    ``range(len // 2, len)``) and the first half is shuffled with ``random.Random(0)`` and cut
    80/20 into train / validation.

    Parameters
    ----------
    zoo : Bunch from :func:`load_zoo`, or array-like of file row numbers
        The networks to split (NFN: ``load_zoo(path, step=86)``). A Bunch's ``rows`` give each
        network's row in the files, which ``index_file`` refers to.
    index_file : path-like, optional
        One integer (a row of the zoo files) per line, read with **no header** as NFN does
        (``pd.read_csv(f, header=None)``): the first line of the published files is a header
        ``0``, so row 0 is listed twice and, if selected, appears twice in the split. Without a
        file, the rows are permuted with ``np.random.RandomState(random_state)``.
    random_state : int, default=0
        Seed of the generated permutation (unused with ``index_file``).

    Returns
    -------
    train, val, test : ndarray of int
        Positions into ``zoo`` (``zoo.weights[train]``). Disjoint unless the index file repeats
        a row (see above).

    Examples
    --------
    >>> train, val, test = nfn_split(np.arange(20))
    >>> len(train), len(val), len(test)
    (8, 2, 10)
    """
    file_rows = np.asarray(zoo.rows if isinstance(zoo, Bunch) else zoo, dtype=np.int64)
    if file_rows.ndim != 1 or len(file_rows) < 2:
        raise ValueError(f"nfn_split needs at least 2 networks, got {len(file_rows)}")
    if index_file is None:
        order = file_rows[np.random.RandomState(random_state).permutation(len(file_rows))]
    else:
        order = _read_index_file(index_file)
    position = pd.Series(np.arange(len(file_rows)), index=file_rows)
    if not position.index.is_unique:
        raise ValueError("the zoo lists a file row more than once; expected unique rows")
    in_zoo = np.isin(order, file_rows)
    missing = np.setdiff1d(file_rows, order)
    if len(missing):
        raise ValueError(
            f"{len(missing)} rows of the zoo (e.g. row {missing[0]}) are not in the index "
            f"file {index_file}; expected a permutation of the zoo's rows"
        )
    ordered = position.loc[order[in_zoo]].to_numpy()
    half = int(0.5 * len(ordered))
    test = ordered[half:]
    trainval = ordered[:half].tolist()
    random.Random(0).shuffle(trainval)
    cut = int(0.8 * len(trainval))
    return (
        np.asarray(trainval[:cut], dtype=np.intp),
        np.asarray(trainval[cut:], dtype=np.intp),
        test.astype(np.intp),
    )


def write_nfn_split(zoo_or_n: Any, path: str | os.PathLike, random_state: Any = 0) -> Path:
    """Write an NFN split file (``*_split.csv``) for a zoo: a random order of its file rows.

    The format of NFN's ``experiments/predict_gen_data_splits/*_split.csv``: a first line ``0``
    (the header pandas writes for an unnamed column, which NFN reads as data with
    ``pd.read_csv(f, header=None)``), then a permutation of **every** row of the zoo files
    (all checkpoints), one integer per line. NFN's ``ZooDataset`` orders the rows by it, keeps
    the final checkpoints and splits them (see :func:`nfn_split`, which reads these files).

    Parameters
    ----------
    zoo_or_n : int, path-like or Bunch from :func:`load_zoo`
        The number of rows of the zoo files, a zoo directory, or a loaded zoo (its ``path``:
        the permutation covers the files' rows, not only the loaded ones).
    path : path-like
        File to write (written atomically).
    random_state : int, RandomState or None, default=0
        Seed of the permutation.

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile
    >>> f = write_nfn_split(5, Path(tempfile.mkdtemp()) / "zoo_split.csv")
    >>> f.read_text().split()
    ['0', '2', '0', '1', '3', '4']
    >>> nfn_split(np.arange(5), f)[2].tolist()  # test split: the second half of the order
    [1, 3, 4]
    """
    n_rows = _n_file_rows(zoo_or_n)
    order = check_random_state(random_state).permutation(n_rows)
    path = Path(path)
    # a temporary file of its own per call: two writers of the same split never share one
    atomic_write_text(path, "0\n" + "".join(f"{i}\n" for i in order))
    return path


def _n_file_rows(zoo_or_n: Any) -> int:
    if isinstance(zoo_or_n, Integral) and not isinstance(zoo_or_n, bool):
        n_rows = int(zoo_or_n)
    elif isinstance(zoo_or_n, (str, os.PathLike, Bunch)):
        directory = Path(zoo_or_n.path if isinstance(zoo_or_n, Bunch) else zoo_or_n)
        n_rows = int(weights_header(directory / WEIGHTS_FILE)[0][0])
    else:
        raise TypeError(
            "zoo_or_n must be a number of rows, a zoo directory or a Bunch from load_zoo, "
            f"got {type(zoo_or_n).__name__}"
        )
    if n_rows < 2:
        raise ValueError(f"an NFN split needs at least 2 rows, got {n_rows}")
    return n_rows


def _read_index_file(index_file: str | os.PathLike) -> np.ndarray:
    values = []
    with open(index_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                values.append(int(text))
            except ValueError:
                raise ValueError(
                    f"{index_file} line {lineno}: expected one integer row index per line "
                    f"(no header), got {text!r}"
                ) from None
    if not values:
        raise ValueError(f"{index_file} is empty; expected one integer row index per line")
    out = np.asarray(values, dtype=np.int64)
    if (out < 0).any():
        raise ValueError(f"{index_file} holds negative row index {out[out < 0][0]}")
    return out


# --------------------------------------------------------------------------- fetch
def fetch_small_cnn_zoo(
    name: str,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    *,
    step: str | int | Sequence[int] = "final",
    drop_nonfinite: bool = True,
    mmap: bool | None = None,
    url: str | None = None,
    sha256: str | None = None,
) -> Bunch:
    """Load a released Small CNN Zoo, downloading and extracting it on first use.

    The zoo lives in ``<data_home>/small_cnn_zoo/<name>/``; when its three files are there,
    nothing touches the network.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "cifar10", "svhn_cropped"}
        Released zoo (``"cifar10_gs"``, ``"svhn_gs"`` and ``"svhn"`` are accepted aliases).
    data_home : path-like, optional
        See :func:`get_data_home`.
    download_if_missing : bool, default=True
        Raise ``FileNotFoundError`` instead of downloading when the files are missing.
    step, drop_nonfinite, mmap
        Passed to :func:`load_zoo`.
    url : str, optional
        Archive address; default ``SMALL_CNN_ZOO_URL`` (a ``.tar.xz`` of about 1 GB).
    sha256 : str, optional
        Expected SHA-256 of the archive; default ``SMALL_CNN_ZOO_SHA256.get(name)``. The authors
        publish no checksums, so by default the download is checked by size and structure.

    Returns
    -------
    Bunch
        As :func:`load_zoo`.
    """
    key = _ALIASES.get(name, name)
    if key not in SMALL_CNN_ZOO_NAMES:
        raise ValueError(f"unknown zoo {name!r}; expected one of {SMALL_CNN_ZOO_NAMES}")
    target = get_data_home(data_home) / "small_cnn_zoo" / key
    complete = all((target / f).is_file() for f in (WEIGHTS_FILE, METRICS_FILE, LAYOUT_FILE))
    if not complete:
        if not download_if_missing:
            raise FileNotFoundError(
                f"the Small CNN Zoo {key!r} is not in {target} and download_if_missing=False"
            )
        download_zoo_archive(
            url or SMALL_CNN_ZOO_URL.format(name=key),
            target,
            sha256=sha256 or SMALL_CNN_ZOO_SHA256.get(key),
        )
    return load_zoo(target, step=step, drop_nonfinite=drop_nonfinite, mmap=mmap)
