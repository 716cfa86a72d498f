"""Tests of LayerNorms."""

from __future__ import annotations

import numpy as np
import pytest

from skweights.features import LayerNorms
from skweights.layout import Layout

ZOO = Layout.small_cnn_zoo()


def _data(n=23, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(0, 0.2, size=(n, ZOO.n_params)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norms_match_numpy_linalg_norm_on_the_zoo_layout(dtype):
    X = _data(dtype=dtype)
    got = LayerNorms(ZOO, norms=("l1", "l2", "linf"), dtype=np.float64).fit_transform(X)
    assert got.shape == (len(X), 24)
    want = []
    for e in ZOO:
        w = X[:, e.slice].astype(np.float64)
        want += [np.linalg.norm(w, 1, axis=1), np.linalg.norm(w, axis=1), np.abs(w).max(axis=1)]
    np.testing.assert_allclose(got, np.column_stack(want), rtol=1e-12)


def test_default_gives_eight_features_named_by_tensor():
    est = LayerNorms(ZOO).fit(_data(n=2))
    names = est.get_feature_names_out().tolist()
    assert len(names) == 16  # l1 and l2 for each of the 8 tensors
    assert names[:3] == ["conv2d/bias:l1", "conv2d/bias:l2", "conv2d/kernel:l1"]
    kernels = LayerNorms(ZOO, norms=("l2",), kinds="kernel").fit(_data(n=2))
    assert kernels.get_feature_names_out().tolist() == [
        "conv2d/kernel:l2",
        "conv2d_1/kernel:l2",
        "conv2d_2/kernel:l2",
        "dense/kernel:l2",
    ]


def test_float32_output_and_chunking_are_exact(tmp_path):
    X = _data(n=70)
    full = LayerNorms(ZOO, chunk_size=1000).fit_transform(X)
    assert full.dtype == np.float32
    for kwargs in [{"chunk_size": 9}, {"chunk_size": 16, "n_jobs": 2}]:
        np.testing.assert_array_equal(LayerNorms(ZOO, **kwargs).fit_transform(X), full)
    np.save(tmp_path / "w.npy", X)
    est = LayerNorms(ZOO, chunk_size=8).fit(X)
    np.testing.assert_array_equal(est.transform(np.asfortranarray(X)), full)
    np.testing.assert_array_equal(est.transform(np.load(tmp_path / "w.npy", mmap_mode="r")), full)


def test_unknown_norm_and_width_mismatch():
    with pytest.raises(
        ValueError, match=r"norms must be distinct names from \['l1', 'l2', 'linf'\]"
    ):
        LayerNorms(ZOO, norms=("l3",)).fit(_data(n=2))
    with pytest.raises(ValueError, match="X has 4971 columns but the layout describes 4970"):
        LayerNorms(ZOO).fit(np.zeros((1, 4971)))


def test_nonfinite_handling():
    X = _data(n=4, dtype=np.float64)
    X[1, 5] = np.nan
    X[3, 100] = -np.inf
    with pytest.raises(ValueError, match="NaN or infinity.*row 1"):
        LayerNorms(ZOO).fit_transform(X)
    got = LayerNorms(ZOO, norms=("l1", "l2", "linf"), handle_nonfinite="propagate").fit_transform(
        X
    )
    assert np.isnan(got[1, :3]).all()  # conv2d/bias has the NaN
    assert np.isinf(got[3, 3:6]).all()  # conv2d/kernel has -inf: all its norms are inf
    assert np.isfinite(np.delete(got, [1, 3], axis=0)).all()


def test_norms_that_overflow_float32_raise_unless_asked_to_propagate():
    """Issue 13: finite float32 weights whose L1 norm exceeds float32's range gave inf."""
    X = _data(4)
    big = ZOO["conv2d_1/kernel"]
    X[2, big.slice] = 3e38  # finite in float32; the norms are ~7e41
    with pytest.raises(
        ValueError,
        match=r"feature conv2d_1/kernel:l1 of row 2 overflows float32 \(finite weights, "
        r"infinite feature\); pass dtype=np.float64 or handle_nonfinite='propagate'",
    ):
        LayerNorms(ZOO).fit_transform(X)
    fitted = LayerNorms(ZOO).fit(X)  # fit computes no norms; transform refuses the same way
    with pytest.raises(ValueError, match="of row 2 overflows float32"):
        fitted.transform(X)
    wide = LayerNorms(ZOO, dtype=np.float64).fit_transform(X)
    np.testing.assert_allclose(wide[2, 6], 3e38 * big.size, rtol=1e-6)  # conv2d_1/kernel:l1
    with np.errstate(over="ignore"):
        kept = LayerNorms(ZOO, handle_nonfinite="propagate").fit_transform(X)
    assert np.isinf(kept[2, 6:8]).all() and np.isfinite(np.delete(kept, 2, axis=0)).all()


def test_float64_norms_that_overflow_float64_raise():
    X = _data(3, dtype=np.float64)
    X[1, ZOO["dense/kernel"].slice] = 1e200  # squares overflow float64 in the L2 norm
    with pytest.raises(ValueError, match=r"feature dense/kernel:l2 of row 1 overflows float64"):
        LayerNorms(ZOO).fit_transform(X)
