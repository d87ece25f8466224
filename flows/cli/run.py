"""``ldn sample-data``, ``ldn run`` and ``ldn serve``: make the sample, compute and publish, schedule.

This module holds the commands' options and what can be checked from them alone (their formats, the years, the
option model, the run file's settings, that the files named exist), and imports nothing of the run's stack:
``ldn run --help`` and a typo in an option or the run file are answered in about a second. The work is in
``flows.cli.run_stack`` (Prefect, Dask, the readers and writers), loaded when a command gets that far
(``flows.cli._app.STACKS``).
"""
from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError

from flows.cli._app import fail, load_stack
from flows.cli._options import DEFAULT_SAMPLE_DIR, parse_bbox, parse_years
from flows.run_options import RefreshRun
from tasks.config import check_run_file
from tasks.constants import DEFAULT_OUTPUTS, TASK_RUNNERS
from tasks.errors import validation_message

cli = typer.Typer()

def _stack() -> Any:
    """``flows.cli.run_stack``, the commands' work (``flows.cli._app.STACKS``): imported once the options are checked."""
    return load_stack(__name__)


@cli.command("sample-data")
def sample_data(
    out: Annotated[Optional[Path], typer.Option(help="Folder to write into (default outputs/sample-data, with --region "
                                                     "outputs/rehearsal-<region>).")] = None,
    force: Annotated[bool, typer.Option(help="Regenerate even if a complete sample is present.")] = False,
    region: Annotated[Optional[str], typer.Option(
        help="Instead of the 60 km sample: a coarse rehearsal of this whole region (NE-ASIA or a country code) on the "
             "real MODIS tiles, to run with `ldn run --sample-dir OUT`.")] = None,
    step: Annotated[int, typer.Option(help="With --region: keep every STEP-th MODIS pixel (16: 3.7 km pixels, 300 px tiles).")] = 16,
    composites: Annotated[int, typer.Option(help="With --region: 16-day composites a year (those nearest the season's peak).")] = 2,
) -> None:
    """Generate the bundled offline sample region (deterministic: same files on every machine)."""
    _stack().sample_data(out, force=force, region=region, step=step, composites=composites)


TaskRunner = Enum("TaskRunner", {name: name for name in TASK_RUNNERS}, type=str)  # type: ignore[misc]  # from the constant
"""The `--task-runner` choices (``tasks.constants.TASK_RUNNERS``), as typer's Enum."""


@cli.command()
def run(
    sources: Annotated[Optional[Path], typer.Option(rich_help_panel="Data", help="Sources YAML; default: the bundled offline sample region.")] = None,
    source: Annotated[Optional[str], typer.Option(rich_help_panel="Data", help="Name of the NDVI source in the sources file (default modis-13q1).")] = None,
    stac_api: Annotated[Optional[str], typer.Option(rich_help_panel="Data", help="STAC API URL overriding the source's `api`.")] = None,
    region: Annotated[Optional[str], typer.Option(rich_help_panel="Area",
        help="Area: NE-ASIA (the default with --sources), a country code (CHN, MNG, PRK, KOR, JPN, RUS = the Far "
             "East), a bbox west,south,east,north, or a GeoPackage/GeoJSON of polygons.")] = None,
    bbox: Annotated[Optional[str], typer.Option(rich_help_panel="Area", help="west,south,east,north in degrees (same as --region W,S,E,N).")] = None,
    region_id: Annotated[Optional[str], typer.Option(rich_help_panel="Area", help="Short id of the area, used in layer ids (default from --region).")] = None,
    tile_size: Annotated[Optional[int], typer.Option(rich_help_panel="Compute", help="Tile edge in pixels (default 4800: the MODIS h/v tiles).")] = None,
    years: Annotated[Optional[str], typer.Option(rich_help_panel="Data", help="FIRST-LAST calendar years (default: 2001-2024 for the sample, else 2001 to last year).")] = None,
    out: Annotated[str, typer.Option(rich_help_panel="Outputs",
        help="Root of the published catalog: a folder, or object storage (s3://bucket/prefix; credentials and endpoint "
             "from the environment, e.g. AWS_*), where each version is uploaded, checked, then switched in; the run "
             "then works in outputs/stores/<scheme>/<bucket>/<prefix>.")] = str(DEFAULT_OUTPUTS / "catalog"),
    sample_dir: Annotated[Path, typer.Option(rich_help_panel="Data",
        help="Sample region folder; a complete sample there is used as is, else the default one is generated.")] = DEFAULT_SAMPLE_DIR,
    min_valid: Annotated[Optional[int], typer.Option(rich_help_panel="Method", help="Fewest valid 16-day composites for a pixel-year (default 6).")] = None,
    periods: Annotated[Optional[str], typer.Option(rich_help_panel="Method", help="Comma-separated periods (default: all that fit the years).")] = None,
    trajectory_method: Annotated[Optional[str], typer.Option(rich_help_panel="Method", help="trends_earth (default) or gpg_v2.")] = None,
    state_method: Annotated[Optional[str], typer.Option(rich_help_panel="Method", help="trends_earth (default) or gpg_v2.")] = None,
    productivity_method: Annotated[Optional[str], typer.Option(rich_help_panel="Method",
        help="LPD method: trends_earth (default: trajectory, state, performance) or fao_wocat (FAO-WOCAT, "
             "with its steadiness, initial biomass, emerging state and desert mask).")] = None,
    precipitation: Annotated[Optional[str], typer.Option(rich_help_panel="Data",
        help="Monthly precipitation source of the drought layers (SO3-1), or `none`; default: the sources file's "
             "only precipitation source, if it has one (the sample has one).")] = None,
    population: Annotated[Optional[str], typer.Option(rich_help_panel="Data",
        help="Population source (people per pixel, by sex or total) of the drought exposure (SO3-2) and SO2-3 tables, "
             "or `none`; default: the sources file's only population source (the sample has one).")] = None,
    vulnerability: Annotated[Optional[str], typer.Option(rich_help_panel="Data",
        help="Drought vulnerability source (an index 0-1) of the SO3-3 means, or `none`; default: the sources "
             "file's only vulnerability source (the sample has one).")] = None,
    exclude_scene: Annotated[Optional[list[str]], typer.Option(rich_help_panel="Data", metavar="ITEM_ID",
        help="STAC item id of a scene to leave out (repeat for more): a damaged composite the provider has not "
             "repaired yet. Listed in the log and in its year's annual layers (excluded_scenes).")] = None,
    spi_calibration: Annotated[Optional[str], typer.Option(rich_help_panel="Method",
        help="FIRST-LAST years of the SPI's gamma fit (default 1991-2020, the WMO normal).")] = None,
    config: Annotated[Optional[Path], typer.Option(rich_help_panel="Method", help="YAML of run settings (e.g. a `productivity:` block).")] = None,
    zones: Annotated[Optional[Path], typer.Option(rich_help_panel="Area",
        help="Zones for the tables (GeoPackage/GeoJSON); default: the countries of North-East Asia.")] = None,
    zone_field: Annotated[Optional[str], typer.Option(rich_help_panel="Area", help="Field naming each zone (default: `name`).")] = None,
    pgstac: Annotated[Optional[str], typer.Option(rich_help_panel="Outputs",
        help="Also load the new version into this pgstac database (see `ldn publish`).")] = None,
    cache: Annotated[bool, typer.Option(rich_help_panel="Cache",
        help="Reuse every layer whose inputs and settings are unchanged (annual NDVI tiles and years, productivity "
             "tiles and periods, land cover, SOC, SDG 15.3.1, status, the report); --no-cache recomputes all.")] = True,
    cache_dir: Annotated[Optional[Path], typer.Option(rich_help_panel="Cache", help="Layer cache folder (default <out>/.cache).")] = None,
    cache_url: Annotated[Optional[str], typer.Option(rich_help_panel="Cache",
        envvar="LDN_CACHE_URL",
        help="Object storage behind the layer cache, shared by machines and runs: s3://bucket/prefix, gs://..., "
             "az://... (or $LDN_CACHE_URL; credentials and endpoint from the environment, e.g. AWS_*).")] = None,
    dask_address: Annotated[Optional[str], typer.Option(rich_help_panel="Compute",
        envvar="LDN_DASK_ADDRESS",
        help="Compute on an existing Dask cluster, e.g. tcp://127.0.0.1:8786 (or $LDN_DASK_ADDRESS); default "
             "(`threads`): Dask's threaded scheduler here, a thread per core; `local`: an in-process Dask cluster "
             "with a memory limit (80% of the machine's) and spilling.")] = None,
    plan: Annotated[bool, typer.Option("--plan", rich_help_panel="Compute",
        help="Print what the run would do (tiles and windows, scenes and bytes per year, what the cache holds, output "
             "size, peak memory, estimated hours) without computing anything.")] = False,
    task_runner: Annotated[TaskRunner, typer.Option(rich_help_panel="Compute",
        envvar="LDN_TASK_RUNNER",
        help="Where tile and period tasks run: `threads` here (their raster graphs go to the cluster), or `dask` on "
             "the --dask-address workers (prefect-dask; needs a Prefect server the workers report to).")] = TaskRunner("threads"),
) -> None:
    """Compute and publish every SDG 15.3.1 layer with zonal tables and a report (default: the offline sample).

    With --plan, print what the run would do (tiles, windows, scenes per year, what the cache holds, output size,
    peak memory, hours) and compute nothing.
    """
    started = time.monotonic()
    try:
        params = RefreshRun(
            sources_file=sources, ndvi_source=source, stac_api=stac_api, bbox=parse_bbox(bbox) if bbox else None,
            region=region, region_id=region_id, tile_size=tile_size, years=_years(years, "--years"), out_dir=out,
            sample_dir=sample_dir, min_valid_composites=min_valid,
            periods=tuple(p.strip() for p in periods.split(",") if p.strip()) if periods else None,
            trajectory_method=trajectory_method, state_method=state_method,
            productivity_method=productivity_method, config=config, zones=zones,
            precipitation_source=precipitation, population_source=population,
            vulnerability_source=vulnerability, exclude_scenes=tuple(exclude_scene) if exclude_scene else None,
            spi_calibration=_years(spi_calibration, "--spi-calibration"),
            zone_field=zone_field, pgstac=pgstac, use_cache=cache, cache_dir=cache_dir, cache_url=cache_url)
    except ValidationError as err:
        raise fail(validation_message(err, "the run options")) from None
    for flag, path in (("--sources", sources), ("--zones", zones)):
        if path is not None and not path.is_file():
            raise fail(f"{flag} {path}: no such file: check the path")
    if config is not None:
        check_run_file(config)  # every setting of the run file, with the message the full check gives
    _stack().run(params, plan=plan, dask_address=dask_address, task_runner=task_runner.value, started=started)


def _years(text: str | None, flag: str) -> tuple[int, int] | None:
    """``--years`` (or ``flag``) checked for what needs no source: its format and a span forwards (the run's
    sources say later which of the years they cover, and suggest theirs)."""
    if not text:
        return None
    first, last = parse_years(text, flag)
    if first > last:
        raise fail(f"{flag}: years {first}-{last} are reversed; write FIRST-LAST, e.g. {last}-{first}")
    return first, last


@cli.command()
def serve(
    name: Annotated[str, typer.Option(help="Deployment name.")] = "yearly-refresh",
    cron: Annotated[Optional[str], typer.Option(help="Cron schedule (default: 15 Feb 06:00, after MODIS's year is complete).")] = None,
    timezone: Annotated[Optional[str], typer.Option(help="Timezone of the schedule (default UTC).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Sources YAML for scheduled runs; default: the sample.")] = None,
    bbox: Annotated[Optional[str], typer.Option(help="west,south,east,north for scheduled runs.")] = None,
    out: Annotated[str, typer.Option(help="Root of the published catalog: a folder, or s3://bucket/prefix.")] = str(DEFAULT_OUTPUTS / "catalog"),
    cache_url: Annotated[Optional[str], typer.Option(envvar="LDN_CACHE_URL",
        help="Object storage behind the scheduled runs' layer cache (see `ldn run --cache-url`).")] = None,
    dask_address: Annotated[Optional[str], typer.Option(envvar="LDN_DASK_ADDRESS",
        help="The Dask cluster scheduled runs compute on (see `ldn run --dask-address`).")] = None,
    task_runner: Annotated[TaskRunner, typer.Option(envvar="LDN_TASK_RUNNER",
        help="Where scheduled runs' tile and period tasks run (see `ldn run --task-runner`).")] = TaskRunner("threads"),
) -> None:
    """Serve the `refresh-indicators` flow with a yearly schedule to the Prefect API ($PREFECT_API_URL).

    Runs until stopped. Parameters (years, periods, region, ...) can be overridden per run, e.g.
    `prefect deployment run refresh-indicators/yearly-refresh --param run='{"years": [2001, 2024]}'`.
    """
    try:
        defaults = RefreshRun(sources_file=sources, bbox=parse_bbox(bbox) if bbox else None,
                              out_dir=out if "://" in out else Path(out).resolve(), cache_url=cache_url)
    except ValidationError as err:
        raise fail(validation_message(err, "the serve options")) from None
    _stack().serve(defaults, name=name, cron=cron, timezone=timezone, dask_address=dask_address,
                   task_runner=task_runner.value)
