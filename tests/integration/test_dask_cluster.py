"""Scale-out: the full sample on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on
127.0.0.1) gives the same bytes as the local run; a dead scheduler address is a one-line error."""
from __future__ import annotations

import os
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.local_stac import stop_process
from tests.helpers import REPO
from tests.services import free_port

pytestmark = pytest.mark.integration


def _tree(version: Path) -> dict[str, str]:
    return {str(p.relative_to(version)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(version.rglob("*")) if p.is_file() and p.name != "catalog.json"}


def _latest(root: Path) -> Path:
    import json

    return root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """`dask scheduler` + 2 single-threaded `dask worker`s (2 GB each) on loopback; yields the address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(1)
    for _ in range(2):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1",
             "--memory-limit", "2GB", "--no-dashboard"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            stop_process(p, timeout=30)


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


def test_the_default_is_a_local_cluster_with_a_memory_limit() -> None:
    from distributed.system import MEMORY_LIMIT

    from flows.refresh import dask_client

    with dask_client(None) as client:
        (worker,) = client.scheduler_info()["workers"].values()
        assert 0 < worker["memory_limit"] <= 0.8 * MEMORY_LIMIT + 1
        assert worker["nthreads"] == (os.cpu_count() or 1)
        import dask

        assert dask.base.get_scheduler().__self__ is client  # raster graphs in tasks run on it
    with dask_client("threads") as none:
        assert none is None
