"""Publishing as two Prefect tasks: open the run's staging folder, and publish what it holds as a new catalog version.

The writing is ``tasks.io.outputs.items`` (a layer's files) and ``tasks.io.outputs.catalog`` (the versioned STAC
catalog, switched atomically).
"""
from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.io.outputs.catalog import begin_version, publish_version
from tasks.io.sources.run import RunContext
from tasks.model import LayerSummary, ReportFiles, Staging, Version

__all__ = ["begin_version_task", "publish_version_task"]


@task(name="begin-version", cache_policy=NO_CACHE)
def begin_version_task(run: RunContext) -> Staging:
    """Open this run's staging folder."""
    return begin_version(run.cfg)


@task(name="publish-version", cache_policy=NO_CACHE)
def publish_version_task(run: RunContext, staging: Staging, layers: list[LayerSummary],
                         report: ReportFiles | None = None) -> str:
    """Publish the staged layers (and the run's report) as a new catalog version; return its catalog's path (the
    local copy of a version published to object storage)."""
    catalog = publish_version(run, staging, layers, report)
    if run.cfg.publish_url is not None:
        get_run_logger().info("published version %s to %s: every object checked, then the root catalog switched",
                              Version.of_catalog(catalog), run.cfg.publish_url)
    return str(catalog)
