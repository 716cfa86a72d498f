"""Tests of RandomPermutation and WeightScaler (the modifications of the paper's Table 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skweights.features import LayerStatistics, RandomPermutation, WeightScaler
from skweights.layout import Layout

ZOO = Layout.small_cnn_zoo()


def _data(n=6):
    return np.random.default_rng(0).normal(size=(n, ZOO.n_params)).astype(np.float32)


def _moved(perm):
    return np.flatnonzero(perm != np.arange(len(perm)))


def _group_of(perm, groups):
    """True if every column's source lies in the same group as the column."""
    label = np.empty(len(perm), dtype=object)
    for name, cols in groups.items():
        label[cols] = name
    return bool(np.all(label[perm] == label))


def test_global_permutation_moves_almost_every_column():
    perm = RandomPermutation(ZOO, random_state=0).fit(_data()).permutation_
    assert sorted(perm) == list(range(ZOO.n_params))
    assert len(_moved(perm)) > 0.99 * ZOO.n_params
    assert not _group_of(perm, {layer: ZOO.columns(layers=layer) for layer in ZOO.layers})


def test_layer_scope_mixes_kernel_and_bias_but_not_layers():
    perm = RandomPermutation(ZOO, scope="layer", random_state=0).fit(_data()).permutation_
    assert _group_of(perm, {layer: ZOO.columns(layers=layer) for layer in ZOO.layers})
    tensors = {e.short_name: np.arange(e.start, e.stop) for e in ZOO}
    assert not _group_of(perm, tensors)  # some bias and kernel weights swapped


@pytest.mark.parametrize(
    "kwargs", [{"scope": "layer", "mix_kernel_bias": False}, {"scope": "tensor"}]
)
def test_without_mixing_each_tensor_keeps_its_weights(kwargs):
    X = _data()
    est = RandomPermutation(ZOO, random_state=1, **kwargs).fit(X)
    tensors = {e.short_name: np.arange(e.start, e.stop) for e in ZOO}
    assert _group_of(est.permutation_, tensors)
    # so the per-tensor statistics do not change at all
    stats = LayerStatistics(ZOO).fit(X)
    np.testing.assert_array_equal(stats.transform(est.transform(X)), stats.transform(X))


def test_chosen_layers_only_and_global_without_mixing():
    est = RandomPermutation(ZOO, layers=["dense"], random_state=0).fit(_data())
    moved = _moved(est.permutation_)
    assert moved.min() >= 4800 and len(moved) > 150
    first3 = RandomPermutation(
        ZOO, layers=["conv2d", "conv2d_1", "conv2d_2"], mix_kernel_bias=False, random_state=0
    ).fit(_data())
    kinds = {k: ZOO.columns(kinds=k) for k in ZOO.kinds}
    assert _group_of(first3.permutation_, kinds)
    assert _moved(first3.permutation_).max() < 4800


def test_transform_applies_the_same_permutation_to_every_row_deterministically():
    X = _data()
    est = RandomPermutation(ZOO, random_state=3).fit(X)
    out = est.transform(X)
    np.testing.assert_array_equal(out, X[:, est.permutation_])
    np.testing.assert_array_equal(est.transform(X), out)
    np.testing.assert_array_equal(
        RandomPermutation(ZOO, random_state=3, chunk_size=2).fit_transform(X), out
    )
    other = RandomPermutation(ZOO, random_state=4).fit(X).permutation_
    assert not np.array_equal(other, est.permutation_)


def test_output_keeps_input_feature_names():
    X = pd.DataFrame(_data(n=2), columns=[f"w{i}" for i in range(ZOO.n_params)])
    est = RandomPermutation(ZOO, random_state=0).set_output(transform="pandas")
    df = est.fit_transform(X)
    assert list(df.columns) == list(X.columns)
    assert df.iloc[0, 0] == X.iloc[0, est.permutation_[0]]


def test_weight_scaler_multiplies_chosen_layers():
    X = _data()
    out = WeightScaler(ZOO, factor=1e-3, layers=["conv2d_2"]).fit_transform(X)
    cols = ZOO.columns(layers="conv2d_2")
    np.testing.assert_array_equal(out[:, cols], X[:, cols] * np.float32(1e-3))
    rest = np.setdiff1d(np.arange(ZOO.n_params), cols)
    np.testing.assert_array_equal(out[:, rest], X[:, rest])
    assert out.dtype == np.float32
    all_scaled = WeightScaler(ZOO, factor=2.0, kinds="kernel").fit(X)
    assert len(all_scaled.columns_) == 4970 - 58


def test_weight_scaler_overflow_is_reported():
    X = np.full((1, ZOO.n_params), 1e30, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinity"):
        WeightScaler(ZOO, factor=1e10).fit_transform(X)
