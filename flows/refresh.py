"""The yearly indicator refresh as one deployable Prefect flow: `ldn run` calls it, `ldn serve` schedules it.

``refresh_indicators`` takes every run option as one validated pydantic model (``RefreshRun``, with its checks in
``flows.options``), prepares the inputs (the bundled sample region and its local STAC API, or the production sources),
runs the ``ldn-yearly`` flow as a subflow and, if asked, loads the new version into pgstac.
(No ``from __future__ import annotations`` here or in flows/ldn_yearly.py: Prefect builds a flow's parameter
schema from its annotations, and a flow served by object, which reaches its subprocess copied by value, validates
them from the real ones the copy carries; tests/unit/test_served_flows.py.)
"""
import tempfile
from typing import Literal

from prefect import flow, get_run_logger

from flows.cluster import check_task_runner, dask_client
from flows.disk_watch import DiskWatch, run_failure
from flows.ldn_yearly import ldn_yearly
from flows.options import RefreshRun, build_run, sample_area
from tasks.constants import TASK_RUNNERS
from tasks.errors import LdnError, redact
from tasks.io.outputs.pgstac import load_into_pgstac
from tasks.io.runtime.layer_cache import cache_root
from tasks.io.runtime.local_stac import serve_collections
from tasks.io.samples.sample_data import generate_sample
from tasks.io.sources.run import RunContext
from tasks.model import Version

__all__ = ["refresh_indicators", "YEARLY_CRON", "YEARLY_TIMEZONE", "TaskRunnerName"]

YEARLY_CRON = "0 6 15 2 *"
"""The yearly refresh: 15 February, 06:00, after MODIS's last 16-day composites of the previous year
(starting 19 December) are processed and published (about six weeks later)."""

YEARLY_TIMEZONE = "UTC"
"""The schedule's explicit timezone."""


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
    disks = DiskWatch(cfg.out_dir, cache_root(cfg), tempfile.gettempdir())
    try:  # a full disk or an unwritable path ends a run (a deployment's too) in one line naming it
        with disks, dask_client(dask_address) as client:
            check_task_runner(task_runner, dask_address, client, cfg)
            if run.sources_file is None:
                print(f"sample region: {run.sample_dir}")
                if not sample_area(run).as_is:
                    generate_sample(run.sample_dir, progress=lambda m: print(f"  {m}"))
                with serve_collections(run.sample_dir) as stac:
                    print(f"local STAC API {stac.api_url} (files {stac.files_url})")
                    served = facts.model_copy(update={"cfg": cfg.model_copy(update={"stac_api": stac.api_url})})
                    catalog = ldn_yearly(served, spread_on=spread)
            else:
                catalog = ldn_yearly(facts, spread_on=spread)
    except LdnError:
        raise
    except Exception as err:
        if (said := run_failure(err, disks, cfg.out_dir)) is not None:
            raise said from None
        raise
    if run.pgstac:
        # from where readers find it: the store's own URLs for a catalog in object storage
        loaded = load_into_pgstac(run.pgstac, run.publish_url or run.out_dir, Version.of_catalog(catalog).name)
        log.info("loaded %d collections and %d items into pgstac at %s", loaded[0], loaded[1], redact(run.pgstac))
    return catalog
