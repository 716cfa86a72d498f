"""Property-based tests (hypothesis) of the layout and the feature transformers."""

from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skweights.features import LayerNorms, LayerStatistics
from skweights.layout import Layout

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
shapes = st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple)


@st.composite
def layouts(draw, max_tensors=5):
    layers = draw(st.lists(names, min_size=1, max_size=max_tensors, unique=True))
    entries = []
    for layer in layers:
        kinds = draw(
            st.lists(
                st.sampled_from(["bias", "kernel", "gamma"]), min_size=1, max_size=2, unique=True
            )
        )
        entries += [(f"net/{layer}/{kind}:0", draw(shapes)) for kind in kinds]
    return Layout.from_shapes(entries)


@st.composite
def layout_and_data(draw):
    layout = draw(layouts())
    n_rows = draw(st.integers(1, 6))
    values = st.floats(-1e3, 1e3, allow_nan=False, width=32)
    X = draw(arrays(np.float32, (n_rows, layout.n_params), elements=values))
    return layout, X


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(layouts())
def test_layout_csv_round_trip(layout):
    buf = io.StringIO()
    layout.to_csv(buf)
    again = Layout.from_csv(io.StringIO(buf.getvalue()))
    assert again == layout
    buf2 = io.StringIO()
    again.to_csv(buf2)
    assert buf2.getvalue() == buf.getvalue()
    assert layout.n_params == sum(math.prod(e.shape) for e in layout)


@FAST
@given(layout_and_data(), st.randoms(use_true_random=False))
def test_statistics_invariant_to_permuting_within_a_tensor(data, rnd):
    layout, X = data
    perm = np.arange(layout.n_params)
    for e in layout:
        block = list(range(e.start, e.stop))
        rnd.shuffle(block)
        perm[e.start : e.stop] = block
    stats = ("mean", "var", "std", "q0", "q10", "q25", "q50", "q75", "q100")
    est = LayerStatistics(layout, statistics=stats, dtype=np.float64).fit(X)
    a, b = est.transform(X), est.transform(X[:, perm])
    quantiles = np.array([s.startswith("q") for s in stats] * len(layout))
    np.testing.assert_array_equal(a[:, quantiles], b[:, quantiles])  # order statistics: exact
    np.testing.assert_allclose(a[:, ~quantiles], b[:, ~quantiles], rtol=1e-9, atol=1e-9)


@FAST
@given(layout_and_data(), st.floats(1e-3, 1e3))
def test_norms_scale_linearly_with_a_positive_factor(data, factor):
    layout, X = data
    X64 = X.astype(np.float64)
    est = LayerNorms(layout, norms=("l1", "l2", "linf")).fit(X64)
    np.testing.assert_allclose(
        est.transform(X64 * factor), factor * est.transform(X64), rtol=1e-12, atol=1e-300
    )


@FAST
@given(layout_and_data(), st.integers(1, 7))
def test_chunked_equals_unchunked(data, chunk_size):
    layout, X = data
    for cls in (LayerStatistics, LayerNorms):
        full = cls(layout).fit_transform(X)
        np.testing.assert_array_equal(cls(layout, chunk_size=chunk_size).fit_transform(X), full)
