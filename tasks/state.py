"""Productivity state (method notes 2.2): the recent level of NDVI against the baseline years.

- ``trends_earth`` (default): the baseline years plus two synthetic values, min - 5 % and max + 5 %
  of their range, give deciles p10..p100 (linear interpolation, as ``numpy.percentile``; exact
  parity with GEE's percentile is not attempted). The baseline-years mean and the target-years mean
  are each classed 1..10 (1 if <= p10, else the largest k + 1 with value > p(10k), at most 10);
  change = target class - baseline class, forced to 0 when the two means differ by <= 0.01 NDVI.
  3-class: change <= -2 -> -1, >= +2 -> +1, else 0.
- ``gpg_v2``: z = (target mean - mu) / (sigma / sqrt(k)) with mu, sigma (ddof 1) of the baseline
  years and k valid target years (3 normally); classes -2..+2 on the +-1.28 / +-1.96 scale of the
  trajectory; 3-class: only |z| > 1.96 counts.

Windows (defaults in catalogs/periods.yaml): baseline 2001-2012 -> 2013-2015, report_1 2004-2016 ->
2017-2019, report_2 2008-2020 -> 2021-2023. A pixel needs ``min_baseline`` valid baseline years and
``min_target`` valid target years, else it is nodata.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from tasks.constants import NDVI_SCALE, NODATA
from tasks.errors import ConfigError
from tasks.kernels.state import gpg_state_z, te_state
from tasks.trajectory import GPG_Z_LEVELS

__all__ = ["StateMethod", "state", "STATE_DEAD_BAND"]

StateMethod = Literal["trends_earth", "gpg_v2"]

STATE_DEAD_BAND: float = 0.01
"""NDVI difference of the two means at or below which the class change is 0 (trends_earth)."""


def _as_ndvi(annual: xr.DataArray) -> xr.DataArray:
    if np.issubdtype(annual.dtype, np.integer):
        return annual.where(annual != NODATA).astype("float64") / NDVI_SCALE
    return annual.astype("float64")


def _masks(annual: xr.DataArray, dim: str, baseline: tuple[int, int], target: tuple[int, int]) -> tuple[xr.DataArray, xr.DataArray]:
    years = annual[dim]
    have = set(int(y) for y in years.values)
    for name, (a, b) in (("baseline", baseline), ("target", target)):
        if a > b:
            raise ConfigError(f"state {name} window {a}-{b} is reversed: write first-last")
        missing = [y for y in range(a, b + 1) if y not in have]
        if missing:
            raise ConfigError(
                f"state {name} window {a}-{b} needs annual NDVI for {missing}, which the input does not have: "
                f"it covers {min(have)}-{max(have)}; widen the run's years or move the window"
            )
    if not baseline[1] < target[0]:
        raise ConfigError(f"state target {target[0]}-{target[1]} must come after the baseline {baseline[0]}-{baseline[1]}")
    return (years >= baseline[0]) & (years <= baseline[1]), (years >= target[0]) & (years <= target[1])


def state(
    annual: xr.DataArray,
    *,
    baseline: tuple[int, int],
    target: tuple[int, int],
    method: StateMethod = "trends_earth",
    dim: str = "year",
    min_baseline: int = 3,
    min_target: int = 1,
) -> xr.Dataset:
    """State classes and the 3-class state of annual NDVI (int16 x 10000 or NDVI floats); lazy for Dask.

    Returns, for ``trends_earth``: ``class_baseline``, ``class_target``, ``change`` (int16) and the
    two means (NDVI); for ``gpg_v2``: ``z``, ``classes`` (-2..+2) and the means. Both have ``state``
    (-1/0/+1, nodata -32768) and the method, windows and thresholds in attrs.
    """
    bl, tg = _masks(annual, dim, baseline, target)
    values = _as_ndvi(annual)
    common = dict(input_core_dims=[[dim], [dim], [dim]], dask="parallelized")
    attrs = {"method": method, "baseline": list(baseline), "target": list(target),
             "min_baseline": min_baseline, "min_target": min_target}
    if method == "trends_earth":
        cb, ct, change, mb, mt = xr.apply_ufunc(
            te_state, values, bl, tg, kwargs={"min_baseline": min_baseline, "min_target": min_target,
                                              "dead_band": STATE_DEAD_BAND},
            output_core_dims=[[]] * 5, output_dtypes=["float64"] * 5, **common,
        )
        three = xr.where(change <= -2, -1, xr.where(change >= 2, 1, 0))
        ds = xr.Dataset({
            "class_baseline": cb.fillna(NODATA).astype("int16"),
            "class_target": ct.fillna(NODATA).astype("int16"),
            "change": change.fillna(NODATA).astype("int16"),
            "mean_baseline": mb, "mean_target": mt,
            "state": three.where(change.notnull(), NODATA).astype("int16"),
        })
        attrs["dead_band_ndvi"] = STATE_DEAD_BAND
        attrs["percentile"] = "linear interpolation (numpy.percentile default) over baseline years + min-5%, max+5%"
    elif method == "gpg_v2":
        z, mu, sigma, mt = xr.apply_ufunc(
            gpg_state_z, values, bl, tg, kwargs={"min_baseline": min_baseline, "min_target": min_target},
            output_core_dims=[[]] * 4, output_dtypes=["float64"] * 4, **common,
        )
        lo, hi = GPG_Z_LEVELS
        classes = xr.where(z < -hi, -2, xr.where(z < -lo, -1, xr.where(z <= lo, 0, xr.where(z <= hi, 1, 2))))
        ds = xr.Dataset({
            "z": z, "mean_baseline": mu, "sigma_baseline": sigma, "mean_target": mt,
            "classes": classes.where(z.notnull(), NODATA).astype("int16"),
            "state": xr.where(z < -hi, -1, xr.where(z > hi, 1, 0)).where(z.notnull(), NODATA).astype("int16"),
        })
        attrs["z_levels"] = list(GPG_Z_LEVELS)
    else:
        raise ConfigError(f"unknown state method {method!r}: use 'trends_earth' or 'gpg_v2'")
    ds["state"].attrs.update({"_FillValue": NODATA, "classes": {-1: "degrading", 0: "stable", 1: "improving"}})
    ds.attrs.update(attrs)
    return ds
