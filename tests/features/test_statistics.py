"""Tests of LayerStatistics against direct numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skweights.features import PAPER_STATISTICS, LayerStatistics
from skweights.layout import Layout

ZOO = Layout.small_cnn_zoo()
SMALL = Layout.from_shapes(
    [("n/a/bias:0", (3,)), ("n/a/kernel:0", (2, 5)), ("n/b/bias:0", (1,)), ("n/b/kernel:0", (7,))]
)
QS = {"q0": 0.0, "q10": 0.1, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q100": 1.0, "q2.5": 0.025}


def _data(layout, n=37, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_t(3, size=(n, layout.n_params)) * 0.1).astype(dtype)


def _reference(X, groups, stats):
    """Direct numpy: one call per tensor and statistic, float64 for mean/var/std."""
    cols = []
    for c in groups:
        w = X[:, c]
        for s in stats:
            if s == "mean":
                cols.append(np.mean(w.astype(np.float64), axis=1))
            elif s == "var":
                cols.append(np.var(w.astype(np.float64), axis=1))
            elif s == "std":
                cols.append(np.std(w.astype(np.float64), axis=1))
            else:
                cols.append(np.quantile(w, [QS[s]], axis=1)[0])
    return np.column_stack(cols)


@pytest.mark.parametrize("layout", [ZOO, SMALL], ids=["zoo", "small"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_statistic_matches_numpy(layout, dtype):
    stats = ("mean", "var", "std", "q0", "q2.5", "q10", "q25", "q50", "q75", "q100")
    X = _data(layout, dtype=dtype)
    got = LayerStatistics(layout, statistics=stats, dtype=np.float64).fit_transform(X)
    want = _reference(X, [e.slice for e in layout], stats)
    assert got.shape == (len(X), len(layout) * len(stats))
    quantile_cols = np.array([s.startswith("q") for s in stats] * len(layout))
    # quantiles reproduce np.quantile's linear interpolation bit for bit
    np.testing.assert_array_equal(got[:, quantile_cols], want[:, quantile_cols])
    np.testing.assert_allclose(got[:, ~quantile_cols], want[:, ~quantile_cols], rtol=1e-12)


def test_float32_output_is_within_float32_rounding_of_float64_reference():
    X = _data(ZOO)
    got = LayerStatistics(ZOO).fit_transform(X)
    assert got.dtype == np.float32 and got.shape == (len(X), 56)
    want = _reference(X, [e.slice for e in ZOO], PAPER_STATISTICS)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    # numpy's own float32 variance accumulates in float32: agrees to ~1e-5 relative
    var32 = np.var(X[:, ZOO["conv2d_1/kernel"].slice], axis=1)
    np.testing.assert_allclose(got[:, 3 * 7 + 1], var32, rtol=1e-5)


def test_quantiles_match_numpy_linear_interpolation_default_dtype():
    X = _data(SMALL, dtype=np.float32)
    got = LayerStatistics(SMALL, statistics=("q25", "q75"), dtype=np.float64).fit_transform(X)
    sl = SMALL["a/kernel"].slice
    np.testing.assert_array_equal(got[:, 2:4], np.quantile(X[:, sl], [0.25, 0.75], axis=1).T)


def test_feature_names_follow_layout_then_statistic_order():
    names = LayerStatistics(ZOO).fit(_data(ZOO, n=2)).get_feature_names_out()
    assert len(names) == 56
    assert names[:8].tolist() == [
        "conv2d/bias:mean",
        "conv2d/bias:var",
        "conv2d/bias:q0",
        "conv2d/bias:q25",
        "conv2d/bias:q50",
        "conv2d/bias:q75",
        "conv2d/bias:q100",
        "conv2d/kernel:mean",
    ]
    assert "conv2d_1/kernel:q75" in names


def test_matches_the_released_colab_features():
    # colab, per tensor (bias first): np.percentile(w, [0, 25, 50, 75, 100]), np.std, np.mean
    X = _data(ZOO, n=5)
    colab = []
    for row in X:
        feats = []
        for e in ZOO:
            w = row[e.slice]
            feats += list(np.percentile(w, [0, 25, 50, 75, 100])) + [np.std(w), np.mean(w)]
        colab.append(feats)
    stats = ("q0", "q25", "q50", "q75", "q100", "std", "mean")
    got = LayerStatistics(ZOO, statistics=stats, dtype=np.float64).fit_transform(X)
    np.testing.assert_allclose(got, np.array(colab), rtol=2e-6, atol=1e-8)


def test_global_statistics_over_selected_layers():
    X = _data(ZOO, n=9)
    est = LayerStatistics(ZOO, per_layer=False, layers=["conv2d", "dense"], dtype=np.float64)
    got = est.fit_transform(X)
    cols = ZOO.columns(layers=["conv2d", "dense"])
    np.testing.assert_allclose(got, _reference(X, [cols], PAPER_STATISTICS), rtol=1e-12)
    assert est.get_feature_names_out().tolist() == [f"all:{s}" for s in PAPER_STATISTICS]
    kernels = LayerStatistics(ZOO, kinds="kernel", statistics=("mean",)).fit(X)
    assert kernels.get_feature_names_out().tolist() == [
        "conv2d/kernel:mean",
        "conv2d_1/kernel:mean",
        "conv2d_2/kernel:mean",
        "dense/kernel:mean",
    ]


def test_chunked_threaded_and_unchunked_are_identical():
    X = _data(ZOO, n=101)
    full = LayerStatistics(ZOO, chunk_size=1000).fit_transform(X)
    for kwargs in [{"chunk_size": 7}, {"chunk_size": 1}, {"chunk_size": 16, "n_jobs": 2}]:
        np.testing.assert_array_equal(LayerStatistics(ZOO, **kwargs).fit_transform(X), full)


def test_c_f_order_and_memmap_inputs_give_identical_output(tmp_path):
    X = _data(ZOO, n=50)
    path = tmp_path / "weights.npy"
    np.save(path, X)
    est = LayerStatistics(ZOO, statistics=("mean", "var", "std", "q25", "q100"), chunk_size=16)
    ref = est.fit(X).transform(X)
    np.testing.assert_array_equal(est.transform(np.asfortranarray(X)), ref)
    np.testing.assert_array_equal(est.transform(np.load(path, mmap_mode="r")), ref)


def test_width_mismatch_says_columns_and_parameters():
    with pytest.raises(ValueError, match="X has 4969 columns but the layout describes 4970"):
        LayerStatistics(ZOO).fit(np.zeros((2, 4969), dtype=np.float32))


def test_layout_none_infers_a_single_tensor():
    X = _data(SMALL, n=4)
    est = LayerStatistics(statistics=("mean", "q50")).fit(X)
    assert est.layout_in_.n_params == X.shape[1]
    assert est.get_feature_names_out().tolist() == ["weights:mean", "weights:q50"]
    np.testing.assert_allclose(est.transform(X)[:, 1], np.median(X, axis=1))


def test_integer_input_is_converted_and_1d_input_rejected():
    X = np.arange(2 * SMALL.n_params).reshape(2, -1)
    got = LayerStatistics(SMALL, statistics=("mean", "q100")).fit_transform(X)
    assert got.dtype == np.float64
    assert got[1, -1] == X[1, -1]
    with pytest.raises(ValueError, match="Expected 2D array"):
        LayerStatistics(SMALL).fit(X[0])


@pytest.mark.parametrize("stat", ["q101", "median", "p50", "q-1"])
def test_unknown_statistics_are_rejected(stat):
    with pytest.raises(ValueError, match=f"unknown statistic '{stat}'"):
        LayerStatistics(SMALL, statistics=("mean", stat)).fit(_data(SMALL, n=2))


def test_nonfinite_input_errors_by_default_and_propagates_on_request():
    X = _data(SMALL, n=6, dtype=np.float64)
    X[2, SMALL["a/kernel"].start + 1] = np.nan
    X[4, SMALL["b/kernel"].start] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity.*row 2"):
        LayerStatistics(SMALL).fit(X)
    est = LayerStatistics(SMALL, chunk_size=2).fit(_data(SMALL, n=2, dtype=np.float64))
    with pytest.raises(ValueError, match=r"row 2, tensor a/kernel"):
        est.transform(X)
    stats = ("mean", "var", "q0", "q50", "q100")
    got = LayerStatistics(SMALL, statistics=stats, handle_nonfinite="propagate").fit_transform(X)
    names = LayerStatistics(SMALL, statistics=stats).fit(X[:1]).get_feature_names_out().tolist()
    a_kernel = [names.index(f"a/kernel:{s}") for s in stats]
    assert np.isnan(got[2, a_kernel]).all()  # NaN anywhere in a tensor: every statistic NaN
    w = X[4, SMALL["b/kernel"].slice]
    b_kernel = got[4, [names.index(f"b/kernel:{s}") for s in stats]]
    with np.errstate(invalid="ignore"):
        expected = [np.mean(w), np.var(w), *np.quantile(w, [0, 0.5, 1])]
    np.testing.assert_array_equal(b_kernel, expected)  # inf: what numpy gives (mean inf, var nan)
    clean = np.delete(np.arange(6), [2, 4])
    np.testing.assert_array_equal(
        got[clean], LayerStatistics(SMALL, statistics=stats).fit_transform(X[clean])
    )


def test_pandas_output_has_feature_names():
    X = pd.DataFrame(_data(SMALL, n=3), columns=[f"w{i}" for i in range(SMALL.n_params)])
    est = LayerStatistics(SMALL, statistics=("mean",)).set_output(transform="pandas")
    df = est.fit_transform(X)
    assert list(df.columns) == ["a/bias:mean", "a/kernel:mean", "b/bias:mean", "b/kernel:mean"]
    assert est.feature_names_in_[0] == "w0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ddof_one_matches_numpy_var_and_std_on_the_real_zoo(zoo, dtype):
    # ddof=1 is torch.var's default, used by NFN's StatFeaturizer
    X = np.asarray(zoo.weights, dtype=dtype)
    stats = ("var", "std")
    got = LayerStatistics(zoo.layout, statistics=stats, ddof=1, dtype=np.float64).fit_transform(X)
    want = []
    for e in zoo.layout:
        w = X[:, e.slice].astype(np.float64)
        want += [np.var(w, axis=1, ddof=1), np.std(w, axis=1, ddof=1)]
    np.testing.assert_allclose(
        got, np.column_stack(want), rtol=1e-6 if dtype == np.float32 else 1e-12
    )
    biased = LayerStatistics(zoo.layout, statistics=stats, dtype=np.float64).fit_transform(X)
    n = np.repeat([e.stop - e.start for e in zoo.layout], 2)
    # the two estimates differ by the factor n / (n - 1) (its square root for std)
    factor = np.where(np.arange(got.shape[1]) % 2 == 0, n / (n - 1), np.sqrt(n / (n - 1)))
    np.testing.assert_allclose(got, biased * factor, rtol=1e-6)
    assert not np.allclose(got, biased, rtol=1e-4)


def test_ddof_is_validated_in_fit():
    X = _data(SMALL, n=4)
    with pytest.raises(ValueError, match="ddof"):
        LayerStatistics(SMALL, ddof=-1).fit(X)
    with pytest.raises(ValueError, match="ddof"):
        LayerStatistics(SMALL, ddof=0.5).fit(X)
    # n/b/bias has a single weight: no variance with ddof=1, the error names it
    with pytest.raises(ValueError, match=r"ddof=1 needs more than 1 weights .* b/bias has 1"):
        LayerStatistics(SMALL, ddof=1).fit(X)
    # a single-weight tensor is fine when no variance is asked for
    assert LayerStatistics(SMALL, statistics=("mean",), ddof=1).fit_transform(X).shape == (4, 4)
    LayerStatistics(SMALL, layers=["a"], ddof=1).fit(X)


def test_a_variance_that_overflows_float32_raises():
    """The overflow check is shared by every transformer (issue 13), not only LayerNorms."""
    from skweights.features import LayerStatistics as Stats

    X = np.zeros((3, Layout.small_cnn_zoo().n_params), dtype=np.float32)
    X[0, 0], X[0, 1] = 3e38, -3e38  # conv2d/bias: finite float32, variance 2 * 9e76 / 16
    with pytest.raises(ValueError, match=r"feature conv2d/bias:var of row 0 overflows float32"):
        Stats(Layout.small_cnn_zoo()).fit_transform(X)
    out = Stats(Layout.small_cnn_zoo(), dtype=np.float64).fit_transform(X)
    np.testing.assert_allclose(out[0, 1], 2 * 9e76 / 16, rtol=1e-6)
