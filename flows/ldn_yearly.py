"""Yearly indicator refresh: ingest annual NDVI per tile and year, compute every period's indicators, publish.

Five subflows, each a stage of the GPG or the UNCCD report: ``ingest-annual-ndvi`` (one task per tile x year,
joined per year), ``period-indicators`` (productivity per tile x period in two passes, joined per period;
land cover and SOC, SDG 15.3.1, status and the LDN balance per period), ``drought-hazard`` (SO3-1: SPI and drought
classes per year on the precipitation's grid, each period's worst year), ``people`` (SO3-2, SO3-3, SO2-3: the
people under drought, their vulnerability and the people on degraded land) and ``publish-version`` (tables, report and
the atomic switch). Tasks pass paths and item ids, never arrays; every layer task is keyed on its
inputs, so an unchanged refresh does no raster work.

(No ``from __future__ import annotations`` here, as in flows/refresh.py: a served run copies these flows into
its subprocess by value, and Prefect validates their parameters from the real annotations the copy carries.)
"""
import contextlib
import shutil
import time
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, flow, get_run_logger, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from flows.cluster import forget_handoffs
from tasks.config import Period, RunConfig
from tasks.io.outputs.catalog import discard_staging
from tasks.io.runtime.cluster import computing_here
from tasks.io.runtime.layer_cache import cache_root, tidy_cache
from tasks.io.runtime.netstats import cluster_network_bytes
from tasks.io.runtime.progress import ingest_summary, tile_period_summary, track_stage
from tasks.io.runtime.run_locks import run_marker
from tasks.io.runtime.shared_nothing import anchored, fetch_layers, shares_nothing
from tasks.io.sources.run import RunContext, period_tiles, run_context
from tasks.io.sources.search import find_inputs_task, find_people_task, find_scenes_task
from tasks.model import Layers, LayerSummary, Staging
from tasks.stages.annual_ndvi import (
    annual_ndvi_tile_task,
    annual_ndvi_year_task,
    plan_tiles_task,
    restore_annual_year_task,
)
from tasks.stages.drought import drought_task, find_precipitation_task
from tasks.stages.land_degradation import (
    land_cover_grid_task,
    land_soc_task,
    ldn_balance_task,
    restore_land_soc_task,
    sdg_task,
    status_task,
)
from tasks.stages.people import people_task
from tasks.stages.productivity import (
    PeriodTile,
    productivity_task,
    productivity_tile_task,
    restore_productivity_task,
    trend_tile_task,
    unit_percentiles_task,
)
from tasks.stages.publish import begin_version_task, publish_version_task
from tasks.stages.report import report_artifacts_task, report_task

BASELINE = "baseline"
"""The period every other period's status is measured against."""

P = ParamSpec("P")
R = TypeVar("R")


def _grown(before: int | None, after: int | None) -> int | None:
    """Bytes downloaded between two counts, when both are known."""
    return None if before is None or after is None else max(0, after - before)


def _threads() -> Any:
    """A stage's task runner: two threads (typed loosely: mypy cannot match Prefect's TaskRunner generics to the
    ``flow`` decorator's)."""
    return ThreadPoolTaskRunner(max_workers=2)


@flow(name="ingest-annual-ndvi", task_runner=_threads(), log_prints=True)
def ingest_annual_ndvi(run: RunContext, staging: Staging) -> list[LayerSummary]:
    """Annual NDVI mean and maximum per (tile, year) from the 16-day scenes, joined into two layers per year."""
    log = get_run_logger()
    found = find_scenes_task(run)
    scenes = found.by_year
    jobs = plan_tiles_task(run, scenes)
    left_out = sum(map(len, found.left_out.values()))
    log.info("found %d composites in %d years%s; %d tile-years to check", sum(map(len, scenes.values())), len(scenes),
             f" ({left_out} left out as asked)" if left_out else "", len(jobs))
    scratch = f"{staging.path}.tiles"
    years = sorted(scenes)
    restored: dict[int, list[LayerSummary]] = {}
    if run.cfg.use_cache:  # years published before with the same tile-years: linked whole, no task per tile
        looked = restore_annual_year_task.map(unmapped(run), years, [[j for j in jobs if j.year == y] for y in years],
                                              unmapped(staging.path), [found.left_out.get(y, []) for y in years])
        track_stage("annual NDVI restore", looked, log)
        for year, answer in zip(years, looked.result()):
            if answer.layers is not None:
                restored[year] = answer.layers
            else:
                jobs = [j for j in jobs if j.year != year] + answer.jobs  # now with their fingerprints
    linked = [j for j in jobs if j.year in restored]
    jobs = [j for j in jobs if j.year not in restored]
    try:
        pulled = cluster_network_bytes()
        tiles = annual_ndvi_tile_task.map(unmapped(run), [j.tile for j in jobs], [j.year for j in jobs],
                                          [j.items for j in jobs], unmapped(scratch), [j.prints for j in jobs])
        seconds = track_stage("annual NDVI tiles", tiles, log)  # every tile finishes; a failed one fails the stage
        done = tiles.result()
        log.info("annual NDVI: %s", ingest_summary(done, seconds, _grown(pulled, cluster_network_bytes()),
                                                   linked=[(j.tile.name, j.year) for j in linked]))
        todo = [y for y in years if y not in restored]
        per_year = [[t for t in done if t is not None and t.year == y] for y in todo]
        annual = annual_ndvi_year_task.map(unmapped(run), todo, per_year, unmapped(staging.path),
                                           [found.left_out.get(y, []) for y in todo])
        track_stage("annual NDVI mosaics", annual, log)
        made = dict(zip(todo, annual.result()))
        # per year: the mean, then the maximum
        return [layer for y in years for layer in (restored[y] if y in restored else made[y])]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@flow(name="period-indicators", task_runner=_threads(), log_prints=True)
def period_indicators(run: RunContext, annual_layers: Layers, staging: Staging) -> list[LayerSummary]:
    """Per reporting period: productivity (per tile), land cover and SOC, SDG 15.3.1, then status against the baseline
    and the LDN balance (gains and losses per land type)."""
    log = get_run_logger()
    annual = list(annual_layers.items)
    periods = run.periods
    names, windows = list(periods), list(periods.values())
    log.info("periods: %s", ", ".join(names) or "none fits the years (annual NDVI only)")
    if not names:
        return []
    inputs = find_inputs_task(run)
    scratch = f"{staging.path}.land-cover"
    try:
        restored = restore_land_soc_task.map(unmapped(run), names, windows, unmapped(inputs),
                                             unmapped(staging.path)).result()
        todo = [n for n, hit in zip(names, restored) if hit is None]
        # the land cover of every year the periods to compute read, warped onto the grid once for all of them
        submitted = time.time()  # the stage runs beside the productivity tiles: timed from here
        on_grid = land_cover_grid_task.submit(run, {n: periods[n] for n in todo}, scratch)
        computed = land_soc_task.map(unmapped(run), todo, [periods[n] for n in todo], unmapped(inputs),
                                     unmapped(staging.path), unmapped(on_grid))
        productivity = productivity_by_tile(run, periods, annual, inputs, staging)
        track_stage("land cover and SOC", computed, log, since=submitted)
        fresh = dict(zip(todo, computed.result()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    land_soc = [hit if hit is not None else fresh[n] for n, hit in zip(names, restored)]
    sdg = sdg_task.map(unmapped(run), names, windows, [productivity[n] for n in names], land_soc, unmapped(staging.path))
    track_stage("SDG 15.3.1", sdg, log)
    per_period = {n: [*productivity[n], *ls, s] for n, ls, s in zip(names, land_soc, sdg.result())}
    reports = [n for n in names if n != BASELINE] if BASELINE in per_period else []
    status = status_task.map(unmapped(run), reports, unmapped(per_period.get(BASELINE, [])),
                             [per_period[n] for n in reports], unmapped(staging.path))
    track_stage("status", status, log)
    balance = ldn_balance_task.map(unmapped(run), reports, unmapped(per_period.get(BASELINE, [])), status,
                                   unmapped(inputs), unmapped(staging.path))
    track_stage("LDN balance", balance, log)
    layers = [x for group in per_period.values() for x in group] + list(status.result()) + list(balance.result())
    cached = sum(layer.from_cache for layer in layers)
    log.info("period layers: %d, %d linked from the cache%s", len(layers), cached,
             " (nothing new: no raster work)" if cached == len(layers) else "")
    return layers


def productivity_by_tile(run: RunContext, periods: dict[str, Period], annual: list[LayerSummary],
                         inputs: dict[str, Any], staging: Staging) -> dict[str, list[LayerSummary]]:
    """Trajectory, state, performance and LPD per tile x period, in two passes (``tasks.stages.productivity``), joined
    per period; periods whose inputs are unchanged come whole from the cache. Runs on the calling flow's tasks."""
    log = get_run_logger()
    names = list(periods)
    cached = restore_productivity_task.map(unmapped(run), names, [periods[n] for n in names], unmapped(annual),
                                           unmapped(inputs), unmapped(staging.path)).result()
    done = {n: layers for n, layers in zip(names, cached) if layers is not None}
    todo = [n for n in names if n not in done]
    if not todo:
        return done
    tiles = period_tiles(run)
    jobs = [PeriodTile(n, periods[n], tile) for n in todo for tile in tiles]
    log.info("productivity: %d periods x %d tiles = %d tile-periods", len(todo), len(tiles), len(jobs))
    scratch = f"{staging.path}.period-tiles"
    try:
        trends = trend_tile_task.map(unmapped(run), jobs, unmapped(annual), unmapped(inputs), unmapped(scratch))
        track_stage("trend tiles", trends, log)
        log.info("trend tiles: %d of %d tile-periods linked from the cache",
                 sum(t.from_cache for t in trends.result()), len(jobs))
        tables = unit_percentiles_task.map(unmapped(run), todo, [[t for t in trends.result() if t.period == n]
                                                                 for n in todo]).result()
        table = dict(zip(todo, tables))
        parts = productivity_tile_task.map(unmapped(run), jobs, unmapped(annual), unmapped(inputs), trends.result(),
                                           [table[j.period] for j in jobs], unmapped(scratch))
        seconds = track_stage("productivity tiles", parts, log)
        log.info("productivity tiles: %s", tile_period_summary(parts.result(), seconds))
        joined = productivity_task.map(unmapped(run), todo, [periods[n] for n in todo], unmapped(annual),
                                       unmapped(inputs), [[p for p in parts.result() if p.period == n] for n in todo],
                                       unmapped(staging.path))
        track_stage("productivity", joined, log)
        return {**done, **dict(zip(todo, joined.result()))}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@flow(name="drought-hazard", log_prints=True)
def drought_hazard(run: RunContext, periods: Layers, staging: Staging) -> list[LayerSummary]:
    """SO3-1: each year's SPI-12 and drought class on the precipitation's grid, each period's worst year, and the
    land under drought per zone (water from each period's land cover); none without a precipitation source."""
    log = get_run_logger()
    if run.precipitation is None:
        log.info("drought (SO3-1): no precipitation source in %s: no drought layers (add one with role "
                 "precipitation)", run.cfg.sources_file)
        return []
    land_cover = {layer.period: layer for layer in periods.items if layer.indicator == "land-cover" and layer.period}
    layers = drought_task(run, find_precipitation_task(run), land_cover, staging.path)
    log.info("drought layers: %d, %d linked from the cache", len(layers), sum(x.from_cache for x in layers))
    return layers


@flow(name="people", log_prints=True)
def people(run: RunContext, drought: Layers, periods: Layers, staging: Staging) -> list[LayerSummary]:
    """SO3-2, SO3-3 and SO2-3: the people in each drought class of every year and period's worst year, their
    drought vulnerability, and the people on improved, stable and degraded land per period; none without a
    population source."""
    log = get_run_logger()
    if run.population is None:
        log.info("people (SO3-2, SO2-3): no population source in %s: no exposure or SO2-3 tables (add one with role "
                 "population)", run.cfg.sources_file)
        return []
    layers = people_task(run, find_people_task(run), list(drought.items), list(periods.items), staging.path)
    log.info("people layers: %d, %d linked from the cache", len(layers), sum(x.from_cache for x in layers))
    return layers


@flow(name="publish-version", log_prints=True)
def publish_outputs(run: RunContext, staging: Staging, written: Layers) -> str:
    """Zonal tables, workbooks and the HTML report, the new catalog version (switched in atomically), then
    Prefect artifacts linking the published layers."""
    layers = list(written.items)
    report = report_task(run, layers, staging.path)
    catalog = publish_version_task(run, staging, layers, report)
    report_artifacts_task(run, report, layers, staging.path, catalog)
    return catalog


def _on(stage: Flow[P, R], address: str | None) -> Flow[P, R]:
    """A stage whose tasks run on the workers of the Dask cluster at ``address`` (prefect-dask), or as it is."""
    if not address:
        return stage
    from prefect_dask import DaskTaskRunner

    runner: Any = DaskTaskRunner(address=address)  # typed loosely, as ``_threads``
    return stage.with_options(task_runner=runner)


@flow(name="ldn-yearly", log_prints=True)
def ldn_yearly(cfg: RunConfig | RunContext, spread_on: str | None = None) -> str:
    """Publish annual NDVI and, per reporting period that fits the years, every SDG 15.3.1 layer,
    with per-zone tables, UNCCD workbooks and an HTML report; return the new version's catalog.

    ``cfg`` is the run's config, or its facts already resolved and checked (``flows.options.build_run``), which
    every task then takes as they are. With ``spread_on`` (a Dask scheduler address) the tile x year and period
    tasks run on that cluster's workers, which report to this machine's Prefect server and share its file system,
    or, when the catalog and the cache are both in object storage, only that (``tasks.io.runtime.shared_nothing``).
    """
    run = cfg if isinstance(cfg, RunContext) else run_context(cfg)  # the run's facts, resolved once for every task
    detached = bool(spread_on) and shares_nothing(run.cfg)  # workers that share nothing with this machine but the store
    if detached:
        run = anchored(run)  # its folders as this machine's absolute paths: the workers translate them to their own
    cfg = run.cfg
    with run_marker(cache_root(cfg)) if cfg.use_cache else contextlib.nullcontext():  # live: no one drops what it reads
        staging = begin_version_task(run)
        try:
            annual = _on(ingest_annual_ndvi, spread_on)(run, staging)
            periods = _on(period_indicators, spread_on)(run, Layers(items=tuple(annual)), staging)
            if detached:  # the workers wrote these on their own disks
                fetch_layers(run, annual + periods)
            # what runs here reads this machine's files: with workers that cannot see them, its graphs stay here too
            with computing_here() if detached else contextlib.nullcontext():
                drought = drought_hazard(run, Layers(items=tuple(periods)), staging)
                exposed = people(run, Layers(items=tuple(drought)), Layers(items=tuple(periods)), staging)
                catalog = publish_outputs(run, staging, Layers(items=tuple(annual + periods + drought + exposed)))
        except BaseException:
            discard_staging(staging)
            raise
        finally:
            if detached:
                forget_handoffs(cfg, staging.path)
        if cfg.use_cache:
            tidy_cache(cfg)  # what a run live beside an earlier one left for later
        return catalog
