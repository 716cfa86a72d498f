"""Tests of LayerSelector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skweights.features import LayerSelector, LayerStatistics
from skweights.layout import Layout

ZOO = Layout.small_cnn_zoo()


def _data(n=5):
    return np.random.default_rng(0).normal(size=(n, ZOO.n_params)).astype(np.float32)


@pytest.mark.parametrize(
    "layer, n_out", [("conv2d", 160), ("conv2d_1", 2320), ("conv2d_2", 2320), ("dense", 170)]
)
def test_selects_the_raw_weights_of_one_layer(layer, n_out):
    X = _data()
    sel = LayerSelector(ZOO, layers=[layer]).fit(X)
    out = sel.transform(X)
    assert out.shape == (5, n_out) and out.dtype == np.float32
    np.testing.assert_array_equal(out, X[:, ZOO.columns(layers=layer)])
    assert sel.layout_ == ZOO.select(layers=layer)
    assert sel.get_feature_names_out()[-1] == f"{layer}/kernel:{sel.layout_[-1].size - 1}"


def test_kinds_and_output_layout_feed_another_transformer():
    X = _data()
    sel = LayerSelector(ZOO, layers=["conv2d_1", "dense"], kinds="kernel").fit(X)
    out = sel.transform(X)
    np.testing.assert_array_equal(out, X[:, np.r_[176:2480, 4810:4970]])
    np.testing.assert_array_equal(sel.columns_, np.r_[176:2480, 4810:4970])
    stats = LayerStatistics(sel.layout_).fit_transform(out)
    direct = LayerStatistics(ZOO, layers=["conv2d_1", "dense"], kinds="kernel").fit_transform(X)
    np.testing.assert_array_equal(stats, direct)


def test_all_layers_is_an_exact_copy_in_chunks():
    X = _data(n=33)
    out = LayerSelector(ZOO, chunk_size=4, n_jobs=2).fit_transform(X)
    np.testing.assert_array_equal(out, X)
    assert out is not X


def test_pandas_output_columns():
    X = pd.DataFrame(_data(n=2))
    df = LayerSelector(ZOO, layers="dense").set_output(transform="pandas").fit_transform(X)
    assert df.columns[0] == "dense/bias:0" and df.shape == (2, 170)


def test_errors():
    with pytest.raises(ValueError, match=r"unknown layers \['conv9'\]"):
        LayerSelector(ZOO, layers=["conv9"]).fit(_data())
    X = _data()
    X[0, 4900] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        LayerSelector(ZOO, layers="dense").fit_transform(X)
    kept = LayerSelector(ZOO, layers="conv2d").fit_transform(X)  # the inf is not selected
    assert np.isfinite(kept).all()
    out = LayerSelector(ZOO, layers="dense", handle_nonfinite="propagate").fit_transform(X)
    assert np.isinf(out[0, 100])
