"""Five-class land productivity dynamics (method notes 2.4) from trajectory, state and performance.

Inputs are the 3-class maps T (trajectory), S (state) and P (performance, -1 or 0); nodata in any
input gives nodata, except performance left undefined by a land unit whose 90th percentile is <= 0
(method notes 2.5), which only blanks the LPD where the table needs performance. A precomputed LPD layer (JRC, FAO-WOCAT or custom) may replace the computed
one through ``recode_lpd`` with the product's own legend.

| T  | S       | P   | LPD |
|----|---------|-----|-----|
| -1 | any     | any | 1   |
| 0  | -1      | -1  | 1   |
| 0  | -1      | 0   | 2   |
| 0  | 0       | -1  | 3   |
| 0  | 0       | 0   | 4   |
| 0  | +1      | any | 4   |
| +1 | -1      | -1  | 2   |
| +1 | -1      | 0   | 5   |
| +1 | 0 or +1 | any | 5   |
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from tasks.constants import LPD_CLASSES, LPD_TO_3CLASS, NODATA, THREE_CLASS_NAMES, code_mapper
from tasks.errors import ConfigError

__all__ = ["LPD_TABLE", "PERFORMANCE_DECIDES", "lpd", "lpd_3class", "recode_lpd"]

LPD_TABLE: np.ndarray = np.array(
    [  # T = -1
        [[1, 1], [1, 1], [1, 1]],
        # T = 0: S = -1, 0, +1; P = -1, 0
        [[1, 2], [3, 4], [4, 4]],
        # T = +1
        [[2, 5], [5, 5], [5, 5]],
    ],
    dtype="int16",
)
"""LPD code indexed by [T + 1, S + 1, P + 1] (P is -1 or 0)."""


PERFORMANCE_DECIDES: np.ndarray = LPD_TABLE[:, :, 0] != LPD_TABLE[:, :, 1]
"""[T + 1, S + 1]: True where the LPD depends on performance (T = 0 with S = -1 or 0, and T = +1 with S = -1)."""


def _lookup(t: np.ndarray, s: np.ndarray, p: np.ndarray, no_ratio: np.ndarray | None = None) -> np.ndarray:
    ts_ok = np.isin(t, (-1, 0, 1)) & np.isin(s, (-1, 0, 1))
    p_ok = np.isin(p, (-1, 0))
    ti = np.where(ts_ok, t + 1, 0).astype(np.intp)
    si = np.where(ts_ok, s + 1, 0).astype(np.intp)
    pi = np.where(p_ok, p + 1, 0).astype(np.intp)
    ok = ts_ok & p_ok
    if no_ratio is not None:  # performance undefined (unit percentile <= 0): needed only where it decides
        ok |= ts_ok & no_ratio.astype(bool) & ~PERFORMANCE_DECIDES[ti, si]
    return np.where(ok, LPD_TABLE[ti, si, pi], NODATA).astype("int16")


def lpd(trajectory: xr.DataArray, state: xr.DataArray, performance: xr.DataArray, *,
        no_ratio: xr.DataArray | None = None) -> xr.DataArray:
    """LPD classes 1..5 (nodata -32768) from the 3-class trajectory, state and performance; lazy for Dask.

    ``no_ratio`` marks pixels whose performance is nodata only because their land unit's percentile
    is <= 0 (method notes 2.5): there the LPD is set wherever the table does not need performance
    (T = -1; T = 0 with S = +1; T = +1 with S >= 0) and stays nodata where it does.
    """
    args = [trajectory, state, performance] + ([no_ratio] if no_ratio is not None else [])
    out = xr.apply_ufunc(_lookup, *args, dask="parallelized", output_dtypes=["int16"])
    for inherited in ("scale_factor", "add_offset", "units"):  # codes, not the inputs' scaled values
        out.attrs.pop(inherited, None)
    out.attrs.update({
        "long_name": "land productivity dynamics (5 classes)",
        "_FillValue": NODATA,
        "classes": {k: v[0] for k, v in LPD_CLASSES.items()},
        "method": "Trends.Earth calc_prod5 table (method notes 2.4)",
    })
    return out


def lpd_3class(lpd_classes: xr.DataArray) -> xr.DataArray:
    """The productivity sub-indicator: LPD 1-2 -> -1, 3-4 -> 0, 5 -> +1 (nodata kept)."""
    table = np.full(7, NODATA, dtype="int16")
    for k, v in LPD_TO_3CLASS.items():
        table[k] = v

    def _recode(a: np.ndarray) -> np.ndarray:
        ok = (a >= 1) & (a <= 5)
        return np.where(ok, table[np.where(ok, a, 0)], NODATA).astype("int16")

    out = xr.apply_ufunc(_recode, lpd_classes, dask="parallelized", output_dtypes=["int16"])
    out.attrs.update({"long_name": "productivity sub-indicator (3 classes)", "_FillValue": NODATA,
                      "classes": THREE_CLASS_NAMES})
    return out


def recode_lpd(layer: xr.DataArray, legend: Mapping[int, int], *, source: str, nodata: float | None = None) -> xr.DataArray:
    """A precomputed LPD layer (JRC, FAO-WOCAT, custom) as LPD 1..5 through its legend ``{value: lpd}``.

    Values in ``legend`` map to LPD codes; the layer's ``nodata`` becomes -32768; any other value
    present in the data is an error naming it, since silently dropping classes would bias areas.
    """
    bad = {k: v for k, v in legend.items() if v not in LPD_CLASSES}
    if bad:
        raise ConfigError(f"LPD legend of {source} maps to {sorted(set(bad.values()))}, not LPD codes 1..5: fix the legend")
    values = np.unique(np.asarray(layer))
    known = set(legend) | ({nodata} if nodata is not None else set())
    unknown = [v.item() for v in values if v not in known and not (isinstance(v, float) and np.isnan(v))]
    if unknown:
        raise ConfigError(
            f"precomputed LPD layer {source} holds values {unknown[:10]} that its legend does not map: "
            "add them to the legend (or declare the layer's nodata)"
        )
    out = xr.apply_ufunc(code_mapper(dict(legend)), layer, dask="parallelized", output_dtypes=["int16"])
    out.attrs.update({"long_name": "land productivity dynamics (5 classes, precomputed)", "_FillValue": NODATA,
                      "classes": {k: v[0] for k, v in LPD_CLASSES.items()}, "method": f"precomputed: {source}"})
    return out
