"""Per period: the land cover and SOC sub-indicators, SDG 15.3.1, status against the baseline and the LDN balance.

Thin Prefect tasks over the science in ``tasks.science.land_cover``, ``tasks.science.soc``, ``tasks.science.sdg``
and ``tasks.science.ldn_balance``: they load the inputs onto the analysis grid, call the pure functions and write
the items.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import Period
from tasks.constants import NODATA, THREE_CLASS_NAMES, WATER
from tasks.errors import ConfigError
from tasks.geo.areas import class_areas
from tasks.geo.grid import grid_crs
from tasks.io.outputs.cog import write_layer
from tasks.io.outputs.items import write_item, write_lock
from tasks.io.runtime.cache_keys import (
    LAND_SOC_SETTINGS,
    LDN_BALANCE_SETTINGS,
    SDG_SETTINGS,
    STATUS_SETTINGS,
    cache_key,
    inputs_of,
    settings_fingerprint,
)
from tasks.io.runtime.cluster import computes_on_cluster
from tasks.io.runtime.layer_cache import cache_for, cached_layers, restore_layers
from tasks.io.runtime.shared_nothing import on_its_own_disk
from tasks.io.sources.inputs import land_cover_series
from tasks.io.sources.load import open_tile_layer, static_layer
from tasks.io.sources.recode import apply_recodes, read_recodes
from tasks.io.sources.run import RunContext, region_weights
from tasks.model import LayerSummary
from tasks.science.land_cover import (
    LEGEND_FILE,
    aggregate,
    annual_class_sums,
    check_codes,
    class_area_table,
    lc_degradation,
    load_legend,
    transition_areas,
    transition_code,
)
from tasks.science.ldn_balance import MAX_LAND_UNIT, gains_losses, land_type_names, land_types
from tasks.science.sdg import one_out_all_out, status, status_3class
from tasks.science.soc import SOC_MODEL_FILE, check_climate, check_soc_window, load_soc_model, soc_change

__all__ = ["LandCoverOnGrid", "land_cover_grid_task",
           "restore_land_soc_task", "land_soc_task", "sdg_task", "status_task",
           "ldn_balance_task"]


def _classes(da: xr.DataArray, name: str, classes: dict | None = None) -> xr.DataArray:
    out = da.astype("int16")
    out.attrs = {"long_name": name, "_FillValue": NODATA, **({"classes": classes} if classes else {})}
    return out


def _float(da: xr.DataArray, name: str, units: str | None = None) -> xr.DataArray:
    out = da.astype("float32")
    out.attrs = {"long_name": name, "_FillValue": np.nan, **({"units": units} if units else {})}
    return out


def _land_soc_parts(run: RunContext, name: str, period: Period, inputs: dict[str, Any]) -> dict[str, Any]:
    """What one period's land cover and SOC items depend on: its cache key's parts."""
    cfg = run.cfg
    model = load_soc_model(cfg.soc_model or SOC_MODEL_FILE)
    climate = cfg.climate_source if cfg.soc_single_f is None else None
    return {"period": name, "window": period.model_dump(mode="json"), "grid": run.grid_key,
            "settings": settings_fingerprint(cfg, LAND_SOC_SETTINGS, soc_model=SOC_MODEL_FILE, land_cover_legend=LEGEND_FILE),
            "sources": {role: run.source(n, role).model_dump(mode="json") for n, role in
                        ((cfg.land_cover_source, "land_cover"), (cfg.soc_source, "soc"), (climate, "climate_zones")) if n},
            # the land cover the SOC model runs through: from the stock's year to the window's end (or the last year)
            "land_cover": inputs_of(inputs, cfg.land_cover_source, (model.stock_year, period.land_cover[1])),
            "soc": inputs_of(inputs, cfg.soc_source), "climate": inputs_of(inputs, climate)}


@task(name="land-cover-soc-restore", cache_policy=NO_CACHE)
@on_its_own_disk
def restore_land_soc_task(run: RunContext, name: str, period: Period, inputs: dict[str, Any],
                          staging: str) -> list[LayerSummary] | None:
    """The period's land cover and SOC items from the cache when nothing they depend on changed, else None: a
    hit needs no land cover on the grid at all."""
    if not run.cfg.use_cache:
        return None
    return restore_layers(cache_for(run.cfg, "land-soc"),
                          cache_key("land-soc", _land_soc_parts(run, name, period, inputs)), staging)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it holds a DataFrame
class LandCoverOnGrid:
    """The land cover the periods read, on the run's grid: one scratch GeoTIFF of the 7 UNCCD classes per year
    (-32768 nodata and outside the region), warped from the source, checked against the legend and nested once
    per run instead of once per period and per use, with each year's km2 per class (SO1-1's series)."""

    years: tuple[int, ...]
    paths: tuple[str, ...]
    item_ids: tuple[str, ...]
    class_areas: pd.DataFrame
    """``class_area_table`` of every year held."""

    def series(self, run: RunContext, years: tuple[int, int]) -> tuple[xr.DataArray, list[str]]:
        """The 7-class land cover of ``years`` (ending at the last year held when the source ends sooner), read
        back lazily with the grid's coordinates, a year a chunk as the source was read."""
        first, last = years[0], min(years[1], self.years[-1])
        assert first >= self.years[0], f"the land cover on the grid starts in {self.years[0]}, after {first}"
        keep = [k for k, y in enumerate(self.years) if first <= y <= last]
        cube = xr.concat([open_tile_layer(self.paths[k], run.grid, chunk=run.cfg.chunk) for k in keep], dim="year")
        return cube.assign_coords(year=[self.years[k] for k in keep]), [self.item_ids[k] for k in keep]

    def annual_areas(self, first: int, last: int) -> pd.DataFrame:
        """The rows of ``class_areas`` from ``first`` to ``last``."""
        rows = self.class_areas[(self.class_areas.year >= first) & (self.class_areas.year <= last)]
        return rows.reset_index(drop=True)


@task(name="land-cover-on-grid", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def land_cover_grid_task(run: RunContext, periods: dict[str, Period], scratch: str) -> LandCoverOnGrid | None:
    """The land cover of every year from the SOC stock's year to the last period's end, warped onto the run's grid
    once and written to ``scratch`` for the periods that are not in the cache (``periods``; none: nothing read)."""
    return _land_cover_on_grid(run, periods, scratch) if periods else None


def _land_cover_on_grid(run: RunContext, periods: dict[str, Period], scratch: str) -> LandCoverOnGrid:
    cfg, geobox = run.cfg, run.grid
    legend = load_legend(cfg.land_cover_legend or LEGEND_FILE)
    model = load_soc_model(cfg.soc_model or SOC_MODEL_FILE)
    for name, period in periods.items():
        check_soc_window(name, period, model)
    last = max(period.land_cover[1] for period in periods.values())
    raw, ids = land_cover_series(run, geobox, (model.stock_year, last), area=run.area,  # legend's nodata outside
                                 outside=legend.source_nodata[0] if legend.source_nodata else None)
    years = tuple(int(y) for y in raw.year.values)
    where = f"land cover {years[0]}-{years[-1]}"
    # one pass over the warped source: the codes it holds (checked below), the 7 classes written, their km2
    present = da.unique(raw.data) if isinstance(raw.data, da.Array) else np.unique(raw.values)
    lc7 = aggregate(raw, legend, where=where, checked=True)
    weights = region_weights(run, lc7.isel(year=0).data.chunks)
    sums = annual_class_sums(lc7, weights)
    folder = Path(scratch)
    folder.mkdir(parents=True, exist_ok=True)
    paths = tuple(str(folder / f"land-cover-{year}.tif") for year in years)
    pending = []
    for year, path in zip(years, paths):
        layer = lc7.sel(year=year, drop=True).rio.write_crs(grid_crs(geobox))
        pending.append(write_layer(layer, path, nodata=NODATA, transform=geobox.affine, block=256, compress=True,
                                   lock=write_lock(Path(path)), compute=False))
    present, totals, *_ = dask.compute(present, sums, *pending)  # one graph: the warp tasks are shared
    check_codes(np.asarray(present), legend, where=where)
    get_run_logger().info("land cover %d-%d on the grid: %d years warped and nested once for %d period(s)",
                          years[0], years[-1], len(years), len(periods))
    return LandCoverOnGrid(years=years, paths=paths, item_ids=tuple(ids),
                           class_areas=class_area_table(list(years), list(totals), legend))


@task(name="land-cover-soc-period", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def land_soc_task(run: RunContext, name: str, period: Period, inputs: dict[str, Any], staging: str,
                  land_cover: LandCoverOnGrid) -> list[LayerSummary]:
    """Land cover degradation, transitions (with a km2 table) and SOC change for one period, from the land cover
    on the grid (``land_cover_grid_task``); stored in the cache under what they depend on."""
    return cached_layers(run.cfg, "land-soc", _land_soc_parts(run, name, period, inputs), staging,
                         lambda: _land_soc(run, name, period, staging, land_cover), slot=name, say=get_run_logger().info)


def _land_soc(run: RunContext, name: str, period: Period, staging: str,
              land_cover: LandCoverOnGrid) -> list[LayerSummary]:
    log = get_run_logger()
    cfg, geobox, area = run.cfg, run.grid, run.area
    crs = grid_crs(geobox)
    legend = load_legend(cfg.land_cover_legend or LEGEND_FILE)
    model = load_soc_model(cfg.soc_model or SOC_MODEL_FILE)
    check_soc_window(name, period, model)
    first, last = period.land_cover
    # one land cover series from the SOC stock's year: the SOC model runs through all of it (method notes section 4)
    lc7, series_ids = land_cover.series(run, (model.stock_year, last))
    if int(lc7.year[-1]) != last:
        log.warning("period %s: land cover ends in %d, not %d: the last year available is used",
                    name, int(lc7.year[-1]), last)
        last = int(lc7.year[-1])
    lc_ids = series_ids[first - model.stock_year:]
    lc7 = lc7.rio.write_crs(crs)
    initial, final = lc7.sel(year=first, drop=True), lc7.sel(year=last, drop=True)
    degradation = lc_degradation(initial, final, legend)
    weights = region_weights(run, initial.data.chunks)
    table = transition_areas(initial, final, weights, legend)
    yearly = land_cover.annual_areas(first, last)  # SO1-1's series, year by year
    names = {k: v[0] for k, v in legend.classes.items()}
    land = write_item(
        {"data": (_classes(degradation, "land cover sub-indicator (3 classes)",
                           THREE_CLASS_NAMES), True),
         "transition": (_classes(transition_code(initial, final), "land cover transition (initial x 10 + final)"), True),
         "initial": (_classes(initial, f"land cover {first} (7 classes)", names), True),
         "final": (_classes(final, f"land cover {last} (7 classes)", names), True)},
        staging, indicator="land-cover", item_id=f"land-cover-{cfg.region_id}-{name}", period=name, window=(first, last),
        attrs={"method": "UNCCD 7-class transitions (method notes section 3)", "matrix": legend.matrix,
               "nesting": {str(k): v for k, v in legend.nesting.items()}, "years": [first, last]},
        source_items=lc_ids, transform=geobox.affine, area=area,
        tables={"transitions": table, "annual_areas": yearly},
    )
    soc0, soc_ids = static_layer(run, run.source(cfg.soc_source, "soc"), geobox, resampling="bilinear", area=area)
    check_climate(cfg)
    if cfg.soc_single_f is not None:
        zones, zone_ids = xr.zeros_like(soc0, dtype="int16"), list[str]()
    else:
        assert cfg.climate_source is not None
        zones, zone_ids = static_layer(run, run.source(cfg.climate_source, "climate_zones"), geobox, area=area)
        zones = zones.fillna(0).astype("int16")
    soc = soc_change(lc7.chunk({"year": -1}), soc0, zones, model, first_year=first, single_f=cfg.soc_single_f)
    soc_item = write_item(
        {"data": (_classes(soc["soc"], "SOC sub-indicator (3 classes)", THREE_CLASS_NAMES), True),
         "stock_first": (_float(soc["soc_first"].rio.write_crs(crs), f"SOC stock {first}", "t C/ha"), False),
         "stock_last": (_float(soc["soc_last"].rio.write_crs(crs), f"SOC stock {last}", "t C/ha"), False),
         "percent_change": (_float(soc["percent_change"].rio.write_crs(crs), "SOC stock change", "percent"), False)},
        staging, indicator="soc", item_id=f"soc-{cfg.region_id}-{name}", period=name, window=(first, last),
        attrs={"method": "IPCC 20-year SOC conversion model (method notes section 4)", **soc.attrs},
        source_items=soc_ids + zone_ids + series_ids, transform=geobox.affine, area=area,
    )
    log.info("period %s: land cover %d-%d, %.1f km2 changed class", name, first, last,
             float(table.loc[table.from_code != table.to_code, "area_km2"].sum()))
    return [land, soc_item]


def _open(path: str, chunk: int) -> xr.DataArray:
    layer = rioxarray.open_rasterio(path, chunks={"x": chunk, "y": chunk})
    assert isinstance(layer, xr.DataArray), path  # a layer this run wrote: one band, no subdatasets
    return layer.squeeze("band", drop=True)


@task(name="sdg-period", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def sdg_task(run: RunContext, name: str, period: Period, productivity: list[LayerSummary],
             land_soc: list[LayerSummary], staging: str) -> LayerSummary:
    """SDG 15.3.1 of one period by one out, all out of its three sub-indicators (cached on their keys)."""
    keys = {layer.indicator: layer.cache_key for layer in productivity + land_soc}
    parts = None if None in keys.values() else {
        "period": name, "window": period.model_dump(mode="json"), "inputs": keys, "grid": run.grid_key,
        "settings": settings_fingerprint(run.cfg, SDG_SETTINGS)}
    return cached_layers(run.cfg, "sdg", parts, staging, lambda: [_sdg(run, name, period, productivity, land_soc, staging)],
                         slot=name, say=get_run_logger().info)[0]


def _sdg(run: RunContext, name: str, period: Period, productivity: list[LayerSummary],
         land_soc: list[LayerSummary], staging: str) -> LayerSummary:
    cfg, geobox, area = run.cfg, run.grid, run.area
    by = {layer.indicator: layer for layer in productivity + land_soc}
    prod = _open(by["lpd"].asset_path("sdg"), cfg.chunk)
    lc = _open(by["land-cover"].asset_path(), cfg.chunk)
    soc = _open(by["soc"].asset_path(), cfg.chunk)
    sdg = one_out_all_out(prod, lc, soc).rio.write_crs(grid_crs(geobox))
    if cfg.recode_polygons is not None:
        recodes = read_recodes(cfg.recode_polygons, grid_crs(geobox))
        sdg, applied = apply_recodes(sdg, recodes, period=name, geobox=geobox, source=str(cfg.recode_polygons))
        get_run_logger().info("period %s: %d recode polygons applied (%d pixels changed)", name, len(applied),
                              sum(a["pixels_changed"] for a in applied))
    water = _open(by["land-cover"].asset_path("final"), cfg.chunk) == WATER  # the zonal tables' rule too
    weights = region_weights(run, sdg.data.chunks)  # only the region's pixels count
    summary = class_areas({"sdg_15_3_1": sdg, "productivity": prod, "land_cover": lc, "soc": soc}, weights, water=water)
    return write_item(
        {"data": (sdg, True)}, staging, indicator="sdg-15-3-1", item_id=f"sdg-15-3-1-{cfg.region_id}-{name}", tables={"summary": summary},
        period=name, window=(min(period.productivity[0], period.land_cover[0]), max(period.productivity[1], period.land_cover[1])),
        attrs={**sdg.attrs, "productivity_window": list(period.productivity), "land_cover_window": list(period.land_cover)},
        source_items=[by[k].item_id for k in ("lpd", "land-cover", "soc")], transform=geobox.affine, area=area,
    )


@task(name="status", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def status_task(run: RunContext, name: str, baseline: list[LayerSummary], period: list[LayerSummary],
                staging: str) -> LayerSummary:
    """7-class status of a reporting period against the baseline, for SDG 15.3.1 and each sub-indicator (cached)."""
    keys = {**{f"baseline {layer.indicator}": layer.cache_key for layer in baseline},
            **{layer.indicator: layer.cache_key for layer in period}}
    parts = None if None in keys.values() else {"period": name, "inputs": keys, "grid": run.grid_key,
                                                "settings": settings_fingerprint(run.cfg, STATUS_SETTINGS)}
    return cached_layers(run.cfg, "status", parts, staging, lambda: [_status(run, name, baseline, period, staging)],
                         slot=name, say=get_run_logger().info)[0]


def _status(run: RunContext, name: str, baseline: list[LayerSummary], period: list[LayerSummary],
            staging: str) -> LayerSummary:
    cfg, geobox = run.cfg, run.grid
    base = {layer.indicator: layer for layer in baseline}
    now = {layer.indicator: layer for layer in period}
    keys = {"sdg-15-3-1": ("data", "data"), "lpd": ("sdg", "productivity"), "land-cover": ("data", "land_cover"),
            "soc": ("data", "soc")}
    assets = {}
    for indicator, (key, out_key) in keys.items():
        s7 = status(_open(base[indicator].asset_path(key), cfg.chunk), _open(now[indicator].asset_path(key), cfg.chunk))
        s7 = s7.rio.write_crs(grid_crs(geobox))
        assets[out_key] = (s7, True)
        if indicator == "sdg-15-3-1":
            assets["data_3class"] = (status_3class(s7).rio.write_crs(grid_crs(geobox)), True)
    return write_item(
        assets, staging, indicator="status", item_id=f"status-{cfg.region_id}-{name}", period=name,
        window=now["sdg-15-3-1"].window, attrs={**assets["data"][0].attrs, "method": "status against the baseline (GPG addendum)",
                                                  "baseline": base["sdg-15-3-1"].item_id},
        source_items=[base["sdg-15-3-1"].item_id, now["sdg-15-3-1"].item_id], transform=geobox.affine,
        area=run.area,
    )


@task(name="ldn-balance", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def ldn_balance_task(run: RunContext, name: str, baseline: list[LayerSummary], status_layer: LayerSummary,
                     inputs: dict[str, Any], staging: str) -> LayerSummary:
    """The LDN balance layers of a reporting period (gains/losses and land types, UNCCD method notes section 6),
    cached on the period's status, the baseline's land cover and the land unit or land type inputs."""
    cfg = run.cfg
    land_cover = next(layer for layer in baseline if layer.indicator == "land-cover")
    keys = {"status": status_layer.cache_key, "baseline land-cover": land_cover.cache_key}
    parts = None if None in keys.values() else {
        "period": name, "inputs": keys, "grid": run.grid_key,
        "land_units": inputs_of(inputs, cfg.productivity.land_unit_source),
        "land_types": inputs_of(inputs, cfg.ldn_balance_land_types),
        "settings": settings_fingerprint(cfg, LDN_BALANCE_SETTINGS)}
    return cached_layers(cfg, "ldn-balance", parts, staging,
                         lambda: [_ldn_balance(run, name, land_cover, status_layer, staging)],
                         slot=name, say=get_run_logger().info)[0]


def _balance_land_types(run: RunContext, land_cover: LayerSummary) -> tuple[xr.DataArray, dict[int, str], list[str]]:
    """The period's land types on the grid, their legend, and the items or files they come from."""
    cfg, geobox = run.cfg, run.grid
    initial = _open(land_cover.asset_path("initial"), cfg.chunk)
    names = {int(k): name for k, (name, _) in load_legend(cfg.land_cover_legend or LEGEND_FILE).classes.items()}
    if run.balance_land_types is not None:  # the user's land types replace the default
        layer, origin = static_layer(run, run.balance_land_types, geobox, area=run.area)
        bad = layer.where((layer < 0) | (layer > 32767) | (layer != np.round(layer))).notnull().any()
        if bool(bad):
            raise ConfigError(f"LDN balance land types {cfg.ldn_balance_land_types!r} hold values that are not "
                              "integer codes 0..32767: recode the raster to integer land type codes")
        types = layer.fillna(NODATA).astype("int16")
        legend = {int(c): f"land type {int(c)}" for c in _codes(types) if int(c) != NODATA}
        types.attrs.update({"long_name": f"LDN balance land type ({cfg.ldn_balance_land_types})", "_FillValue": NODATA})
        return types, legend, origin
    if run.land_units is None:
        return land_types(initial), names, [land_cover.item_id]
    units, origin = static_layer(run, run.land_units, geobox, area=run.area)
    top = units.max()
    if bool(top > MAX_LAND_UNIT):
        raise ConfigError(f"land units {cfg.productivity.land_unit_source!r} have ids up to {int(top)}: the LDN "
                          f"balance crosses them with land cover as unit x 10 + class in int16, ids up to "
                          f"{MAX_LAND_UNIT}; renumber the units or give `ldn_balance_land_types`")
    types = land_types(initial, units)
    return types, land_type_names(_codes(types), names, crossed=True), [land_cover.item_id, *origin]


def _codes(layer: xr.DataArray) -> np.ndarray:
    """The distinct values of a class layer, block by block (a continent's layer is never in memory at once)."""
    data = layer.data
    return np.asarray(da.unique(data).compute() if isinstance(data, da.Array) else np.unique(data))


def _ldn_balance(run: RunContext, name: str, land_cover: LayerSummary, status_layer: LayerSummary,
                 staging: str) -> LayerSummary:
    cfg, geobox = run.cfg, run.grid
    gl = gains_losses(_open(status_layer.asset_path("data"), cfg.chunk)).rio.write_crs(grid_crs(geobox))
    types, legend, origin = _balance_land_types(run, land_cover)
    types.attrs["classes"] = legend
    types = types.rio.write_crs(grid_crs(geobox))
    return write_item(
        {"data": (gl, True), "land_type": (types, True)}, staging, indicator="ldn-balance",
        item_id=f"ldn-balance-{cfg.region_id}-{name}", period=name, window=status_layer.window,
        attrs={**gl.attrs, "method": "LDN balance, no net loss per land type (UNCCD method notes section 6): gain = "
               "status 6-7, loss = status 1-2, neutral = 3-5",
               "land_types": ("user land types: " + str(cfg.ldn_balance_land_types)) if run.balance_land_types
               is not None else "baseline initial land cover" + (" x land units" if run.land_units is not None else ""),
               "baseline": land_cover.item_id},
        source_items=[status_layer.item_id, *origin], transform=geobox.affine, area=run.area,
    )
