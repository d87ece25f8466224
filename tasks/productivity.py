"""Productivity sub-indicator per reporting period: trajectory, state, performance and LPD.

The science lives in ``tasks.trajectory``, ``tasks.state``, ``tasks.performance`` and ``tasks.lpd``;
this module only reads the period's annual NDVI layers and the land cover of its first year, and
writes the four items (each a 3- or 5-class map plus the continuous layers behind it).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.clip import clip, run_area
from tasks.config import Period, RunConfig
from tasks.constants import NODATA
from tasks.load import analysis_geobox, load_layer, lonlat_mask, open_annual_layers, read_onto_grid, static_layer
from tasks.layer_cache import cached_layers, config_fingerprint
from tasks.lpd import lpd, lpd_3class, recode_lpd
from tasks.performance import performance
from tasks.publish import LayerSummary, write_item
from tasks.search import open_api, run_bbox, search_items
from tasks.state import state
from tasks.trajectory import trajectory
from tasks.cluster import computes_on_cluster

__all__ = ["productivity_layers", "productivity_task"]


def _float(da: xr.DataArray, long_name: str, units: str | None = None) -> xr.DataArray:
    out = da.astype("float32")
    out.attrs = {"long_name": long_name, "_FillValue": np.nan, **({"units": units} if units else {})}
    return out


def _classes(da: xr.DataArray, long_name: str, classes: dict[int, str] | None = None) -> xr.DataArray:
    out = da.astype("int16")
    out.attrs = {"long_name": long_name, "_FillValue": NODATA, **({"classes": classes} if classes else {})}
    return out


def productivity_layers(
    annual: xr.DataArray,
    land_cover: xr.DataArray,
    period: Period,
    cfg: RunConfig,
    *,
    soil: xr.DataArray | None = None,
    region: xr.DataArray | None = None,
    precomputed_lpd: xr.DataArray | None = None,
) -> dict[str, tuple[dict[str, tuple[xr.DataArray, bool]], dict]]:
    """For one period: {indicator: (assets, attrs)} for trajectory, state, performance and LPD (lazy).

    ``soil`` (land-unit classes), ``region`` (comparison mask) and ``precomputed_lpd`` (LPD 1..5
    already recoded) are on the analysis grid when given.
    """
    p = cfg.productivity
    window = annual.sel(year=slice(*period.productivity))
    traj = trajectory(window, method=p.trajectory_method, min_years=p.min_years)
    st = state(window, baseline=period.state_baseline, target=period.state_target, method=p.state_method,
               min_baseline=p.min_state_baseline)
    region_name = (f"lon/lat box {list(p.comparison_bbox)}" if p.comparison_bbox is not None
                   else f"the run's area ({cfg.region})")
    perf = performance(window, land_cover, window=period.productivity, soil=soil, percentile=p.percentile,
                       min_unit_pixels=p.min_unit_pixels, ratio_threshold=p.ratio_threshold,
                       region=region, region_name=region_name)
    lpd5 = precomputed_lpd if precomputed_lpd is not None else lpd(traj["trajectory"], st["state"], perf["performance"])
    three = {-1: "degrading", 0: "stable", 1: "improving"}
    traj_assets = {
        "data": (_classes(traj["trajectory"], "productivity trajectory (3 classes)", three), True),
        "classes": (_classes(traj["classes"], "productivity trajectory classes",
                             {k: f"class {k:+d}" if k else "no significant trend" for k in range(-3, 4)}), True),
        "sen_slope": (_float(traj["sen_slope"], "Sen's slope of annual NDVI", "NDVI per year"), False),
        "ols_slope": (_float(traj["ols_slope"], "OLS slope of annual NDVI", "NDVI per year"), False),
        "z": (_float(traj["z"], "Mann-Kendall z"), False),
        "p": (_float(traj["p"], "Mann-Kendall two-sided p"), False),
    }
    state_assets = {"data": (_classes(st["state"], "productivity state (3 classes)", three), True)}
    if p.state_method == "trends_earth":
        state_assets["change"] = (_classes(st["change"], "state class change (target - baseline)"), True)
        state_assets["class_baseline"] = (_classes(st["class_baseline"], "baseline decile class 1-10"), True)
        state_assets["class_target"] = (_classes(st["class_target"], "target decile class 1-10"), True)
    else:
        state_assets["z"] = (_float(st["z"], "state z"), False)
    perf_assets = {
        "data": (_classes(perf["performance"], "productivity performance", {-1: "degraded", 0: "not degraded"}), True),
        "ratio": (_float(perf["ratio"], "window-mean NDVI / unit percentile"), False),
        "mean": (_float(perf["mean"], "window-mean NDVI", "NDVI"), False),
        "unit_percentile": (_float(perf["unit_percentile"], f"{p.percentile:g}th percentile of the land unit", "NDVI"), False),
    }
    lpd_assets = {
        "data": (lpd5, True),
        "sdg": (_classes(lpd_3class(lpd5), "productivity sub-indicator (3 classes)",
                         {-1: "degraded", 0: "stable", 1: "improved"}), True),
    }
    base = {"period_windows": period.model_dump(mode="json")}
    return {
        "trajectory": (traj_assets, {**base, **traj.attrs, "method": f"trajectory {traj.attrs['method']}"}),
        "state": (state_assets, {**base, **st.attrs, "method": f"state {st.attrs['method']}"}),
        "performance": (perf_assets, {**base, **perf.attrs, "method": "performance (Trends.Earth / GPG v2)"}),
        "lpd": (lpd_assets, {**base, **(
            {"method": lpd5.attrs["method"]} if precomputed_lpd is not None else
            {"method": "LPD: Trends.Earth calc_prod5 from trajectory, state, performance",
             "trajectory_method": p.trajectory_method, "state_method": p.state_method,
             "comparison_region": perf.attrs["comparison_region"]})}),
    }


@task(name="productivity-period", cache_policy=NO_CACHE)
@computes_on_cluster
def productivity_task(cfg: RunConfig, name: str, period: Period, annual: list[LayerSummary], inputs: dict[str, Any],
                      staging: str) -> list[LayerSummary]:
    """Trajectory, state, performance and LPD of one reporting period; from the cache when nothing changed.

    The key is the period, the window's annual layers (their own keys), the run's settings and the
    land cover and land-unit inputs (``inputs``).
    """
    in_window = [layer for layer in annual if layer.year is not None
                 and period.productivity[0] <= layer.year <= period.productivity[1]]
    keys = [layer.cache_key for layer in in_window]
    parts = None if None in keys else {"period": name, "window": period.model_dump(mode="json"), "annual": keys,
                                       "config": config_fingerprint(cfg), "inputs": inputs}
    return cached_layers(cfg, "productivity", parts, staging, lambda: _productivity(cfg, name, period, annual, staging))


def _productivity(cfg: RunConfig, name: str, period: Period, annual: list[LayerSummary], staging: str) -> list[LayerSummary]:
    log = get_run_logger()
    source = cfg.ndvi()
    geobox = analysis_geobox(cfg, source)
    paths = {layer.year: layer.path for layer in annual if layer.year is not None
             and period.productivity[0] <= layer.year <= period.productivity[1]}
    area = run_area(cfg, geobox)  # outside the region: no pixel, no read, no unit percentile
    cube = clip(open_annual_layers(paths, chunk=cfg.chunk), area, fill=NODATA)
    lc_source = cfg.land_cover()
    first = period.productivity[0]
    bbox = run_bbox(cfg, source)
    lc_items = search_items(open_api(cfg.api_url(lc_source)), lc_source, bbox=bbox, years=(first, first))
    land_cover = load_layer(lc_items, lc_source, geobox, chunk=cfg.chunk)
    land_cover = clip(land_cover, area, fill=next(iter(lc_source.assets.values())).nodata or 0)
    sources = [it.id for it in lc_items] + sorted(layer.item_id for layer in annual if layer.year in paths)
    soil = None
    unit_source = cfg.land_units()
    if unit_source is not None:
        units, unit_ids = static_layer(cfg, unit_source, geobox, area=area)
        soil = units.fillna(-1).astype("int32")  # nodata -> no unit
        sources += unit_ids
    p = cfg.productivity
    region = lonlat_mask(geobox, p.comparison_bbox, chunk=cfg.chunk) if p.comparison_bbox is not None else None
    pre = None
    if p.precomputed_lpd is not None and (p.precomputed_lpd.periods is None or name in p.precomputed_lpd.periods):
        raw = read_onto_grid(str(p.precomputed_lpd.path), geobox, nodata=p.precomputed_lpd.nodata, chunk=cfg.chunk)
        pre = recode_lpd(raw, p.precomputed_lpd.legend, source=p.precomputed_lpd.name, nodata=raw.attrs["source_nodata"])
        pre = pre.rio.write_crs(geobox.crs.to_wkt())
        log.info("period %s: LPD taken from the precomputed layer %s", name, p.precomputed_lpd.name)
    written = []
    layers = productivity_layers(cube, land_cover, period, cfg, soil=soil, region=region, precomputed_lpd=pre)
    for indicator, (assets, attrs) in layers.items():
        written.append(write_item(
            assets, staging, indicator=indicator, item_id=f"{indicator}-{cfg.region}-{name}", period=name,
            window=period.productivity, attrs=attrs, source_items=sources, transform=geobox.affine, area=area,
        ))
    lpd_item = written[-1]
    counts = {a.key: a.valid_pixels for a in lpd_item.assets}
    log.info("period %s (%d-%d): %d pixels with an LPD class", name, *period.productivity, counts.get("data", 0))
    return written
