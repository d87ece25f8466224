"""State kernels along the last axis (years). NaN (or a given nodata value) marks a missing year.

``te_state`` classes the baseline mean and the target mean against deciles of the baseline years
(Trends.Earth); ``gpg_state_z`` is the z-score of the target mean against the baseline years (GPG v2).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tasks.kernels.trend import kernel_rows, sort_inplace

__all__ = ["te_state", "gpg_state_z"]


def _nodata(value: float | None) -> np.float64:
    return np.float64(np.nan if value is None else value)


@njit(nogil=True, cache=True)
def _window_sums(y, is_bl, is_tg, nodata, bl_values):  # pragma: no cover (numba)
    """Count and sum of the valid baseline and target years; the baseline values go to ``bl_values``."""
    nb = 0
    sb = 0.0
    nt = 0
    st = 0.0
    for i in range(y.shape[0]):
        v = np.float64(y[i])
        if math.isnan(v) or v == nodata:
            continue
        if is_bl[i]:
            bl_values[nb] = v
            nb += 1
            sb += v
        if is_tg[i]:
            nt += 1
            st += v
    return nb, sb, nt, st


@njit(nogil=True, cache=True)
def _te_state_rows(y, is_bl, is_tg, min_bl, min_tg, dead_band, nodata, out):  # pragma: no cover (numba)
    # one pixel per row; the scratch arrays are made once per call, not per pixel (an allocation per
    # pixel cost more than the arithmetic and serialised the threads on the allocator)
    rows, size = y.shape
    bl = np.empty(size + 2, dtype=np.float64)
    dec200 = np.empty(10, dtype=np.float64)
    for r in range(rows):
        nb, sb, nt, st = _window_sums(y[r], is_bl, is_tg, nodata, bl)
        if nb < max(min_bl, 2) or nt < max(min_tg, 1):
            for k in range(5):
                out[k, r] = np.nan
            continue
        # Every comparison is made on cross-multiplied sums (method notes 2.5): for integer values
        # (int16 NDVI x 10000) each side is an exact integer below 2**53, so no float noise decides.
        lo = bl[0]
        hi = bl[0]
        for i in range(nb):
            lo = min(lo, bl[i])
            hi = max(hi, bl[i])
        rng = hi - lo
        # the sample in units of 1/20: the baseline values x 20 and the two synthetic ones, min - 5 % and
        # max + 5 % of the range (20 min - range, 20 max + range), sorted in place (m is a few dozen at most)
        for i in range(nb):
            bl[i] = 20.0 * bl[i]
        bl[nb] = 20.0 * lo - rng
        bl[nb + 1] = 20.0 * hi + rng
        m = nb + 2
        sort_inplace(bl, m)
        # decile k (linear interpolation, numpy.percentile's default) x 200: its rank is k (m - 1) / 10 =
        # f + r / 10, so 10 x (20 x decile) = 10 sample[f] + r (sample[f + 1] - sample[f]), an integer
        for k in range(1, 11):
            f = (k * (m - 1)) // 10
            rem = (k * (m - 1)) % 10
            if f >= m - 1:
                dec200[k - 1] = 10.0 * bl[m - 1]
            else:
                dec200[k - 1] = 10.0 * bl[f] + rem * (bl[f + 1] - bl[f])
        # class of a mean s / n: 1 if <= p10, else the largest k + 1 with s / n > p(10k), i.e. 200 s > n dec200
        cb = 1
        ct = 1
        for k in range(1, 11):
            if 200.0 * sb > nb * dec200[k - 1]:
                cb = k + 1
            if 200.0 * st > nt * dec200[k - 1]:
                ct = k + 1
        cb = min(cb, 10)
        ct = min(ct, 10)
        out[0, r] = cb
        out[1, r] = ct
        # |st / nt - sb / nb| <= dead_band, as |st nb - sb nt| <= dead_band nb nt
        out[2, r] = 0.0 if abs(st * nb - sb * nt) <= dead_band * nb * nt else ct - cb
        out[3, r] = sb / nb
        out[4, r] = st / nt


def te_state(values: np.ndarray, is_baseline: np.ndarray, is_target: np.ndarray, *, min_baseline: int = 3,
             min_target: int = 1, dead_band: float = 0.01, nodata: float | None = None) -> tuple[np.ndarray, ...]:
    """Baseline class, target class, class change, baseline mean and target mean along the last axis.

    ``dead_band`` is in the values' units (100 for int16 NDVI x 10000, whose thresholds are then
    decided exactly; 0.01 for NDVI floats). Values equal to ``nodata`` are missing, like NaN.

    Examples
    --------
    >>> y = np.array([0.20, 0.22, 0.21, 0.23, 0.24, 0.20, 0.22, 0.21, 0.23, 0.22, 0.21, 0.22, 0.10, 0.11, 0.12])
    >>> bl, tg = np.arange(15) < 12, np.arange(15) >= 12
    >>> [float(v) for v in te_state(y, bl, tg)[:3]]
    [5.0, 1.0, -4.0]
    """
    rows, lead = kernel_rows(values)
    out = np.empty((5, rows.shape[0]), dtype=np.float64)
    _te_state_rows(rows, np.asarray(is_baseline, bool), np.asarray(is_target, bool), np.int64(min_baseline),
                   np.int64(min_target), np.float64(dead_band), _nodata(nodata), out)
    return tuple(o.reshape(lead) for o in out)


@njit(nogil=True, cache=True)
def _gpg_state_rows(y, is_bl, is_tg, min_bl, min_tg, nodata, out):  # pragma: no cover (numba)
    rows, size = y.shape
    bl = np.empty(size, dtype=np.float64)
    for r in range(rows):
        nb, sb, nt, st = _window_sums(y[r], is_bl, is_tg, nodata, bl)
        if nb < max(min_bl, 2) or nt < max(min_tg, 1):
            for k in range(4):
                out[k, r] = np.nan
            continue
        mu = sb / nb
        ss = 0.0
        for i in range(nb):
            ss += (bl[i] - mu) ** 2
        sigma = math.sqrt(ss / (nb - 1))
        mt = st / nt
        out[1, r] = mu
        out[2, r] = sigma
        out[3, r] = mt
        if sigma == 0.0:
            out[0, r] = 0.0 if mt == mu else (math.inf if mt > mu else -math.inf)
        else:
            out[0, r] = (mt - mu) / (sigma / math.sqrt(nt))


def gpg_state_z(values: np.ndarray, is_baseline: np.ndarray, is_target: np.ndarray, *, min_baseline: int = 3,
                min_target: int = 1, nodata: float | None = None) -> tuple[np.ndarray, ...]:
    """z of the target-years mean against the baseline years' mean and standard deviation (ddof 1).

    The standard error uses the number of valid target years (3 when none is missing); values equal to
    ``nodata`` are missing, like NaN.
    """
    rows, lead = kernel_rows(values)
    out = np.empty((4, rows.shape[0]), dtype=np.float64)
    _gpg_state_rows(rows, np.asarray(is_baseline, bool), np.asarray(is_target, bool),
                    np.int64(min_baseline), np.int64(min_target), _nodata(nodata), out)
    return tuple(o.reshape(lead) for o in out)
