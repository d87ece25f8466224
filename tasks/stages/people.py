"""People under drought (SO3-2), their drought vulnerability (SO3-3) and people on degraded land (SO2-3): UNCCD
method notes sections 3-5.

A thin Prefect task over ``tasks.io.outputs.people_tables``: one pass over the analysis grid sums, per zone, the
people (total, female, male) of the population source in each drought class of every year and of every period's
worst year, on each SDG 15.3.1 class of every period, and the vulnerability index weighted by area and by people.
Each year's exposure item (people per precipitation cell, negative where the SPI is below 0, as Trends.Earth
publishes it), each period's worst-year exposure item and each period's SO2-3 item (people per pixel, negative on
degraded land) is cached on what it reads, so next year's refresh sums the new year only; and the people of each
coarse precipitation cell of each population year and water map a year's table read are kept from the pass
(``people_tables.CellRecorder``), so that new year, on a population year and a water map seen before, is summed from them without
a pass over the grid: the same numbers, in seconds instead of the pass's minutes at the real extent.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import numpy as np
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import load_periods
from tasks.errors import ConfigError
from tasks.geo.grid import grid_crs
from tasks.io.outputs.cog import open_scratch_geotiff
from tasks.io.outputs.drought_areas import WaterMap, water_maps
from tasks.io.outputs.items import write_item
from tasks.io.outputs.people_tables import (
    GROUPS,
    BlockPeople,
    CellPeople,
    CellRecorder,
    DroughtPeople,
    Pair,
    PeopleSums,
    SdgPeople,
    drought_people_table,
    people_pass,
    replay_year_droughts,
    sdg_people_table,
    vulnerability_table,
)
from tasks.io.outputs.report import load_zones
from tasks.io.outputs.zonal import BLOCK
from tasks.io.runtime.cache_keys import cache_key
from tasks.io.runtime.layer_cache import (
    CacheDir,
    cache_for,
    drop_entry,
    open_entry,
    restore_layers,
    store_entry,
    store_layers,
)
from tasks.io.sources.integrity import file_fingerprint
from tasks.io.sources.load import grid_blocks, grid_coords, static_layer
from tasks.io.sources.population import PeopleReader, PopulationYears, population_years
from tasks.io.sources.run import RunContext
from tasks.io.sources.zones import Zone
from tasks.model import LayerSummary
from tasks.science.drought import reporting_years

__all__ = ["people_task", "PEOPLE_NOTE"]

PEOPLE_NOTE = ("people: the population source's counts moved onto the analysis grid sum-preserving (each source cell "
               "shared by overlapped area), split by each zone's coverage of each pixel; water holds no one (people "
               "the source puts there are shown apart); sums in float64, whole persons at the end (half to even)")
"""The footnote of every people table (UNCCD method notes 1 and 3)."""

PEOPLE_NOTE_TE = ("people: Trends.Earth's parity mode (UNCCD method notes 7.4-7.5), for side-by-side checks with its "
                  "tables only: the population source's counts moved onto the analysis grid sum-preserving, then "
                  "rounded to whole persons per pixel (half up) before summing, capped at 32767 per pixel for SO2-3 "
                  "(its int16); the vulnerability mean unweighted over pixels and 10x (its Σ/1000 of an index stored "
                  "x 10000), in the total's column only; water holds no one")
"""The footnote of every people table made by Trends.Earth's rules (``people.rule: trends_earth``)."""


def _note(run: RunContext) -> str:
    return PEOPLE_NOTE_TE if run.cfg.people.rule == "trends_earth" else PEOPLE_NOTE


def _rule_attrs(run: RunContext) -> dict[str, Any]:
    """The people rule in an item's metadata and cache key: said only where it is not the default, so the default's
    items and keys are those of runs before the rule existed."""
    return {"people_rule": run.cfg.people.rule} if run.cfg.people.rule != "exact" else {}


def _geobox_of(path: str) -> GeoBox:
    with rasterio.open(path) as src:
        return GeoBox(src.shape, src.transform, src.crs.to_wkt())


def _read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _on_cells(values: np.ndarray, cells: GeoBox, long_name: str) -> xr.DataArray:
    coords = grid_coords(cells)
    out = xr.DataArray(values.astype("float32"), dims=("y", "x"),
                       coords={"y": coords["y"], "x": coords["x"], "spatial_ref": coords["spatial_ref"]},
                       attrs={"long_name": long_name, "units": "people", "_FillValue": np.nan})
    return out.rio.write_crs(grid_crs(cells))


@task(name="people", cache_policy=NO_CACHE)
def people_task(run: RunContext, inputs: dict[str, Any], drought: list[LayerSummary], periods: list[LayerSummary],
                staging: str) -> list[LayerSummary]:
    """The exposure items of every drought year and period and the SO2-3 item of every period (cached on what they
    read), with their people and vulnerability tables per zone."""
    log = get_run_logger()
    assert run.population is not None
    name, source = run.population
    cfg = run.cfg
    years = population_years(run, name, source)
    log.info("people: population source %s, years %s%s", name, ", ".join(map(str, sorted(years.hrefs))),
             "" if years.by_sex else " (totals only: no split by sex)")
    spans = reporting_years(load_periods(cfg.periods_file).periods, run.periods)
    land_cover = {x.period: x for x in periods if x.indicator == "land-cover" and x.period}
    sdg = {x.period: x for x in periods if x.indicator == "sdg-15-3-1" and x.period}
    by_year = {int(x.year): x for x in drought if x.indicator == "drought" and x.year is not None}
    worst = {x.period: x for x in drought if x.indicator == "drought-worst" and x.period}
    per_period, yearly_water = water_maps(land_cover, spans, range(min(by_year or [0]), max(by_year or [0]) + 1))
    vulnerable = run.vulnerability
    zones_key = {"zones": file_fingerprint(cfg.zones) if cfg.zones else "default", "zone_field": cfg.zone_field,
                 "grid": run.grid_key}
    base = {"population": source.model_dump(mode="json"), **zones_key,
            "vulnerability": inputs.get(vulnerable[0]) if vulnerable else None, **_rule_attrs(run)}

    def fingerprint(year: int) -> Any:
        return (inputs.get(name) or {}).get("years", {}).get(str(years.used(year)), inputs.get(name))

    jobs: list[tuple[str, str, dict[str, Any]]] = []  # (kind, year or period, key parts)
    for y, layer in by_year.items():
        jobs.append(("year", str(y), {**base, "drought": layer.cache_key, "people": fingerprint(y),
                                      "water": yearly_water[y].key}))
    for period, layer in worst.items():
        first, last = layer.window or (0, 0)
        jobs.append(("worst", period, {**base, "drought": layer.cache_key, "water": per_period.get(period, WaterMap(
            None, None, None)).key, "people": {y: fingerprint(y) for y in range(first, last + 1)}}))
    for period, layer in sdg.items():
        last = spans.get(period, layer.window or (0, 0))[1]
        jobs.append(("sdg", period, {**base, "sdg": layer.cache_key, "people": fingerprint(last),
                                     "water": per_period.get(period, WaterMap(None, None, None)).key}))
    cache = cache_for(cfg, "people")
    out: list[LayerSummary] = []
    todo = []
    for kind, what, parts in jobs:
        key = cache_key(f"people-{kind}", parts)
        hit = restore_layers(cache, key, staging) if cfg.use_cache else None
        if hit is None:
            todo.append((kind, what, key))
        else:
            out += hit
    if not todo:
        log.info("people: every table from the cache (nothing new)")
        return out
    log.info("people: %d item(s) to sum, %d from the cache", len(todo), len(out))
    written = _compute(run, years, todo, by_year=by_year, worst=worst, sdg=sdg, spans=spans,
                       water=(per_period, yearly_water), staging=staging,
                       cell_parts=lambda y, w: {**base, "people": fingerprint(y), "water": w})
    for (kind, what, key), layer in zip(todo, written):
        out += store_layers(cache, key, [layer]) if cfg.use_cache else [layer]
    return out


def _compute(run: RunContext, years: PopulationYears, todo: list[tuple[str, str, str]], *,
             by_year: dict[int, LayerSummary], worst: dict[str, LayerSummary], sdg: dict[str, LayerSummary],
             spans: dict[str, tuple[int, int]], water: tuple[dict[str, WaterMap], dict[int, WaterMap]],
             staging: str, cell_parts: Callable[[int, str | None], dict[str, Any]]) -> list[LayerSummary]:
    """One pass for the items ``todo`` (kind, year or period, key), and each one written with its tables; no pass
    where every item is a year's table whose coarse cells' people a pass kept (``_cells_kept``)."""
    cfg = run.cfg
    per_period, yearly_water = water
    assert run.population is not None
    reader = PeopleReader(years, run.population[1], run.grid, lonlat=run.search_bbox)
    paths = list(dict.fromkeys(w.path for w in [*yearly_water.values(), *per_period.values()] if w.path))

    def water_index(w: WaterMap | None) -> int | None:
        return paths.index(w.path) if w is not None and w.path else None

    cells = next((_geobox_of(x.asset_path("data")) for x in [*by_year.values(), *worst.values()]), None)
    droughts, sdgs, plan = [], [], []
    for kind, what, _ in todo:
        if kind == "year":
            layer = by_year[int(what)]
            codes = _read(layer.asset_path("data")).ravel()  # as stored: a coarse grid per table adds up
            droughts.append(DroughtPeople(codes, np.broadcast_to(np.int64(years.used(int(what))), codes.shape),
                                          water_index(yearly_water.get(int(what)))))  # one year: no array
            plan.append(("drought", len(droughts) - 1))
        elif kind == "worst":
            layer = worst[what]
            codes = _read(layer.asset_path("data")).ravel()
            when = _read(layer.asset_path("year")).ravel().astype(np.int64)
            first = (layer.window or (0, 0))[0]
            uniq, at = np.unique(np.where(when > 0, when, first), return_inverse=True)  # a few years, many cells
            pyear = np.array([years.used(int(y)) for y in uniq], dtype=np.int64)[at.ravel()]
            droughts.append(DroughtPeople(codes, pyear, water_index(per_period.get(what))))
            plan.append(("drought", len(droughts) - 1))
        else:
            last = spans.get(what, sdg[what].window or (0, 0))[1]
            sdgs.append(SdgPeople(sdg[what].asset_path("data"), water_index(per_period.get(what)), years.used(last)))
            plan.append(("sdg", len(sdgs) - 1))
    vulnerability: xr.DataArray | None = None
    v_years: list[int] = []
    v_origin: list[str] = []
    keys_of = {w.path: w.key for w in [*yearly_water.values(), *per_period.values()] if w.path}
    pairs = {(years.used(int(what)), water_index(yearly_water.get(int(what)))): int(what)
             for kind, what, _ in todo if kind == "year"}
    cell_cache = cache_for(cfg, "people-cells")
    cell_keys = {}
    if cells is not None:
        cell_grid = [grid_crs(cells), list(cells.affine)[:6], list(cells.shape)]
        last_water = keys_of[paths[-1]] if run.vulnerability is not None and paths else None
        cell_keys = {pair: cache_key("people-cells", {
            **cell_parts(year, yearly_water[year].key if year in yearly_water else None), "cells": cell_grid,
            "bbox": list(run.search_bbox), "block": BLOCK, "vulnerability_water": last_water})
            for pair, year in pairs.items()}
    zones = load_zones(cfg.zones, cfg.zone_field)
    started = time.perf_counter()
    every_year = all(kind == "year" for kind, _, _ in todo)
    kept = _cells_kept(cell_cache, cell_keys, zones) if cfg.use_cache and every_year else None
    if kept is not None:
        assert cells is not None
        if run.vulnerability is not None:
            v_origin = static_layer(run, run.vulnerability[1], run.grid, require_data=False)[1]
        kept_zones, kept_cells = kept
        sums = replay_year_droughts(kept_zones, droughts, kept_cells, int(cells.shape[0]) * int(cells.shape[1]),
                                    cfg.people.rule)
        return _write_all(run, years, todo, plan, sums, cells, droughts, sdgs, None, None, staging,
                          by_year=by_year, worst=worst, sdg=sdg, yearly_water=yearly_water,
                          vulnerable=v_origin if run.vulnerability else None, started=started)
    if run.vulnerability is not None:
        vulnerability, v_origin = _vulnerability(run)
        v_years = sorted({years.used(int(w)) for k, w, _ in todo if k == "year"})
    region = run.area_polygons.geometry if run.area_polygons is not None else None
    started = time.perf_counter()
    scratch = Path(f"{staging}.people")
    scratch.mkdir(parents=True, exist_ok=True)
    signed = SignedLayers(run.grid, sdgs, GROUPS[:1], scratch)  # by sex in the tables: a layer per group would triple
    # the largest writes of the stage (float32 on the analysis grid)
    latest = max(by_year, default=0)  # next year's table reads the latest year's population year and water map,
    # as a rule (the cells of earlier years' would fill the cache for a rerun that makes a pass anyway)
    keep = (years.used(latest), water_index(yearly_water.get(latest)))
    recorder = CellRecorder(scratch / "cells", [keep] if cfg.use_cache and keep in cell_keys else [])
    try:
        sums = people_pass(run.grid, zones, reader, region=region, cells=cells, droughts=droughts, sdgs=sdgs,
                           water=paths, vulnerability=vulnerability, vulnerability_years=v_years, on_block=signed,
                           rule=cfg.people.rule, on_cells=recorder)
    finally:
        signed.close()
        recorder.close()
    try:
        for pair in recorder.keep:  # kept for next year's table on the same population year and water map
            files, meta = recorder.entry(pair, sums)
            store_entry(cell_cache, cell_keys[pair], files, meta)
        return _write_all(run, years, todo, plan, sums, cells, droughts, sdgs, reader, signed, staging,
                          by_year=by_year, worst=worst, sdg=sdg, yearly_water=yearly_water,
                          vulnerable=v_origin if run.vulnerability else None, started=started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cells_kept(cache: CacheDir, keys: dict[Pair, str],
                zones: tuple[Zone, ...]) -> tuple[tuple[Zone, ...], dict[Pair, CellPeople]] | None:
    """The zones and every pair's coarse cells' people a pass kept (``people_tables.CellRecorder``), or None where one is missing
    or its zones are not the run's (the pass then sums everything again)."""
    if not keys:
        return None
    kept, names = {}, None
    for pair, key in keys.items():
        hit = open_entry(cache, key)
        if hit is None:
            return None
        try:
            kept[pair] = CellPeople.load(*hit)
        except (OSError, ValueError, KeyError) as err:  # damaged: made again by the pass
            get_run_logger().warning("people: the coarse cells' people kept in %s do not read (%s): dropped, the "
                                     "pass sums them again", hit[0], err)
            drop_entry(cache, key)
            return None
        if names is not None and kept[pair].zones != names:
            return None
        names = kept[pair].zones
    by_id = {zone.zone_id: zone for zone in zones}
    if names is None or len(by_id) != len(zones) or any(n not in by_id for n in names):
        return None
    return tuple(by_id[n] for n in names), kept


def _write_all(run: RunContext, years: PopulationYears, todo: list[tuple[str, str, str]], plan: list[tuple[str, int]],
               sums: PeopleSums, cells: GeoBox | None, droughts: list[DroughtPeople], sdgs: list[SdgPeople],
               reader: PeopleReader | None, signed: SignedLayers | None, staging: str, *, by_year: dict[int, LayerSummary],
               worst: dict[str, LayerSummary], sdg: dict[str, LayerSummary], yearly_water: dict[int, WaterMap],
               vulnerable: list[str] | None, started: float) -> list[LayerSummary]:
    """Every item of ``todo`` written with its tables, once the pass has summed them (no ``reader``: summed from the
    coarse cells' people a pass kept, ``people_tables.CellRecorder``)."""
    log = get_run_logger()
    if reader is None:
        log.info("people: %d drought table(s) summed from the coarse cells' people a pass over the analysis grid kept "
                 "(same population year and water map; no pixel read) in %.1f s", len(droughts),
                 time.perf_counter() - started)
    else:
        log.info("people: %d drought and %d SO2-3 table(s) summed over the analysis grid (%d x %d pixels) in %.1f s",
                 len(droughts), len(sdgs), *run.grid.shape, time.perf_counter() - started)
    started = time.perf_counter()
    if reader is not None and reader.missing_cells:
        log.warning("people: %d population cell(s) at the source's nodata: counted as no one", reader.missing_cells)
    for y, km2 in sums.uncovered_km2.items():
        if km2.sum() > 0:
            log.warning("people: %.1f km2 of the zones lie outside population %d (no people counted there)",
                        float(km2.sum()), y)
    written = []
    for (kind, what, _), (_, t) in zip(todo, plan):
        if kind == "year":
            written.append(_write_year(run, years, int(what), by_year[int(what)], sums, t, cells, yearly_water,
                                       vulnerable=vulnerable, staging=staging))
        elif kind == "worst":
            written.append(_write_worst(run, years, what, worst[what], droughts[t], sums, t, cells, staging))
        else:
            assert reader is not None and signed is not None
            written.append(_write_sdg(run, reader, what, sdg[what], sdgs[t], sums, t, staging, layers=signed))
    log.info("people: %d item(s) written in %.1f s", len(written), time.perf_counter() - started)
    return written


def _vulnerability(run: RunContext) -> tuple[xr.DataArray, list[str]]:
    """The vulnerability index on the analysis grid (nearest), lazily; values outside 0-1 are an error."""
    assert run.vulnerability is not None
    name, source = run.vulnerability
    layer, origin = static_layer(run, source, run.grid, require_data=True)
    lo, hi = (float(v) for v in dask.compute(layer.min(), layer.max()))  # one more streaming pass, both at once
    if lo < 0 or hi > 1:
        raise ConfigError(f"vulnerability source {name!r} holds values {lo:g}..{hi:g}, outside the index's 0-1: give "
                          "its `scale` (e.g. 0.0001 for an index stored x 10000) or `valid_range` in the sources file")
    return layer, origin


def _signed_cells(sums: PeopleSums, t: int, spi: np.ndarray, cells: GeoBox, group: int) -> np.ndarray:
    """People per coarse cell (land of every zone), negative where the SPI is below 0, NaN where no one is counted
    or the SPI is nodata."""
    people = sums.drought_cells(t, group)[:-1].reshape(cells.shape)
    signed = np.where(spi < 0, -people, people)
    return np.where((people > 0) & np.isfinite(spi), signed, np.nan)


def _spi(layer: LayerSummary) -> np.ndarray:
    values = _read(layer.asset_path("spi_x1000")).astype("float64")
    return np.where(values == -32768, np.nan, values)


def _exposure_assets(sums: PeopleSums, t: int, spi: np.ndarray, cells: GeoBox, by_sex: bool,
                     what: str) -> dict[str, tuple[xr.DataArray, bool]]:
    assets = {"data": (_on_cells(_signed_cells(sums, t, spi, cells, 0), cells,
                                 f"people per cell, negative under drought (SPI < 0), {what}"), False)}
    if by_sex:
        for g, group in ((1, "female"), (2, "male")):
            assets[group] = (_on_cells(_signed_cells(sums, t, spi, cells, g), cells,
                                       f"{group} people per cell, negative under drought, {what}"), False)
    return assets


def _write_year(run: RunContext, years: PopulationYears, year: int, layer: LayerSummary, sums: PeopleSums, t: int,
                cells: GeoBox | None, water: dict[int, WaterMap], *, vulnerable: list[str] | None,
                staging: str) -> LayerSummary:
    assert cells is not None
    used = years.used(year)
    where = {"year": year, "population_year": used}
    tables = {"people": drought_people_table(sums, t, by_sex=years.by_sex, where=where, population_years=[used])}
    if vulnerable is not None and sums.vulnerability_area is not None:
        tables["vulnerability"] = vulnerability_table(sums, used, by_sex=years.by_sex, where=where)
    assert run.population is not None
    return write_item(
        _exposure_assets(sums, t, _spi(layer), cells, years.by_sex, str(year)), staging, indicator="drought-exposure",
        item_id=f"drought-exposure-{run.cfg.region_id}-{year}", year=year, window=(year, year),
        attrs={"method": "SO3-2: the people of each drought class (UNCCD method notes 3); " + _note(run), **_rule_attrs(run),
               "population_source": run.population[0], "population_year": used, "by_sex": years.by_sex,
               "drought_item": layer.item_id, "vulnerability_items": vulnerable or [],
               "tables": f"water: {water[year].item_id or 'none known'}"},
        source_items=[layer.item_id, years.items[used], *(vulnerable or [])], transform=cells.affine, tables=tables)


def _write_worst(run: RunContext, years: PopulationYears, period: str, layer: LayerSummary, spec: DroughtPeople,
                 sums: PeopleSums, t: int, cells: GeoBox | None, staging: str) -> LayerSummary:
    assert cells is not None and run.population is not None
    first, last = layer.window or (0, 0)
    used = sorted({int(y) for y in np.unique(spec.population_year)})
    where = {"period": period, "first_year": first, "last_year": last,
             "population_years": ",".join(map(str, used))}
    return write_item(
        _exposure_assets(sums, t, _spi(layer), cells, years.by_sex, f"worst year of {first}-{last}"), staging,
        indicator="drought-exposure-worst", item_id=f"drought-exposure-worst-{run.cfg.region_id}-{period}",
        period=period, window=(first, last),
        attrs={"method": "SO3-2: the people of each cell's worst-year drought class, of that year's population "
                         "(UNCCD method notes 3); " + _note(run), **_rule_attrs(run),
               "population_source": run.population[0], "population_years": used, "by_sex": years.by_sex,
               "drought_item": layer.item_id},
        source_items=[layer.item_id, *(years.items[y] for y in used)], transform=cells.affine,
        tables={"people": drought_people_table(sums, t, by_sex=years.by_sex, where=where, population_years=used)})


class SignedLayers:
    """The SO2-3 layers written block by block from the pass's own warps (``people_pass``'s ``on_block``): per
    table and group (the total), a scratch GeoTIFF of people per pixel, negative on degraded land and 0 on water."""

    def __init__(self, grid: GeoBox, sdgs: list[SdgPeople], groups: tuple[str, ...], folder: Path) -> None:
        self._files = {(t, g): open_scratch_geotiff(folder / f"so2-3-{t}-{g}.tif", grid, dtype="float32",
                                                    nodata=float("nan"))
                       for t in range(len(sdgs)) for g in groups}
        self._sdgs = sdgs
        self.paths = {key: f.name for key, f in self._files.items()}

    def __call__(self, block: BlockPeople) -> None:
        for (t, group), dst in self._files.items():
            spec = self._sdgs[t]
            people = block.people[spec.population_year][group]
            out = np.where(block.sdg[t] == -1, -people, people)
            if spec.water is not None:  # water holds no one
                out = np.where(block.wet[spec.water], 0.0, out)
            dst.write(out.astype("float32"), 1, window=block.window)

    def close(self) -> None:
        for dst in self._files.values():
            dst.close()


def _write_sdg(run: RunContext, reader: PeopleReader, period: str, layer: LayerSummary, spec: SdgPeople,
               sums: PeopleSums, t: int, staging: str, *, layers: SignedLayers) -> LayerSummary:
    """The period's SO2-3 item, from its signed layers (``SignedLayers``), with its table."""
    assert run.population is not None
    used, by_sex = spec.population_year, reader.years.by_sex

    def signed(group: str) -> Any:
        path = layers.paths[(t, group)]

        def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
            with rasterio.open(path) as src:
                return src.read(1, window=rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0))

        return grid_blocks(run.grid, run.cfg.chunk, read, "float32").rio.write_crs(grid_crs(run.grid)).assign_attrs(
            long_name=f"{group if group != 'total' else ''} people per pixel, negative on degraded land ({period}, "
                      f"population {used})".replace("  ", " ").replace("( ", "("), units="people", _FillValue=np.nan)

    assets = {"data": (signed("total"), False)}
    first, last = layer.window or (0, 0)
    return write_item(
        assets, staging, indicator="sdg-population", item_id=f"sdg-population-{run.cfg.region_id}-{period}",
        period=period, window=(first, last),
        attrs={"method": "SO2-3: the people on improved, stable and degraded land and on land without data (UNCCD "
                         "method notes 5); negative on degraded land, as Trends.Earth's code (its user docs state the "
                         "opposite sign); " + _note(run), **_rule_attrs(run),
               "population_source": run.population[0], "population_year": used, "by_sex": by_sex,
               "sdg_item": layer.item_id},
        source_items=[layer.item_id, reader.years.items[used]], transform=run.grid.affine, area=run.area,
        tables={"people": sdg_people_table(sums, t, by_sex=by_sex, where={"period": period, "population_year": used},
                                           population_year=used)})
