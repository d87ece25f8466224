"""FAO-WOCAT land productivity dynamics (method notes 2.6): a third LPD method beside Trends.Earth's and GPG v2's.

From the annual NDVI of the period's window (years y0..y1) and an interval of n years (default 3):

1. trend class A: Mann-Kendall S significant at Trends.Earth's 95 % critical value for the valid
   years; A = 1 (significant, OLS slope < 0), 3 (significant, slope > 0), else 2;
2. MTID (multi-temporal image differencing): M = sum over the years of (mean of the last n years -
   that year's NDVI); code 1 if M <= 0, 2 if M > 0;
3. steadiness 1-4 from (A, MTID): (1,1) 1, (1,2) 2, (2,1) 2, (2,2) 3, (3,1) 3, (3,2) 4; without MTID:
   A = 1 -> 1, A = 2 -> 2 if S < 0 else 3, A = 3 -> 4;
4. initial biomass B from the mean of the first n years: <= 0.4 low (1), (0.4, 0.7] medium (2), > 0.7
   high (3);
5. emerging state C: the pixel's own deciles p10..p90 over the window (linear interpolation) class the
   means of the first and of the last n years 1..10; d = last - first; C = 1 (d <= -2), 3 (d >= 2), else 2;
6. k = 9 (steadiness - 1) + 3 (C - 1) + B in 1..36; LPD 1 (k <= 8), 2 (9-14), 3 (15-21), 4 (22-30), 5 (31-36);
7. desert mask: where the largest valid 16-day composite of the window is <= 0.25 NDVI, LPD = 4 (stable).

The 3-class recode is LPD 1-2 -> -1, 3-4 -> 0, 5 -> +1, as for the other methods. Every threshold
is decided exactly on the stored int16 values. A pixel with fewer than ``min_years`` valid years is
nodata. The intermediates are returned too, so a user can see why a pixel got its class.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from tasks.constants import NDVI_SCALE, NODATA
from tasks.errors import ConfigError
from tasks.kernels.fao_wocat import OUTPUTS, fao_wocat_kernel
from tasks.science.trajectory import te_critical_s

__all__ = ["fao_wocat", "FAO_WOCAT_CLASSES"]

FAO_WOCAT_CLASSES: dict[str, dict[int, str]] = {
    "trend": {1: "significant decline", 2: "no significant trend", 3: "significant increase"},
    "mtid": {1: "recent years at or below the window (M <= 0)", 2: "recent years above the window (M > 0)"},
    "steadiness": {1: "strong negative", 2: "moderate negative", 3: "moderate positive", 4: "strong positive"},
    "biomass": {1: "low (<= 0.4)", 2: "medium (0.4-0.7]", 3: "high (> 0.7)"},
    "emerging": {1: "declining (-2 deciles or more)", 2: "no change", 3: "increasing (+2 deciles or more)"},
}
"""Class codes of the intermediate layers (the LPD itself uses the LPD 1-5 codes)."""


def _check(interval: int, biomass_thresholds: tuple[float, float], desert_max_ndvi: float, years: int,
           min_years: int) -> None:
    if interval < 1 or 2 * interval > years:
        raise ConfigError(f"FAO-WOCAT interval {interval} needs 1 <= 2 x interval <= the window's {years} years: "
                          "the method uses 3")
    low, high = biomass_thresholds
    if not -1 <= low < high <= 1:
        raise ConfigError(f"FAO-WOCAT biomass thresholds {list(biomass_thresholds)} must rise within [-1, 1]: "
                          "the method uses [0.4, 0.7]")
    if not -1 <= desert_max_ndvi <= 1:
        raise ConfigError(f"FAO-WOCAT desert max NDVI {desert_max_ndvi} is outside [-1, 1]: the method uses 0.25")
    if min_years > years:
        raise ConfigError(f"min_years {min_years} exceeds the window's {years} years: lower min_years or widen the period")


def fao_wocat(
    annual: xr.DataArray,
    annual_max: xr.DataArray | None = None,
    *,
    interval: int = 3,
    biomass_thresholds: tuple[float, float] = (0.4, 0.7),
    desert_max_ndvi: float = 0.25,
    use_mtid: bool = True,
    min_years: int = 10,
    dim: str = "year",
) -> xr.Dataset:
    """FAO-WOCAT LPD 1-5 and its intermediates (trend, MTID, steadiness, initial biomass, emerging state).

    ``annual`` is the window's int16 annual NDVI x 10000 (nodata -32768); ``annual_max`` the annual
    maximum of the valid composites on the same grid and years, which drives the desert mask (without
    it no pixel is masked, and the metadata says so). Lazy for Dask input; ``dim`` in one chunk.
    Every output is int16 with nodata -32768; method and parameters are in attrs.
    """
    years = [int(v) for v in annual[dim].values]
    _check(interval, biomass_thresholds, desert_max_ndvi, len(years), min_years)
    integer = np.issubdtype(annual.dtype, np.integer)
    values = annual.astype("float64").where(annual != NODATA) if integer else annual.astype("float64")
    scale = NDVI_SCALE if integer else 1.0
    if annual_max is not None:
        top = annual_max.astype("float64").where(annual_max != NODATA) if integer else annual_max.astype("float64")
        window_max = top.max(dim, skipna=True)
    else:
        window_max = xr.full_like(values.isel({dim: 0}, drop=True), np.nan)
    s95 = np.zeros(len(years) + 1, dtype=np.int64)
    for n in range(4, len(years) + 1):
        s95[n] = te_critical_s(n)[1]
    outs = xr.apply_ufunc(
        fao_wocat_kernel, values, window_max,
        kwargs={"s95_by_n": s95, "interval": interval, "biomass_thresholds": tuple(biomass_thresholds),
                "desert_max_ndvi": desert_max_ndvi, "scale": scale, "use_mtid": use_mtid, "min_years": min_years},
        input_core_dims=[[dim], []], output_core_dims=[[] for _ in OUTPUTS],
        dask="parallelized", output_dtypes=["float64"] * len(OUTPUTS),
    )
    ds = xr.Dataset({name: out.fillna(NODATA).astype("int16") for name, out in zip(OUTPUTS, outs)})
    for name, classes in FAO_WOCAT_CLASSES.items():
        ds[name].attrs.update({"_FillValue": NODATA, "classes": classes})
    ds["lpd"].attrs.update({"_FillValue": NODATA, "long_name": "land productivity dynamics (FAO-WOCAT, 5 classes)"})
    ds.attrs.update({
        "method": "FAO-WOCAT LPD (method notes 2.6)", "window": [years[0], years[-1]], "interval_years": interval,
        "biomass_thresholds_ndvi": list(biomass_thresholds), "desert_max_ndvi": desert_max_ndvi,
        "desert_mask": "applied: window maximum of valid composites" if annual_max is not None
                       else "not applied: no annual maximum layer given",
        "mtid": "used" if use_mtid else "not used (steadiness from the trend class and the sign of S)",
        "min_years": min_years,
        "trend_significance": "Mann-Kendall S and the OLS slope of the window's valid years, significant at Trends.Earth's "
                              "95 % critical S for n = the number of valid years (Trends.Earth uses n = the window's "
                              "length even when years are missing)",
        "first_last_years": f"the window's first and last {interval} calendar years, averaged over those of them that "
                            "are valid (never the first valid years); none valid at either end: nodata",
        "percentile": "linear interpolation of the pixel's own annual values (numpy.percentile default)",
        "thresholds_decided": "exactly, on the stored int16 NDVI x 10000 values",
    })
    return ds
