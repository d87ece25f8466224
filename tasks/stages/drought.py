"""SO3-1 drought hazard (UNCCD method notes section 2): each year's SPI-12 of December and its drought class, each
reporting period's worst year, and the land under drought per zone.

A thin Prefect task over ``tasks.science.drought``: it reads the monthly precipitation on its own grid
(``tasks.io.sources.precipitation``), fits the SPI once for the years not in the cache, writes one item per year and
one per period, and sums their km2 tables on the analysis grid (``tasks.io.outputs.drought_areas``). Each year's
item is cached on the calibration years' items and its own year's, so next year's refresh fits the new year only,
and a new calibration period refits every year.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from rasterio.features import geometry_mask

from tasks.config import Source, load_periods
from tasks.constants import DROUGHT_CLASSES, NODATA
from tasks.errors import ConfigError
from tasks.geo.grid import grid_crs, parse_crs, project
from tasks.io.outputs.drought_areas import CellAreas, WaterMap, cell_areas, drought_area_table, water_maps
from tasks.io.outputs.items import write_item
from tasks.io.outputs.report import load_zones
from tasks.io.runtime.cache_keys import cache_key, inputs_of
from tasks.io.runtime.layer_cache import cache_for, remember, restore_layers, store_layers, why_recomputed
from tasks.io.sources.integrity import file_fingerprint
from tasks.io.sources.load import grid_coords
from tasks.io.sources.precipitation import (
    computed,
    monthly_precipitation,
    precipitation_grid,
    resolved_zarr,
    zarr_year_fingerprints,
)
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import precipitation_fingerprints, retry_unreachable, run_items
from tasks.model import LayerSummary
from tasks.science.drought import (
    check_calibration,
    drought_class,
    reporting_years,
    spi_december,
    spi_x1000,
    worst_year,
)

__all__ = ["drought_task", "find_precipitation_task", "DROUGHT_CHUNK"]

DROUGHT_CHUNK = 512
"""Edge (cells) of the precipitation blocks read and fitted: 408 months of 512 x 512 cells are 428 MB (float32; the fit
takes ``FIT_CELLS`` of them at a time in float64). Every block costs one read of each monthly scene, so smaller blocks read slower (the
full-extent rehearsal: 17 s at 512, 22 s at 256, 50 s at 128; ``benchmarks/bench_drought.py``)."""

_METHOD = ("SPI-12 of December: gamma (Thom, location 0) per calendar month on the calibration period, zeros as a "
           "point mass, clipped to +-3.09; classes on SPI x 1000 (UNCCD method notes 2.1-2.2)")


def _reporting_years(run: RunContext) -> dict[str, tuple[int, int]]:
    return reporting_years(load_periods(run.cfg.periods_file).periods, run.periods)


def _drought_years(run: RunContext, source: Source) -> tuple[int, int]:
    """The years the drought layers are published for: the run's years and every period's reporting years, within
    the years the source declares."""
    spans = list(_reporting_years(run).values())
    first = min([run.cfg.years[0], *(a for a, _ in spans)])
    last = max([run.cfg.years[1], *(b for _, b in spans)])
    if source.years is not None:
        first, last = max(first, source.years[0]), min(last, source.years[1])
    return first, last


def _store(run: RunContext, source: Source) -> Source:
    """A Zarr source with its store's href (``resolved_zarr``: looked up where it names its collection's asset)."""
    return resolved_zarr(source, run.cfg.api_url(source)) if source.zarr is not None and source.zarr.asset else source


@task(name="find-precipitation", retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=lambda task, run, state: retry_unreachable(state))
def find_precipitation_task(run: RunContext) -> dict[str, Any]:
    """What the monthly precipitation is now, by year: its STAC items' fingerprints, or a Zarr store's chunk
    identities over the run's precipitation grid (``zarr_year_fingerprints``); no pixel is read."""
    assert run.precipitation is not None
    name, source = run.precipitation
    if source.zarr is not None:
        return {name: {"years": zarr_year_fingerprints(_store(run, source), precipitation_grid(run, source))}}
    return precipitation_fingerprints(run)


@task(name="drought-hazard", cache_policy=NO_CACHE)
def drought_task(run: RunContext, inputs: dict[str, Any], land_cover: dict[str, LayerSummary],
                 staging: str) -> list[LayerSummary]:
    """Every year's drought item and every reporting period's worst-year item (cached on what they read), with
    their km2 tables per zone; ``land_cover`` is each period's published land cover item (its water)."""
    log = get_run_logger()
    assert run.precipitation is not None
    name, source = run.precipitation
    cfg = run.cfg
    params = cfg.drought
    years = _drought_years(run, source)
    if years[0] > years[1]:
        raise ConfigError(f"precipitation source {name!r} covers {list(source.years or ())}, none of the run's years "
                          f"{cfg.years[0]}-{cfg.years[1]}: add its years, or pass --precipitation none")
    found = sorted(int(y) for y in (inputs.get(name) or {}).get("years", {}))
    if not found:
        raise ConfigError(f"precipitation source {name!r} has no items over the run's area: check its collection")
    check_calibration(found[0], found[-1], params.calibration, source=f"precipitation source {name!r}")
    years = (years[0], min(years[1], found[-1]))
    cells = precipitation_grid(run, source)
    spans = _reporting_years(run)
    per_period, yearly_water = water_maps(land_cover, spans, range(years[0], years[1] + 1))
    zones_key = {"zones": file_fingerprint(cfg.zones) if cfg.zones else "default", "zone_field": cfg.zone_field,
                 "grid": run.grid_key}
    base = {"source": source.model_dump(mode="json"), "cells": [grid_crs(cells), list(cells.affine)[:6],
                                                                list(cells.shape)],
            "calibration": list(params.calibration), "class_rule": params.class_rule,
            "fit": inputs_of(inputs, name, params.calibration), **zones_key}
    year_parts = {y: {**base, "year": y, "months": inputs_of(inputs, name, (y, y)), "water": yearly_water[y].key}
                  for y in range(years[0], years[1] + 1)}
    year_keys = {y: cache_key("drought", parts) for y, parts in year_parts.items()}
    cache, periods_cache = cache_for(cfg, "drought"), cache_for(cfg, "drought-period")
    done: dict[int, list[LayerSummary]] = {}
    if cfg.use_cache:
        for y, key in year_keys.items():
            if (hit := restore_layers(cache, key, staging)) is not None:
                done[y] = hit
    todo = [y for y in year_keys if y not in done]
    if cfg.use_cache:
        for y in todo:  # a year the cache held under another key: say what changed, as the other stages do
            if (why := why_recomputed(cache, f"{cfg.region_id}-{y}", "drought", year_parts[y])) is not None:
                log.info("drought %d recomputed: %s", y, why)
    areas = _LazyAreas(run, cells, [w for w in [*yearly_water.values(), *per_period.values()] if w.path])
    if todo:
        log.info("drought: SPI-12 of %d year(s) on the precipitation grid (%d x %d cells), calibration %d-%d; %d "
                 "year(s) from the cache", len(todo), *cells.shape, *params.calibration, len(done))
        written = _write_years(run, name, source, todo, cells, areas, yearly_water, staging)
        for y, layer in written.items():
            done[y] = store_layers(cache, year_keys[y], [layer]) if cfg.use_cache else [layer]
            if cfg.use_cache:
                remember(cache, f"{cfg.region_id}-{y}", "drought", year_parts[y])
    else:
        log.info("drought: every year's SPI from the cache (nothing new: no fit)")
    by_year = {y: done[y][0] for y in sorted(done)}
    out = list(by_year.values())
    for period, (first, last) in spans.items():
        span = [y for y in range(first, last + 1) if y in by_year]
        if not span:
            log.warning("drought: period %s (%d-%d) has no year of precipitation: no worst-year layer", period,
                        first, last)
            continue
        if len(span) < last - first + 1:
            log.warning("drought: period %s reports on %d-%d but precipitation has %d-%d of it: its worst year is "
                        "of those years only", period, first, last, span[0], span[-1])
        water = per_period.get(period, WaterMap(None, None, None))
        key = cache_key("drought-period", {"period": period, "years": [year_keys[y] for y in span],
                                           "worst_year": params.worst_year,
                                           "water": water.key, **zones_key})
        hit = restore_layers(periods_cache, key, staging) if cfg.use_cache else None
        if hit is None:
            layer = _write_period(run, period, [by_year[y] for y in span], cells, areas, water, staging)
            hit = store_layers(periods_cache, key, [layer]) if cfg.use_cache else [layer]
        out += hit
    return out


class _LazyAreas:
    """The analysis-grid pass of ``cell_areas``, made once and only when some table is computed."""

    def __init__(self, run: RunContext, cells: GeoBox, water: list[WaterMap]) -> None:
        self._run, self._cells = run, cells
        self._paths = list(dict.fromkeys(w.path for w in water if w.path))
        self._areas: CellAreas | None = None

    def table(self, classes: np.ndarray, water: WaterMap, where: dict[str, Any]) -> Any:
        """``drought_area_table`` of ``classes`` (the coarse cells' codes) with ``water``'s map."""
        if self._areas is None:
            run = self._run
            region = run.area_polygons.geometry if run.area_polygons is not None else None
            self._areas = cell_areas(run.grid, self._cells, load_zones(run.cfg.zones, run.cfg.zone_field),
                                     region=region, water=self._paths)
        index = self._paths.index(water.path) if water.path else None
        return drought_area_table(classes, self._areas, water=index, where=where)


def _touching_region(run: RunContext, cells: GeoBox, dims: tuple[Any, ...]) -> xr.DataArray:
    """True on the coarse cells some part of which lies in the run's region (all of them without one): a cell on
    the region's edge keeps its value, since its part inside is counted in the tables."""
    shape = (int(cells.shape[0]), int(cells.shape[1]))
    if run.area_polygons is None:
        return xr.DataArray(np.ones(shape, bool), dims=dims)
    region = project(run.area_polygons.geometry, parse_crs(grid_crs(cells)))
    inside = geometry_mask([region], out_shape=shape, transform=cells.affine, all_touched=True, invert=True)
    return xr.DataArray(inside, dims=dims)  # the precipitation's own names (odc-stac: latitude, longitude)


def _on_cells(values: np.ndarray, cells: GeoBox, attrs: dict[str, Any]) -> xr.DataArray:
    coords = grid_coords(cells)
    out = xr.DataArray(values, dims=("y", "x"), coords={"y": coords["y"], "x": coords["x"],
                                                        "spatial_ref": coords["spatial_ref"]}, attrs=attrs)
    return out.rio.write_crs(grid_crs(cells))


def _water_note(water: WaterMap) -> str:
    return (f"water: land cover class 7 of {water.item_id} (final year)" if water.item_id else
            "water: none known (no reporting period's land cover in this run): land is the whole area")


def _write_years(run: RunContext, name: str, source: Source, todo: list[int], cells: GeoBox, areas: _LazyAreas,
                 water: dict[int, WaterMap], staging: str) -> dict[int, LayerSummary]:
    """Fit the SPI on the calibration period and the years ``todo``, and write each year's item."""
    log = get_run_logger()
    params = run.cfg.drought
    span = (min(params.calibration[0], todo[0]), max(params.calibration[1], todo[-1]))
    items = run_items(run, source, span) if source.zarr is None else None  # a Zarr store is read in place
    store = _store(run, source)
    read = monthly_precipitation(name, store, span, cells, chunk=DROUGHT_CHUNK, items=items)
    if read.missing:
        log.warning("drought: %d month(s) missing from %s inside %d-%d (%s): their years' SPI is nodata, never "
                    "filled", len(read.missing), name, *span, ", ".join(read.missing[:12]) +
                    (" ..." if len(read.missing) > 12 else ""))
    months = read.months.where(_touching_region(run, cells, read.months.dims[-2:]))  # a cell no part of which is in
    spi = spi_december(months, calibration=params.calibration, source=f"precipitation source {name!r}")  # the region:
    spi = computed(store, spi.sel(year=todo).astype("float32"))  # nodata, never fitted; small: a plane a year
    scaled = spi_x1000(spi)
    classes = drought_class(scaled, params.class_rule)
    attrs = {"method": _METHOD, "calibration": list(params.calibration), "class_rule": params.class_rule,
             "precipitation_source": name, "grid": "the precipitation source's own grid"}
    out = {}
    for y in todo:
        codes = classes.sel(year=y).values
        table = areas.table(codes, water[y], {"year": y})
        ids = [i for yy in range(params.calibration[0], params.calibration[1] + 1) for i in read.items.get(yy, [])]
        ids += [i for i in read.items.get(y, []) if i not in ids]
        out[y] = write_item(
            {"data": (_on_cells(codes, cells, {**classes.attrs, "long_name": f"drought intensity class {y}"}), True),
             "spi_x1000": (_on_cells(scaled.sel(year=y).values, cells,
                                     {**scaled.attrs, "long_name": f"SPI-12 of December {y} x 1000"}), False),
             "spi": (_on_cells(spi.sel(year=y).values, cells, {"long_name": f"SPI-12 of December {y}", "units": "1",
                                                               "_FillValue": np.nan}), False)},
            staging, indicator="drought", item_id=f"drought-{run.cfg.region_id}-{y}", year=y, window=(y, y),
            attrs={**attrs, "tables": _water_note(water[y]),
                   "missing_months": [m for m in read.missing if m.startswith(f"{y}-")]},
            source_items=ids, transform=cells.affine, tables={"areas": table})
        counts = {DROUGHT_CLASSES[c][0]: int((codes == c).sum()) for c in DROUGHT_CLASSES if (codes == c).any()}
        log.info("drought %d: cells per class %s", y, counts)
    return out


def _read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _write_period(run: RunContext, period: str, years: list[LayerSummary], cells: GeoBox, areas: _LazyAreas,
                  water: WaterMap, staging: str) -> LayerSummary:
    """A period's worst year per cell from its years' published SPI x 1000, its class and year, with its table."""
    params = run.cfg.drought
    stack = xr.DataArray(np.stack([_read(layer.asset_path("spi_x1000")) for layer in years]), dims=("year", "y", "x"),
                         coords={"year": [int(layer.year or 0) for layer in years]})
    worst = worst_year(stack, rule=params.worst_year)
    codes = drought_class(worst["spi"], params.class_rule).values
    first, last = int(stack.year[0]), int(stack.year[-1])
    over = (f"every year of {first}-{last}" if params.worst_year == "every_year" else
            f"the first three years of each 4-year block of {first}-{last}, a nodata year winning: Trends.Earth's "
            "parity mode, method notes section 7")
    return write_item(
        {"data": (_on_cells(codes, cells, {"long_name": f"drought class of the worst year {first}-{last}",
                                           "_FillValue": NODATA, "classes": {c: n for c, (n, _) in DROUGHT_CLASSES.items()},
                                           "class_rule": params.class_rule}), True),
         "spi_x1000": (_on_cells(worst["spi"].values, cells, {"long_name": f"lowest SPI-12 of December x 1000, "
                                                              f"{first}-{last}", "scale_factor": 0.001,
                                                              "_FillValue": NODATA}), False),
         "year": (_on_cells(worst["year"].values, cells, {"long_name": f"year of the lowest SPI-12, {first}-{last}",
                                                          "_FillValue": NODATA}), False)},
        staging, indicator="drought-worst", item_id=f"drought-worst-{run.cfg.region_id}-{period}", period=period,
        window=(first, last),
        attrs={"method": f"the worst year per cell (lowest SPI-12 of December over {over}) and its class; {_METHOD}",
               "calibration": list(params.calibration),
               "class_rule": params.class_rule, "worst_year_rule": params.worst_year, "years": [first, last],
               "tables": _water_note(water)},
        source_items=[layer.item_id for layer in years], transform=cells.affine,
        tables={"areas": areas.table(codes, water, {"period": period, "first_year": first, "last_year": last})})
