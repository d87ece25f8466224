"""The work of ``ldn sample-data``, ``ldn run`` and ``ldn serve`` once their options are checked: the run's stack
(Prefect, Dask, the readers and writers), loaded by ``flows.cli.run`` when a command gets this far, so that the
help and a typo in an option never wait for it.
"""
from __future__ import annotations

import asyncio
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pystac
import typer
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

from flows.cli._app import fail
from flows.cli._options import DEFAULT_SAMPLE_DIR, print_zones
from flows.cluster import check_task_runner, dask_client, uses_cluster
from flows.disk_watch import DiskWatch, run_failure
from flows.options import RefreshRun, build_run
from flows.prefect_server import private_server
from flows.refresh import YEARLY_CRON, YEARLY_TIMEZONE, refresh_indicators
from tasks.constants import DEFAULT_OUTPUTS
from tasks.errors import LdnError
from tasks.io.runtime.layer_cache import cache_root
from tasks.io.runtime.local_stac import serve_collections
from tasks.io.runtime.plan import format_plan, plan_run
from tasks.io.samples.rehearsal import generate_rehearsal
from tasks.io.samples.sample_data import generate_sample
from tasks.io.sources.run import RunContext
from tasks.model import Version

__all__ = ["sample_data", "run", "serve", "ServedRunner"]


def sample_data(out: Path | None, *, force: bool, region: str | None, step: int, composites: int) -> None:
    """Generate the bundled sample region, or a rehearsal of ``region`` (``ldn sample-data``)."""
    progress = lambda m: typer.echo(f"  {m}")  # noqa: E731
    if region is None:
        root = generate_sample(out or DEFAULT_SAMPLE_DIR, force=force, progress=progress)
    else:
        root = generate_rehearsal(out or DEFAULT_OUTPUTS / f"rehearsal-{region.strip().lower()}", region=region,
                                  step=step, composites=composites, force=force, progress=progress)
    if region is None:
        typer.echo(f"sample region in {root} (truth: {root / 'truth.json'})")
    else:
        typer.echo(f"rehearsal inputs in {root} (truth: {root / 'truth.json'}); run them with: ldn run --sample-dir {root}")


def run(params: RefreshRun, *, plan: bool, dask_address: str | None, task_runner: str, started: float) -> None:
    """Check the run (``build_run``), then print its plan or compute and publish it, and say where it went; a full
    disk or an unwritable folder is one line naming it."""
    disks = None
    out = params.out_dir
    try:
        facts = build_run(params, announce=True)  # every option checked before Prefect, a sample or a scene is touched
        cfg = facts.cfg
        if plan:
            _plan(facts, params)
            return
        if uses_cluster(dask_address):
            with dask_client(dask_address) as client:  # a dead scheduler or unfit workers fail here, before any work
                check_task_runner(task_runner, dask_address, client, cfg)
        else:
            check_task_runner(task_runner, dask_address, None)
        disks = DiskWatch(cfg.out_dir, cache_root(cfg), tempfile.gettempdir())
        with private_server(), disks:  # no PREFECT_API_URL: a server of this run's, its history not in ~/.prefect
            catalog = refresh_indicators(params, dask_address=dask_address, task_runner=task_runner,
                                         checked=facts)  # the facts built above: the run resolves them once
    except LdnError:
        raise  # said in one line by the command table
    except Exception as err:
        if (said := run_failure(err, disks, out)) is not None:  # a full disk or a path: one line naming it
            raise fail(str(said)) from None
        raise
    _report(Path(catalog), time.monotonic() - started, store=params.publish_url)


def _plan(facts: RunContext, params: RefreshRun) -> None:
    """Print the run's plan (``tasks.io.runtime.plan``) from its checked facts; the sample's STAC API is started for
    its search when it is there."""
    if params.sources_file is not None:
        typer.echo(format_plan(plan_run(facts)))
        return
    folder = Path(params.sample_dir)
    if not (folder / "COMPLETE").is_file():
        typer.echo(format_plan(plan_run(facts, unsearchable=f"the sample region is generated in {folder} when the "
                                                            "run starts")))
        return
    with serve_collections(folder) as stac:
        typer.echo(format_plan(plan_run(facts.model_copy(update={"cfg": facts.cfg.model_copy(
            update={"stac_api": stac.api_url})}))))


def serve(defaults: RefreshRun, *, name: str, cron: str | None, timezone: str | None, dask_address: str | None = None,
          task_runner: str = "threads") -> None:
    """Serve the yearly refresh with ``defaults`` (and the cluster to compute on) as its parameters until stopped
    (``ldn serve``)."""
    url = _check_prefect_api()
    signal.signal(signal.SIGTERM, _interrupt)  # until the runner takes SIGTERM over: a stop while starting is a stop
    try:
        runner = ServedRunner(url, name=name)
        # a deployment by module path, not the flow object (``add_flow``): each run is then its own
        # `python -m prefect.engine` process, never a multiprocessing child, whose death before it has read its
        # start-up data wedges the runner for good (CPython gh-118981, fixed after 3.11)
        spec = refresh_indicators.to_deployment(
            name=name, schedules=[Cron(cron or YEARLY_CRON, timezone=timezone or YEARLY_TIMEZONE)],
            parameters={"run": defaults.model_dump(mode="json"), "dask_address": dask_address, "task_runner": task_runner},
            description="Yearly SDG 15.3.1 refresh: annual NDVI, sub-indicators, SDG 15.3.1, status, tables, report.",
            tags=["ldn-pipeline"], entrypoint_type=EntrypointType.MODULE_PATH,
        )
        assert isinstance(spec, RunnerDeployment)  # called outside an event loop: the deployment, not a coroutine
        deployment = runner.add_deployment(spec)
        typer.echo(f"serving deployment {refresh_indicators.name}/{name} ({deployment}) to {url}: stop with Ctrl-C or "
                   "SIGTERM (the schedule is paused while nothing serves it; `ldn serve` again resumes it)")
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        typer.echo("stopped serving")
    except (OSError, RuntimeError, httpx.HTTPError) as err:
        raise fail(f"cannot serve to the Prefect API ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}): "
                    "start `prefect server start` and set PREFECT_API_URL, or check the URL") from None


class ServedRunner(Runner):
    """Prefect's runner for ``ldn serve``, whose stop pauses the yearly schedule only while the Prefect API answers.

    A served deployment's schedule is paused when the runner stops (nothing would run it) and resumed when it is
    served again. With the server gone first, Prefect's client retried the pause for over a minute before the process
    exited; now a stop asks the API's health once (2 s) and, with no answer, stops at once without pausing.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(pause_on_shutdown=True, **kwargs)
        self.api_url = url

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.pause_on_shutdown and not await _api_answers(self.api_url):
            self._logger.info("the Prefect API at %s does not answer: stopping without pausing the schedule", self.api_url)
            self.pause_on_shutdown = False
        await super().__aexit__(*exc_info)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


async def _api_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at ``url`` answers its health check within ``timeout`` seconds."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return (await client.get(f"{url.rstrip('/')}/health")).status_code == 200
    except httpx.HTTPError:
        return False


def _check_prefect_api() -> str:
    """A served deployment needs a long-lived Prefect server: PREFECT_API_URL must be set and answer; its URL."""
    url = PREFECT_API_URL.value()
    if not url:
        raise fail("ldn serve needs a Prefect server: run `prefect server start` and "
                    "export PREFECT_API_URL=http://127.0.0.1:4200/api (or your server's URL)")
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=10):
            pass
    except OSError as err:
        raise fail(f"the Prefect API at {url} does not answer ({getattr(err, 'reason', err)}): start "
                    "`prefect server start` or fix PREFECT_API_URL") from None
    return str(url)


def _report(catalog: Path, seconds: float, store: str | None = None) -> None:
    """Tell the user where the layers are and how to open them (``store``: the object storage they went to)."""
    cat = pystac.Catalog.from_file(str(catalog))
    items = sorted(cat.get_items(recursive=True), key=lambda i: i.id)
    root = catalog.parent.parent.parent / "catalog.json"
    summaries = [i for i in items if i.properties.get("ldn:indicator") == "sdg-15-3-1" and "summary" in i.assets]
    for item in sorted(summaries, key=lambda i: i.properties.get("ldn:window") or []):
        _print_summary(item)
        if "sdg_15_3_1_csv" in item.assets:
            print_zones(item.properties["ldn:period"], pd.read_csv(item.assets["sdg_15_3_1_csv"].get_absolute_href()))
    html = next((i.assets["report"].get_absolute_href() for i in summaries if "report" in i.assets), None)
    typer.echo(f"\npublished {len(items)} layers in {seconds:.0f} s: version {Version.of_catalog(catalog)}")
    left_out = sorted({s for i in items for s in (i.properties.get("ldn:parameters") or {}).get("excluded_scenes", [])})
    if left_out:
        typer.echo(f"  left out as asked (--exclude-scene): {', '.join(left_out)}")
    if store is not None:
        typer.echo(f"  published to:    {store}/catalog.json (version {store}/versions/{Version.of_catalog(catalog)}/; "
                   f"`ldn layers list --catalog {store}` reads it)")
        typer.echo(f"  local copy:      {catalog}")
    else:
        typer.echo(f"  root catalog:    {root}")
        typer.echo(f"  version catalog: {catalog}")
    if html:
        typer.echo(f"  report:          {html}")
    tables = {k: i.assets[k].get_absolute_href() for i in summaries for k in ("targets_csv", "activities_csv")
              if k in i.assets}
    if "targets_csv" in tables:
        typer.echo(f"  LDN targets:     {tables['targets_csv']} (print with `ldn targets`)")
    if "activities_csv" in tables:
        stats = pd.read_csv(tables["activities_csv"])
        placed = stats.loc[stats["zone"].notna(), "activity_id"].nunique() if "zone" in stats else 0
        typer.echo(f"  activities:      {stats['activity_id'].nunique()} in the registry, {placed} with statistics: "
                   f"{tables['activities_csv']}")
    if items and store is not None:
        first_item = (summaries or items)[0]
        key, value = next((k, first_item.properties[f"ldn:{k}"]) for k in ("period", "year")
                          if first_item.properties.get(f"ldn:{k}") is not None)
        indicator = first_item.properties.get("ldn:indicator")
        typer.echo("open them with:")
        typer.echo(f"  ldn layers get {indicator} --{key} {value} --catalog {store} --out {indicator}.tif")
        typer.echo(f"  python -c \"from tasks.io.outputs.layers import open_layer; print(open_layer('{indicator}', "
                   f"{key}={value!r}, root='{store}'))\"")
        typer.echo("  any STAC client (pystac-client, QGIS's STAC data source) at the store's catalog.json over HTTP(S)")
    elif items:
        first = (summaries or items)[0].assets["data"].get_absolute_href()  # an SDG 15.3.1 layer where there is one
        typer.echo(f"  e.g. {first}")
        typer.echo("open them with:")
        typer.echo(f"  python -c \"import rioxarray; print(rioxarray.open_rasterio('{first}'))\"")
        typer.echo(f"  python -c \"import pystac; [print(i.id) for i in pystac.Catalog.from_file('{root}').get_items(recursive=True)]\"")
        typer.echo("  QGIS: Layer > Add Raster Layer, or the STAC data source pointed at the root catalog.")


def _print_summary(item: pystac.Item) -> None:
    """A readable per-period table: degraded / stable / improved km2 and % per indicator."""
    table = pd.read_csv(item.assets["summary"].get_absolute_href())
    window = item.properties.get("ldn:parameters", {})
    typer.echo(f"\n{item.properties.get('ldn:period')}: productivity {window.get('productivity_window')}, "
               f"land cover {window.get('land_cover_window')} (km2; % of valid land; "
               f"water {table.water_km2.iloc[0]:.1f} km2 is not land)")
    typer.echo(f"  {'indicator':<14}{'land':>10}{'degraded':>20}{'stable':>20}{'improved':>20}{'nodata':>12}")
    for row in table.itertuples():
        typer.echo(f"  {row.indicator:<14}{row.land_km2:>10.1f}"
                   f"{row.degraded_km2:>11.1f} ({row.degraded_pct:5.1f}%)"
                   f"{row.stable_km2:>11.1f} ({row.stable_pct:5.1f}%)"
                   f"{row.improved_km2:>11.1f} ({row.improved_pct:5.1f}%)"
                   f"{row.nodata_km2:>12.1f}")
