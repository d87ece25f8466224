"""The productivity sub-indicator of one reporting period as lazy layers: trajectory, state, performance and LPD
(method notes, section 2), each a class map with the continuous layers behind it, named and described as published.

The kernels are ``tasks.science.trajectory``, ``tasks.science.state``, ``tasks.science.performance``,
``tasks.science.fao_wocat`` and ``tasks.science.lpd``; this module applies them with the run's settings over a period's
windows and gives each result its long name, units, class codes and the method recorded with it.
``tasks.stages.productivity`` computes them tile by tile in two passes and writes them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from tasks.config import Period, RunConfig
from tasks.constants import LPD_CLASSES, NODATA, THREE_CLASS_NAMES, TREND_CLASS_NAMES
from tasks.errors import ConfigError
from tasks.science.fao_wocat import FAO_WOCAT_CLASSES, fao_wocat
from tasks.science.lpd import lpd, lpd_3class
from tasks.science.performance import (
    UnitPercentiles,
    performance,
    window_sum_count,
)
from tasks.science.state import state
from tasks.science.trajectory import trajectory

__all__ = ["Layers", "WINDOW_SUMS", "trend_layers", "window_sum_layers", "lpd_layers", "period_performance",
           "period_fao_wocat", "productivity_layers"]


def _float(da: xr.DataArray, long_name: str, units: str | None = None) -> xr.DataArray:
    out = da.astype("float32")
    out.attrs = {"long_name": long_name, "_FillValue": np.nan, **({"units": units} if units else {})}
    return out


def _classes(da: xr.DataArray, long_name: str, classes: dict[int, str] | None = None) -> xr.DataArray:
    out = da.astype("int16")
    out.attrs = {"long_name": long_name, "_FillValue": NODATA, **({"classes": classes} if classes else {})}
    return out


Layers = dict[str, tuple[dict[str, tuple[xr.DataArray, bool]], dict]]
"""{indicator: (assets, item attrs)}, each asset (a lazy layer, categorical?): what ``write_tile_layers`` writes."""


WINDOW_SUMS = "window"
"""The scratch-only layers pass 1 keeps for pass 2 (``window_sum.tif``, ``window_count.tif``): the window's exact
NDVI sum and valid-year count, all performance needs of the cube. Never published."""


def trend_layers(annual: xr.DataArray, period: Period, cfg: RunConfig) -> tuple[Layers, dict[str, Any]]:
    """For one period: the trajectory and state items (lazy), the part of productivity each pixel decides alone,
    and the attrs of the 3-class trajectory, which the LPD layer inherits (the annual layers' QA rules, the
    trajectory's critical values and dead band)."""
    p = cfg.productivity
    window = annual.sel(year=slice(*period.productivity))
    traj = trajectory(window, method=p.trajectory_method, min_years=p.min_years)
    st = state(window, baseline=period.state_baseline, target=period.state_target, method=p.state_method,
               min_baseline=p.min_state_baseline)
    traj_assets = {
        "data": (_classes(traj["trajectory"], "productivity trajectory (3 classes)", TREND_CLASS_NAMES), True),
        "classes": (_classes(traj["classes"], "productivity trajectory classes",
                             {k: f"class {k:+d}" if k else "no significant trend" for k in range(-3, 4)}), True),
        "sen_slope": (_float(traj["sen_slope"], "Sen's slope of annual NDVI", "NDVI per year"), False),
        "ols_slope": (_float(traj["ols_slope"], "OLS slope of annual NDVI", "NDVI per year"), False),
        "z": (_float(traj["z"], "Mann-Kendall z"), False),
        "p": (_float(traj["p"], "Mann-Kendall two-sided p"), False),
    }
    state_assets = {"data": (_classes(st["state"], "productivity state (3 classes)", TREND_CLASS_NAMES), True)}
    if p.state_method == "trends_earth":
        state_assets["change"] = (_classes(st["change"], "state class change (target - baseline)"), True)
        state_assets["class_baseline"] = (_classes(st["class_baseline"], "baseline decile class 1-10"), True)
        state_assets["class_target"] = (_classes(st["class_target"], "target decile class 1-10"), True)
    else:
        state_assets["z"] = (_float(st["z"], "state z"), False)
    base = {"period_windows": period.model_dump(mode="json")}
    return {
        "trajectory": (traj_assets, {**base, **traj.attrs, "method": f"trajectory {traj.attrs['method']}"}),
        "state": (state_assets, {**base, **st.attrs, "method": f"state {st.attrs['method']}"}),
    }, dict(traj["trajectory"].attrs)


def window_sum_layers(annual: xr.DataArray, period: Period) -> Layers:
    """The period window's exact NDVI sum (int32) and valid-year count (int16) of int16 annual layers, as the
    scratch-only ``WINDOW_SUMS`` item: pass 1 writes them with the trend layers, pass 2 reads them back."""
    if not np.issubdtype(annual.dtype, np.integer):
        raise ConfigError(f"the annual NDVI layers are {annual.dtype}, not int16 NDVI x 10000: rerun the ingest")
    total, count = window_sum_count(annual, window=period.productivity)
    sum_ = total.astype("int32")  # at most 60 years x 32767: no overflow
    sum_.attrs = {"long_name": "window sum of annual NDVI x 10000 (scratch)", "_FillValue": None}
    cnt = count.astype("int16")
    cnt.attrs = {"long_name": "valid years in the window (scratch)", "_FillValue": None}
    return {WINDOW_SUMS: ({"sum": (sum_, False), "count": (cnt, False)}, {})}


def lpd_layers(
    perf: xr.Dataset,
    trajectory_3class: xr.DataArray | None,
    state_3class: xr.DataArray | None,
    period: Period,
    cfg: RunConfig,
    *,
    precomputed_lpd: xr.DataArray | None = None,
    fao: xr.Dataset | None = None,
) -> Layers:
    """For one period: the performance and LPD items (lazy) from ``performance``'s output and the 3-class
    trajectory and state (int16, as ``trend_layers`` writes them), or from ``precomputed_lpd`` (LPD 1..5
    already recoded) or FAO-WOCAT's layers (``fao``, method notes 2.6), whose intermediates become assets."""
    p = cfg.productivity
    if precomputed_lpd is not None:
        lpd5 = precomputed_lpd
    elif fao is not None:
        lpd5 = fao["lpd"]
        lpd5.attrs.update({"classes": {k: v[0] for k, v in LPD_CLASSES.items()}, "method": fao.attrs["method"]})
    else:
        assert trajectory_3class is not None and state_3class is not None
        lpd5 = lpd(trajectory_3class, state_3class, perf["performance"], no_ratio=perf["no_ratio"])
    perf_assets = {
        "data": (_classes(perf["performance"], "productivity performance", {-1: "degraded", 0: "not degraded"}), True),
        "ratio": (_float(perf["ratio"], "window-mean NDVI / unit percentile"), False),
        "mean": (_float(perf["mean"], "window-mean NDVI", "NDVI"), False),
        "unit_percentile": (_float(perf["unit_percentile"], f"{p.percentile:g}th percentile of the land unit", "NDVI"), False),
    }
    lpd_assets = {
        "data": (lpd5, True),
        "sdg": (_classes(lpd_3class(lpd5), "productivity sub-indicator (3 classes)",
                         THREE_CLASS_NAMES), True),
    }
    if fao is not None:  # why each pixel got its class
        names = {"trend": "FAO-WOCAT trend class (Mann-Kendall, 95 %)", "mtid": "FAO-WOCAT MTID code",
                 "steadiness": "FAO-WOCAT steadiness", "biomass": "FAO-WOCAT initial biomass",
                 "emerging": "FAO-WOCAT emerging state", "combination": "FAO-WOCAT combination k (1-36)"}
        for key, long_name in names.items():
            lpd_assets[key] = (_classes(fao[key], long_name, FAO_WOCAT_CLASSES.get(key)), True)
    base = {"period_windows": period.model_dump(mode="json")}
    return {
        "performance": (perf_assets, {**base, **perf.attrs, "method": "performance (Trends.Earth / GPG v2)"}),
        "lpd": (lpd_assets, {**base, **(
            {"method": lpd5.attrs["method"]} if precomputed_lpd is not None else
            {**fao.attrs, "method": "LPD: FAO-WOCAT (method notes 2.6)", "productivity_method": "fao_wocat"}
            if fao is not None else
            {"method": "LPD: Trends.Earth calc_prod5 from trajectory, state, performance",
             "productivity_method": "trends_earth",
             "trajectory_method": p.trajectory_method, "state_method": p.state_method,
             "comparison_region": perf.attrs["comparison_region"]})}),
    }


def period_performance(cfg: RunConfig, period: Period, land_cover: xr.DataArray, *,
                       annual: xr.DataArray | None = None, sums: tuple[xr.DataArray, xr.DataArray] | None = None,
                       soil: xr.DataArray | None = None, region: xr.DataArray | None = None,
                       percentiles: UnitPercentiles | None = None) -> xr.Dataset:
    """``performance`` with the run's settings over the period's window, from the annual layers or their
    window sums (``window_sum_layers``)."""
    p = cfg.productivity
    region_name = (f"lon/lat box {list(p.comparison_bbox)}" if p.comparison_bbox is not None
                   else f"the run's area ({cfg.region_id})")
    window = annual.sel(year=slice(*period.productivity)) if annual is not None else None
    return performance(window, land_cover, window=period.productivity, soil=soil, percentile=p.percentile,
                       min_unit_pixels=p.min_unit_pixels, ratio_threshold=p.ratio_threshold,
                       region=region, region_name=region_name, percentiles=percentiles, sums=sums)


def period_fao_wocat(cfg: RunConfig, period: Period, annual: xr.DataArray,
                     annual_max: xr.DataArray | None) -> xr.Dataset:
    """FAO-WOCAT's LPD and intermediates (method notes 2.6) with the run's settings over the period's window."""
    p, w = cfg.productivity, cfg.productivity.fao_wocat
    window = annual.sel(year=slice(*period.productivity))
    return fao_wocat(window, annual_max.sel(year=slice(*period.productivity)) if annual_max is not None else None,
                     interval=w.interval, biomass_thresholds=w.biomass_thresholds,
                     desert_max_ndvi=w.desert_max_ndvi, use_mtid=w.use_mtid, min_years=p.min_years)


def productivity_layers(
    annual: xr.DataArray,
    land_cover: xr.DataArray,
    period: Period,
    cfg: RunConfig,
    *,
    soil: xr.DataArray | None = None,
    region: xr.DataArray | None = None,
    precomputed_lpd: xr.DataArray | None = None,
    percentiles: UnitPercentiles | None = None,
    annual_max: xr.DataArray | None = None,
) -> Layers:
    """For one period: {indicator: (assets, attrs)} for trajectory, state, performance and LPD (lazy), in one go.

    ``soil`` (land-unit classes), ``region`` (comparison mask) and ``precomputed_lpd`` (LPD 1..5
    already recoded) are on the same grid when given; ``percentiles`` are the units' percentiles over
    the whole comparison region when ``annual`` is one tile of it. With ``method: fao_wocat`` the LPD is
    FAO-WOCAT's (method notes 2.6) with its intermediates as assets, ``annual_max`` (the annual maximum
    layers, same grid) driving its desert mask; trajectory, state and performance are published as ever.
    The pipeline computes the same in two passes per tile (``trend_tile_task``, ``productivity_tile_task``).
    """
    trends, inherited = trend_layers(annual, period, cfg)
    perf = period_performance(cfg, period, land_cover, annual=annual, soil=soil, region=region,
                              percentiles=percentiles)
    fao = (period_fao_wocat(cfg, period, annual, annual_max)
           if precomputed_lpd is None and cfg.productivity.method == "fao_wocat" else None)
    trajectory_3class = trends["trajectory"][0]["data"][0].assign_attrs(inherited)
    rest = lpd_layers(perf, trajectory_3class, trends["state"][0]["data"][0], period, cfg,
                      precomputed_lpd=precomputed_lpd, fao=fao)
    return {**trends, **rest}
