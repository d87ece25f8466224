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

from fractions import Fraction
from typing import Any, Literal

import numpy as np
import xarray as xr

from tasks.constants import NODATA, TREND_CLASS_NAMES
from tasks.errors import ConfigError
from tasks.kernels.state import gpg_state_z, te_state
from tasks.science.trajectory import GPG_Z_LEVELS, kernel_values

__all__ = ["StateMethod", "state", "gpg_state_classes", "STATE_DEAD_BAND"]

StateMethod = Literal["trends_earth", "gpg_v2"]

STATE_DEAD_BAND: float = 0.01
"""NDVI difference of the two means at or below which the class change is 0 (trends_earth)."""


def _exact_z_beyond(values: np.ndarray, is_bl: np.ndarray, is_tg: np.ndarray, c: Fraction) -> bool:
    """|z| > c for one pixel's series of integers, in rational arithmetic (Python integers)."""
    ok = ~np.isnan(values)
    b = [int(x) for x in values[ok & is_bl]]
    t = [int(x) for x in values[ok & is_tg]]
    nb, nt, sb, st = len(b), len(t), sum(b), sum(t)
    d = st * nb - sb * nt                    # (mean_tg - mean_bl) x nt nb
    q = nb * sum(x * x for x in b) - sb * sb  # sum of squares about the mean x nb
    if q == 0:
        return d != 0
    # z^2 = d^2 (nb - 1) / (nt nb q)
    return d * d * (nb - 1) * c.denominator ** 2 > c.numerator ** 2 * nt * nb * q


def gpg_state_classes(values: np.ndarray, z: np.ndarray, *, is_bl: np.ndarray, is_tg: np.ndarray) -> np.ndarray:
    """-2..+2 from the state z against +-1.28 / +-1.96 (nodata -32768), decided exactly for integer values.

    The float z decides wherever it is clearly off a level (relative distance > 1e-9, far more than
    its rounding error); the few pixels closer than that are decided again in rational arithmetic on
    their stored integers, so a z exactly at a level is never moved by float noise.
    """
    lo, hi = (Fraction(str(c)) for c in GPG_Z_LEVELS)
    a = np.abs(z)
    integer = np.all(np.isnan(values) | (values == np.round(values)), axis=-1)
    beyond = {}
    for c in (lo, hi):
        beyond[c] = a > float(c)
        near = np.isfinite(z) & (np.abs(a - float(c)) <= 1e-9 * float(c))
        for idx in zip(*np.nonzero(near & integer)):
            beyond[c][idx] = _exact_z_beyond(values[idx], is_bl, is_tg, c)
    mag = np.where(beyond[hi], 2, np.where(beyond[lo], 1, 0))
    return np.where(np.isnan(z), NODATA, np.sign(z) * mag).astype("int16")


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
    values, scale, nodata = kernel_values(annual)
    common: dict[str, Any] = dict(input_core_dims=[[dim], [dim], [dim]], dask="parallelized")
    attrs: dict[str, Any] = {"method": method, "baseline": list(baseline), "target": list(target),
             "min_baseline": min_baseline, "min_target": min_target}
    if method == "trends_earth":
        cb, ct, change, mb, mt = xr.apply_ufunc(
            te_state, values, bl, tg, kwargs={"min_baseline": min_baseline, "min_target": min_target,
                                              "dead_band": STATE_DEAD_BAND * scale, "nodata": nodata},
            output_core_dims=[[]] * 5, output_dtypes=["float64"] * 5, **common,
        )
        three = xr.where(change <= -2, -1, xr.where(change >= 2, 1, 0))
        ds = xr.Dataset({
            "class_baseline": cb.fillna(NODATA).astype("int16"),
            "class_target": ct.fillna(NODATA).astype("int16"),
            "change": change.fillna(NODATA).astype("int16"),
            "mean_baseline": mb / scale, "mean_target": mt / scale,
            "state": three.where(change.notnull(), NODATA).astype("int16"),
        })
        attrs["dead_band_ndvi"] = STATE_DEAD_BAND
        attrs["percentile"] = "linear interpolation (numpy.percentile default) over baseline years + min-5%, max+5%"
        attrs["thresholds_decided"] = ("exactly: decile classes and the 0.01 dead band compared as integers "
                                       "(sums and deciles of the int16 NDVI x 10000 values, cross-multiplied)")
    elif method == "gpg_v2":
        z, mu, sigma, mt = xr.apply_ufunc(
            gpg_state_z, values, bl, tg, kwargs={"min_baseline": min_baseline, "min_target": min_target,
                                                 "nodata": nodata},
            output_core_dims=[[]] * 4, output_dtypes=["float64"] * 4, **common,
        )
        floats = values if nodata is None else values.where(values != nodata).astype("float64")
        classes = xr.apply_ufunc(gpg_state_classes, floats, z, input_core_dims=[[dim], []],
                                 kwargs={"is_bl": bl.values, "is_tg": tg.values},
                                 dask="parallelized", output_dtypes=["int16"])
        ds = xr.Dataset({
            "z": z, "mean_baseline": mu / scale, "sigma_baseline": sigma / scale, "mean_target": mt / scale,
            "classes": classes,
            "state": xr.where(classes == NODATA, NODATA, xr.where(classes == -2, -1, xr.where(classes == 2, 1, 0))
                              ).astype("int16"),
        })
        attrs["z_levels"] = list(GPG_Z_LEVELS)
        attrs["z_levels_decided"] = "exactly: pixels within 1e-9 of a level are decided in rational arithmetic"
    else:
        raise ConfigError(f"unknown state method {method!r}: use 'trends_earth' or 'gpg_v2'")
    ds["state"].attrs.update({"_FillValue": NODATA, "classes": TREND_CLASS_NAMES})
    ds.attrs.update(attrs)
    return ds
