"""Scale-out: the full sample on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on
127.0.0.1) gives the same bytes as the local run, with the raster graphs on the workers and, with
`--task-runner dask`, the Prefect tasks themselves; a dead scheduler or unfit workers are one line."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tests.helpers import REPO
from tests.services import dask_cluster as start_dask_cluster
from tests.services import free_port
from tests.services import prefect_server as start_prefect_server

pytestmark = pytest.mark.integration


def _tree(version: Path) -> dict[str, str]:
    return {str(p.relative_to(version)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(version.rglob("*")) if p.is_file() and p.name != "catalog.json"}


def _latest(root: Path) -> Path:
    import json

    return root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]


def assert_tasks_ran_on(address: str) -> None:
    """The tile x year and period tasks ran on the cluster's workers (the scheduler knows their names)."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    for name in ("annual_ndvi_tile_task", "annual_ndvi_year_task", "trend_tile_task", "productivity_tile_task",
                 "productivity_task", "land_soc_task", "sdg_task"):
        assert name in ran, (name, ran)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """`dask scheduler` + 2 single-threaded `dask worker`s (2 GB each) on loopback; yields the address."""
    with start_dask_cluster(REPO) as address:
        yield address


@pytest.fixture(scope="module")
def prefect_and_dask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str]]:
    """A self-hosted Prefect server and a Dask cluster whose workers report to it: (environment, scheduler address)."""
    with start_prefect_server(tmp_path_factory.mktemp("prefect-home")) as (_, env):
        with start_dask_cluster(REPO, env=env) as address:
            yield env, address


def test_the_sample_on_a_dask_cluster_matches_the_local_run_bit_for_bit(
    full_run: tuple[Path, Path], dask_cluster: str, tmp_path: Path,
) -> None:
    sample, local = full_run
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--out", str(out),
                                      "--dask-address", dask_cluster])
    assert result.exit_code == 0, result.stderr
    assert "Dask cluster tcp://127.0.0.1" in result.stdout and ": 2 workers" in result.stdout
    remote, here = _tree(_latest(out)), _tree(_latest(local))
    assert len(here) > 200 and remote.keys() == here.keys()
    assert [k for k in here if remote[k] != here[k]] == []


def test_a_dead_scheduler_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--dask-address", f"tcp://127.0.0.1:{free_port()}", "--out", str(tmp_path)])
    assert result.exit_code == EXIT_USER_ERROR
    assert result.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "versions").exists()


def test_the_default_is_threads_and_local_is_a_cluster_with_a_memory_limit() -> None:
    from distributed.system import MEMORY_LIMIT

    from flows.cluster import dask_client

    for default in (None, "threads"):  # Dask's threaded scheduler: no cluster, no client
        with dask_client(default) as none:
            assert none is None
    with dask_client("local") as client:
        (worker,) = client.scheduler_info()["workers"].values()
        assert 0 < worker["memory_limit"] <= 0.8 * MEMORY_LIMIT + 1
        assert worker["nthreads"] == (os.cpu_count() or 1)
        import dask

        assert dask.base.get_scheduler().__self__ is client  # raster graphs in tasks run on it


def test_tasks_themselves_run_on_the_workers_with_the_same_bytes(
    full_run: tuple[Path, Path], prefect_and_dask: tuple[dict[str, str], str], tmp_path: Path,
) -> None:
    """`--task-runner dask`: tile x year and period tasks execute in the worker processes (prefect-dask), which
    report to the same self-hosted Prefect server; the published bytes equal the local run's."""
    sample, local = full_run
    env, address = prefect_and_dask
    out = tmp_path / "catalog"
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample), "--out", str(out),
                           "--dask-address", address, "--task-runner", "dask"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_tasks_ran_on(address)
    remote, here = _tree(_latest(out)), _tree(_latest(local))
    assert len(here) > 200 and remote.keys() == here.keys()
    assert [k for k in here if remote[k] != here[k]] == []


@pytest.mark.parametrize("case, expected", [
    ("no-address", "error: --task-runner dask runs tasks on an existing Dask cluster: pass --dask-address"),
    ("no-server", "error: --task-runner dask needs a Prefect server that the Dask workers report to"),
    ("elsewhere", "2 of 2 Dask workers report to no Prefect server instead of http://127.0.0.1:"),
])
def test_workers_that_cannot_take_tasks_are_one_line(case: str, expected: str, dask_cluster: str,
                                                     tmp_path: Path) -> None:
    """Checked before any work: a cluster, a Prefect server (not a temporary one), workers reporting to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile that names a server
    if case == "elsewhere":  # the cluster's workers were started without PREFECT_API_URL
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{free_port()}/api"
    args = ["run", "--out", str(tmp_path / "catalog"), "--task-runner", "dask"]
    if case != "no-address":
        args += ["--dask-address", dask_cluster]
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == EXIT_USER_ERROR, done.stderr[-2000:]
    assert done.stderr.startswith(expected) or expected in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "catalog").exists()
