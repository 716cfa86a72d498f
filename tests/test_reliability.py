"""Reliability (issue 6): bad input, untrusted files, saved predictors, invariants.

Items already covered elsewhere are not repeated here (see the report of issue 6): layout
gaps/overlaps/shapes/columns in ``tests/test_layout.py``, synthetic corrupt zoos in
``tests/test_datasets.py``, interrupted generation in ``tests/zoo/test_generate.py`` and
interrupted searches in ``tests/test_search.py``. This file adds the contract across *every*
transformer, corruptions of the real test zoo, a joblib round trip and the no-unpickling guarantee.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from lightgbm import LGBMRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skweights._format import atomic_save_npy, read_weights, write_zoo
from skweights.datasets import load_zoo, paper_split
from skweights.features import (
    LayerNorms,
    LayerSelector,
    LayerStatistics,
    RandomPermutation,
    WeightScaler,
)
from skweights.layout import Layout
from skweights.models import LogitLinearRegressor

LAYOUT = Layout.small_cnn_zoo()
N = LAYOUT.n_params

#: One instance of every weight-space transformer, by name (fresh copies via ``make``).
TRANSFORMERS = {
    "LayerStatistics": lambda **kw: LayerStatistics(LAYOUT, **kw),
    "LayerNorms": lambda **kw: LayerNorms(LAYOUT, **kw),
    "LayerSelector": lambda **kw: LayerSelector(LAYOUT, layers=["conv2d_1", "dense"], **kw),
    "RandomPermutation": lambda **kw: RandomPermutation(
        LAYOUT, scope="tensor", random_state=0, **kw
    ),
    "WeightScaler": lambda **kw: WeightScaler(LAYOUT, factor=2.0, layers=["dense"], **kw),
}
each_transformer = pytest.mark.parametrize("name", list(TRANSFORMERS))


def make(name, **kw):
    return TRANSFORMERS[name](**kw)


def _weights(n=6, seed=0):
    return np.random.default_rng(seed).normal(scale=0.1, size=(n, N)).astype(np.float32)


# ======================================================================== bad X, every transformer
@each_transformer
@pytest.mark.parametrize("width", [N - 1, N + 3])
def test_width_that_does_not_match_the_layout_names_both(name, width):
    X = np.zeros((3, width), dtype=np.float32)
    with pytest.raises(ValueError, match=f"X has {width} columns but the layout describes {N}"):
        make(name).fit(X)
    fitted = make(name).fit(_weights())
    with pytest.raises(ValueError, match=f"X has {width} features, but .* expecting {N} features"):
        fitted.transform(X)


@each_transformer
def test_1d_3d_and_empty_inputs_are_refused_with_the_shape(name):
    X = _weights()
    est = make(name).fit(X)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.transform(X[0])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        make(name).fit(X[0])
    with pytest.raises(ValueError, match="dim 3"):
        est.transform(X[None])
    with pytest.raises(ValueError, match=rf"0 sample\(s\) \(shape=\(0, {N}\)\).*minimum of 1"):
        est.transform(X[:0])
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        make(name).fit(X[:0])


@each_transformer
def test_integer_input_gives_the_float64_result(name):
    X = np.random.default_rng(1).integers(-50, 50, size=(4, N))
    out = make(name).fit_transform(X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, make(name).fit_transform(X.astype(np.float64)))


@each_transformer
def test_a_single_network_is_transformed_like_a_row_of_a_batch(name):
    X = _weights(5)
    est = make(name).fit(X)
    np.testing.assert_array_equal(est.transform(X[2:3]), est.transform(X)[2:3])
    assert make(name).fit_transform(X[:1]).shape[0] == 1


@each_transformer
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_weights_raise_by_default_and_name_the_row(name, value):
    X = _weights()
    col = LAYOUT["dense/kernel"].start + 3  # a column every transformer here uses
    X[4, col] = value
    for call in ("fit", "fit_transform"):
        with pytest.raises(ValueError, match=r"NaN or infinity \(row 4, .*handle_nonfinite"):
            getattr(make(name), call)(X)
    clean = make(name).fit(X[:4])
    with pytest.raises(ValueError, match=r"NaN or infinity \(row 4, "):
        clean.transform(X)
    # the explicit policy computes anyway; finite rows are unaffected by the bad one
    est = make(name, handle_nonfinite="propagate")
    out = est.fit_transform(X)
    assert not np.isfinite(out[4]).all()
    np.testing.assert_array_equal(out[:4], est.fit_transform(X[:4]))


@each_transformer
def test_unknown_nonfinite_policy_is_a_parameter_error(name):
    with pytest.raises(InvalidParameterError, match="handle_nonfinite.*among.*Got 'drop'"):
        make(name, handle_nonfinite="drop").fit(_weights())


@each_transformer
def test_fit_and_transform_agree_on_nan_in_weights_the_output_does_not_use(name):
    """NaN in conv2d: refused where it reaches the output, ignored (consistently) elsewhere."""
    X = _weights()
    X[1, LAYOUT["conv2d/kernel"].start] = np.nan  # conv2d is in no selection above
    uses_conv2d = name in ("LayerStatistics", "LayerNorms", "RandomPermutation", "WeightScaler")
    if uses_conv2d:
        for call in ("fit", "fit_transform"):
            with pytest.raises(ValueError, match=r"\(row 1, "):
                getattr(make(name), call)(X)
    else:
        est = make(name).fit(X)
        np.testing.assert_array_equal(est.transform(X), make(name).fit_transform(X))


@pytest.mark.parametrize("name", ["LayerStatistics", "LayerNorms"])
@pytest.mark.parametrize(
    ("dtype", "got"),
    [(np.int8, "int8"), (np.int32, "int32"), (str, "str"), (complex, "complex128"),
     ("int64", "int64"), (bool, "bool"), ("nonsense", "'nonsense'")],
)  # fmt: skip
def test_a_dtype_that_is_not_real_floating_is_refused_in_fit(name, dtype, got):
    match = f"dtype must be a real floating dtype such as np.float32 or np.float64, got {got}$"
    for call in ("fit", "fit_transform"):
        with pytest.raises(ValueError, match=match):
            getattr(make(name, dtype=dtype), call)(_weights())
    for ok in (np.float32, "float64", np.dtype("float16")):
        assert make(name, dtype=ok).fit_transform(_weights()).dtype == np.dtype(ok)


def test_layer_restricted_features_ignore_nan_in_other_layers_in_fit_and_transform():
    """Regression: ``fit`` checked every column of X, ``transform`` only the selected layers."""
    X = _weights()
    X[1, LAYOUT["conv2d/kernel"].start] = np.nan
    for est in (
        LayerStatistics(LAYOUT, layers=["dense"]),
        LayerNorms(LAYOUT, kinds="bias"),
        LayerSelector(LAYOUT, layers="conv2d_2"),
    ):
        out = est.fit(X).transform(X)
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out, est.fit_transform(X))


def test_logit_linear_regressor_bad_inputs():
    X = _weights(8)[:, :20].astype(np.float64)
    y = np.linspace(0.1, 0.9, 8)
    model = LogitLinearRegressor().fit(X, y)
    with pytest.raises(ValueError, match="X has 19 features, but .* expecting 20 features"):
        model.predict(X[:, :-1])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        LogitLinearRegressor().fit(X[0], y)
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LogitLinearRegressor().fit(bad, y)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        LogitLinearRegressor().fit(X, np.r_[np.nan, y[1:]])
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        LogitLinearRegressor().fit(X[:0], y[:0])
    np.testing.assert_allclose(
        LogitLinearRegressor().fit(X.round(0).astype(int), y).predict(X.round(0).astype(int)),
        LogitLinearRegressor().fit(X.round(0), y).predict(X.round(0)),
    )


# ======================================================================== invariants (hypothesis)
@st.composite
def _layout_and_rows(draw):
    sizes = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4))
    layout = Layout.from_shapes(
        [
            (f"net/l{i // 2}/{'bias' if i % 2 == 0 else 'kernel'}:0", (s,))
            for i, s in enumerate(sizes)
        ]
    )
    n = draw(st.integers(1, 5))
    X = draw(arrays(np.float32, (n, layout.n_params), elements=st.floats(-1e3, 1e3, width=32)))
    return layout, X


@settings(max_examples=25, deadline=None)
@given(_layout_and_rows())
def test_c_order_f_order_and_memmap_inputs_give_identical_output(tmp_path_factory, data):
    """For every transformer (test_statistics.py checks LayerStatistics on the zoo layout)."""
    layout, X = data
    path = tmp_path_factory.mktemp("mm") / "w.npy"
    atomic_save_npy(path, X)
    mapped = np.load(path, mmap_mode="r")
    for est in (
        LayerStatistics(layout),
        LayerNorms(layout, norms=("l1", "l2", "linf")),
        LayerSelector(layout, layers=[layout.layers[-1]]),
        RandomPermutation(layout, random_state=0),
        WeightScaler(layout, factor=3.0, layers=[layout.layers[0]]),
    ):
        ref = est.fit_transform(np.ascontiguousarray(X))
        np.testing.assert_array_equal(est.transform(np.asfortranarray(X)), ref)
        np.testing.assert_array_equal(est.transform(mapped), ref)
        np.testing.assert_array_equal(est.fit_transform(mapped), ref)


# ======================================================================== corrupt real-zoo files
real_zoo = pytest.mark.xdist_group("real-zoo")


def _copy(zoo_path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "zoo"
    out.mkdir()
    for name in ("weights.npy", "metrics.csv.gz", "layout.csv"):
        shutil.copy(zoo_path / name, out / name)
    return out


def _n_rows(path: Path) -> int:
    return np.load(path / "weights.npy", mmap_mode="r").shape[0]


def _corrupt(path: Path, what: str) -> None:
    w, m, lay = path / "weights.npy", path / "metrics.csv.gz", path / "layout.csv"
    if what == "truncated weights":
        w.write_bytes(w.read_bytes()[:-1000])
    elif what == "weights header only":
        data = w.read_bytes()
        w.write_bytes(data[:128])
    elif what == "int64 weights":
        atomic_save_npy(w, np.load(w).astype(np.int64))
    elif what == "3-D weights":
        atomic_save_npy(w, np.load(w)[:, None, :])
    elif what == "not npy":
        w.write_bytes(b"PK\x03\x04 this is a zip, not a .npy file")
    elif what.startswith("drop column "):
        pd.read_csv(m).drop(columns=[what.removeprefix("drop column ")]).to_csv(m, index=False)
    elif what == "deleted metrics rows":
        pd.read_csv(m).drop(index=[5, 6, 7]).to_csv(m, index=False)
    elif what == "header-only metrics":
        pd.read_csv(m).iloc[:0].to_csv(m, index=False)
    elif what == "empty metrics file":
        m.write_bytes(b"")
    elif what == "layout gap":
        text = lay.read_text().replace(
            "sequential/conv2d/kernel:0,16,", "sequential/conv2d/kernel:0,17,"
        )
        lay.write_text(text)
    elif what == "layout wrong shape":
        lay.write_text(lay.read_text().replace('"(3, 3, 1, 16)"', '"(3, 3, 2, 16)"'))
    elif what == "layout bad columns":
        lines = lay.read_text().splitlines()
        lay.write_text("\n".join(["name,start,stop,shape", *lines[1:]]) + "\n")
    elif what == "layout of another network":
        Layout.from_shapes([("net/fc/bias:0", (10,)), ("net/fc/kernel:0", (16, 10))]).to_csv(lay)
    elif what == "empty zoo":
        atomic_save_npy(w, np.zeros((0, N), dtype=np.float32))
        pd.read_csv(m).iloc[:0].to_csv(m, index=False)
    elif what == "empty directory":
        for f in (w, m, lay):
            f.unlink()
    elif what == "every row duplicated":
        atomic_save_npy(w, np.concatenate([np.load(w)] * 2))
        frame = pd.read_csv(m)
        pd.concat([frame, frame]).to_csv(m, index=False)
    elif what == "one modeldir":
        pd.read_csv(m).assign(modeldir="run").to_csv(m, index=False)
    elif what == "percent accuracies":
        frame = pd.read_csv(m)
        frame.assign(test_accuracy=frame["test_accuracy"] * 100).to_csv(m, index=False)
    elif what == "negative accuracy":
        frame = pd.read_csv(m)
        frame.loc[4, "test_accuracy"] = -0.25
        frame.to_csv(m, index=False)
    elif what == "fractional step":
        frame = pd.read_csv(m)
        frame["step"] = frame["step"].astype(float)
        frame.loc[2, "step"] += 0.5
        frame.to_csv(m, index=False)
    elif what == "truncated metrics":
        m.write_bytes(m.read_bytes()[:-200])
    elif what == "metrics not gzip":
        m.write_bytes(b"modeldir,step\nrun,1\n")
    elif what == "layout not text":
        lay.write_bytes("varname,start_idx\n\xe9t\xe9".encode("latin-1"))
    elif what == "layout UTF-16 without BOM":
        lay.write_bytes(lay.read_text().encode("utf-16-le"))
    else:  # pragma: no cover
        raise AssertionError(what)


_TRUNC = r"weights.npy is truncated: its header announces shape \({n}, 4970\) of float32 "
_GAP = r"layout.csv entry 'sequential/conv2d/kernel:0' starts at 17 but the previous entry "
_SPAN = r"layout.csv entry 'sequential/conv2d/kernel:0' spans 144 columns \(16:160\) "
_HEAD = r"layout.csv has columns \['name', 'start', 'stop', 'shape'\] but expected columns "
_FILES = r"\['weights.npy', 'metrics.csv.gz', 'layout.csv'\]"
BAD_ZOOS = [
    # (corruption, exception, message pattern; {n} is the number of rows of the real zoo)
    ("truncated weights", ValueError, _TRUNC + r"\(\d+ bytes with the header\) but the file has"),
    ("weights header only", ValueError, r"weights.npy is truncated"),
    ("int64 weights", ValueError, r"must hold floating point weights \(float32\), got dtype int64"),  # noqa: E501
    ("3-D weights", ValueError, r"must hold a 2-D \(n_checkpoints, n_params\) matrix, got shape \({n}, 1, 4970\)"),  # noqa: E501
    ("not npy", ValueError, r"weights.npy is not a valid .npy file"),
    ("drop column test_accuracy", ValueError, r"metrics.csv.gz is missing required columns \['test_accuracy'\]; expected the Small CNN Zoo columns"),  # noqa: E501
    ("drop column modeldir", ValueError, r"missing required columns \['modeldir'\]"),
    ("drop column step", ValueError, r"missing required columns \['step'\]"),
    ("deleted metrics rows", ValueError, r"metrics.csv.gz has {m} rows but weights.npy has {n} rows; expected one metrics row per network"),  # noqa: E501
    ("header-only metrics", ValueError, r"metrics.csv.gz has 0 rows but weights.npy has {n} rows"),
    ("empty metrics file", ValueError, r"metrics.csv.gz is empty; expected a CSV header with columns"),  # noqa: E501
    ("layout gap", ValueError, _GAP + r"'sequential/conv2d/bias:0' ends at 16 \(gap of 1 column\)"),  # noqa: E501
    ("layout wrong shape", ValueError, _SPAN + r"but its shape \(3, 3, 2, 16\) has 288 elements"),
    ("layout bad columns", ValueError, _HEAD + r"\['varname', 'start_idx', 'end_idx', 'shape'\]"),
    ("layout of another network", ValueError, r"weights.npy has 4970 columns but layout.csv describes 170 parameters"),  # noqa: E501
    ("empty zoo", ValueError, r"the zoo at .* is empty: weights.npy has 0 rows"),
    ("empty directory", FileNotFoundError, r"is not a complete zoo: missing " + _FILES),
    # issue 13: contents that used to load as a plausible zoo
    ("every row duplicated", ValueError, r"metrics.csv.gz: rows 0 and {n} are both modeldir '.+' at step 0; each \(modeldir, step\) must be one checkpoint, but {n2} rows share theirs"),  # noqa: E501
    ("one modeldir", ValueError, r"metrics.csv.gz: rows 0 and \d+ are both modeldir 'run' at step 0"),  # noqa: E501
    ("percent accuracies", ValueError, r"metrics.csv.gz column 'test_accuracy' must lie in \[0, 1\], got \d+\.\d+ in row \d+ \(\d+ such rows\) \(percentages\? expected fractions\)"),  # noqa: E501
    ("negative accuracy", ValueError, r"column 'test_accuracy' must lie in \[0, 1\], got -0.25 in row 4 \(1 such rows\)$"),  # noqa: E501
    ("fractional step", ValueError, r"metrics.csv.gz column 'step' must hold epochs \(whole numbers >= 0\), got \d+\.5 in row 2 \(1 such rows\)"),  # noqa: E501
    ("truncated metrics", ValueError, r"metrics.csv.gz is not a readable gzip-compressed CSV \(truncated or another format: EOFError"),  # noqa: E501
    ("metrics not gzip", ValueError, r"metrics.csv.gz is not a readable gzip-compressed CSV \(truncated or another format: BadGzipFile"),  # noqa: E501
    ("layout not text", ValueError, r"layout.csv is not UTF-8 text \(.*\); save it as UTF-8"),
    ("layout UTF-16 without BOM", ValueError, r"layout.csv holds NUL bytes; expected UTF-8 text \(UTF-16 needs a byte order mark\)"),  # noqa: E501
]  # fmt: skip


@real_zoo
@pytest.mark.parametrize(("what", "error", "match"), BAD_ZOOS, ids=[b[0] for b in BAD_ZOOS])
def test_corrupt_real_zoo_files_give_expected_vs_got_errors(
    zoo_path, tmp_path, what, error, match
):
    path = _copy(zoo_path, tmp_path)
    n = _n_rows(path)
    _corrupt(path, what)
    with pytest.raises(error, match=match.format(n=n, m=n - 3, n2=2 * n)):
        load_zoo(path, step="all")


@real_zoo
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_layout_with_a_byte_order_mark_or_in_utf16_reads_like_utf8(zoo_path, tmp_path, encoding):
    path = _copy(zoo_path, tmp_path)
    text = (path / "layout.csv").read_text(encoding="utf-8")
    if encoding.endswith("-bom"):  # explicit BOM + the matching byte order
        codec = encoding.removesuffix("-bom")
        data = "\ufeff".encode(codec) + text.encode(codec)
    else:
        data = text.encode(encoding)
    (path / "layout.csv").write_bytes(data)
    zoo = load_zoo(path)
    assert zoo.layout == load_zoo(zoo_path).layout
    np.testing.assert_array_equal(zoo.weights, load_zoo(zoo_path).weights)


@real_zoo
@pytest.mark.parametrize("step", [True, False, [True], np.bool_(True)])
def test_bools_are_not_steps(zoo_path, step):
    with pytest.raises(ValueError, match="step must be 'final', 'all', an int or a list of ints"):
        load_zoo(zoo_path, step=step)


@real_zoo
def test_bools_are_not_split_sizes(zoo):
    for n_train in (True, False, np.bool_(True), "0.5", None):
        with pytest.raises(ValueError, match="n_train must be an int .* or a float in"):
            paper_split(zoo, n_train=n_train)
    with pytest.raises(ValueError, match="expected a number of networks, .* got True"):
        paper_split(True, n_train=1)
    train, test = paper_split(zoo, n_train=10)  # an int still counts networks
    assert len(train) == 10 and len(test) == len(zoo.target) - 10


@real_zoo
def test_whole_float_steps_and_nan_accuracies_still_load(zoo_path, tmp_path):
    """What the checks must not refuse: steps written as 6.0, a diverged run's NaN accuracy."""
    path = _copy(zoo_path, tmp_path)
    frame = pd.read_csv(path / "metrics.csv.gz")
    frame["step"] = frame["step"].astype(float)
    frame.loc[0, "test_accuracy"] = np.nan
    frame.to_csv(path / "metrics.csv.gz", index=False)
    with pytest.warns(UserWarning, match="dropped 1 of"):
        zoo = load_zoo(path, step="all")
    assert len(zoo.target) == _n_rows(path) - 1


@real_zoo
def test_nan_rows_injected_into_the_real_zoo_are_dropped_and_counted(zoo_path, tmp_path):
    path = _copy(zoo_path, tmp_path)
    weights = np.load(path / "weights.npy")
    metrics = pd.read_csv(path / "metrics.csv.gz")
    final = metrics.groupby("modeldir")["step"].transform("max").eq(metrics["step"]).to_numpy()
    bad_final = np.flatnonzero(final)[[0, 3, 7]]
    weights[bad_final[0], 100] = np.nan
    weights[bad_final[1], :] = np.inf
    weights[bad_final[2], -1] = -np.inf
    weights[1, 5] = np.nan  # not a final checkpoint: not selected by step="final"
    metrics.loc[np.flatnonzero(final)[10], "test_accuracy"] = np.nan
    atomic_save_npy(path / "weights.npy", weights)
    metrics.to_csv(path / "metrics.csv.gz", index=False)

    clean = load_zoo(zoo_path)
    with pytest.warns(UserWarning, match=r"dropped 4 of \d+ selected networks with non-finite"):
        zoo = load_zoo(path)
    assert zoo.n_dropped_nonfinite == 4
    assert len(zoo.target) == len(clean.target) - 4
    assert np.isfinite(zoo.weights).all() and np.isfinite(zoo.target).all()
    assert not set(zoo.rows) & set(bad_final.tolist())
    with pytest.warns(UserWarning, match="dropped 5 of"):
        assert load_zoo(path, step="all").n_dropped_nonfinite == 5
    # kept: the transformers refuse them by default, naming the first bad row
    kept = load_zoo(path, drop_nonfinite=False)
    assert kept.n_dropped_nonfinite == 0 and len(kept.target) == len(clean.target)
    bad_rows = set(np.flatnonzero(~np.isfinite(kept.weights).all(axis=1)).tolist())
    assert len(bad_rows) == 3
    for call in ("fit", "fit_transform"):
        with pytest.raises(ValueError, match=r"NaN or infinity \(row \d+, ") as err:
            getattr(LayerStatistics(kept.layout), call)(kept.weights)
        assert int(str(err.value).split("(row ")[1].split(",")[0]) in bad_rows


@real_zoo
def test_real_zoo_with_a_single_network(zoo, tmp_path):
    path = write_zoo(tmp_path, zoo.weights[:1], zoo.metrics.iloc[:1], zoo.layout)
    one = load_zoo(path)
    assert one.weights.shape == (1, N) and one.target.tolist() == zoo.target[:1].tolist()
    feats = LayerStatistics(one.layout).fit_transform(one.weights)
    np.testing.assert_array_equal(
        feats, LayerStatistics(zoo.layout).fit_transform(zoo.weights)[:1]
    )
    with pytest.raises(
        ValueError, match=r"n_train=0 must be between 1 and n - 1 = 0 for a zoo of 1"
    ):
        paper_split(one, n_train=0.5)


# ======================================================================== saved predictors
@real_zoo
def test_joblib_saved_predictor_predicts_identically_and_refuses_another_width(zoo, tmp_path):
    model = Pipeline(
        [
            ("stats", LayerStatistics(zoo.layout)),
            ("gbm", LGBMRegressor(n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1)),
        ]
    ).fit(zoo.weights, zoo.target)
    for compress in (0, 3):
        path = tmp_path / f"predictor-{compress}.joblib"
        joblib.dump(model, path, compress=compress)
        loaded = joblib.load(path)
        np.testing.assert_array_equal(loaded.predict(zoo.weights), model.predict(zoo.weights))
        assert loaded.named_steps["stats"].layout_in_ == zoo.layout
        with pytest.raises(
            ValueError, match=f"{N - 1} features, but LayerStatistics is expecting {N}"
        ):
            loaded.predict(zoo.weights[:, :-1])
        wider = np.hstack([zoo.weights, zoo.weights[:, :5]])
        with pytest.raises(
            ValueError, match=f"{N + 5} features, but LayerStatistics is expecting {N}"
        ):
            loaded.predict(wider)
    # refitting the loaded predictor with a layout of another width refuses the zoo's weights
    narrow = Layout.from_shapes([("net/fc/bias:0", (10,)), ("net/fc/kernel:0", (16, 10))])
    loaded.set_params(stats__layout=narrow)
    with pytest.raises(ValueError, match=f"X has {N} columns but the layout describes 170"):
        loaded.fit(zoo.weights, zoo.target)


# ======================================================================== untrusted files
class _Marker:
    """Unpickling this creates a file: proof that a loader executed pickled code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _evil_npy(path: Path, marker: Path) -> None:
    arr = np.empty((2, 3), dtype=object)
    arr[...] = _Marker(marker)
    with open(path, "wb") as f:
        np.save(f, arr, allow_pickle=True)


def test_the_pickle_marker_would_fire_if_unpickled(tmp_path):
    """Guard: the payload below really executes when someone unpickles it."""
    marker = tmp_path / "pwned"
    _evil_npy(tmp_path / "w.npy", marker)
    np.load(tmp_path / "w.npy", allow_pickle=True)
    assert marker.exists()


def test_object_weights_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    _evil_npy(tmp_path / "w.npy", marker)
    with pytest.raises(
        ValueError, match=r"holds Python objects \(dtype object\); expected a float32"
    ):
        read_weights(tmp_path / "w.npy")
    with pytest.raises(ValueError, match="holds Python objects"):
        read_weights(tmp_path / "w.npy", mmap=True)
    assert not marker.exists()


@real_zoo
def test_load_zoo_refuses_a_pickled_weights_file_without_running_it(zoo_path, tmp_path):
    path = _copy(zoo_path, tmp_path)
    marker = tmp_path / "pwned"
    _evil_npy(path / "weights.npy", marker)
    for mmap in (None, True, False):
        with pytest.raises(ValueError, match="holds Python objects"):
            load_zoo(path, mmap=mmap)
    assert not marker.exists()


@real_zoo
def test_path_like_modeldirs_in_the_real_zoo_stay_strings(zoo_path, tmp_path):
    """test_datasets.py spies on open(); here: the values round-trip verbatim, none is resolved."""
    path = _copy(zoo_path, tmp_path)
    metrics = pd.read_csv(path / "metrics.csv.gz")
    evil = ["/etc/passwd", "../../x", "~/.ssh/id_rsa", "file:///etc/shadow"]
    runs = metrics["modeldir"].unique()[: len(evil)]
    metrics["modeldir"] = metrics["modeldir"].replace(dict(zip(runs, evil)))
    metrics.to_csv(path / "metrics.csv.gz", index=False)
    zoo = load_zoo(path)
    assert set(evil) <= set(zoo.metrics["modeldir"])
    assert not (tmp_path / "x").exists()
