"""Yearly productivity refresh: annual NDVI per year, then trajectory, state, performance and LPD per period."""
from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.annual_ndvi import annual_ndvi_task
from tasks.config import RunConfig
from tasks.productivity import productivity_task
from tasks.publish import begin_version_task, discard_staging, publish_version_task
from tasks.search import find_scenes_task


@flow(name="productivity-yearly", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def productivity_yearly(cfg: RunConfig) -> str:
    """Publish annual NDVI and, per reporting period that fits the years, the productivity layers."""
    log = get_run_logger()
    scenes = find_scenes_task(cfg)
    periods = cfg.selected_periods()
    log.info("found %d composites in %d years; periods: %s", sum(map(len, scenes.values())), len(scenes),
             ", ".join(periods) or "none fits the years (annual NDVI only)")
    staging = begin_version_task(cfg)
    try:
        years = annual_ndvi_task.map(unmapped(cfg), list(scenes), list(scenes.values()), unmapped(staging.path))
        years.wait()  # let every task finish before a failure discards the staging folder
        annual = years.result()
        per_period = productivity_task.map(unmapped(cfg), list(periods), list(periods.values()),
                                           unmapped(annual), unmapped(staging.path))
        per_period.wait()
        layers = annual + [layer for group in per_period.result() for layer in group]
        return publish_version_task(cfg, staging, layers)
    except BaseException:
        discard_staging(staging)
        raise
