"""Tests of skweights.layout: parsing, validation, queries and Keras flattening."""

from __future__ import annotations

import copy
import io
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from skweights.layout import Layout, LayoutEntry

SHARED_LAYOUT = Path("/work/shared/small-cnn-zoo/layout.csv")
PACKAGED = Path(__file__).resolve().parents[1] / "skweights" / "data" / "small_cnn_zoo_layout.csv"

ZOO_ROWS = [
    ("sequential/conv2d/bias:0", 0, 16, (16,)),
    ("sequential/conv2d/kernel:0", 16, 160, (3, 3, 1, 16)),
    ("sequential/conv2d_1/bias:0", 160, 176, (16,)),
    ("sequential/conv2d_1/kernel:0", 176, 2480, (3, 3, 16, 16)),
    ("sequential/conv2d_2/bias:0", 2480, 2496, (16,)),
    ("sequential/conv2d_2/kernel:0", 2496, 4800, (3, 3, 16, 16)),
    ("sequential/dense/bias:0", 4800, 4810, (10,)),
    ("sequential/dense/kernel:0", 4810, 4970, (16, 10)),
]


def test_small_cnn_zoo_layout_has_the_released_entries():
    layout = Layout.small_cnn_zoo()
    assert [(e.name, e.start, e.stop, e.shape) for e in layout] == ZOO_ROWS
    assert layout.n_params == 4970
    assert layout.layers == ["conv2d", "conv2d_1", "conv2d_2", "dense"]
    assert layout.kinds == ["bias", "kernel"]


@pytest.mark.skipif(not SHARED_LAYOUT.exists(), reason="shared zoo layout not available")
def test_packaged_layout_equals_the_shared_zoo_file():
    assert Layout.from_csv(SHARED_LAYOUT) == Layout.small_cnn_zoo()


def test_entry_name_parts():
    e = LayoutEntry("sequential/conv2d_1/kernel:0", 176, 2480, (3, 3, 16, 16))
    assert (e.layer, e.kind, e.short_name, e.size) == (
        "conv2d_1",
        "kernel",
        "conv2d_1/kernel",
        2304,
    )
    assert e.slice == slice(176, 2480)
    bare = LayoutEntry("weights", 0, 3, (3,))
    assert (bare.layer, bare.kind, bare.short_name) == ("weights", "weights", "weights")


def test_to_csv_writes_the_released_bytes(tmp_path):
    out = tmp_path / "layout.csv"
    Layout.small_cnn_zoo().to_csv(out)
    assert out.read_bytes() == PACKAGED.read_bytes()
    assert Layout.from_csv(out) == Layout.small_cnn_zoo()


def test_from_csv_accepts_unquoted_shapes_and_buffers():
    text = "varname,start_idx,end_idx,shape\nnet/fc/bias:0,0,2,(2,)\nnet/fc/kernel:0,2,8,(3, 2)\n"
    layout = Layout.from_csv(io.StringIO(text))
    assert layout["fc/kernel"].shape == (3, 2)
    assert layout["net/fc/bias:0"].shape == (2,)
    assert Layout.from_csv(io.BytesIO(text.encode())) == layout


def test_from_csv_names_expected_and_got_columns():
    with pytest.raises(ValueError, match=r"columns \['name', 'start'.*expected columns"):
        Layout.from_csv(io.StringIO("name,start,stop,shape\na,0,1,(1,)\n"))


def test_from_csv_rejects_bad_shapes_and_indices():
    with pytest.raises(ValueError, match="line 2: shape must look like"):
        Layout.from_csv(io.StringIO('varname,start_idx,end_idx,shape\na,0,1,"(x,)"\n'))
    with pytest.raises(ValueError, match="must be integers"):
        Layout.from_csv(io.StringIO('varname,start_idx,end_idx,shape\na,0,one,"(1,)"\n'))


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [("s/a/bias:0", 0, 16, (16,)), ("s/a/kernel:0", 17, 161, (3, 3, 1, 16))],
            "entry 's/a/kernel:0' starts at 17 but the previous entry 's/a/bias:0' ends at 16 "
            r"\(gap of 1 column\)",
        ),
        ([("s/a/bias:0", 0, 4, (4,)), ("s/a/kernel:0", 2, 4, (2,))], r"overlap of 2 columns"),
        ([("s/a/bias:0", 1, 2, (1,))], "starts at 1 but the layout starts at 0"),
        ([("s/a/bias:0", 0, 5, (2, 3))], r"spans 5 columns \(0:5\) but its shape \(2, 3\) has 6"),
        ([("s/a/bias:0", 0, 1, (1,)), ("s/a/bias:0", 1, 2, (1,))], "appears twice"),
        ([("x/a/bias:0", 0, 1, (1,)), ("y/a/bias:0", 1, 2, (1,))], "same short name"),
        ([("s/a/bias:0", 0, 0, (0,))], "is empty"),
        ([], "no entries"),
    ],
)
def test_validation_errors_say_what_is_wrong(rows, message):
    with pytest.raises(ValueError, match=message):
        Layout(rows)


def test_csv_validation_errors_name_the_file():
    text = 'varname,start_idx,end_idx,shape\na,0,1,"(1,)"\nb,2,3,"(1,)"\n'
    buf = io.StringIO(text)
    with pytest.raises(ValueError, match="layout.csv entry 'b' starts at 2"):
        Layout.from_csv(buf)


def test_columns_select_and_groups():
    layout = Layout.small_cnn_zoo()
    np.testing.assert_array_equal(
        layout.columns(layers="dense", kinds="bias"), np.arange(4800, 4810)
    )
    cols = layout.columns(kinds=["bias"])
    assert len(cols) == 16 * 3 + 10 and cols[0] == 0 and cols[-1] == 4809
    sub = layout.select(layers=["conv2d_1", "dense"])
    assert sub.n_params == 16 + 2304 + 170
    assert [e.start for e in sub] == [0, 16, 2320, 2330]
    assert sub.layers == ["conv2d_1", "dense"]
    np.testing.assert_array_equal(
        layout.columns(layers=["conv2d_1", "dense"]),
        np.r_[160:2480, 4800:4970],
    )
    groups = layout.groups()
    assert list(groups) == layout.layers
    assert [e.kind for e in groups["dense"]] == ["bias", "kernel"]


def test_unknown_names_are_reported_with_the_available_ones():
    layout = Layout.small_cnn_zoo()
    with pytest.raises(ValueError, match=r"unknown layers \['conv3'\].*conv2d_2"):
        layout.columns(layers=["conv3"])
    with pytest.raises(ValueError, match=r"unknown kinds \['gamma'\]"):
        layout.select(kinds="gamma")
    with pytest.raises(KeyError, match="no tensor named 'dense/gamma'"):
        layout["dense/gamma"]


def test_sequence_protocol_and_immutability():
    layout = Layout.small_cnn_zoo()
    assert len(layout) == 8
    assert layout[0].name == "sequential/conv2d/bias:0"
    assert layout[-1].short_name == "dense/kernel"
    assert [e.short_name for e in layout[:2]] == ["conv2d/bias", "conv2d/kernel"]
    with pytest.raises(AttributeError, match="immutable"):
        layout.foo = 1
    with pytest.raises(AttributeError):
        layout[0].start = 3
    assert "n_params=4970" in repr(layout)


def test_layout_survives_pickle_and_copy():
    layout = Layout.small_cnn_zoo()
    assert pickle.loads(pickle.dumps(layout)) == layout
    assert copy.deepcopy(layout) is layout
    assert hash(layout) == hash(Layout(list(layout.entries)))
    assert layout != Layout.from_shapes([("a", (4970,))])


def _fake_keras_model(name="sequential", rng=None, rename=None):
    """A duck-typed Keras model with variables stored kernel-then-bias (as Keras does)."""
    rng = rng or np.random.default_rng(0)
    rename = rename or {}

    def var(layer, kind, shape):
        value = rng.normal(size=shape).astype(np.float32)
        return SimpleNamespace(name=kind, path=f"{name}/{layer}/{kind}", shape=shape, value=value)

    def numpy_of(v):
        return v.value

    layers = [SimpleNamespace(name="input_layer", weights=[])]
    for layer, kshape, bshape in [
        ("conv2d", (3, 3, 1, 16), (16,)),
        ("conv2d_1", (3, 3, 16, 16), (16,)),
        ("conv2d_2", (3, 3, 16, 16), (16,)),
        ("dense", (16, 10), (10,)),
    ]:
        k, b = var(layer, "kernel", kshape), var(layer, "bias", bshape)
        for v in (k, b):
            v.numpy = lambda v=v: numpy_of(v)
        layers.append(SimpleNamespace(name=rename.get(layer, layer), weights=[k, b]))
    return SimpleNamespace(name=name, layers=layers)


def test_from_keras_puts_bias_before_kernel():
    assert Layout.from_keras(_fake_keras_model()) == Layout.small_cnn_zoo()


def test_flatten_keras_uses_layout_order_and_hwio_c_order():
    model = _fake_keras_model()
    layout = Layout.small_cnn_zoo()
    flat = layout.flatten_keras(model)
    assert flat.dtype == np.float32 and flat.shape == (4970,)
    conv1 = model.layers[2]
    np.testing.assert_array_equal(flat[176:2480].reshape(3, 3, 16, 16), conv1.weights[0].value)
    np.testing.assert_array_equal(flat[160:176], conv1.weights[1].value)


def test_flatten_keras_name_mismatch_and_position_matching():
    model = _fake_keras_model(rename={"conv2d": "conv2d_7"})
    layout = Layout.small_cnn_zoo()
    with pytest.raises(ValueError, match=r"missing from the model \['conv2d/bias'"):
        layout.flatten_keras(model)
    by_position = layout.flatten_keras(model, match="position")
    np.testing.assert_array_equal(by_position, layout.flatten_keras(_fake_keras_model()))


def test_flatten_keras_shape_mismatch_is_reported():
    model = _fake_keras_model()
    model.layers[-1].weights[0].value = np.zeros((16, 11), dtype=np.float32)
    with pytest.raises(ValueError, match=r"dense/kernel has shape \(16, 11\) but the layout"):
        Layout.small_cnn_zoo().flatten_keras(model)


@pytest.mark.slow
def test_real_keras_model_round_trip():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    layout = Layout.from_keras(model)
    assert [(e.kind, e.shape) for e in layout] == [
        (e.kind, e.shape) for e in Layout.small_cnn_zoo()
    ]
    flat = layout.flatten_keras(model)
    np.testing.assert_array_equal(
        flat[layout[1].slice].reshape(3, 3, 1, 16), np.asarray(model.layers[0].kernel)
    )


# ----------------------------------------------------------------- issue 13: no silent coercion
@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (
            ("w", 0, 4, (-2, -2)),
            r"layout entry 'w' shape \(-2, -2\) dimension must be >= 0, got -2",
        ),
        (("w", 0, 4.7, (4,)), r"layout entry 'w' stop must be an integer, got 4.7"),
        (("w", 0.5, 4, (4,)), r"layout entry 'w' start must be an integer, got 0.5"),
        (("w", 0, True, (1,)), r"layout entry 'w' stop must be an integer, got True"),
        (
            ("w", 0, 4, "22"),
            r"layout entry 'w' shape must be a tuple of ints such as \(3, 3\), got '22'",
        ),
        (("w", 0, 4, (2.5, 2)), r"layout entry 'w' shape \(2.5, 2\) dimension must be an integer"),
        (("w", -4, 0, (4,)), r"layout entry 'w' start must be >= 0, got -4"),
    ],
)
def test_entries_refuse_values_that_would_be_coerced(entry, match):
    with pytest.raises(ValueError, match=match):
        LayoutEntry(*entry)
    with pytest.raises(ValueError, match=match):
        Layout([entry])


def test_from_shapes_refuses_a_string_shape_and_negative_dimensions():
    with pytest.raises(ValueError, match=r"layout entry 'w' shape must be a tuple .* got '22'"):
        Layout.from_shapes([("w", "22")])
    with pytest.raises(ValueError, match=r"dimension must be >= 0, got -3"):
        Layout.from_shapes([("w", (-3, -3))])
    # whole numbers of any integer or float type are kept, an int is a 1-D shape
    entry = LayoutEntry("w", np.int64(0), 6.0, np.array([2, 3]))
    assert (entry.start, entry.stop, entry.shape) == (0, 6, (2, 3))
    assert all(type(v) is int for v in (entry.start, entry.stop, *entry.shape))
    assert Layout.from_shapes([("w", 5)])["w"].shape == (5,)


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_from_csv_reads_a_byte_order_mark_and_utf16(tmp_path, codec):
    text = PACKAGED.read_text(encoding="utf-8")
    data = (
        text.encode(codec) if codec in ("utf-8-sig", "utf-16") else ("\ufeff" + text).encode(codec)
    )
    (tmp_path / "layout.csv").write_bytes(data)
    assert Layout.from_csv(tmp_path / "layout.csv") == Layout.small_cnn_zoo()
    assert Layout.from_csv(io.BytesIO(data)) == Layout.small_cnn_zoo()
    assert Layout.from_csv(io.StringIO(data.decode(codec))) == Layout.small_cnn_zoo()


def test_from_csv_names_the_file_it_cannot_decode(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes(PACKAGED.read_text().encode("utf-16-le"))  # no BOM
    with pytest.raises(ValueError, match=r"mine.csv holds NUL bytes; expected UTF-8 text"):
        Layout.from_csv(path)
    path.write_bytes(b"varname,start_idx,end_idx,shape\nw\xff,0,1,(1,)\n")
    with pytest.raises(ValueError, match=r"mine.csv is not UTF-8 text \(.*\); save it as UTF-8"):
        Layout.from_csv(path)
