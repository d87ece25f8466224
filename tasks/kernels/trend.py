"""Trend kernels along the last axis (years). NaN marks a missing year; x is the year's position.

One pass per pixel gives Mann-Kendall S, its tie-corrected variance, z (with continuity
correction) and two-sided p, Sen's slope (median of pairwise slopes) and the OLS slope, so the
trajectory needs a single read of the annual cube. Compiled with ``nopython`` for ``target="cpu"``:
Dask supplies the threads, and the compiled loop releases the GIL.
"""
from __future__ import annotations

import math

import numpy as np
from numba import guvectorize

__all__ = ["mann_kendall_sen", "OUTPUTS"]

OUTPUTS = ("s", "var_s", "z", "p", "sen_slope", "ols_slope", "n")
"""Names of the kernel's outputs, in order."""

_SIGNATURES = [
    "void(float32[:], int64, float64[:], float64[:], float64[:], float64[:], float64[:], float64[:], float64[:])",
    "void(float64[:], int64, float64[:], float64[:], float64[:], float64[:], float64[:], float64[:], float64[:])",
]


@guvectorize(_SIGNATURES, "(n),()->(),(),(),(),(),(),()", nopython=True, target="cpu")
def _mk_sen(y, min_count, s_out, var_out, z_out, p_out, sen_out, ols_out, n_out):  # pragma: no cover (numba)
    size = y.shape[0]
    xs = np.empty(size, dtype=np.float64)
    ys = np.empty(size, dtype=np.float64)
    n = 0
    for i in range(size):
        v = y[i]
        if not math.isnan(v) and not math.isinf(v):
            xs[n] = i
            ys[n] = v
            n += 1
    n_out[0] = n
    if n < max(min_count, 3):
        s_out[0] = np.nan
        var_out[0] = np.nan
        z_out[0] = np.nan
        p_out[0] = np.nan
        sen_out[0] = np.nan
        ols_out[0] = np.nan
        return
    # Mann-Kendall S and the pairwise slopes
    slopes = np.empty(n * (n - 1) // 2, dtype=np.float64)
    s = 0.0
    k = 0
    for i in range(n - 1):
        for j in range(i + 1, n):
            d = ys[j] - ys[i]
            if d > 0:
                s += 1.0
            elif d < 0:
                s -= 1.0
            slopes[k] = d / (xs[j] - xs[i])
            k += 1
    # tie-corrected variance
    sorted_y = np.sort(ys[:n])
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
    if s > 0:
        z = (s - 1.0) / math.sqrt(var) if var > 0 else 0.0
    elif s < 0:
        z = (s + 1.0) / math.sqrt(var) if var > 0 else 0.0
    else:
        z = 0.0
    s_out[0] = s
    var_out[0] = var
    z_out[0] = z
    p_out[0] = math.erfc(abs(z) / math.sqrt(2.0))
    sen_out[0] = np.median(slopes)
    # ordinary least squares slope
    xm = 0.0
    ym = 0.0
    for i in range(n):
        xm += xs[i]
        ym += ys[i]
    xm /= n
    ym /= n
    sxy = 0.0
    sxx = 0.0
    for i in range(n):
        sxy += (xs[i] - xm) * (ys[i] - ym)
        sxx += (xs[i] - xm) ** 2
    ols_out[0] = sxy / sxx


def mann_kendall_sen(values: np.ndarray, *, min_count: int = 3) -> tuple[np.ndarray, ...]:
    """Mann-Kendall S, var(S), z, p, Sen's slope, OLS slope and the valid count along the last axis.

    Slopes are per step of the last axis (per year for annual data). Pixels with fewer than
    ``max(min_count, 3)`` finite values get NaN statistics (their ``n`` is still returned).

    Examples
    --------
    >>> s, var, z, p, sen, ols, n = mann_kendall_sen(np.array([1.0, 2.0, 3.0, 5.0, 4.0]))
    >>> float(s), float(var), float(sen), float(ols), int(n)
    (8.0, 16.666666666666668, 1.0, 0.9, 5)
    """
    arr = np.asarray(values)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return _mk_sen(arr, np.int64(min_count))
