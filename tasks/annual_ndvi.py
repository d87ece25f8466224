"""Annual NDVI integral (method notes, section 1): the mean of the valid 16-day NDVI of each year.

Valid means: pixel reliability in the source's ``qa.valid_values`` (default 0 good, 1 marginal),
raw value not the fill value and inside ``valid_range``. A pixel-year with fewer than
``min_valid`` valid composites is nodata. The result is int16 NDVI x 10000 (rounded half to even,
as ``numpy.round``), nodata -32768, and every productivity statistic is computed from these stored
values, so anyone can recompute trajectory, state and performance from the published layers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio.errors
import xarray as xr
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import AssetSpec, QaRule, RunConfig
from tasks.constants import NDVI_SCALE, NODATA
from tasks.errors import SceneReadError
from tasks.load import analysis_geobox, load_cube, scene_read_error
from tasks.publish import LayerSummary, write_item

__all__ = ["valid_mask", "annual_ndvi", "annual_ndvi_task", "METHOD"]

METHOD = "mean of valid 16-day composites per calendar year (Trends.Earth / GPG v2 annual integral)"
"""Recorded in the metadata of every annual layer."""


def valid_mask(ndvi: xr.DataArray, qa: xr.DataArray, *, ndvi_spec: AssetSpec, qa_rule: QaRule) -> xr.DataArray:
    """True where a raw composite value is usable: good QA, not fill, inside the valid range."""
    ok = qa.isin(qa_rule.valid_values)
    if ndvi_spec.nodata is not None:
        ok &= ndvi != ndvi_spec.nodata
    if ndvi_spec.valid_range is not None:
        lo, hi = ndvi_spec.valid_range
        ok &= (ndvi >= lo) & (ndvi <= hi)
    return ok


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
    mean_raw = total / count.where(count > 0)
    scaled = (mean_raw * (ndvi_spec.scale * NDVI_SCALE) + ndvi_spec.offset * NDVI_SCALE).round()
    out = scaled.where((count >= min_valid) & np.isfinite(scaled), NODATA).astype("int16")
    out.attrs.update({
        "long_name": "annual NDVI integral",
        "units": "NDVI",  # after applying scale_factor; stored as NDVI x 10000
        "scale_factor": 1 / NDVI_SCALE,
        "_FillValue": NODATA,
        "method": METHOD,
        "min_valid_composites": min_valid,
        "qa_valid_values": list(qa_rule.valid_values),
    })
    return out.transpose("year", "y", "x")


@task(name="annual-ndvi", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5,
      retry_condition_fn=lambda task, run, state: _read_failed(state))
def annual_ndvi_task(cfg: RunConfig, year: int, items: list[dict[str, Any]], staging: str) -> LayerSummary:
    """Compute one year's annual NDVI from its composites and write the COG into ``staging``.

    With the layer cache on, a year whose composites (ids, ``updated``, checksums), source settings,
    grid and parameters are unchanged is linked from the cache and no scene is read.
    """
    from tasks.layer_cache import cache_key, item_fingerprint, restore_layer, store_layer

    source = cfg.ndvi()
    assert source.qa is not None
    geobox = analysis_geobox(cfg, source)
    key = cache_key("ndvi-annual", {
        "year": year, "region": cfg.region, "items": sorted((item_fingerprint(d) for d in items), key=lambda f: f["id"]),
        "source": source.model_dump(mode="json"), "min_valid": cfg.min_valid_composites,
        "grid": [geobox.crs.to_wkt(), list(geobox.affine)[:6], list(geobox.shape)],
    })
    cache = (cfg.cache_dir or Path(cfg.out_dir) / ".cache") / "ndvi-annual"
    if cfg.use_cache and (hit := restore_layer(cache, key, staging)) is not None:
        get_run_logger().info("annual NDVI %d: unchanged inputs, linked from the cache (no scenes read)", year)
        return hit
    stac_items = [pystac.Item.from_dict(d) for d in items]
    cube = load_cube(stac_items, source, geobox, chunk=cfg.chunk)
    layer = annual_ndvi(
        cube["ndvi"], cube[source.qa.asset],
        ndvi_spec=source.assets["ndvi"], qa_rule=source.qa, min_valid=cfg.min_valid_composites,
    ).sel(year=year)
    try:
        written = write_item(
            {"data": (layer, False)}, staging, indicator="ndvi-annual", item_id=f"ndvi-annual-{cfg.region}-{year}",
            year=year, source_items=[it.id for it in stac_items], transform=geobox.affine,
        )
    except (rasterio.errors.RasterioError, OSError) as err:  # a scene failed to read during the write
        raise scene_read_error(err, stac_items, source, geobox) from None
    if cfg.use_cache:
        store_layer(cache, key, written)
    return written


def _read_failed(state: Any) -> bool:
    """Retry once on a transient read failure; a 404 or corrupt file fails at once."""
    try:
        state.result()
    except SceneReadError as err:
        return "looks transient" in str(err)
    except Exception:
        return False
    return False
