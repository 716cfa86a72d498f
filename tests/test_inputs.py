"""Inputs of ``skweights predict``: Keras models of another function, PyTorch checkpoints, .npz."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from safetensors.numpy import save_file

from skweights.cli import main
from skweights.predictor import (
    make_predictor,
    read_weights_input,
    save_predictor,
    zoo_architecture,
)

pytestmark = pytest.mark.xdist_group("real-zoo")


@pytest.fixture(scope="module")
def predictor(zoo, tmp_path_factory):
    model = make_predictor(zoo.layout, "stats", "gbm", random_state=0)
    model.set_params(model__min_child_samples=5, model__n_estimators=50)
    model.fit(zoo.weights, zoo.target)
    path = tmp_path_factory.mktemp("inputs") / "p.skops"
    save_predictor(path, model, zoo.layout, architecture=zoo_architecture(zoo.metrics, zoo.layout))
    return path, model


def _predict_csv(capsys, *args) -> list[list[str]]:
    assert main(["predict", *map(str, args)]) == 0
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))


def _error(capsys, *args) -> str:
    assert main(["predict", *map(str, args)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("skweights: error: ") and "\n" not in err
    return err


# ------------------------------------------------------------------------- Keras models
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activation": "linear"}, "layer 'conv2d' has activation 'linear' but the zoo's"),
        ({"input_shape": (28, 28, 1)}, r"inputs of shape \(28, 28, 1\) but the zoo's networks "),
    ],
)
def test_a_keras_model_of_same_shapes_but_another_function_is_refused(
    predictor, zoo, tmp_path, capsys, kwargs, message
):
    from skweights.zoo import build_cnn

    model = build_cnn(seed=0, **kwargs)
    assert model.count_params() == zoo.layout.n_params  # same parameter shapes
    path = tmp_path / "other.keras"
    model.save(path)
    err = _error(capsys, predictor[0], path)
    assert "other.keras computes another function" in err
    import re

    assert re.search(message, err)
    rows = _predict_csv(capsys, predictor[0], path, "--no-architecture-check")
    assert rows[1][0] == "other.keras"


def test_a_keras_model_of_the_zoos_architecture_is_accepted(predictor, zoo, tmp_path, capsys):
    from skweights.zoo import build_cnn

    for activation in sorted(set(zoo.metrics["config.activation"])):
        path = tmp_path / f"{activation}.keras"
        build_cnn(seed=1, activation=activation).save(path)
        assert _predict_csv(capsys, predictor[0], path)[1][0] == path.name


def test_a_keras_file_that_is_not_a_zip_says_so(predictor, tmp_path, capsys):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip at all")
    err = _error(capsys, predictor[0], path)
    assert "broken.keras is not a Keras model archive" in err and "not found" not in err


def test_a_3d_npy_names_the_expected_shape(predictor, tmp_path, capsys):
    np.save(tmp_path / "cube.npy", np.zeros((2, 5, 4970), dtype=np.float32))
    err = _error(capsys, predictor[0], tmp_path / "cube.npy")
    assert "has shape (2, 5, 4970); expected (n_networks, n_params)" in err


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint16])
def test_an_npy_of_integers_is_refused_not_predicted(predictor, zoo, tmp_path, capsys, dtype):
    path = tmp_path / "quantized.npy"
    np.save(path, np.round(zoo.weights[:2] * 100).astype(dtype))
    err = _error(capsys, predictor[0], path)
    assert f"quantized.npy has dtype {np.dtype(dtype)}; expected floats" in err


def test_names_with_commas_are_quoted_in_the_csv(predictor, zoo, tmp_path, capsys):
    path = tmp_path / "a,b.npy"
    np.save(path, zoo.weights[:2])
    rows = _predict_csv(capsys, predictor[0], path)
    assert [r[0] for r in rows[1:]] == ["a,b.npy[0]", "a,b.npy[1]"]
    assert all(len(r) == 2 for r in rows)


# ------------------------------------------------------------------- PyTorch checkpoints
def _pytorch_state_dict(zoo, row: int, modules) -> dict[str, np.ndarray]:
    """One zoo row as a PyTorch state_dict: conv kernels OIHW, linear weights (out, in)."""
    flat = zoo.weights[row]
    tensors = {}
    for module, layer in zip(modules, zoo.layout.layers):
        bias, kernel = (zoo.layout[f"{layer}/{k}"] for k in ("bias", "kernel"))
        w = flat[kernel.slice].reshape(kernel.shape)
        w = w.transpose(3, 2, 0, 1) if w.ndim == 4 else w.T
        tensors[f"{module}.weight"] = np.ascontiguousarray(w)
        tensors[f"{module}.bias"] = flat[bias.slice].copy()
    return tensors


@pytest.mark.parametrize(
    "modules",
    [("0", "3", "6", "10"), ("features.conv1", "features.conv2", "features.conv3", "fc")],
)
def test_safetensors_in_pytorch_layout_predict_like_the_zoo_row(
    predictor, zoo, tmp_path, capsys, modules
):
    path, model = predictor
    for row in (0, 7):
        file = tmp_path / f"net{row}.safetensors"
        save_file(_pytorch_state_dict(zoo, row, modules), str(file))
        X, names = read_weights_input(file, zoo.layout)
        np.testing.assert_array_equal(X, zoo.weights[row : row + 1])
        rows = _predict_csv(capsys, path, file)
        assert rows[1] == [file.name, f"{model.predict(zoo.weights[row : row + 1])[0]:.6f}"]


def test_npz_of_our_names_or_pytorch_names_reads_the_zoo_row(predictor, zoo, tmp_path):
    ours = {e.short_name: zoo.weights[3][e.slice].reshape(e.shape) for e in zoo.layout}
    np.savez(tmp_path / "ours.npz", **ours)
    np.savez(tmp_path / "torch.npz", **_pytorch_state_dict(zoo, 3, ("a", "b", "c", "d")))
    for name in ("ours.npz", "torch.npz"):
        X, names = read_weights_input(tmp_path / name, zoo.layout)
        assert names == [name]
        np.testing.assert_array_equal(X[0], zoo.weights[3])
    np.testing.assert_array_equal(zoo.layout.flatten_tensors(ours), zoo.weights[3])


def test_the_first_tensor_that_does_not_fit_is_named(predictor, zoo, tmp_path, capsys):
    tensors = _pytorch_state_dict(zoo, 0, ("0", "3", "6", "10"))
    tensors["3.weight"] = tensors["3.weight"].transpose(2, 3, 1, 0).copy()  # left in HWIO
    save_file(tensors, str(tmp_path / "bad.safetensors"))
    err = _error(capsys, predictor[0], tmp_path / "bad.safetensors")
    assert (
        "tensor '3.weight' has shape (3, 3, 16, 16) but conv2d_1/kernel expects "
        "(16, 16, 3, 3) in PyTorch layout ((3, 3, 16, 16) in ours)" in err
    )
    del tensors["3.weight"]
    tensors["bn.running_mean"] = np.zeros(16, np.float32)
    save_file(tensors, str(tmp_path / "extra.safetensors"))
    err = _error(capsys, predictor[0], tmp_path / "extra.safetensors")
    assert "tensor 'bn.running_mean' is not a layout entry nor a PyTorch" in err
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    assert "is not a readable safetensors file" in _error(
        capsys, predictor[0], tmp_path / "junk.safetensors"
    )
