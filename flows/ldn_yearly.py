"""Yearly indicator refresh: annual NDVI, then per period productivity, land cover, SOC, SDG 15.3.1 and status."""
from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.annual_ndvi import annual_ndvi_task
from tasks.config import RunConfig
from tasks.land_degradation import land_soc_task, sdg_task, status_task
from tasks.productivity import productivity_task
from tasks.progress import track_stage
from tasks.publish import begin_version_task, discard_staging, publish_version_task
from tasks.report import report_task
from tasks.search import find_scenes_task

BASELINE = "baseline"
"""The period every other period's status is measured against."""


@flow(name="ldn-yearly", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def ldn_yearly(cfg: RunConfig) -> str:
    """Publish annual NDVI and, per reporting period that fits the years, every SDG 15.3.1 layer,
    with per-zone tables, UNCCD workbooks and an HTML report."""
    log = get_run_logger()
    scenes = find_scenes_task(cfg)
    periods = cfg.selected_periods()
    names, windows = list(periods), list(periods.values())
    log.info("found %d composites in %d years; periods: %s", sum(map(len, scenes.values())), len(scenes),
             ", ".join(periods) or "none fits the years (annual NDVI only)")
    staging = begin_version_task(cfg)
    try:
        annual = annual_ndvi_task.map(unmapped(cfg), list(scenes), list(scenes.values()), unmapped(staging.path))
        track_stage("annual NDVI", annual, log)  # every task finishes before a failure discards the staging folder
        years = annual.result()
        cached = sum(layer.from_cache for layer in years)
        read = sum(len(layer.source_items) for layer in years if not layer.from_cache)
        log.info("annual NDVI: %d years, %d linked from the cache, %d computed from %d scenes%s", len(years), cached,
                 len(years) - cached, read, " (nothing new: no scene read)" if cached == len(years) else "")
        productivity = productivity_task.map(unmapped(cfg), names, windows, unmapped(annual.result()), unmapped(staging.path))
        land_soc = land_soc_task.map(unmapped(cfg), names, windows, unmapped(staging.path))
        track_stage("productivity", productivity, log)
        track_stage("land cover and SOC", land_soc, log)
        sdg = sdg_task.map(unmapped(cfg), names, windows, productivity, land_soc, unmapped(staging.path))
        track_stage("SDG 15.3.1", sdg, log)
        per_period = {n: [*p, *l, s] for n, p, l, s in zip(names, productivity.result(), land_soc.result(), sdg.result())}
        reports = [n for n in names if n != BASELINE] if BASELINE in per_period else []
        status = status_task.map(unmapped(cfg), reports, unmapped(per_period.get(BASELINE, [])),
                                 [per_period[n] for n in reports], unmapped(staging.path))
        track_stage("status", status, log)
        layers = annual.result() + [x for group in per_period.values() for x in group] + list(status.result())
        report = report_task(cfg, layers, staging.path)
        return publish_version_task(cfg, staging, layers, report)
    except BaseException:
        discard_staging(staging)
        raise
