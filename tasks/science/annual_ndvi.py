"""The annual NDVI integral (method notes, section 1) as pure functions: the mean, and the maximum, of the valid
16-day NDVI composites of each calendar year, stored as int16 NDVI x 10000.

Valid means: pixel reliability in the source's ``qa.valid_values`` (default 0 good, 1 marginal), raw value not the
fill value and inside ``valid_range``. A pixel-year with fewer than ``min_valid`` valid composites is nodata. Values
are rounded half to even (``numpy.round``), nodata -32768, and every productivity statistic is computed from these
stored values. ``tasks.stages.annual_ndvi`` drives them per tile and year; the streaming ingest kernel
(``tasks.io.sources.ingest``) computes the same values in one pass over the scenes.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from tasks.config import AssetSpec, QaRule
from tasks.constants import NDVI_SCALE, NODATA

__all__ = ["valid_mask", "stored_values", "annual_attrs", "annual_ndvi", "annual_ndvi_max", "METHOD", "MAX_METHOD",
           "MEAN_NAME", "MAX_NAME", "ANNUAL_BANDS"]


METHOD = "mean of valid 16-day composites per calendar year (Trends.Earth / GPG v2 annual integral)"
"""Recorded in the metadata of every annual layer."""


MEAN_NAME, MAX_NAME = "annual NDVI integral", "annual maximum NDVI"
"""The layers' long names."""


MAX_METHOD = "maximum of valid 16-day composites per calendar year (FAO-WOCAT desert mask input)"
"""Recorded in the metadata of every annual maximum layer."""


ANNUAL_BANDS = ("ndvi-annual", "ndvi-annual-max")
"""The bands of a tile-year GeoTIFF, in order: the published indicators they become."""


def valid_mask(ndvi: xr.DataArray, qa: xr.DataArray, *, ndvi_spec: AssetSpec, qa_rule: QaRule) -> xr.DataArray:
    """True where a raw composite value is usable: good QA, not fill, inside the valid range."""
    ok = qa.isin(qa_rule.valid_values)
    if ndvi_spec.nodata is not None:
        ok &= ndvi != ndvi_spec.nodata
    if ndvi_spec.valid_range is not None:
        lo, hi = ndvi_spec.valid_range
        ok &= (ndvi >= lo) & (ndvi <= hi)
    return ok


def stored_values(raw: Any, count: Any, spec: AssetSpec, min_valid: int) -> Any:
    """Raw-unit values (numpy or xarray) as stored int16 NDVI x 10000 (rounded half to even), nodata where fewer
    than ``min_valid`` composites were valid; the one conversion every annual layer goes through."""
    scaled = (raw * (spec.scale * NDVI_SCALE) + spec.offset * NDVI_SCALE).round()
    return xr.where((count >= min_valid) & np.isfinite(scaled), scaled, NODATA).astype("int16")


def annual_attrs(*, long_name: str, method: str, min_valid: int, qa_rule: QaRule) -> dict[str, Any]:
    """The metadata of an annual layer (mean or maximum)."""
    return {
        "long_name": long_name,
        "units": "NDVI",  # after applying scale_factor; stored as NDVI x 10000
        "scale_factor": 1 / NDVI_SCALE,
        "_FillValue": NODATA,
        "method": method,
        "min_valid_composites": min_valid,
        "qa_valid_values": list(qa_rule.valid_values),
    }


def _annual_layer(raw: xr.DataArray, count: xr.DataArray, *, spec: AssetSpec, qa_rule: QaRule, min_valid: int,
                  long_name: str, method: str) -> xr.DataArray:
    """Raw-unit values per year as the published annual layer with its metadata; dims (year, y, x)."""
    out = stored_values(raw, count, spec, min_valid)
    out.attrs.update(annual_attrs(long_name=long_name, method=method, min_valid=min_valid, qa_rule=qa_rule))
    return out.transpose("year", "y", "x")


def annual_ndvi(
    ndvi: xr.DataArray,
    qa: xr.DataArray,
    *,
    ndvi_spec: AssetSpec,
    qa_rule: QaRule,
    min_valid: int = 6,
) -> xr.DataArray:
    """Annual mean NDVI (int16, x 10000, nodata -32768) per calendar year of ``time``; lazy for dask input.

    Parameters
    ----------
    ndvi, qa
        Raw composites on dims (time, y, x); ``time`` is each composite's start date.
    ndvi_spec, qa_rule
        Scale, fill value and valid range of the NDVI asset; QA values that mark usable data.
    min_valid
        Fewest valid composites for a pixel-year to get a value.

    Returns
    -------
    int16 DataArray on dims (year, y, x); method, threshold and QA rule in ``attrs``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime(["2001-01-01", "2001-07-01", "2002-01-01"])
    >>> nd = xr.DataArray(np.array([1000, 3001, 5000], "int16")[:, None, None], dims=("time", "y", "x"), coords={"time": t})
    >>> q = xr.zeros_like(nd).astype("int8")
    >>> spec = AssetSpec(key="ndvi", dtype="int16", scale=0.0001, nodata=-3000, valid_range=(-2000, 10000))
    >>> annual_ndvi(nd, q, ndvi_spec=spec, qa_rule=QaRule(asset="qa", valid_values=[0, 1]), min_valid=1).values.ravel().tolist()
    [2000, 5000]
    """
    ok = valid_mask(ndvi, qa, ndvi_spec=ndvi_spec, qa_rule=qa_rule)
    year = ndvi["time"].dt.year.rename("year")
    # sum raw values (exact in float64) and convert once: for MOD13Q1, scale x 10000 is exactly 1
    total = ndvi.astype("float64").where(ok, 0.0).groupby(year).sum("time")
    count = ok.astype("int16").groupby(year).sum("time")
    return _annual_layer(total / count.where(count > 0), count, spec=ndvi_spec, qa_rule=qa_rule, min_valid=min_valid,
                         long_name=MEAN_NAME, method=METHOD)


def annual_ndvi_max(
    ndvi: xr.DataArray,
    qa: xr.DataArray,
    *,
    ndvi_spec: AssetSpec,
    qa_rule: QaRule,
    min_valid: int = 6,
) -> xr.DataArray:
    """Annual maximum of the valid composites (int16, x 10000, nodata -32768) per calendar year; lazy for dask.

    The same validity and ``min_valid`` rule as ``annual_ndvi``, so a pixel-year has a maximum exactly
    where it has a mean. FAO-WOCAT's desert mask reads it (method notes 2.6).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime(["2001-01-01", "2001-07-01", "2002-01-01"])
    >>> nd = xr.DataArray(np.array([1000, 3001, 5000], "int16")[:, None, None], dims=("time", "y", "x"), coords={"time": t})
    >>> q = xr.zeros_like(nd).astype("int8")
    >>> spec = AssetSpec(key="ndvi", dtype="int16", scale=0.0001, nodata=-3000, valid_range=(-2000, 10000))
    >>> annual_ndvi_max(nd, q, ndvi_spec=spec, qa_rule=QaRule(asset="qa", valid_values=[0, 1]), min_valid=1).values.ravel().tolist()
    [3001, 5000]
    """
    ok = valid_mask(ndvi, qa, ndvi_spec=ndvi_spec, qa_rule=qa_rule)
    year = ndvi["time"].dt.year.rename("year")
    top = ndvi.astype("float64").where(ok).groupby(year).max("time", skipna=True)
    count = ok.astype("int16").groupby(year).sum("time")
    return _annual_layer(top, count, spec=ndvi_spec, qa_rule=qa_rule, min_valid=min_valid,
                         long_name=MAX_NAME, method=MAX_METHOD)
