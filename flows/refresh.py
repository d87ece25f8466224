"""The yearly indicator refresh as one deployable Prefect flow: `ldn run` calls it, `ldn serve` schedules it.

``refresh_indicators`` takes every run option as one validated pydantic model (``RefreshRun``),
prepares the inputs (the bundled sample region and its local STAC API, or the production sources),
runs the ``ldn-yearly`` flow as a subflow and, if asked, loads the new version into pgstac.
(No ``from __future__ import annotations`` here or in flows/ldn_yearly.py: Prefect builds a flow's parameter
schema from its annotations, and a served run, which copies the flows into its subprocess by value, validates
them from the real ones the copy carries; tests/unit/test_served_flows.py.)
"""
import functools
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field, ValidationError

from flows.cluster import check_task_runner, dask_client, written_folders
from flows.ldn_yearly import ldn_yearly
from tasks.config import SAMPLE_SOURCES, RunConfig, SourceCatalog, load_sources, read_yaml_mapping, validation_message
from tasks.constants import DEFAULT_OUTPUTS, MODIS_SINUSOIDAL_WKT, TASK_RUNNERS
from tasks.errors import ConfigError, redact
from tasks.geo.grid import bboxes_intersect, lonlat_bounds
from tasks.geo.tiles import MODIS_TILE_PX
from tasks.io.outputs.pgstac import check_pgstac, load_into_pgstac
from tasks.io.outputs.report import load_zones
from tasks.io.runtime.layer_cache import check_cache_url, check_writable_folders
from tasks.io.runtime.local_stac import serve_collections
from tasks.io.sources.preflight import check_run
from tasks.io.sources.region import ALL_NE_ASIA, region_grid, resolve_region
from tasks.io.sources.run import RunContext
from tasks.io.sources.sample_data import generate_sample, load_sample_region, sample_grid
from tasks.io.sources.zones import check_zones_cover
from tasks.model import Version

__all__ = ["RefreshRun", "refresh_indicators", "build_run", "DEFAULT_SAMPLE_DIR", "YEARLY_CRON",
           "YEARLY_TIMEZONE", "TaskRunnerName"]

DEFAULT_SAMPLE_DIR: Path = DEFAULT_OUTPUTS / "sample-data"
"""Where `ldn run` generates the bundled sample region."""

YEARLY_CRON = "0 6 15 2 *"
"""The yearly refresh: 15 February, 06:00, after MODIS's last 16-day composites of the previous year
(starting 19 December) are processed and published (about six weeks later)."""

YEARLY_TIMEZONE = "UTC"
"""The schedule's explicit timezone."""


class RefreshRun(BaseModel):
    """Every option of one refresh; all optional: the default is the bundled offline sample region."""

    model_config = {"extra": "forbid"}
    sources: Path | None = Field(None, description="Sources YAML; None: the bundled sample region (offline).")
    source: str | None = Field(None, description="NDVI source name in the sources file (default modis-13q1).")
    stac_api: str | None = Field(None, description="STAC API URL overriding the source's `api`.")
    region: str | None = Field(
        None, description="Area: NE-ASIA (default with --sources), a country code (CHN, MNG, PRK, KOR, JPN, RUS), "
        "a bbox west,south,east,north or a polygon file; with the sample, only its tiles in this area are computed.")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="west, south, east, north (degrees); the same as region='w,s,e,n'.")
    region_id: str | None = Field(None, description="Short id of the area, used in layer ids (default from the region).")
    tile_size: int | None = Field(None, description="Tile edge in pixels (default 4800: the MODIS h/v tiles).")
    years: tuple[int, int] | None = Field(
        None, description="First and last year; default 2001 to last year (the sample: 2001-2024).")
    out: Path = Field(DEFAULT_OUTPUTS / "catalog", description="Root of the published catalog.")
    sample_dir: Path = Field(DEFAULT_SAMPLE_DIR, description="Sample region folder (used as is when complete).")
    min_valid: int | None = Field(None, description="Fewest valid composites for a pixel-year (default 6).")
    periods: tuple[str, ...] | None = Field(None, description="Periods to compute (default: all that fit the years).")
    trajectory_method: str | None = None
    state_method: str | None = None
    productivity_method: str | None = Field(None, description="trends_earth (default) or fao_wocat (method notes 2.6).")
    config: Path | None = Field(None, description="YAML of run settings (any RunConfig field).")
    zones: Path | None = Field(None, description="Zone polygons for the tables; default North-East Asia countries.")
    zone_field: str | None = None
    pgstac: str | None = Field(None, description="Also load the new version into this pgstac database.")
    cache_dir: Path | None = Field(None, description="Layer cache folder (default <out>/.cache).")
    cache_url: str | None = Field(None, description="Object storage behind the layer cache (e.g. s3://bucket/ldn-cache).")
    use_cache: bool = Field(True, description="Reuse every cached layer (annual NDVI, productivity, land cover, SOC, "
                           "SDG 15.3.1, status, the report) whose inputs and settings are unchanged; false "
                           "recomputes all.")


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


def _sample_area(run: RefreshRun) -> SampleArea:
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
    if run.sources is None:
        sample = _sample_area(run)
        values.update(sources_file=sample.sources or SAMPLE_SOURCES, region_id=sample.name, years=sample.years,
                      native_bounds=sample.bounds, **sample.settings)
        region = region or sample.region
    else:
        values.update(sources_file=run.sources, region_id="custom", years=(2001, date.today().year - 1))
    from_file = _run_file(run.config)
    values.update(from_file)

    @functools.cache
    def sources() -> SourceCatalog:  # the sources file, read once, where first needed (the region's grid or the years)
        return load_sources(values["sources_file"])

    if run.tile_size is not None:
        values["tile_size"] = run.tile_size
    if run.sources is not None:
        values.update(_region_area(region or ALL_NE_ASIA, values, sources(), keep_id=run.bbox is not None,
                                   announce=announce))
    elif region is not None:  # the sample: keep to its window, compute only the tiles in the region
        # (a rehearsal's inputs cover their whole region, on both sides of 180 degrees: no window to keep to)
        within = None if values["sources_file"] != SAMPLE_SOURCES else values["native_bounds"]
        values.update(_region_area(region, values, sources(), within=within, keep_id=True, announce=announce))
    productivity = values.get("productivity") or {}
    if not isinstance(productivity, dict):
        raise ConfigError(f"run config {run.config}: `productivity` must be a mapping of settings (e.g. "
                          f"`productivity: {{min_years: 10}}`), not {type(productivity).__name__}")
    productivity = dict(productivity)
    for key in ("trajectory_method", "state_method"):
        if getattr(run, key) is not None:
            productivity[key] = getattr(run, key)
    if run.productivity_method is not None:
        productivity["method"] = run.productivity_method
    if productivity:
        values["productivity"] = productivity
    given = {"ndvi_source": run.source, "stac_api": run.stac_api, "region_id": run.region_id,
             "years": run.years, "out_dir": run.out, "min_valid_composites": run.min_valid, "periods": run.periods,
             "zones": run.zones, "zone_field": run.zone_field, "cache_dir": run.cache_dir,
             "cache_url": run.cache_url}
    values.update({k: v for k, v in given.items() if v is not None})
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


TaskRunnerName = Literal[TASK_RUNNERS]  # type: ignore[valid-type]
"""The ``task_runner`` parameter's choices (``tasks.constants.TASK_RUNNERS``), checked by Prefect."""


@flow(name="refresh-indicators", log_prints=True)
def refresh_indicators(run: RefreshRun = RefreshRun(), dask_address: str | None = None,
                       task_runner: TaskRunnerName = "threads", checked: RunContext | None = None) -> str:
    """Refresh every indicator layer, table and report for ``run``; return the new version's catalog path.

    ``task_runner="dask"`` runs the tile x year and period tasks on the workers of the cluster at
    ``dask_address`` (prefect-dask); by default they run here, with their raster graphs on Dask's threaded
    scheduler, a ``local`` cluster or the cluster at ``dask_address`` (``dask_client``). ``checked`` is ``run``'s
    facts when the caller built and checked them already (``build_run``: `ldn run` does, before Prefect starts); a
    deployment's run leaves it out and builds them here, with the same checks.
    """
    facts = checked if checked is not None else build_run(run, announce=True)
    cfg = facts.cfg
    log = get_run_logger()
    spread = dask_address if task_runner == "dask" else None
    with dask_client(dask_address) as client:
        check_task_runner(task_runner, dask_address, client, shared=written_folders(cfg))
        if run.sources is None:
            print(f"sample region: {run.sample_dir}")
            if not _sample_area(run).as_is:
                generate_sample(run.sample_dir, progress=lambda m: print(f"  {m}"))
            with serve_collections(run.sample_dir) as stac:
                print(f"local STAC API {stac.api_url} (files {stac.files_url})")
                served = facts.model_copy(update={"cfg": cfg.model_copy(update={"stac_api": stac.api_url})})
                catalog = ldn_yearly(served, spread_on=spread)
        else:
            catalog = ldn_yearly(facts, spread_on=spread)
    if run.pgstac:
        loaded = load_into_pgstac(run.pgstac, run.out, Version.of_catalog(catalog).name)
        log.info("loaded %d collections and %d items into pgstac at %s", loaded[0], loaded[1], redact(run.pgstac))
    return catalog
