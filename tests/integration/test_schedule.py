"""Scheduling: `ldn serve` against a real self-hosted Prefect server on 127.0.0.1 creates the yearly
deployment; a triggered run with overridden parameters completes and publishes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tests.services import api_call as _call
from tests.services import free_port, served_deployment, wait_until
from tests.services import prefect_server as start_prefect_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A self-hosted `prefect server start` on a free loopback port with its own database; (API URL, env)."""
    with start_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server


def test_serve_creates_the_yearly_deployment_and_a_triggered_run_completes(
    prefect_server: tuple[str, dict[str, str]], sample_dir: Path, tmp_path: Path,
) -> None:
    api, env = prefect_server
    with served_deployment(env, tmp_path / "default") as (served, deployment):
        schedule = deployment["schedules"][0]["schedule"]
        assert schedule["cron"] == "0 6 15 2 *" and schedule["timezone"] == "UTC"
        out = tmp_path / "catalog"
        run = _call(f"{api}/deployments/{deployment['id']}/create_flow_run", {"parameters": {"run": {
            "years": [2001, 2002], "sample_dir": str(sample_dir), "out_dir": str(out)}}})
        state = wait_until(lambda: (s := _call(f"{api}/flow_runs/{run['id']}")["state"]["type"]) in
                           ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") and s, served, "the flow run", 300)
        assert state == "COMPLETED", served.stderr.read1().decode() if served.stderr else state
        versions = list((out / "versions").iterdir())
        assert len(versions) == 1
        assert len(list(versions[0].glob("ndvi-annual*/*/*.tif"))) == 4  # 2 years: mean and maximum
        assert len(list(versions[0].glob("drought/*/*.json"))) == 2  # and each year's drought


def _serve(env: dict[str, str], out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(served: subprocess.Popen) -> tuple[int, float, str]:
    """SIGTERM a served `ldn serve`: its exit code, the seconds it took to exit, and what it printed."""
    started = time.monotonic()
    served.send_signal(signal.SIGTERM)
    output, _ = served.communicate(timeout=120)
    return served.returncode, time.monotonic() - started, output


def test_serve_stops_on_sigterm_pauses_and_resumes_its_schedule_and_stops_at_once_without_its_server(
        tmp_path: Path) -> None:
    """Stopping `ldn serve` pauses the yearly schedule (nothing would run it) and serving again resumes it; when the
    Prefect server went first, a stop exits at once (Prefect's client retried the pause for over a minute)."""
    with start_prefect_server(tmp_path / "home") as (api, env):
        by_name = f"{api}/deployments/name/refresh-indicators/yearly-refresh"
        served = _serve(env, tmp_path / "out")
        try:
            assert wait_until(lambda: _call(by_name), served, "the deployment", 120)["paused"] is False
            wait_until(lambda: _call(by_name)["status"] == "READY", served, "the runner polling", 120)
        finally:
            code, _, output = _stop(served)
        assert code == 0, output
        stopped = _call(by_name)
        assert stopped["paused"] is True
        served = _serve(env, tmp_path / "out")
        try:  # resumed, and polled by the new runner (a later poll than the stopped one's last)
            wait_until(lambda: (now := _call(by_name))["paused"] is False
                       and now["last_polled"] != stopped["last_polled"], served, "the schedule resumed", 120)
        except BaseException:
            _stop(served)
            raise
    code, seconds, output = _stop(served)  # the server is gone
    assert code == 0, output
    assert seconds < 30, f"{seconds:.0f} s to stop without a server:\n{output}"
    assert "does not answer: stopping without pausing the schedule" in output


def test_serve_without_a_reachable_prefect_api_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api")
    out = subprocess.run([sys.executable, "-m", "flows.cli", "serve"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("error: the Prefect API at http://127.0.0.1:")
    assert out.stderr.count("\n") == 1


def test_serve_takes_the_cloud_recipe_as_the_deployment_s_defaults(
    prefect_server: tuple[str, dict[str, str]],
) -> None:
    """`ldn serve` with the catalog and cache in object storage and a Dask cluster to compute on: every scheduled run
    gets them as its parameters (the README's cloud recipe), checked by the flow when it runs, not here."""
    api, env = prefect_server
    args = ("--cache-url", "s3://ldn-layers/cache", "--dask-address", "tcp://scheduler.example:8786",
            "--task-runner", "dask")
    with served_deployment(env, "s3://ldn-layers/ne-asia", args=args) as (served, _):
        # the module's server may hold the deployment an earlier test served: wait for this serve's parameters
        params = wait_until(lambda: (d := _call(f"{api}/deployments/name/refresh-indicators/yearly-refresh"))
                            and d["parameters"].get("dask_address") and d["parameters"], served, "the parameters", 60)
        assert params["dask_address"] == "tcp://scheduler.example:8786" and params["task_runner"] == "dask"
        assert params["run"]["publish_url"] == "s3://ldn-layers/ne-asia"
        assert params["run"]["cache_url"] == "s3://ldn-layers/cache"
        from flows.options import RefreshRun

        RefreshRun(**params["run"])  # the parameters validate


def test_prefect_yaml_deploys_the_same_flow_and_schedule() -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    module, _, name = deployment["entrypoint"].partition(":")
    assert (REPO / module).is_file() and name == "refresh_indicators"
    from flows.options import RefreshRun
    from flows.refresh import YEARLY_CRON, YEARLY_TIMEZONE

    assert deployment["schedules"] == [{"cron": YEARLY_CRON, "timezone": YEARLY_TIMEZONE}]
    RefreshRun(**deployment["parameters"]["run"])  # the parameters validate


def test_a_run_killed_as_it_starts_does_not_stop_the_next(
    prefect_server: tuple[str, dict[str, str]], sample_dir: Path, tmp_path: Path,
) -> None:
    """A served run's process killed in its first moments (before it has read what it must run): with the flow handed
    over as a multiprocessing child, the runner blocked for good writing to it (CPython gh-118981) and the schedule
    silently stopped; each run is its own `python -m prefect.engine` process now, and the next run completes."""
    import psutil

    api, env = prefect_server
    with served_deployment(env, tmp_path / "default") as (served, deployment):
        params = {"parameters": {"run": {"years": [2001, 2002], "sample_dir": str(sample_dir),
                                         "out_dir": str(tmp_path / "catalog")}}}

        def run_process() -> psutil.Process | None:
            return next((p for p in psutil.Process(served.pid).children() if "prefect.engine" in p.cmdline()), None)

        first = _call(f"{api}/deployments/{deployment['id']}/create_flow_run", params)
        wait_until(run_process, served, "the first run's process", 120).kill()
        state = wait_until(lambda: (s := _call(f"{api}/flow_runs/{first['id']}")["state"]["type"]) in
                           ("COMPLETED", "FAILED", "CRASHED") and s, served, "the killed run", 120)
        assert state == "CRASHED"
        second = _call(f"{api}/deployments/{deployment['id']}/create_flow_run", params)
        state = wait_until(lambda: (s := _call(f"{api}/flow_runs/{second['id']}")["state"]["type"]) in
                           ("COMPLETED", "FAILED", "CRASHED") and s, served, "the next run", 300)
        assert state == "COMPLETED"
