"""What each stage reads for one piece of work, as odc-stats' ``input_data``: gathered (lazily) in one place.

A tile-year of the annual NDVI reads the composites that touch the tile (``tile_items``), signed, checked against
their checksums and sorted into those on the analysis grid (read by the ingest kernel) or not (the general
loader): ``scene_inputs``. A period tile of productivity reads the window's annual layers, the land cover of its
first year, the land units and the comparison mask: ``period_tile_inputs``. The land cover stage reads the land
cover of every year of its windows on the grid: ``land_cover_series``. The stages compute from these and write.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pystac
import xarray as xr
from odc.geo.geobox import GeoBox

from tasks.config import Period, RunConfig, Source
from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.geo.grid import bboxes_intersect
from tasks.geo.tiles import GridTile, Tile, tile_lonlat_bbox
from tasks.io.sources.clip import RunArea, clip
from tasks.io.sources.ingest import SceneGrid, aligned_scenes, touches_on_grid
from tasks.io.sources.integrity import sign_items, verify_checksums
from tasks.io.sources.load import load_cube, load_layer, lonlat_mask, open_annual_layers, static_layer
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import item_year, run_items
from tasks.model import LayerSummary

__all__ = ["tile_items", "SceneInputs", "scene_inputs", "annual_in_window", "uses_maximum", "PeriodTileInputs",
           "period_tile_inputs", "land_cover_series"]


def tile_items(tile: Tile, items: list[dict[str, Any]], crs: str) -> list[dict[str, Any]]:
    """The items whose scenes touch ``tile``: by their footprint in the source's CRS (STAC projection fields) where
    they give one, else by their lon/lat bbox (a tile may cross the antimeridian's edge of the plane).

    The footprint decides where it can because a sinusoidal tile's lon/lat box is far wider than the tile at high
    latitudes: at 70 degrees N it spans the boxes of its neighbours, whose scenes would be checked, keyed and opened
    by this tile for no pixel (10x the scenes per tile-year of North-East Asia's northern rows).
    """
    box = None
    mine = []
    for d in items:
        on_grid = touches_on_grid(d, tile.bounds, crs)
        if on_grid is None:
            box = box or tile_lonlat_bbox(tile, crs)
            on_grid = d.get("bbox") is None or bboxes_intersect(box, d["bbox"])
        if on_grid:
            mine.append(d)
    return mine


@dataclass(frozen=True)
class SceneInputs:
    """One tile-year's composites as the annual NDVI reads them: ``scenes`` when every one sits on the analysis grid
    (by its STAC projection fields; the ingest kernel reads them window by window and checks each file as it
    opens it), else None; ``cube()`` loads them through odc-stac's general loader instead (lazy)."""

    items: list[pystac.Item]
    source: Source
    geobox: GeoBox
    chunk: int
    scenes: list[SceneGrid] | None
    bytes_checked: int
    """Scene file bytes hashed against their ``file:checksum`` here (0 when the caller had checked them)."""

    def cube(self) -> xr.Dataset:
        """The composites on the tile's grid through the general loader (checksums already checked)."""
        return load_cube(self.items, self.source, self.geobox, chunk=self.chunk, verify=False)


def scene_inputs(items: list[pystac.Item], source: Source, geobox: GeoBox, *, chunk: int, general: bool = False,
                 verified: bool = False, digests: dict[tuple[str, str], bytes] | None = None) -> SceneInputs:
    """A tile-year's composites, ready to read: signed for their store, checked against their ``file:checksum`` or
    the MD5 their server states (``digests``, by item id and asset key; see ``verify_checksums``) unless the caller
    did (``verified``; a corrupt scene stops here, before any pixel is read), and sorted for the ingest kernel when
    they sit on the grid (never with ``general``)."""
    readable = sign_items(items, source)
    scenes = None if general else aligned_scenes(readable, source, geobox)
    checked = 0 if verified else verify_checksums(readable, source, digests)
    return SceneInputs(items=items, source=source, geobox=geobox, chunk=chunk, scenes=scenes, bytes_checked=checked)


def annual_in_window(annual: list[LayerSummary], period: Period, indicator: str = "ndvi-annual") -> dict[int, LayerSummary]:
    """The period window's annual layers of ``indicator`` (the mean, or ``ndvi-annual-max``), by year."""
    return {layer.year: layer for layer in annual if layer.indicator == indicator
            and layer.year is not None and period.productivity[0] <= layer.year <= period.productivity[1]}


def uses_maximum(cfg: RunConfig) -> bool:
    """FAO-WOCAT's desert mask reads the annual maximum layers too."""
    return cfg.productivity.method == "fao_wocat"


@dataclass
class PeriodTileInputs:
    """One period tile's inputs, lazy: the window's annual NDVI (and maxima for FAO-WOCAT), the land cover of its
    first year, the land units and the comparison mask, with the ids of the items they come from."""

    geobox: Any
    cube: xr.DataArray
    land_cover: xr.DataArray
    soil: xr.DataArray | None
    region: xr.DataArray | None
    sources: list[str]
    maximum: xr.DataArray | None = None


def period_tile_inputs(run: RunContext, period: Period, annual: list[LayerSummary], tile: GridTile) -> PeriodTileInputs:
    """The period's annual NDVI, land cover (first year), land units and comparison mask on one tile (lazy)."""
    cfg = run.cfg
    geobox = tile.geobox(run.grid)
    whole = run.area
    area = whole.window(geobox) if whole is not None else None  # outside the region: no pixel, no read, no count
    paths = {year: layer.path for year, layer in annual_in_window(annual, period).items()}
    cube = clip(open_annual_layers(paths, chunk=cfg.chunk, window=geobox), area, fill=NODATA)
    maximum = None
    if uses_maximum(cfg):
        tops = {year: layer.path for year, layer in annual_in_window(annual, period, "ndvi-annual-max").items()}
        if sorted(tops) != sorted(paths):
            raise ConfigError(f"FAO-WOCAT needs the annual maximum layer of every year {min(paths)}-{max(paths)}; "
                              f"found {sorted(tops)}: rerun the ingest (the layer is made with the annual mean)")
        maximum = clip(open_annual_layers(tops, chunk=cfg.chunk, window=geobox), area, fill=NODATA)
    lc_source = run.land_cover
    first = period.productivity[0]
    lc_items = run_items(run, lc_source, (first, first))
    land_cover = load_layer(lc_items, lc_source, geobox, chunk=cfg.chunk)
    land_cover = clip(land_cover, area, fill=next(iter(lc_source.assets.values())).nodata or 0)
    sources = [it.id for it in lc_items]
    soil = None
    unit_source = run.land_units
    if unit_source is not None:  # a tile may lie where the layer has no data; the period's check is on the merge
        units, unit_ids = static_layer(run, unit_source, geobox, area=area, require_data=False)
        soil = units.fillna(-1).astype("int32")  # nodata -> no unit
        sources += unit_ids
    p = cfg.productivity
    region = lonlat_mask(geobox, p.comparison_bbox, chunk=cfg.chunk) if p.comparison_bbox is not None else None
    return PeriodTileInputs(geobox, cube, land_cover, soil, region, sources, maximum)


def land_cover_series(run: RunContext, geobox: GeoBox, years: tuple[int, int], *, area: RunArea | None = None,
                      outside: int | None = None) -> tuple[xr.DataArray, list[str]]:
    """Raw land cover codes of every year in ``years`` on the grid, as (year, y, x); ``outside`` (default: the
    source's nodata) where a pixel is outside ``area``.

    When the source ends before ``years`` does, the series ends at its last year (the method's
    "2015-2022 or the last land cover year"); a year missing inside the window is an error.
    """
    source = run.land_cover
    items = run_items(run, source, years)
    by_year = {item_year(it): it for it in items}
    if max(by_year) < years[1]:  # the window ends at the last land cover year available (method notes)
        years = (years[0], max(by_year))
    missing = [y for y in range(years[0], years[1] + 1) if y not in by_year]
    if missing:
        raise ConfigError(
            f"land cover {source.stac.collection if source.stac else source.description!r} has no map for {missing} "
            f"within {years[0]}-{years[1]}: the SOC "
            "model needs every year; shorten the period's `land_cover` window or add the years to the source"
        )
    ordered = [by_year[y] for y in range(years[0], years[1] + 1)]
    cube = load_cube(ordered, source, geobox, chunk=run.cfg.chunk)[next(iter(source.assets))]
    cube = cube.rename(time="year").assign_coords(year=list(range(years[0], years[1] + 1)))
    fill = outside if outside is not None else next(iter(source.assets.values())).nodata
    return clip(cube, area, fill=fill if fill is not None else 0), [it.id for it in ordered]
