"""Trend kernels along the last axis (years). NaN (or a given nodata value) marks a missing year; x is the year's position.

One pass per pixel gives Mann-Kendall S, its tie-corrected variance, z (with continuity
correction) and two-sided p, Sen's slope (median of pairwise slopes, by in-place quickselect) and
the OLS slope, so the trajectory needs a single read of the annual cube. The loop runs over a
block of pixels with scratch buffers allocated once per block, compiled ``nogil``: Dask supplies
the threads (one block per thread), and no thread pool of numba's own competes with them. The
kernel reads the stored values as they are (int16 with a nodata value, or floats with NaN) and in
any memory order, so no converted or reordered copy of the cube is made before it.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["mann_kendall_sen", "kernel_rows", "OUTPUTS"]

OUTPUTS = ("s", "var_s", "z", "p", "sen_slope", "ols_slope", "n")
"""Names of the kernel's outputs, in order."""



def kernel_rows(values: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``values`` as rows of one pixel's years (a view where the memory order allows, as for a Dask block
    with the year axis moved last) and the shape of the pixels; integers and floats stay as they are."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        arr = arr.astype(np.float64)
    return arr.reshape(-1, arr.shape[-1]), arr.shape[:-1]


@njit(nogil=True, cache=True)
def _select(a: np.ndarray, m: int, k: int) -> float:  # pragma: no cover (numba)
    """k-th smallest of a[:m], reordering a[:m] so that a[:k] <= a[k] (quickselect).

    Partitions are branchless (the comparison feeds an index, not a jump), which on random
    slopes is about 3x faster than a branchy partition; a second pass splits off the values equal
    to the pivot, so ties (constant series) stay linear.
    """
    lo = 0
    hi = m - 1
    while True:
        if lo >= hi:
            return a[lo]
        mid = (lo + hi) // 2
        x = a[lo]
        y = a[mid]
        z = a[hi]
        p = max(min(x, y), min(max(x, y), z))  # median of three
        store = lo
        for i in range(lo, hi + 1):  # values < p first
            v = a[i]
            a[i] = a[store]
            a[store] = v
            store += v < p
        if k < store:
            hi = store - 1
            continue
        equal = store
        for i in range(store, hi + 1):  # then values == p
            v = a[i]
            a[i] = a[equal]
            a[equal] = v
            equal += v <= p
        if k < equal:
            return p
        lo = equal


@njit(nogil=True, cache=True)
def sort_inplace(a: np.ndarray, m: int) -> None:  # pragma: no cover (numba)
    """Sort a[:m] in place (insertion sort: m is a year count, a few dozen at most, and nothing is allocated)."""
    for i in range(1, m):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(nogil=True, cache=True)
def _median_inplace(a: np.ndarray, m: int) -> float:  # pragma: no cover (numba)
    """Median of a[:m] (m >= 1), reordering it in place."""
    upper = _select(a, m, m // 2)
    if m % 2 == 1:
        return upper
    lower = a[0]
    for i in range(1, m // 2):  # after selection, a[:m//2] holds the smaller half
        if a[i] > lower:
            lower = a[i]
    return 0.5 * (lower + upper)


@njit(nogil=True, cache=True)
def _mk_sen_rows(y, min_count, nodata, out):  # pragma: no cover (numba)
    rows, size = y.shape
    xs = np.empty(size, dtype=np.float64)
    ys = np.empty(size, dtype=np.float64)
    sorted_y = np.empty(size, dtype=np.float64)
    slopes = np.empty(max(size * (size - 1) // 2, 1), dtype=np.float64)
    need = max(min_count, 3)
    for r in range(rows):
        n = 0
        for i in range(size):
            v = np.float64(y[r, i])
            if not math.isnan(v) and not math.isinf(v) and v != nodata:
                xs[n] = i
                ys[n] = v
                n += 1
        out[6, r] = n
        if n < need:
            for k in range(6):
                out[k, r] = np.nan
            continue
        s = 0.0
        k = 0
        for i in range(n - 1):
            yi = ys[i]
            xi = xs[i]
            for j in range(i + 1, n):
                d = ys[j] - yi
                if d > 0:
                    s += 1.0
                elif d < 0:
                    s -= 1.0
                slopes[k] = d / (xs[j] - xi)
                k += 1
        # tie-corrected variance, from the values sorted
        for i in range(n):
            sorted_y[i] = ys[i]
        sort_inplace(sorted_y, n)
        ties = 0.0
        run = 1
        for i in range(1, n + 1):
            if i < n and sorted_y[i] == sorted_y[i - 1]:
                run += 1
            else:
                if run > 1:
                    ties += run * (run - 1.0) * (2.0 * run + 5.0)
                run = 1
        var = (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
        if s > 0 and var > 0:
            z = (s - 1.0) / math.sqrt(var)
        elif s < 0 and var > 0:
            z = (s + 1.0) / math.sqrt(var)
        else:
            z = 0.0
        # OLS slope as one ratio of sums: for integer values (int16 NDVI x 10000 at integer year
        # positions) numerator and denominator are exact integers below 2**53, so the slope is the
        # correctly rounded exact ratio and a threshold on it is decided exactly (method notes 2.5)
        sx = 0.0
        sy = 0.0
        sxy = 0.0
        sxx = 0.0
        for i in range(n):
            sx += xs[i]
            sy += ys[i]
            sxy += xs[i] * ys[i]
            sxx += xs[i] * xs[i]
        num = n * sxy - sx * sy
        den = n * sxx - sx * sx
        out[0, r] = s
        out[1, r] = var
        out[2, r] = z
        out[3, r] = math.erfc(abs(z) / math.sqrt(2.0))
        out[4, r] = _median_inplace(slopes, k)
        out[5, r] = num / den


def mann_kendall_sen(values: np.ndarray, *, min_count: int = 3, nodata: float | None = None) -> tuple[np.ndarray, ...]:
    """Mann-Kendall S, var(S), z, p, Sen's slope, OLS slope and the valid count along the last axis.

    Slopes are per step of the last axis (per year for annual data), in the values' units. For
    integer values (int16 NDVI x 10000) S and var(S) are exact integers and the OLS slope is the
    correctly rounded exact ratio, so thresholds on them are decided exactly. Pixels with fewer than
    ``max(min_count, 3)`` finite values get NaN statistics (their ``n`` is still returned). Values equal
    to ``nodata`` are missing too, so int16 layers go in as stored, with no float copy.

    Examples
    --------
    >>> s, var, z, p, sen, ols, n = mann_kendall_sen(np.array([1.0, 2.0, 3.0, 5.0, 4.0]))
    >>> float(s), float(var), float(sen), float(ols), int(n)
    (8.0, 16.666666666666668, 1.0, 0.9, 5)
    """
    rows, lead = kernel_rows(values)
    out = np.empty((len(OUTPUTS), rows.shape[0]), dtype=np.float64)
    _mk_sen_rows(rows, np.int64(min_count), np.float64(np.nan if nodata is None else nodata), out)
    return tuple(o.reshape(lead) for o in out)
