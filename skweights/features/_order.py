"""Exact row-wise order statistics of float32 blocks, faster than a row-wise sort.

``LayerStatistics`` needs a handful of order statistics (for q0, q25, q50, q75, q100: the ranks
0, n/4, n/2, 3n/4 and n-1 and their neighbours) of every row of a tensor block. numpy's row-wise
float sort costs ~9 ns per element on this project's machines (its SIMD sort is not used on
them), which made the sort 75 % of the transformer's time. This module finds the same values
exactly with a two-level radix select:

1. Map each float32 to an order-preserving integer key (its bit pattern, with the 31 low bits
   flipped for negatives). The key's upper 16 bits are an ``int16`` that numpy sorts row-wise
   with a radix sort (``kind="stable"``), ~3.5x faster than the float sort.
2. The upper half of the k-th smallest key is the k-th entry of that sorted row. Only the few
   elements of the row sharing those upper 16 bits (sign, exponent and 7 mantissa bits: a few
   per rank for weights) can be the k-th value; they are gathered and sorted exactly, and the
   one at rank ``k - #(smaller upper halves)`` is the answer.

The result equals ``np.sort(block, axis=1)[:, kth]`` for finite values (``-0.0`` may come back
for ``0.0`` and vice versa; they compare equal). Rows containing NaN are the caller's business:
numpy sorts NaN last whatever its sign bit, this key order does not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["order_statistics", "RADIX_MIN_WIDTH"]

#: Narrower rows are sorted: numpy sorts rows of up to ~600 floats with fast sorting networks,
#: and below ~1000 the select's fixed passes cost more than the sort.
RADIX_MIN_WIDTH = 1024


def order_statistics(block: np.ndarray, kth) -> np.ndarray:
    """The ``kth`` smallest values of each row of ``block``.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n)
        Finite values (for a row with NaN the result is unspecified). Not modified.
    kth : sequence of int
        Ranks in ``[0, n)`` (0 = minimum, n - 1 = maximum).

    Returns
    -------
    ndarray of shape (n_rows, len(kth)), block's dtype
        ``np.sort(block, axis=1)[:, kth]`` (up to the sign of zeros).

    Notes
    -----
    Ranks 0 and n - 1 are row minima and maxima. Other ranks come from the radix select for
    float32 blocks at least ``RADIX_MIN_WIDTH`` wide (where it beats numpy's sort
    on this project's machines), otherwise from one row-wise ``np.sort``.
    """
    kth = np.asarray(kth, dtype=np.intp).reshape(-1)
    n_rows, n = block.shape
    if kth.size and (kth.min() < 0 or kth.max() >= n):
        raise ValueError(f"ranks must lie in [0, {n}); got {kth.tolist()}")
    out = np.empty((n_rows, kth.size), dtype=block.dtype)
    if n_rows == 0 or kth.size == 0:
        return out
    inner = []  # (output column, rank) of the ranks that need a sort or a select
    for j, k in enumerate(kth.tolist()):
        if k == 0:
            out[:, j] = block.min(axis=1)
        elif k == n - 1:
            out[:, j] = block.max(axis=1)
        else:
            inner.append((j, k))
    if not inner:
        return out
    if block.dtype != np.float32 or n < RADIX_MIN_WIDTH or not np.little_endian:
        columns, ranks = zip(*inner)
        out[:, list(columns)] = np.sort(block, axis=1)[:, list(ranks)]
        return out
    high = _high_keys(block)
    sorted_high = np.sort(high, axis=1, kind="stable")  # a radix sort for 16-bit integers
    # adjacent ranks (the two neighbours a linear quantile interpolates) share one select
    inner.sort(key=lambda item: item[1])
    while inner:
        run = [inner.pop(0)]
        while inner and inner[0][1] - run[-1][1] <= 1:
            run.append(inner.pop(0))
        values = _select(block, high, sorted_high, run[0][1], run[-1][1])
        for j, k in run:
            out[:, j] = values[:, k - run[0][1]]
    return out


def _high_keys(block: np.ndarray) -> np.ndarray:
    """Upper 16 bits of an order-preserving key of each float32, as int16.

    For the signed bit pattern ``b`` of a float, ``b`` itself orders the non-negative floats
    and ``b ^ 0x7FFFFFFF`` the negative ones; the upper half of that key is the upper half of
    ``b`` with its 15 low bits flipped for negatives.
    """
    high = np.empty(block.shape, dtype=np.int16)
    np.right_shift(block.view(np.int32), 16, out=high, casting="unsafe")
    flip = high >> np.int16(15)  # -1 for negatives, 0 otherwise
    flip &= np.int16(0x7FFF)
    high ^= flip
    return high


def _keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving uint32 key of each float32."""
    bits = values.view(np.uint32)
    negative = bits >> np.uint32(31)
    return bits ^ (np.uint32(0x80000000) | (np.uint32(0) - negative))


def _count_below(sorted_high, first: int, lo, window: int = 64) -> np.ndarray:
    """Per row, how many of the sorted upper halves before position ``first`` are ``< lo``.

    ``lo`` is the value at ``first``, so only the run of equal values ending there is not
    counted; it is almost always short, so count inside a window before ``first`` and fall back
    to the whole prefix for the rows whose run reaches past the window.
    """
    start = max(0, first - window)
    count = start + np.count_nonzero(sorted_high[:, start:first] < lo, axis=1)
    long_run = sorted_high[:, start] == lo[:, 0]
    if start and long_run.any():
        prefix = sorted_high[long_run, :first]
        count[long_run] = np.count_nonzero(prefix < lo[long_run], axis=1)
    return count


def _select(block, high, sorted_high, first: int, last: int) -> np.ndarray:
    """Exact ``first``-th to ``last``-th smallest values of every row (0 < first <= last < n-1).

    The candidates are the elements whose upper key half lies between those of the ``first``-th
    and ``last``-th smallest; all smaller elements have a smaller upper half, so the rank of the
    ``first``-th value among the sorted candidates is ``first`` minus their count.
    """
    lo = sorted_high[:, first : first + 1]
    hi = sorted_high[:, last : last + 1]
    rank = first - _count_below(sorted_high, first, lo)
    inside = high == lo if first == last else (high >= lo) & (high <= hi)
    flat = np.flatnonzero(inside)
    rows, cols = np.divmod(flat, block.shape[1])
    candidates = block[rows, cols]
    # sort candidates by (row, key): flatnonzero yields them row by row already
    order = np.lexsort((_keys(candidates), rows))
    counts = np.bincount(rows, minlength=block.shape[0])
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    picks = order[(starts + rank)[:, None] + np.arange(last - first + 1)]
    return candidates[picks]
