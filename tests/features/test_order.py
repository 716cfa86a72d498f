"""The radix select returns exactly the row-wise sort's order statistics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skweights.features import _order
from skweights.features._order import order_statistics


@pytest.fixture
def radix_everywhere(monkeypatch):
    """Use the radix select on any width, so that small hypothesis examples exercise it."""
    monkeypatch.setattr(_order, "RADIX_MIN_WIDTH", 3)


def quartile_ranks(n):
    return sorted({0, n // 4, n // 4 + 1, n // 2, n // 2 + 1, 3 * n // 4, n - 2, n - 1})


@pytest.mark.parametrize("n", [1024, 2304, 5000])
def test_equals_sort_on_weight_like_rows(n):
    rng = np.random.default_rng(n)
    block = (rng.standard_normal((300, n)) * rng.uniform(1e-3, 1, (300, 1))).astype(np.float32)
    kth = quartile_ranks(n)
    assert n >= _order.RADIX_MIN_WIDTH  # the radix path, not the fallback
    np.testing.assert_array_equal(order_statistics(block, kth), np.sort(block, axis=1)[:, kth])


def test_heavy_ties_and_long_runs_of_equal_upper_halves(radix_everywhere):
    rng = np.random.default_rng(0)
    # many exact zeros and repeated values: runs far longer than the counting window
    block = rng.choice(np.float32([0.0, -0.0, 1.5, -2.25, 1e-30]), size=(50, 3000))
    block[:10] = 0.0
    block[10:20, ::3] = rng.standard_normal((10, 1000)).astype(np.float32) * 1e-3
    kth = list(range(0, 3000, 7)) + [2999]
    got = order_statistics(block, kth)
    np.testing.assert_array_equal(got, np.sort(block, axis=1)[:, kth])


def test_same_upper_half_different_lower_bits(radix_everywhere):
    # values that differ only in the low 16 bits of their pattern: all in one bucket
    base = np.float32(0.3).view(np.uint32)
    block = (base + np.arange(4000, dtype=np.uint32) % 60000).view(np.float32)
    block = np.random.default_rng(1).permutation(np.stack([block, -block]), axis=1)
    block = np.ascontiguousarray(block[:, :3500])  # one run of 3500 equal upper halves
    kth = quartile_ranks(block.shape[1])
    np.testing.assert_array_equal(order_statistics(block, kth), np.sort(block, axis=1)[:, kth])


def test_infinities_subnormals_and_extremes(radix_everywhere):
    special = np.float32([np.inf, -np.inf, 1e-45, -1e-45, 3.4e38, -3.4e38, 0.0, -0.0, 1.0])
    rng = np.random.default_rng(2)
    block = rng.choice(special, size=(40, 500))
    kth = list(range(500))
    np.testing.assert_array_equal(order_statistics(block, kth), np.sort(block, axis=1)[:, kth])


@settings(max_examples=150, deadline=None)
@given(
    block=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=3, max_side=60),
        elements=st.floats(width=32, allow_nan=False),
    ),
    data=st.data(),
)
def test_property_equals_sort(block, data):
    n = block.shape[1]
    kth = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_order, "RADIX_MIN_WIDTH", 3)
        got = order_statistics(block, kth)
    np.testing.assert_array_equal(got, np.sort(block, axis=1)[:, kth])


def test_other_dtypes_fall_back_to_sort_and_any_memory_layout_works(radix_everywhere):
    rng = np.random.default_rng(3)
    block = rng.standard_normal((20, 2000))
    kth = [0, 500, 501, 1999]
    want = np.sort(block, axis=1)[:, kth]
    np.testing.assert_array_equal(order_statistics(block, kth), want)  # float64
    f32 = block.astype(np.float32)
    fortran = np.asfortranarray(f32)
    np.testing.assert_array_equal(order_statistics(fortran, kth), np.sort(f32, axis=1)[:, kth])


def test_input_untouched_and_empty_cases():
    block = np.random.default_rng(4).standard_normal((5, 2048)).astype(np.float32)
    before = block.copy()
    order_statistics(block, [1, 1000, 2047])
    np.testing.assert_array_equal(block, before)
    assert order_statistics(block[:0], [3]).shape == (0, 1)
    assert order_statistics(block, []).shape == (5, 0)


@pytest.mark.parametrize("kth", [[-1], [2048], [0, 5000]])
def test_ranks_out_of_range_are_refused(kth):
    block = np.zeros((2, 2048), dtype=np.float32)
    with pytest.raises(ValueError, match=r"ranks must lie in \[0, 2048\)"):
        order_statistics(block, kth)
