"""The option surface of a refresh: every option of one run (``RefreshRun``) and the checked run built from them.

``RefreshRun`` is what ``ldn run``'s flags, a deployment's parameters and a scheduled run carry; its fields are
named like ``RunConfig``'s where they mean the same. ``build_run`` resolves them (defaults, then a YAML run file,
then the options given), checks everything that can be checked before any work and returns the run's facts
(``RunContext``), so a bad option fails in one line before the flow, a sample or a scene is touched.
(No ``from __future__ import annotations`` here, as in flows/refresh.py: Prefect builds the flow's parameter
schema from ``RefreshRun``'s annotations.)
"""
import functools
import json
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from flows.run_options import DEFAULT_SAMPLE_DIR, RUN_CONFIG_FIELDS, RefreshRun
from tasks.config import SAMPLE_SOURCES, RunConfig, SourceCatalog, load_sources, read_yaml_mapping
from tasks.constants import MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError, validation_message
from tasks.geo.grid import bboxes_intersect, lonlat_bounds
from tasks.geo.tiles import MODIS_TILE_PX
from tasks.io.outputs.pgstac import check_pgstac
from tasks.io.outputs.report import load_zones
from tasks.io.runtime.layer_cache import check_cache_url, check_writable_folders
from tasks.io.runtime.object_store import check_store
from tasks.io.samples.sample_data import load_sample_region, sample_grid
from tasks.io.sources.preflight import check_run
from tasks.io.sources.region import ALL_NE_ASIA, region_grid, resolve_region
from tasks.io.sources.run import RunContext
from tasks.io.sources.zones import check_zones_cover

__all__ = ["RefreshRun", "build_run", "sample_area", "SampleArea", "DEFAULT_SAMPLE_DIR", "RUN_CONFIG_FIELDS"]


def _run_file(path: Path | None) -> dict[str, Any]:
    """Run settings from a YAML file (any RunConfig field, e.g. a `productivity:` block)."""
    return {} if path is None else read_yaml_mapping(path, "run config")


class SampleArea(NamedTuple):
    """The generated inputs a run without ``--sources`` reads, as their folder's ``region.json`` describes them."""

    name: str
    bounds: tuple[float, float, float, float]
    as_is: bool
    """True: a complete folder, used as it is; False: the bundled sample, generated when missing."""
    sources: Path | None = None
    """The folder's own sources file (the full-extent rehearsal brings one); None: the bundled sample's."""
    region: str | None = None
    """The region the inputs were made for (the run's default ``--region``)."""
    years: tuple[int, int] = (2001, 2024)
    settings: dict[str, Any] = {}
    """Run settings the inputs need (the rehearsal's tile size and composites a year); a run file overrides them."""


def sample_area(run: RefreshRun) -> SampleArea:
    """The generated inputs the run will use: a complete ``--sample-dir`` as it is, else the bundled sample."""
    folder = Path(run.sample_dir)
    if run.sample_dir != DEFAULT_SAMPLE_DIR and (folder / "COMPLETE").is_file():
        meta = json.loads((folder / "region.json").read_text())
        return SampleArea(meta["name"], tuple(meta["native_bounds"]), True,
                          sources=folder / meta["sources"] if meta.get("sources") else None, region=meta.get("region"),
                          years=tuple(meta.get("ndvi_years", (2001, 2024))), settings=meta.get("settings", {}))
    sample = load_sample_region()
    return SampleArea(sample.name, sample_grid(sample).bounds, False)


def _check_zones(cfg: RunConfig) -> None:
    """A zones file must cover the run's area (``tasks.io.sources.zones.check_zones_cover``), else its tables would miss land."""
    if cfg.zones is None:
        return

    if cfg.bbox is not None:
        area = cfg.bbox
    elif cfg.native_bounds is not None:
        area = lonlat_bounds(cfg.native_bounds, MODIS_SINUSOIDAL_WKT)
    else:  # the run config's validation requires one of the two
        raise ConfigError("the run has no area: give --region, --bbox or native bounds")
    check_zones_cover(load_zones(cfg.zones, cfg.zone_field), area)


def _check_comparison_box(run: RunContext) -> None:
    """The performance comparison box must overlap the run's area, and cross 180 degrees only when the area does:
    a box outside it would leave performance (and the LPD) with no pixel to compare with."""
    box = run.cfg.productivity.comparison_bbox
    if box is None:
        return

    area = tuple(round(v, 4) for v in run.search_bbox)
    shown = [round(v, 4) for v in box]
    if box[0] > box[2] and not area[0] > area[2]:
        raise ConfigError(f"productivity.comparison_bbox {shown} has west > east, a box across 180 degrees, but the "
                          f"run's area {list(area)} does not cross 180 degrees: swap west and east")
    if not bboxes_intersect(area, tuple(box)):
        raise ConfigError(f"productivity.comparison_bbox {shown} does not overlap the run's area {list(area)}: "
                          "performance would have no pixel to compare with; pick a box inside the area or drop it")


def _nested_settings(run: RefreshRun, values: dict[str, Any]) -> dict[str, Any]:
    """The ``productivity`` and ``drought`` blocks of the run file with the options that set one of their fields
    (the three methods, the SPI's calibration) laid over them."""
    out: dict[str, Any] = {}
    for block, given in (("productivity", {"trajectory_method": run.trajectory_method, "state_method": run.state_method,
                                           "method": run.productivity_method}),
                         ("drought", {"calibration": run.spi_calibration})):
        settings = values.get(block) or {}
        if not isinstance(settings, dict):
            raise ConfigError(f"run config {run.config}: `{block}` must be a mapping of settings (e.g. `"
                              + ("productivity: {min_years: 10}" if block == "productivity"
                                 else "drought: {calibration: [1991, 2020]}")
                              + f"`), not {type(settings).__name__}")
        settings = {**settings, **{k: v for k, v in given.items() if v is not None}}
        if settings:
            out[block] = settings
    return out


def build_run(run: RefreshRun, *, announce: bool = False) -> RunContext:
    """The run's facts (``RunContext``) from a refresh's options: defaults, then the YAML run file, then the options
    given; all checked, the sources file read once.

    Checks everything that can be checked before any work (periods, zones, the cache URL, that the output, cache
    and temporary folders can be written), so a bad option fails in one line before a sample is generated or a
    scene is read. ``announce`` prints the region and its tiles: `ldn run` does on stdout, the flow does into its
    log (what a scheduled run shows). `ldn run` builds it once and hands it to the flow; a deployment's run builds
    it from its parameters.
    """
    values: dict[str, Any] = {}
    if run.region is not None and run.bbox is not None:
        raise ConfigError("give --region or --bbox, not both (--region takes a bbox too: west,south,east,north)")
    # --bbox W,S,E,N is --region W,S,E,N: the same box, the same pixels (those outside it are nodata), the same
    # land area; only the default layer id differs (the sample's name or "custom", as before)
    region = run.region if run.bbox is None else ",".join(repr(float(v)) for v in run.bbox)
    if run.sources_file is None:
        sample = sample_area(run)
        values.update(sources_file=sample.sources or SAMPLE_SOURCES, region_id=sample.name, years=sample.years,
                      native_bounds=sample.bounds, **sample.settings)
        region = region or sample.region
    else:
        values.update(sources_file=run.sources_file, region_id="custom", years=(2001, date.today().year - 1))
    from_file = _run_file(run.config)
    values.update(from_file)

    @functools.cache
    def sources() -> SourceCatalog:  # the sources file, read once, where first needed (the region's grid or the years)
        return load_sources(values["sources_file"])

    if run.tile_size is not None:  # before the region: its grid is cut into tiles of this size
        values["tile_size"] = run.tile_size
    if run.sources_file is not None:
        values.update(_region_area(region or ALL_NE_ASIA, values, sources(), keep_id=run.bbox is not None,
                                   announce=announce))
    elif region is not None:  # the sample: keep to its window, compute only the tiles in the region
        # (a rehearsal's inputs cover their whole region, on both sides of 180 degrees: no window to keep to)
        within = None if values["sources_file"] != SAMPLE_SOURCES else values["native_bounds"]
        values.update(_region_area(region, values, sources(), within=within, keep_id=True, announce=announce))
    values.update(_nested_settings(run, values))
    values.update({name: value for name in RUN_CONFIG_FIELDS if (value := getattr(run, name)) is not None})
    if not run.use_cache:
        values["use_cache"] = False
    try:
        cfg = RunConfig(**values)
    except ValidationError as err:
        raise ConfigError(validation_message(err, str(run.config) if run.config else "the run options")) from None
    declared = sources().get(cfg.ndvi_source).years
    if run.years is None and "years" not in from_file and declared is not None:
        # the default years, kept to those the NDVI source covers; years the user gives are checked (check_run)
        years = (max(cfg.years[0], declared[0]), min(cfg.years[1], declared[1]))
        if years[0] <= years[1]:
            cfg = cfg.model_copy(update={"years": years})
    facts = check_run(cfg, sources())  # the sources, periods, tiles (custom ones that overlap fail here), files, parameters
    _check_comparison_box(facts)
    _check_zones(cfg)
    if run.pgstac:
        check_pgstac(run.pgstac)
    if cfg.publish_url is not None:
        check_store(cfg.publish_url)  # a missing bucket or a read-only credential fails now, not after the work
    if cfg.cache_url and cfg.use_cache:
        check_cache_url(cfg.cache_url)
    check_writable_folders(cfg)
    return facts


def _region_area(spec: str, values: dict[str, Any], sources: SourceCatalog, *,
                 within: tuple[float, float, float, float] | None = None, keep_id: bool = False,
                 announce: bool = False) -> dict[str, Any]:
    """RunConfig fields for a region: its grid (native bounds), tiles and lon/lat search box."""
    region = resolve_region(spec)
    source = sources.get(values.get("ndvi_source", "modis-13q1"))
    if source.crs is None or source.resolution is None:
        raise ConfigError(f"source {source.stac.collection if source.stac else ''} needs `crs` and `resolution` for tiles")
    grid = region_grid(region, crs=source.crs, resolution=source.resolution, origin=source.grid_origin,
                       tile_size=values.get("tile_size", MODIS_TILE_PX), within=within)
    bbox = lonlat_bounds(grid.native_bounds, source.crs) if within is not None else grid.bbox
    path = Path(spec.strip())
    area = str(path.resolve()) if path.is_file() else spec.strip()  # the same polygons from any folder or worker
    out = {"native_bounds": grid.native_bounds, "bbox": bbox, "tiles": grid.tiles, "region": area}
    if not keep_id:
        out["region_id"] = region.name
    if announce:
        print(f"region {region.label}: {len(grid.tiles)} tiles ({', '.join(t.name for t in grid.tiles[:12])}"
              f"{', ...' if len(grid.tiles) > 12 else ''})")
    return out
