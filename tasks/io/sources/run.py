"""The facts of one run, resolved once: the validated sources, the analysis grid and its tiles, the run's region
on that grid, the lon/lat box every STAC search uses and the reporting periods.

A ``RunConfig`` is data as the user wrote it; a ``RunContext`` is what the run derives from it, read and checked
once when the run starts (``run_context``) and passed to every task. So no task re-reads the sources YAML or
re-hashes a region's polygon file, and a file edited while a run is going cannot give its tasks different facts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
from odc.geo.geobox import GeoBox
from pydantic import BaseModel, ConfigDict, model_serializer

from tasks.config import SAMPLE_SOURCES, Period, RunConfig, Source, SourceCatalog, load_periods, load_sources
from tasks.errors import ConfigError
from tasks.geo.areas import pixel_areas_km2
from tasks.geo.grid import grid_crs, lonlat_bounds, native_bounds, snapped_geobox
from tasks.geo.tiles import GridTile, Tile, check_tiles, grid_tiles, lattice_tiles
from tasks.io.sources.clip import OUTSIDE, RunArea, area_fingerprint, area_weights, region_area
from tasks.io.sources.region import Region, resolve_region
from tasks.io.sources.registry import SAMPLE_ACTIVITIES, open_registry, registry_label
from tasks.science.activities import Activity

__all__ = ["RunContext", "run_context", "analysis_geobox", "run_activities", "run_bbox", "selected_periods", "ndvi_source",
           "land_cover_source", "precipitation_source", "optional_source", "region_weights", "period_tiles"]


class RunContext(BaseModel):
    """What one run derives from its config, resolved once (``run_context``) and passed to its tasks.

    ``land_units`` is None when performance uses land cover alone; ``area`` is None when the run covers its
    whole grid, and ``area_polygons`` (the same region as lon/lat polygons, for the STAC
items' footprints and the report's map) with it. ``grid_key`` and ``area_key`` are the run's grid (with its region and
    the region id its items are named by) and the region as cache-key data (``tasks.io.runtime.cache_keys``), a polygon
    file hashed once.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    cfg: RunConfig
    sources: SourceCatalog
    ndvi: Source
    land_cover: Source
    land_units: Source | None
    grid: GeoBox
    tiles: tuple[Tile, ...]
    grid_key: dict[str, Any]
    area_key: str | None
    area: RunArea | None
    area_polygons: Region | None
    search_bbox: tuple[float, float, float, float]
    periods: dict[str, Period]
    activities: tuple[Activity, ...] = ()
    """The activity registry's records the report sets beside the indicators (``cfg.activities``)."""
    activity_registry: str | None = None
    """Where they came from, as the report names it; None: no registry."""
    sample_activities: bool = False
    """True when they are the shipped fictitious sample registry."""
    balance_land_types: Source | None = None
    """The user's land types of the LDN balance (``cfg.ldn_balance_land_types``); None: the default land types."""
    precipitation: tuple[str, Source] | None = None
    """The monthly precipitation source of the SO3-1 drought layers and its name (``precipitation_source``); None:
    no drought layers."""
    population: tuple[str, Source] | None = None
    """The population source (people per pixel) of the SO3-2 and SO2-3 tables and its name; None: none."""
    vulnerability: tuple[str, Source] | None = None
    """The drought vulnerability source (an index 0-1) of the SO3-3 means and its name; None: none."""

    def source(self, name: str, role: str) -> Source:
        """The source called ``name`` in the run's sources, which must have ``role``."""
        return _with_role(self.cfg, self.sources, name, role)

    def area_on(self, geobox: GeoBox) -> RunArea | None:
        """The run's region on ``geobox`` (an ingest tile's own grid), or None when the run is its whole grid."""
        return region_area(self.cfg.region, self.area_key, geobox)

    @model_serializer
    def _summary(self) -> dict[str, Any]:
        """What Prefect shows (and stores) as a flow's parameter: the facts in brief, not the polygons."""
        return {"region": self.cfg.region_id, "ndvi": self.cfg.ndvi_source, "grid": {"shape": list(self.grid.shape), "pixel": abs(self.grid.affine.a),
                         "bounds": list(self.grid.boundingbox)},
                "tiles": len(self.tiles), "area": self.area.label if self.area is not None else None,
                "search_bbox": list(self.search_bbox), "periods": list(self.periods),
                "activities": len(self.activities)}


def _with_role(cfg: RunConfig, sources: SourceCatalog, name: str, role: str) -> Source:
    source = sources.get(name)
    if source.role != role:
        raise ConfigError(f"source {name!r} in {cfg.sources_file} has role {source.role!r}, not {role!r}")
    return source


def optional_source(cfg: RunConfig, sources: SourceCatalog, role: str, choice: str | None,
                    option: str) -> tuple[str, Source] | None:
    """The run's source of an optional ``role`` and its name: the one ``choice`` names, else the sources file's only
    source with that role; None when it has none or ``choice`` is ``none``. ``option`` names the run file's field."""
    if choice is not None and choice.strip().lower() == "none":
        return None
    if choice is not None:
        return choice, _with_role(cfg, sources, choice, role)
    found = [n for n, s in sources.sources.items() if s.role == role]
    if len(found) > 1:
        raise ConfigError(f"{cfg.sources_file} has {len(found)} {role} sources ({', '.join(found)}): pick one "
                          f"with `{option}` in the run file")
    return (found[0], sources.sources[found[0]]) if found else None


def precipitation_source(cfg: RunConfig, sources: SourceCatalog) -> tuple[str, Source] | None:
    """The run's monthly precipitation source and its name (``optional_source`` of ``precipitation_source``)."""
    return optional_source(cfg, sources, "precipitation", cfg.precipitation_source, "precipitation_source")


def ndvi_source(cfg: RunConfig, sources: SourceCatalog) -> Source:
    """The run's NDVI source in ``sources``: it must be a STAC collection with the role ``ndvi``."""
    source = sources.get(cfg.ndvi_source)
    if source.role != "ndvi":
        raise ConfigError(
            f"source {cfg.ndvi_source!r} in {cfg.sources_file} has role {source.role!r}, not 'ndvi': "
            "pick the NDVI source with --source"
        )
    if source.stac is None:
        raise ConfigError(
            f"source {cfg.ndvi_source!r} in {cfg.sources_file} is a file; the NDVI source must be a "
            "STAC collection of 16-day composites"
        )
    return source


def land_cover_source(cfg: RunConfig, sources: SourceCatalog) -> Source:
    """The run's land cover source in ``sources``: a STAC collection with the role ``land_cover``."""
    source = sources.get(cfg.land_cover_source)
    if source.role != "land_cover" or source.stac is None:
        raise ConfigError(
            f"source {cfg.land_cover_source!r} in {cfg.sources_file} must be a land_cover STAC collection"
        )
    return source


def selected_periods(cfg: RunConfig) -> dict[str, Period]:
    """The periods to compute: those named, or every period whose productivity window fits ``years``."""
    catalog = load_periods(cfg.periods_file).periods
    if cfg.periods is not None:
        unknown = [p for p in cfg.periods if p not in catalog]
        if unknown:
            raise ConfigError(f"unknown period(s) {unknown}; {cfg.periods_file} defines {sorted(catalog)}")
        chosen = {p: catalog[p] for p in cfg.periods}
        for name, period in chosen.items():
            a, b = period.productivity
            if a < cfg.years[0] or b > cfg.years[1]:
                raise ConfigError(
                    f"period {name} needs annual NDVI for {a}-{b} but the run covers {cfg.years[0]}-{cfg.years[1]}: "
                    f"run with --years {min(a, cfg.years[0])}-{max(b, cfg.years[1])}"
                )
        return chosen
    return {n: p for n, p in catalog.items() if p.productivity[0] >= cfg.years[0] and p.productivity[1] <= cfg.years[1]}


def _tiles(cfg: RunConfig, source: Source, grid: GeoBox) -> tuple[Tile, ...]:
    """The ingest's tiles: ``cfg.tiles`` when given (checked for overlaps), else the lattice over the grid."""
    assert source.resolution is not None
    if cfg.tiles is not None:
        check_tiles(cfg.tiles, resolution=source.resolution)
        return tuple(cfg.tiles)
    box = grid.boundingbox
    return tuple(lattice_tiles((box.left, box.bottom, box.right, box.top), resolution=source.resolution,
                               origin=source.grid_origin, size_px=cfg.tile_size))


def run_bbox(cfg: RunConfig, source: Source) -> tuple[float, float, float, float]:
    """The run's area as a lon/lat box, whether it was given in lon/lat or in the NDVI ``source``'s CRS."""
    if cfg.bbox is not None:
        return cfg.bbox
    assert cfg.native_bounds is not None and source.crs is not None
    return lonlat_bounds(cfg.native_bounds, source.crs)


def analysis_geobox(cfg: RunConfig, source: Source) -> GeoBox:
    """The run's pixel grid: the source's native CRS and resolution, aligned to its grid origin."""
    if source.crs is None or source.resolution is None:
        raise ConfigError(
            f"source {cfg.ndvi_source!r} in {cfg.sources_file} needs `crs` and `resolution` to build the analysis grid"
        )
    if cfg.native_bounds is not None:
        bounds = cfg.native_bounds
    elif cfg.bbox is not None:
        bounds = native_bounds(cfg.bbox, source.crs)
    else:  # the run config's validation requires one of the two
        raise ConfigError("the run has no area: give --region, --bbox or native bounds")
    return snapped_geobox(bounds, source.crs, source.resolution, source.grid_origin)


def run_context(cfg: RunConfig, sources: SourceCatalog | None = None) -> RunContext:
    """Resolve ``cfg`` into the run's facts: read and check the sources and periods, build the grid, its tiles and
    the region on it. A problem with any of them is a one-line ``ConfigError`` here, before any task runs.
    ``sources`` is ``cfg.sources_file`` when the caller has read it already (it is then not read again)."""
    sources = load_sources(cfg.sources_file) if sources is None else sources
    ndvi = ndvi_source(cfg, sources)
    name = cfg.productivity.land_unit_source
    units = _with_role(cfg, sources, name, "land_units") if name is not None else None
    types = cfg.ldn_balance_land_types
    balance_types = _with_role(cfg, sources, types, "land_units") if types is not None else None
    grid = analysis_geobox(cfg, ndvi)
    key = area_fingerprint(cfg)
    area = region_area(cfg.region, key, grid)
    polygons = resolve_region(cfg.region) if cfg.region is not None else None
    periods = selected_periods(cfg)
    registry, activities, sample = run_activities(cfg)
    return RunContext(activities=activities, activity_registry=registry, sample_activities=sample,
                      balance_land_types=balance_types, precipitation=precipitation_source(cfg, sources),
                      population=optional_source(cfg, sources, "population", cfg.population_source,
                                                 "population_source"),
                      vulnerability=optional_source(cfg, sources, "vulnerability", cfg.vulnerability_source,
                                                    "vulnerability_source"),
                      cfg=cfg, sources=sources, ndvi=ndvi, land_cover=land_cover_source(cfg, sources),
                      land_units=units, grid=grid, tiles=_tiles(cfg, ndvi, grid), grid_key=_grid_key(cfg, grid, key), area_key=key, area=area, area_polygons=polygons,
                      search_bbox=run_bbox(cfg, ndvi), periods=periods)


def _grid_key(cfg: RunConfig, grid: GeoBox, area_key: str | None) -> dict[str, Any]:
    """The run's grid, region and region id (which names its items) as cache-key data: what every period layer
    shares, and nothing of the run's years or other settings."""
    return {"crs": grid_crs(grid), "transform": list(grid.affine)[:6], "shape": list(grid.shape), "area": area_key,
            "region_id": cfg.region_id}


def run_activities(cfg: RunConfig) -> tuple[str | None, tuple[Activity, ...], bool]:
    """The activity registry a run reports on: (where, its activities, whether it is the fictitious sample).

    ``cfg.activities`` None means the shipped sample registry when the run reads the bundled sample sources, and
    no registry otherwise; ``none`` means no registry. An unreachable database or a bad record fails here, in one
    line, before any computing."""
    spec, sample = cfg.activities, False
    if spec is not None and spec.strip().lower() == "none":
        return None, (), False
    if spec is None:
        if Path(cfg.sources_file).resolve() != SAMPLE_SOURCES.resolve():
            return None, (), False
        spec, sample = str(SAMPLE_ACTIVITIES), True
    with open_registry(spec, create=False) as registry:
        return registry_label(spec, registry), tuple(registry.list()), sample


def region_weights(run: RunContext, chunks: tuple) -> da.Array:
    """Each pixel's true km2 on the run's grid, 0 outside its region, chunked like the layers it weighs: what
    every area table of this stage sums."""
    geobox = run.grid
    shape = (int(geobox.shape[0]), int(geobox.shape[1]))
    return area_weights(pixel_areas_km2(grid_crs(geobox), geobox.affine, shape), shape, chunks, run.area)


def period_tiles(run: RunContext) -> list[GridTile]:
    """The run's tiles as windows of its grid (the ingest's lattice), leaving out those wholly outside the region."""
    source, grid, area = run.ndvi, run.grid, run.area
    assert source.resolution is not None
    tiles = grid_tiles(grid, resolution=source.resolution, origin=source.grid_origin, size_px=run.cfg.tile_size)
    if area is None:
        return tiles
    rows, cols = sorted({t.rows for t in tiles}), sorted({t.cols for t in tiles})
    state = area.cover((tuple(b - a for a, b in rows), tuple(b - a for a, b in cols)))
    return [t for t in tiles if state[rows.index(t.rows), cols.index(t.cols)] != OUTSIDE]
