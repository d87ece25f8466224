"""The yearly indicator refresh as one deployable Prefect flow: `ldn run` calls it, `ldn serve` schedules it.

``refresh_indicators`` takes every run option as one validated pydantic model (``RefreshRun``),
prepares the inputs (the bundled sample region and its local STAC API, or the production sources),
runs the ``ldn-yearly`` flow as a subflow and, if asked, loads the new version into pgstac.
(No ``from __future__ import annotations`` here: Prefect builds the flow's parameter schema from
the real annotations.)
"""
import contextlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import yaml
from prefect import flow, get_run_logger
from pydantic import BaseModel, Field, ValidationError

import tasks  # noqa: F401  (Prefect environment defaults)
from tasks.config import SAMPLE_SOURCES, RunConfig, validation_message
from tasks.constants import DEFAULT_OUTPUTS
from tasks.errors import ConfigError, LdnError

__all__ = ["RefreshRun", "refresh_indicators", "build_config", "DEFAULT_SAMPLE_DIR", "YEARLY_CRON", "YEARLY_TIMEZONE",
           "dask_client"]

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
    bbox: tuple[float, float, float, float] | None = Field(None, description="west, south, east, north (degrees).")
    region: str | None = Field(None, description="Short id of the area, used in layer ids.")
    years: tuple[int, int] | None = Field(
        None, description="First and last year; default 2001 to last year (the sample: 2001-2024).")
    out: Path = Field(DEFAULT_OUTPUTS / "catalog", description="Root of the published catalog.")
    sample_dir: Path = Field(DEFAULT_SAMPLE_DIR, description="Sample region folder (used as is when complete).")
    min_valid: int | None = Field(None, description="Fewest valid composites for a pixel-year (default 6).")
    periods: tuple[str, ...] | None = Field(None, description="Periods to compute (default: all that fit the years).")
    trajectory_method: str | None = None
    state_method: str | None = None
    config: Path | None = Field(None, description="YAML of run settings (any RunConfig field).")
    zones: Path | None = Field(None, description="Zone polygons for the tables; default North-East Asia countries.")
    zone_field: str | None = None
    pgstac: str | None = Field(None, description="Also load the new version into this pgstac database.")
    cache_dir: Path | None = Field(None, description="Layer cache folder (default <out>/.cache).")
    use_cache: bool = Field(True, description="Reuse cached annual NDVI layers whose inputs are unchanged.")


def _run_file(path: Path | None) -> dict[str, Any]:
    """Run settings from a YAML file (any RunConfig field, e.g. a `productivity:` block)."""
    if path is None:
        return {}
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"run config {path} does not exist: pass an existing YAML file") from None
    except yaml.YAMLError:
        raise ConfigError(f"run config {path} is not valid YAML: fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"run config {path} must be a mapping of run settings (e.g. `productivity:`)")
    return raw


def _sample_area(run: RefreshRun) -> tuple[str, tuple[float, float, float, float], bool]:
    """(name, native bounds, use the folder as it is) of the sample region the run will use."""
    from tasks.sample_data import load_sample_region, sample_grid

    if run.sample_dir != DEFAULT_SAMPLE_DIR and (Path(run.sample_dir) / "COMPLETE").is_file():
        meta = json.loads((Path(run.sample_dir) / "region.json").read_text())
        return meta["name"], tuple(meta["native_bounds"]), True
    sample = load_sample_region()
    return sample.name, sample_grid(sample).bounds, False


def build_config(run: RefreshRun) -> RunConfig:
    """The RunConfig of a refresh: defaults, then the YAML run file, then the options given; all checked.

    Checks everything that can be checked before any work (periods, zones), so a bad option fails
    in one line before a sample is generated or a scene is read.
    """
    values: dict[str, Any] = {}
    if run.sources is None:
        name, bounds, _ = _sample_area(run)
        values.update(sources_file=SAMPLE_SOURCES, region=name, years=(2001, 2024))
        if run.bbox is None:
            values["native_bounds"] = bounds
    else:
        if run.bbox is None:
            raise ConfigError("--bbox is required with --sources: give west,south,east,north in degrees")
        values.update(sources_file=run.sources, region="custom", years=(2001, date.today().year - 1))
    values.update(_run_file(run.config))
    productivity = dict(values.get("productivity") or {})
    for key in ("trajectory_method", "state_method"):
        if getattr(run, key) is not None:
            productivity[key] = getattr(run, key)
    if productivity:
        values["productivity"] = productivity
    given = {"ndvi_source": run.source, "stac_api": run.stac_api, "bbox": run.bbox, "region": run.region,
             "years": run.years, "out_dir": run.out, "min_valid_composites": run.min_valid, "periods": run.periods,
             "zones": run.zones, "zone_field": run.zone_field, "cache_dir": run.cache_dir}
    values.update({k: v for k, v in given.items() if v is not None})
    if not run.use_cache:
        values["use_cache"] = False
    try:
        cfg = RunConfig(**values)
    except ValidationError as err:
        raise ConfigError(validation_message(err, str(run.config) if run.config else "the run options")) from None
    cfg.selected_periods()
    if cfg.zones is not None:
        from tasks.constants import MODIS_SINUSOIDAL_WKT
        from tasks.grid import lonlat_bounds
        from tasks.report import load_zones
        from tasks.zones import check_zones_cover

        area = cfg.bbox if cfg.bbox is not None else lonlat_bounds(cfg.native_bounds, MODIS_SINUSOIDAL_WKT)
        check_zones_cover(load_zones(cfg.zones, cfg.zone_field), tuple(area))
    if run.pgstac:
        from tasks.pgstac import check_pgstac

        check_pgstac(run.pgstac)
    return cfg


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A client of the Dask cluster at ``address`` as the default scheduler while open (nothing if None).

    Raster math inside every task then runs on the cluster's workers (which must have ldn-pipeline
    installed); Prefect's tasks stay in this process and pass paths, never arrays.
    """
    if not address:
        yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout=15)
    except (OSError, TimeoutError, ValueError) as err:
        raise LdnError(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}): start it "
                       "(`dask scheduler` and `dask worker`s) or fix --dask-address") from None
    with client:
        print(f"Dask cluster {address}: {len(client.scheduler_info().get('workers', {}))} workers")
        yield client


@flow(name="refresh-indicators", log_prints=True)
def refresh_indicators(run: RefreshRun = RefreshRun(), dask_address: str | None = None) -> str:
    """Refresh every indicator layer, table and report for ``run``; return the new version's catalog path."""
    from flows.ldn_yearly import ldn_yearly

    cfg = build_config(run)
    log = get_run_logger()
    with dask_client(dask_address):
        if run.sources is None:
            from tasks.local_stac import serve_collections
            from tasks.sample_data import generate_sample

            _, _, as_is = _sample_area(run)
            print(f"sample region: {run.sample_dir}")
            if not as_is:
                generate_sample(run.sample_dir, progress=lambda m: print(f"  {m}"))
            with serve_collections(run.sample_dir) as stac:
                print(f"local STAC API {stac.api_url} (files {stac.files_url})")
                catalog = ldn_yearly(cfg.model_copy(update={"stac_api": stac.api_url}))
        else:
            catalog = ldn_yearly(cfg)
    if run.pgstac:
        from tasks.pgstac import load_into_pgstac, redact

        loaded = load_into_pgstac(run.pgstac, run.out, Path(catalog).parent.name)
        log.info("loaded %d collections and %d items into pgstac at %s", loaded[0], loaded[1], redact(run.pgstac))
    return catalog
