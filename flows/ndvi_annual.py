"""Annual NDVI refresh: search the scenes, integrate each year, publish the layers as one version."""
from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.annual_ndvi import annual_ndvi_task
from tasks.config import RunConfig
from tasks.publish import begin_version_task, discard_staging, publish_version_task
from tasks.search import find_scenes_task


@flow(name="ndvi-annual", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def ndvi_annual(cfg: RunConfig) -> str:
    """Publish one annual NDVI layer per year of ``cfg.years``; return the new version's catalog path."""
    log = get_run_logger()
    scenes = find_scenes_task(cfg)
    log.info("found %d composites in %d years", sum(map(len, scenes.values())), len(scenes))
    staging = begin_version_task(cfg)
    try:
        years = annual_ndvi_task.map(unmapped(cfg), list(scenes), list(scenes.values()), unmapped(staging.path))
        years.wait()  # let every year finish before a failure discards the staging folder
        layers = years.result()
        return publish_version_task(cfg, staging, layers)
    except BaseException:
        discard_staging(staging)
        raise
