"""SDG 15.3.1 per period (method notes section 5): one out, all out, and status against the baseline.

One out, all out: start from the 3-class productivity; -1 where land cover or SOC is -1; +1 where
that is 0 and land cover or SOC is +1; nodata where any input is nodata (so water is nodata).

Status of a reporting period against the baseline (GPG addendum), 7 classes:
1 persistent degradation, 2 recent degradation, 3 baseline degradation, 4 stable,
5 baseline improvement, 6 recent improvement, 7 persistent improvement; 3-class: 1-3 -> -1,
4 -> 0, 5-7 -> +1. Also applied to each sub-indicator.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from tasks.constants import NODATA, THREE_CLASS_NAMES

__all__ = ["one_out_all_out", "status", "status_3class", "STATUS_TABLE", "STATUS_CLASSES"]

STATUS_TABLE: np.ndarray = np.array([
    # period:  degraded, stable, improved
    [1, 3, 6],   # baseline degraded
    [2, 4, 6],   # baseline stable
    [2, 5, 7],   # baseline improved
], dtype="int16")
"""Status code indexed by [baseline + 1, period + 1]."""

STATUS_CLASSES: dict[int, str] = {
    1: "persistent degradation", 2: "recent degradation", 3: "baseline degradation", 4: "stable",
    5: "baseline improvement", 6: "recent improvement", 7: "persistent improvement",
}
"""The 7 status codes and their names."""


def _three(a: xr.DataArray) -> xr.DataArray:
    return a.isin([-1, 0, 1])


def one_out_all_out(productivity: xr.DataArray, land_cover: xr.DataArray, soc: xr.DataArray) -> xr.DataArray:
    """SDG 15.3.1 3-class map (-1 degraded, 0 stable, +1 improved; nodata -32768) from the sub-indicators."""
    out = xr.where((land_cover == -1) | (soc == -1), -1, productivity)
    out = xr.where((out == 0) & ((land_cover == 1) | (soc == 1)), 1, out)
    ok = _three(productivity) & _three(land_cover) & _three(soc)
    out = out.where(ok, NODATA).astype("int16")
    out.attrs.update({"long_name": "SDG 15.3.1 (one out, all out)", "_FillValue": NODATA,
                      "classes": THREE_CLASS_NAMES,
                      "method": "one out, all out (method notes section 5)"})
    return out


def status(baseline: xr.DataArray, period: xr.DataArray) -> xr.DataArray:
    """7-class status of a reporting period against the baseline (nodata where either is nodata)."""
    ok = _three(baseline) & _three(period)
    b = (baseline.where(ok, 0) + 1).astype("intp")
    p = (period.where(ok, 0) + 1).astype("intp")
    out = xr.apply_ufunc(lambda i, j: STATUS_TABLE[i, j], b, p, dask="parallelized", output_dtypes=["int16"])
    out = out.where(ok, NODATA).astype("int16")
    out.attrs.update({"long_name": "status against the baseline (7 classes)", "_FillValue": NODATA,
                      "classes": STATUS_CLASSES})
    return out


def status_3class(status7: xr.DataArray) -> xr.DataArray:
    """Status 1-3 -> -1, 4 -> 0, 5-7 -> +1 (nodata kept)."""
    out = xr.where(status7 <= 3, -1, xr.where(status7 == 4, 0, 1))
    out = out.where((status7 >= 1) & (status7 <= 7), NODATA).astype("int16")
    out.attrs.update({"long_name": "status (3 classes)", "_FillValue": NODATA,
                      "classes": THREE_CLASS_NAMES})
    return out
