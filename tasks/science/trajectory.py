"""Productivity trajectory (method notes 2.1): the trend of annual NDVI over a window, and its classes.

The statistics come from one numba kernel (Mann-Kendall S, tie-corrected variance, z, p, Sen's and
OLS slopes). Two named methods turn them into classes -3..+3 and a 3-class map:

- ``trends_earth`` (default, comparable with official Trends.Earth data): sign from the OLS slope,
  significance from Trends.Earth's own table of critical S at its "90/95/99%" levels
  (``catalogs/te_kendall_critical_s.csv``, n = 4..59), classes +-1/2/3 where |S| >= S90/S95/S99,
  then 0 where |S| <= S90 or |OLS slope| <= 0.001 NDVI/yr. The table is not the exact one-tailed
  quantiles (its "95%" at n = 15 has a true size of about 0.057) and is reproduced as it is; for
  n >= 60, where it has no entry, the exact quantiles of the null distribution of S are used and the
  layer's metadata says so.
- ``gpg_v2``: z with the tie-corrected variance against +-1.28 / +-1.96: classes -2 (z < -1.96),
  -1 (-1.96 <= z < -1.28), 0 (|z| <= 1.28), +1 (1.28 < z <= 1.96), +2 (z > 1.96).

3-class: only the 95 % classes count (trends_earth: -3,-2 -> -1, +2,+3 -> +1; gpg_v2: +-2 -> +-1).
Missing years inside the window are skipped (slopes use the true year positions); a pixel with
fewer than ``min_years`` valid years is nodata.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from typing import Literal

import numpy as np
import xarray as xr

from tasks.constants import CATALOGS_DIR, NDVI_SCALE, NODATA, TREND_CLASS_NAMES
from tasks.errors import ConfigError
from tasks.kernels.trend import OUTPUTS, mann_kendall_sen

__all__ = [
    "check_window",
    "TrajectoryMethod",
    "trend_statistics",
    "kernel_values",
    "trajectory_classes",
    "trajectory_3class",
    "trajectory",
    "te_critical_s",
    "kendall_s_null",
    "exact_critical_s",
    "TE_TABLE_FILE",
    "TE_SLOPE_DEAD_BAND",
    "TE_SLOPE_DEAD_BAND_STORED",
    "GPG_Z_LEVELS",
]

TrajectoryMethod = Literal["trends_earth", "gpg_v2"]

TE_TABLE_FILE = CATALOGS_DIR / "te_kendall_critical_s.csv"
"""Trends.Earth's critical values of Kendall's S for n = 4..59 at its 90/95/99 % levels."""

TE_SLOPE_DEAD_BAND: float = 0.001
"""|OLS slope| at or below this many NDVI units per year is class 0 in ``trends_earth``."""

TE_SLOPE_DEAD_BAND_STORED: int = 10
"""The same dead band in stored units (NDVI x 10000 per year), on which it is decided exactly."""

GPG_Z_LEVELS: tuple[float, float] = (1.28, 1.96)
"""z thresholds of the ``gpg_v2`` method (potential, significant)."""

_ALPHAS = (0.10, 0.05, 0.01)
"""One-tailed sizes used for the exact critical values beyond Trends.Earth's table."""


@lru_cache(maxsize=1)
def _te_table() -> dict[int, tuple[int, int, int]]:
    rows = [r for r in TE_TABLE_FILE.read_text().splitlines() if r and not r.startswith("#")]
    table = {}
    for row in csv.DictReader(rows):
        table[int(row["n"])] = (int(row["s90"]), int(row["s95"]), int(row["s99"]))
    return table


@lru_cache(maxsize=256)
def kendall_s_null(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact null distribution of Kendall's S for n untied values: (values of S, probabilities).

    S = n(n-1)/2 - 2 * inversions, and the inversion count of a random permutation is a sum of
    independent uniforms on {0..k-1}, k = 1..n, so the distribution is their convolution.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    probs = np.array([1.0])
    for k in range(2, n + 1):
        probs = np.convolve(probs, np.full(k, 1.0 / k))
    inversions = np.arange(probs.size)
    s = n * (n - 1) // 2 - 2 * inversions
    return s[::-1].copy(), probs[::-1].copy()


def exact_critical_s(n: int, alpha: float) -> int:
    """Smallest s with P(S >= s) <= alpha under H0 (one-tailed), from the exact null distribution."""
    s, p = kendall_s_null(n)
    upper = np.cumsum(p[::-1])[::-1]  # P(S >= s[i]) for ascending s
    ok = np.flatnonzero(upper <= alpha + 1e-15)
    return int(s[ok[0]]) if ok.size else int(s[-1]) + 1


def te_critical_s(n: int) -> tuple[int, int, int, str]:
    """Critical S at the 90/95/99 levels for ``n`` valid years, and where they came from."""
    table = _te_table()
    if n in table:
        return (*table[n], "trends_earth_table")
    if n < min(table):
        raise ConfigError(f"the trajectory needs at least {min(table)} valid years; got {n}: lengthen the window")
    s90, s95, s99 = (exact_critical_s(n, a) for a in _ALPHAS)
    return s90, s95, s99, "exact_quantiles"


def kernel_values(annual: xr.DataArray) -> tuple[xr.DataArray, float, float | None]:
    """The values the trend and state kernels decide on, their scale and their nodata value: int16 layers go in
    as stored (nodata -32768, NDVI x 10000), floats as NDVI with NaN. The kernels read either directly, so
    no converted copy of the cube is made on the way in."""
    if np.issubdtype(annual.dtype, np.integer):
        return annual, NDVI_SCALE, float(NODATA)
    return annual.astype("float64"), 1.0, None


def trend_statistics(annual: xr.DataArray, *, dim: str = "year", min_years: int = 10) -> xr.Dataset:
    """S, var(S), z, p, Sen's slope, OLS slope (NDVI per year) and valid-year count along ``dim``.

    ``annual`` holds int16 NDVI x 10000 with nodata -32768 (or floats with NaN); slopes are
    returned in NDVI units per year. The kernel runs on the stored integers, so S, var(S) and the
    OLS ratio are exact, and ``ols_slope_stored`` (the OLS slope in stored units per year, the one
    the classes are decided on) is the correctly rounded exact ratio. Lazy for Dask input; ``dim``
    must be in one chunk.
    """
    values, scale, nodata = kernel_values(annual)
    outs = xr.apply_ufunc(
        mann_kendall_sen, values,
        kwargs={"min_count": min_years, "nodata": nodata},
        input_core_dims=[[dim]],
        output_core_dims=[[] for _ in OUTPUTS],
        dask="parallelized",
        output_dtypes=["float64"] * len(OUTPUTS),
    )
    ds = xr.Dataset(dict(zip(OUTPUTS, outs)))
    ds["ols_slope_stored"] = ds["ols_slope"]
    ds["sen_slope"] = ds["sen_slope"] / scale
    ds["ols_slope"] = ds["ols_slope"] / scale
    ds["n"] = ds["n"].astype("int16")
    ds["sen_slope"].attrs["units"] = ds["ols_slope"].attrs["units"] = "NDVI per year"
    ds.attrs.update({"min_years": min_years, "years": [int(v) for v in annual[dim].values], "value_scale": scale})
    return ds


def _classes_trends_earth(s: np.ndarray, n: np.ndarray, slope: np.ndarray, dead_band: float) -> tuple[np.ndarray, bool]:
    out = np.full(s.shape, NODATA, dtype="int16")
    fallback = False
    valid = np.isfinite(s) & np.isfinite(slope)
    for count in np.unique(n[valid]).astype(int):
        s90, s95, s99, origin = te_critical_s(int(count))
        fallback |= origin == "exact_quantiles"
        sel = valid & (n == count)
        a = np.abs(s)
        cls = np.zeros(s.shape, dtype="int16")
        cls = np.where(a >= s90, 1, cls)
        cls = np.where(a >= s95, 2, cls)
        cls = np.where(a >= s99, 3, cls).astype("int16")
        cls = np.where(slope < 0, -cls, np.where(slope > 0, cls, 0))
        cls = np.where((a <= s90) | (np.abs(slope) <= dead_band), 0, cls)
        out = np.where(sel, cls, out).astype("int16")
    return out, fallback


def _classes_gpg_v2(s: np.ndarray, var_s: np.ndarray) -> np.ndarray:
    """-2..+2 from z = (S - sign S) / sqrt(var S) against +-1.28 / +-1.96, decided exactly.

    S and 18 var(S) are integers, so |z| > c (c = k / 100) is 18 * 100**2 * (|S| - 1)**2 > k**2 * 18 var(S),
    compared in int64 (for n <= 60 both sides stay below 2**53).
    """
    ok = np.isfinite(s) & np.isfinite(var_s)
    si = np.where(ok, s, 0).astype(np.int64)
    v18 = np.rint(np.where(ok, var_s, 0) * 18).astype(np.int64)
    m = np.maximum(np.abs(si) - 1, 0)
    lhs = 18 * 100**2 * m * m
    moving = (si != 0) & (v18 > 0)
    lo, hi = (round(c * 100) for c in GPG_Z_LEVELS)
    beyond_lo = moving & (lhs > lo * lo * v18)
    beyond_hi = moving & (lhs > hi * hi * v18)
    mag = np.where(beyond_hi, 2, np.where(beyond_lo, 1, 0))
    return np.where(ok, np.sign(si) * mag, NODATA).astype("int16")


def trajectory_classes(stats: xr.Dataset, *, method: TrajectoryMethod = "trends_earth") -> xr.DataArray:
    """Trajectory classes (-3..+3 for ``trends_earth``, -2..+2 for ``gpg_v2``; nodata -32768).

    Every threshold is decided exactly on the stored integers (method notes 2.5): the slope dead
    band on the exact OLS ratio in stored units, the z levels by comparing squares of integers.
    """
    if method == "trends_earth":
        dead_band = TE_SLOPE_DEAD_BAND_STORED if stats.attrs.get("value_scale", 1.0) == NDVI_SCALE else TE_SLOPE_DEAD_BAND

        def _te(s: np.ndarray, n: np.ndarray, slope: np.ndarray) -> np.ndarray:
            return _classes_trends_earth(s, n, slope, dead_band)[0]

        slope = stats["ols_slope_stored"] if "ols_slope_stored" in stats else stats["ols_slope"]
        out = xr.apply_ufunc(_te, stats["s"], stats["n"], slope, dask="parallelized", output_dtypes=["int16"])
        n_max = len(stats.attrs.get("years", [])) or 0
        fallback = n_max >= 60
        out.attrs["critical_values"] = (
            "Trends.Earth table (Hollander & Wolfe A.30) at its 90/95/99 levels"
            + ("; exact one-tailed quantiles 0.10/0.05/0.01 for n >= 60" if fallback else "")
        )
        out.attrs["slope_dead_band_ndvi_per_year"] = TE_SLOPE_DEAD_BAND
        out.attrs["slope_dead_band_decided"] = "exactly: |OLS slope| <= 10 NDVI x 10000 per year, on the exact ratio"
    elif method == "gpg_v2":
        out = xr.apply_ufunc(_classes_gpg_v2, stats["s"], stats["var_s"], dask="parallelized", output_dtypes=["int16"])
        out.attrs["z_levels"] = list(GPG_Z_LEVELS)
        out.attrs["z_levels_decided"] = "exactly: squares of integers compared (S and 18 var S are integers)"
    else:
        raise ConfigError(f"unknown trajectory method {method!r}: use 'trends_earth' or 'gpg_v2'")
    out.attrs.update({"method": method, "_FillValue": NODATA, "long_name": "productivity trajectory class"})
    return out


def trajectory_3class(classes: xr.DataArray) -> xr.DataArray:
    """-1 degrading, 0 stable, +1 improving from the trajectory classes; only the 95 % classes count."""
    out = xr.where(classes == NODATA, NODATA, xr.where(classes <= -2, -1, xr.where(classes >= 2, 1, 0))).astype("int16")
    out.attrs.update({**classes.attrs, "long_name": "productivity trajectory (3 classes)",
                      "classes": TREND_CLASS_NAMES})
    return out


def check_window(first: int, last: int, n_years: int, min_years: int) -> None:
    """Fail in one line when a trajectory window of ``n_years`` annual layers (``first``-``last``) is too short
    for the method (4 years) or for ``min_years``: the run checks the configured periods with it before any work."""
    if n_years < 4:
        raise ConfigError(f"the trajectory window has {n_years} years; it needs at least 4: widen the period")
    if min_years > n_years:
        raise ConfigError(
            f"min_years {min_years} exceeds the {n_years} years of the window {first}-{last}: "
            "lower min_years or widen the period"
        )


def trajectory(
    annual: xr.DataArray,
    *,
    method: TrajectoryMethod = "trends_earth",
    dim: str = "year",
    min_years: int = 10,
) -> xr.Dataset:
    """Trend statistics, classes and the 3-class trajectory of an annual NDVI window.

    Returns a Dataset with ``s``, ``var_s``, ``z``, ``p``, ``sen_slope``, ``ols_slope``, ``n``,
    ``classes`` and ``trajectory`` (3-class), with the method, window and thresholds in attrs.
    """
    years = annual[dim].values
    check_window(int(years[0]), int(years[-1]), years.size, min_years)
    stats = trend_statistics(annual, dim=dim, min_years=min_years)
    classes = trajectory_classes(stats, method=method)
    ds = stats.assign(classes=classes, trajectory=trajectory_3class(classes))
    ds.attrs.update({"method": method, "window": [int(years[0]), int(years[-1])], "min_years": min_years,
                     **{k: v for k, v in classes.attrs.items() if k not in ("_FillValue", "long_name")}})
    return ds
