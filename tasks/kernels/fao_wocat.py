"""FAO-WOCAT land productivity dynamics kernel along the last axis (years). NaN marks a missing year.

One pass per pixel gives every intermediate of method notes 2.6: the trend class from Mann-Kendall S
and the OLS slope of the valid years (significance at n = the number of valid years, as the trajectory; Trends.Earth
uses n = the window's length even when years are missing), the MTID sign, steadiness, initial biomass, emerging
state and the combined 5-class LPD with the desert mask. "The first n years" and "the last n years" are the
window's first and last n calendar years, averaged over those of them that are valid; a pixel with none valid at
either end is nodata. Values are the stored int16 NDVI x 10000 as floats, so every
comparison below is made on integer sums (cross-multiplied, exact below 2**53).
"""
from __future__ import annotations

import numpy as np
from numba import guvectorize, njit

__all__ = ["fao_wocat_kernel", "OUTPUTS"]

OUTPUTS = ("lpd", "trend", "mtid", "steadiness", "biomass", "emerging", "combination")
"""The kernel's outputs, in order (NaN where the pixel is nodata)."""

@njit(cache=True)
def _end_sums(y: np.ndarray, interval: int) -> tuple[float, int, float, int]:  # pragma: no cover (numba)
    """Sum and count of the valid values among the first and among the last ``interval`` calendar years of ``y``
    (y0..y0+n-1, y1-n+1..y1): never the first ``interval`` *valid* years, which can reach into the window."""
    size = y.shape[0]
    first_sum = last_sum = 0.0
    first_cnt = last_cnt = 0
    for i in range(interval):
        if not np.isnan(y[i]):
            first_sum += y[i]
            first_cnt += 1
        if not np.isnan(y[size - interval + i]):
            last_sum += y[size - interval + i]
            last_cnt += 1
    return first_sum, first_cnt, last_sum, last_cnt


@njit(cache=True)
def _decile_class(srt: np.ndarray, total: float, count: int) -> int:  # pragma: no cover (numba)
    """1 + the number of the deciles p10..p90 of the sorted values ``srt`` (linear interpolation) that the mean
    ``total / count`` exceeds, decided exactly: x 10 the deciles are integers, and the mean is cross-multiplied."""
    n = srt.shape[0]
    cls = 1
    for k in range(1, 10):
        r = k * (n - 1)
        f = r // 10
        dec10 = 10.0 * srt[f] + (r % 10) * (srt[min(f + 1, n - 1)] - srt[f])
        if 10.0 * total > count * dec10:  # mean > decile
            cls += 1
    return cls


_SIG = [
    "void(float64[:], float64, int64, float64, float64, float64, boolean, int64, int64[:], "
    "float64[:], float64[:], float64[:], float64[:], float64[:], float64[:], float64[:])",
]


@guvectorize(_SIG, "(n),(),(),(),(),(),(),(),(m)->(),(),(),(),(),(),()", nopython=True, target="cpu", cache=True)
def _fao_wocat(y, window_max, interval, low, high, desert, use_mtid, min_years, s95_by_n,
               lpd, trend, mtid, steadiness, biomass, emerging, combination):  # pragma: no cover (numba)
    size = y.shape[0]
    vals = np.empty(size, dtype=np.float64)
    pos = np.empty(size, dtype=np.float64)
    n = 0
    for i in range(size):
        if not np.isnan(y[i]):
            vals[n] = y[i]
            pos[n] = i
            n += 1
    if n < max(min_years, 2 * interval, 4):
        lpd[0] = trend[0] = mtid[0] = steadiness[0] = biomass[0] = emerging[0] = combination[0] = np.nan
        return
    # 1. trend class A: Mann-Kendall S significant at TE's 95 % level, sign from the OLS slope (exact ratio)
    s = 0.0
    for i in range(n - 1):
        for j in range(i + 1, n):
            d = vals[j] - vals[i]
            s += 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)
    sx = sy = sxy = sxx = 0.0
    for i in range(n):
        sx += pos[i]
        sy += vals[i]
        sxy += pos[i] * vals[i]
        sxx += pos[i] * pos[i]
    num = n * sxy - sx * sy  # OLS slope = num / den with den > 0: its sign is num's
    a = 2
    if abs(s) >= s95_by_n[min(n, s95_by_n.shape[0] - 1)]:
        if num < 0:
            a = 1
        elif num > 0:
            a = 3
    first_sum, first_cnt, last_sum, last_cnt = _end_sums(y, interval)
    if first_cnt == 0 or last_cnt == 0:  # no valid year at one end: no mean to class
        lpd[0] = trend[0] = mtid[0] = steadiness[0] = biomass[0] = emerging[0] = combination[0] = np.nan
        return
    # 2. MTID: M = sum over the valid years of (mean of the last years - value) > 0
    #    <=>  n * last_sum / last_cnt > sy  <=>  n * last_sum > last_cnt * sy   (last_cnt > 0)
    m_code = 2 if n * last_sum > last_cnt * sy else 1
    # 3. steadiness
    if use_mtid:
        st = (a - 1) * 2 + m_code  # (1,1) 1, (1,2) 2, (2,1) 2, (2,2) 3, (3,1) 3, (3,2) 4
        st = 1 if st == 1 else (2 if st <= 3 else (3 if st <= 5 else 4))
    else:
        st = 1 if a == 1 else (4 if a == 3 else (2 if s < 0 else 3))
    # 4. initial biomass from the mean of the first years: <= low 1, (low, high] 2, > high 3
    if first_sum <= low * first_cnt:
        b = 1
    elif first_sum <= high * first_cnt:
        b = 2
    else:
        b = 3
    # 5. emerging state: the pixel's own deciles p10..p90 (linear interpolation; x 10 they are integers)
    srt = np.sort(vals[:n])
    d = _decile_class(srt, last_sum, last_cnt) - _decile_class(srt, first_sum, first_cnt)
    c = 1 if d <= -2 else (3 if d >= 2 else 2)
    # 6. combination and LPD
    k36 = 9 * (st - 1) + 3 * (c - 1) + b
    out = 1 if k36 <= 8 else (2 if k36 <= 14 else (3 if k36 <= 21 else (4 if k36 <= 30 else 5)))
    # 7. desert mask: the window's maximum valid composite <= desert NDVI is stable
    if window_max <= desert:  # unknown maximum: +inf (never masked)
        out = 4
    lpd[0] = out
    trend[0] = a
    mtid[0] = m_code
    steadiness[0] = st
    biomass[0] = b
    emerging[0] = c
    combination[0] = k36


def fao_wocat_kernel(values: np.ndarray, window_max: np.ndarray, s95_by_n: np.ndarray, *, interval: int = 3,
                     biomass_thresholds: tuple[float, float] = (0.4, 0.7), desert_max_ndvi: float = 0.25,
                     scale: float = 10000.0, use_mtid: bool = True, min_years: int = 10) -> tuple[np.ndarray, ...]:
    """LPD, trend class, MTID code, steadiness, initial biomass, emerging state and combination along the last axis.

    ``values`` are the stored annual NDVI (x ``scale``) with NaN for missing years; ``window_max`` the
    window's largest valid composite in the same units (NaN: unknown, no desert mask); ``s95_by_n``
    the critical S at the 95 % level indexed by the number of valid years. Thresholds are in NDVI.
    The NDVI thresholds are turned into stored units once (0.4 -> 4000), so every decision is exact.

    Examples
    --------
    >>> from tasks.science.trajectory import te_critical_s
    >>> s95 = np.array([0, 0, 0, 0] + [te_critical_s(n)[1] for n in range(4, 20)], float)
    >>> decline = np.arange(6000, 6000 - 16 * 150, -150).astype(float)
    >>> [int(v) for v in fao_wocat_kernel(decline, np.nan, s95)]
    [1, 1, 1, 1, 2, 1, 2]
    """
    v = np.asarray(values, dtype=np.float64)
    top = np.asarray(window_max, dtype=np.float64)
    top = np.where(np.isnan(top), np.inf, top)  # a NaN compared in the kernel would raise numpy's invalid flag
    low, high, desert = (round(t * scale, 6) for t in (*biomass_thresholds, desert_max_ndvi))
    return _fao_wocat(v, top, np.int64(interval), low, high, desert,
                      np.bool_(use_mtid), np.int64(min_years),
                      np.asarray(s95_by_n, dtype=np.int64))
