"""The Small CNN Zoo file format: writers, raw readers and their errors."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from skweights._format import (
    METRICS_COLUMNS,
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_text,
    read_metrics,
    read_weights,
    weights_header,
    write_zoo,
)
from skweights.layout import Layout

LAYOUT = Layout.small_cnn_zoo()


def _metrics(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        row = {c: 0 for c in METRICS_COLUMNS}
        row.update(
            {
                "config.activation": "relu",
                "config.w_init": "he_normal",
                "config.learning_rate": float(rng.uniform(1e-4, 1e-1)),
                "modeldir": f"/tmp/runs/{i // 3}",
                "step": [0, 1, 2][i % 3],
                "test_accuracy": float(rng.uniform(0.1, 1)),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _weights(n: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, LAYOUT.n_params)).astype(np.float32)


def test_metrics_columns_are_the_released_columns_in_file_order():
    assert len(METRICS_COLUMNS) == 22
    config = [c for c in METRICS_COLUMNS if c.startswith("config.")]
    assert len(config) == 16 and config == sorted(config)
    assert METRICS_COLUMNS[:16] == tuple(config)
    assert METRICS_COLUMNS[16:] == (
        "modeldir",
        "step",
        "test_accuracy",
        "test_loss",
        "train_accuracy",
        "train_loss",
    )


def test_write_zoo_round_trips_weights_metrics_and_layout(tmp_path):
    weights, metrics = _weights(6), _metrics(6)
    out = write_zoo(tmp_path / "a" / "zoo", weights, metrics, LAYOUT)
    assert sorted(p.name for p in out.iterdir()) == ["layout.csv", "metrics.csv.gz", "weights.npy"]
    loaded = np.load(out / "weights.npy", allow_pickle=False)
    assert loaded.dtype == np.float32 and loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, weights)
    with gzip.open(out / "metrics.csv.gz", "rt") as f:
        back = pd.read_csv(f)
    assert tuple(back.columns) == METRICS_COLUMNS
    pd.testing.assert_frame_equal(back, metrics, check_dtype=False)
    assert Layout.from_csv(out / "layout.csv") == LAYOUT


def test_written_layout_csv_matches_the_shipped_released_layout(tmp_path):
    out = write_zoo(tmp_path, _weights(1), _metrics(1), LAYOUT)
    shipped = resources.files("skweights").joinpath("data/small_cnn_zoo_layout.csv").read_text()
    assert (out / "layout.csv").read_text().splitlines() == shipped.splitlines()


def test_write_zoo_converts_to_float32_c_order_and_keeps_extra_columns_last(tmp_path):
    weights = np.asfortranarray(_weights(3).astype(np.float64))
    metrics = _metrics(3)
    metrics.insert(0, "generator_note", ["x", "y", "z"])
    write_zoo(tmp_path, weights, metrics.iloc[:, ::-1], LAYOUT)
    loaded = np.load(tmp_path / "weights.npy")
    assert loaded.dtype == np.float32 and not np.isfortran(loaded)
    np.testing.assert_array_equal(loaded, weights.astype(np.float32))
    back = pd.read_csv(tmp_path / "metrics.csv.gz")
    assert tuple(back.columns) == (*METRICS_COLUMNS, "generator_note")


def test_write_zoo_accepts_a_layout_path_and_a_mapping_of_columns(tmp_path):
    ref = resources.files("skweights").joinpath("data/small_cnn_zoo_layout.csv")
    metrics = {c: list(v) for c, v in _metrics(2).items()}
    write_zoo(tmp_path, _weights(2), metrics, str(ref))
    assert Layout.from_csv(tmp_path / "layout.csv") == LAYOUT


def test_metrics_gzip_is_byte_identical_when_written_twice(tmp_path):
    write_zoo(tmp_path / "a", _weights(2), _metrics(2), LAYOUT)
    write_zoo(tmp_path / "b", _weights(2), _metrics(2), LAYOUT)
    a = (tmp_path / "a" / "metrics.csv.gz").read_bytes()
    assert a == (tmp_path / "b" / "metrics.csv.gz").read_bytes()


def test_write_zoo_keeps_nonfinite_weights(tmp_path):
    weights = _weights(2)
    weights[1, 5] = np.nan
    write_zoo(tmp_path, weights, _metrics(2), LAYOUT)
    assert np.isnan(np.load(tmp_path / "weights.npy")[1, 5])


@pytest.mark.parametrize(
    ("weights", "metrics", "layout", "error", "match"),
    [
        (_weights(3), _metrics(2), LAYOUT, ValueError, "metrics has 2 rows but weights has 3"),
        (_weights(2), _metrics(2).drop(columns=["step", "modeldir"]), LAYOUT, ValueError,
         r"missing required columns \['modeldir', 'step'\]"),
        (_weights(2)[:, :-1], _metrics(2), LAYOUT, ValueError,
         "weights has 4969 columns but the layout describes 4970 parameters"),
        (_weights(1)[0], _metrics(1), LAYOUT, ValueError, r"must be 2-D .* shape \(4970,\)"),
        (np.array([["a"] * 4970]), _metrics(1), LAYOUT, ValueError, "must be numeric"),
        (_weights(1), _metrics(1), 42, TypeError, "layout must be a skweights.layout.Layout"),
    ],
)  # fmt: skip
def test_write_zoo_rejects_inconsistent_inputs(tmp_path, weights, metrics, layout, error, match):
    with pytest.raises(error, match=match):
        write_zoo(tmp_path / "zoo", weights, metrics, layout)
    assert not (tmp_path / "zoo" / "weights.npy").exists()


def test_atomic_writers_create_parents_and_leave_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "x" / "a.txt", "héllo")
    atomic_write_bytes(tmp_path / "x" / "b.bin", b"\x00\x01")
    atomic_save_npy(tmp_path / "x" / "c.npy", np.arange(3))
    assert (tmp_path / "x" / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "x" / "b.bin").read_bytes() == b"\x00\x01"
    np.testing.assert_array_equal(np.load(tmp_path / "x" / "c.npy"), np.arange(3))
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["a.txt", "b.bin", "c.npy"]


def test_atomic_writes_get_the_permissions_of_a_normally_created_file(tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    mode = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == mode


def test_failed_atomic_save_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = atomic_save_npy(tmp_path / "w.npy", np.ones(2))
    with pytest.raises(ValueError, match="allow_pickle"):
        atomic_save_npy(target, np.array([{"a": 1}], dtype=object))
    np.testing.assert_array_equal(np.load(target), np.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["w.npy"]


def test_weights_header_reports_shape_without_loading(tmp_path):
    path = atomic_save_npy(tmp_path / "w.npy", np.zeros((5, 7), dtype=np.float32))
    shape, dtype, fortran, offset = weights_header(path)
    assert (shape, dtype, fortran) == ((5, 7), np.dtype("float32"), False)
    assert offset + 5 * 7 * 4 == path.stat().st_size


def test_truncated_weights_file_is_reported_with_expected_and_actual_size(tmp_path):
    path = atomic_save_npy(tmp_path / "w.npy", np.zeros((5, 7), dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    match = rf"truncated.*\(5, 7\).*{len(data)} bytes.*{len(data) - 10} bytes"
    with pytest.raises(ValueError, match=match):
        read_weights(path)


def test_non_npy_and_object_weights_files_are_rejected_without_unpickling(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="not a valid .npy file"):
        read_weights(tmp_path / "junk.npy")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects"):
        read_weights(obj)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((2, 3, 4), dtype=np.float32), r"2-D .* got shape \(2, 3, 4\)"),
        (np.zeros(4, dtype=np.float32), r"2-D .* got shape \(4,\)"),
        (np.zeros((2, 3), dtype=np.int32), "floating point .* got dtype int32"),
        (np.zeros((2, 3), dtype=np.complex64), "floating point .* got dtype complex64"),
    ],
)
def test_read_weights_rejects_wrong_ndim_and_dtype(tmp_path, array, match):
    path = atomic_save_npy(tmp_path / "w.npy", array)
    with pytest.raises(ValueError, match=match):
        read_weights(path)


def test_read_weights_can_memory_map(tmp_path):
    path = atomic_save_npy(tmp_path / "w.npy", np.ones((3, 2), dtype=np.float32))
    w = read_weights(path, mmap=True)
    assert isinstance(w, np.memmap) and not w.flags.writeable


def test_read_metrics_checks_columns_and_keeps_modeldir_as_text(tmp_path):
    metrics = _metrics(2)
    metrics["modeldir"] = ["0001", "0002"]
    path = tmp_path / "m.csv.gz"
    metrics.to_csv(path, index=False)
    assert read_metrics(path)["modeldir"].tolist() == ["0001", "0002"]
    metrics.drop(columns=["test_accuracy"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing required columns \['test_accuracy'\]"):
        read_metrics(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_metrics(tmp_path / "empty.csv")


def test_readers_name_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        read_weights(tmp_path / "nope.npy")
    with pytest.raises(FileNotFoundError, match="metrics file not found"):
        read_metrics(tmp_path / "nope.csv.gz")
