"""Counting kernel of performance's pass 1: window-mean NDVI per land unit, from the window's exact sums.

The same decision as ``tasks.science.performance.unit_histograms`` on ``mean_of_sums``, pixel for pixel (the mean
is ``sum / count / scale`` in float64 and its bin ``rint(mean x scale)``), in one loop with no temporary
arrays and without the GIL, so it runs beside the pass's other work.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["add_unit_counts"]


@njit(nogil=True, cache=True)
def _add_counts(units, total, count, inside, ids, scale, lo, hi, hist):  # pragma: no cover (numba)
    for i in range(units.size):
        u = units[i]
        c = count[i]
        if u < 0 or c <= 0 or not inside[i]:
            continue
        q = np.rint(total[i] / np.float64(c) / scale * scale)
        if q < lo or q > hi:
            continue
        k = np.searchsorted(ids, u)
        hist[k, np.int64(q) - lo] += 1


def add_unit_counts(hist: np.ndarray, ids: np.ndarray, units: np.ndarray, total: np.ndarray, count: np.ndarray,
                    inside: np.ndarray | None, *, scale: float, lo: int, hi: int) -> None:
    """Add to ``hist`` (one row per id in the sorted ``ids``, one column per bin ``lo``..``hi`` of mean x ``scale``)
    each pixel of ``units`` (an id, or < 0 for none) with a valid year (``count`` > 0) and ``inside`` (all if
    None): its window mean is ``total / count / scale``. Every unit id of ``units`` must be in ``ids``."""
    flat = [np.ascontiguousarray(a).ravel() for a in (units, total, count)]
    mask = np.ones(flat[0].size, np.bool_) if inside is None else np.ascontiguousarray(inside, np.bool_).ravel()
    _add_counts(flat[0].astype(np.int64, copy=False), flat[1].astype(np.int64, copy=False),
                flat[2].astype(np.int64, copy=False), mask, np.ascontiguousarray(ids, np.int64), np.float64(scale),
                np.int64(lo), np.int64(hi), hist)
