"""The ``skweights`` command on a real zoo: fit, save, predict a zoo, a .npy and a .keras model."""

from __future__ import annotations

import numpy as np
import pytest

from skweights.cli import main
from skweights.datasets import load_zoo
from skweights.layout import Layout
from skweights.predictor import make_predictor

pytestmark = pytest.mark.xdist_group("real-zoo")


@pytest.fixture(scope="module")
def predictor_path(zoo_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "predictor.skops"
    assert main(["fit", str(zoo_path), "--out", str(out), "--quiet"]) == 0
    return out


def test_fit_reports_held_out_scores_and_saves(predictor_path, capsys):
    assert predictor_path.exists()


def test_predict_zoo_directory_prints_one_row_per_network(predictor_path, zoo_path, capsys):
    assert main(["predict", str(predictor_path), str(zoo_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    zoo = load_zoo(zoo_path)
    assert lines[0] == "name,predicted_accuracy"
    assert len(lines) == 1 + len(zoo.target)
    pred = np.array([float(line.rsplit(",", 1)[1]) for line in lines[1:]])
    assert np.corrcoef(pred, zoo.target)[0, 1] > 0.5


def test_predict_npy_equals_zoo_prediction(predictor_path, zoo_path, tmp_path, capsys):
    zoo = load_zoo(zoo_path)
    np.save(tmp_path / "w.npy", zoo.weights[:3])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(predictor_path), str(tmp_path / "w.npy"), "--out", str(out)]) == 0
    rows = out.read_text().strip().splitlines()[1:]
    assert len(rows) == 3


def test_predict_a_keras_model_through_its_layout(predictor_path, tmp_path, capsys):
    from skweights.zoo import build_cnn

    model = build_cnn(seed=0)
    path = tmp_path / "mine.keras"
    model.save(path)
    assert main(["predict", str(predictor_path), str(path)]) == 0
    name, value = capsys.readouterr().out.strip().splitlines()[1].split(",")
    assert name == "mine.keras"
    assert 0.0 <= float(value) <= 1.0
    flat = Layout.small_cnn_zoo().flatten_keras(model, match="position")
    bias = flat[Layout.small_cnn_zoo()["conv2d/bias"].slice]
    np.testing.assert_array_equal(bias, 0.0)  # zero-initialised biases land in bias columns


def test_bad_input_gives_one_line_error_and_nonzero_exit(predictor_path, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((2, 100), dtype=np.float32))
    assert main(["predict", str(predictor_path), str(tmp_path / "short.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "100 weights per network" in err and "4970" in err
    assert main(["predict", str(predictor_path), str(tmp_path / "missing.npy")]) == 1


def test_make_predictor_rejects_unknown_choices():
    with pytest.raises(ValueError, match="unknown feature set 'foo'"):
        make_predictor(Layout.small_cnn_zoo(), features="foo")


def test_bench_runs_a_benchmark_script_and_rejects_unknown_names(zoo_path, capsys):
    assert (
        main(["bench", "table9_sensitivity", "--quick", "--zoo", str(zoo_path), "--no-cache"]) == 0
    )
    assert "|" in capsys.readouterr().out  # a markdown table
    assert main(["bench", "no_such_benchmark"]) == 1
    assert "unknown benchmark 'no_such_benchmark'" in capsys.readouterr().err
