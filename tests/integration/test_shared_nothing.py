"""Workers that share nothing but object storage: the full sample with `--task-runner dask` on two `dask worker`
processes that cannot see the run's folder (each in its own mount namespace, with an empty file system over it) and
keep their files in their own scratch folders, publishing to and caching in a real S3 API on 127.0.0.1 (moto's
server). The published version equals the one-machine run byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO
from tests.integration.conftest import S3_BUCKET as BUCKET
from tests.integration.test_dask_cluster import assert_tasks_ran_on
from tests.services import dask_cluster as start_dask_cluster
from tests.services import prefect_server as start_prefect_server

pytestmark = pytest.mark.integration

_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def _private_mounts() -> str | None:
    """Why a worker cannot be given a private view of the file system here, or None when it can."""
    if not shutil.which("unshare"):
        return "no `unshare` command (util-linux)"
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    probe = subprocess.run(["unshare", "-m", *as_root, "sh", "-c", "mount -t tmpfs none /mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`unshare -m` is not permitted here ({probe.stderr.strip()[:120]})"
    return None


@pytest.fixture
def blind_cluster(s3: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
                  ) -> Iterator[tuple[dict[str, str], str, list[Path]]]:
    """A Prefect server and a Dask cluster of two workers that report to it, each in a mount namespace where
    ``tmp_path`` (the run's folder and cache) is an empty file system of its own, with its own scratch folder:
    (the flow's environment, the scheduler address, the workers' scratch folders)."""
    why = _private_mounts()
    if why is not None:
        pytest.skip(f"workers without the run's folder need a private mount namespace: {why}")
    scratch = [tmp_path_factory.mktemp(f"worker-{i}") for i in range(2)]
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]

    def blind(i: int, command: list[str]) -> list[str]:
        worker = [*command, "--local-directory", str(scratch[i])]
        return ["unshare", "-m", *as_root, "sh", "-c", f'mount -t tmpfs none "{tmp_path}" && exec "$@"', "sh", *worker]

    with start_prefect_server(tmp_path_factory.mktemp("prefect-home")) as (_, env):
        env = {**env, **{k: os.environ[k] for k in _AWS}}
        with start_dask_cluster(REPO, env=env, wrap=blind) as address:
            yield env, address, scratch


def test_workers_sharing_only_object_storage_publish_the_same_bytes(
    full_run: tuple[Path, Path], blind_cluster: tuple[dict[str, str], str, list[Path]], s3: Any, tmp_path: Path,
) -> None:
    sample, local = full_run
    env, address, scratch = blind_cluster
    out, cache = f"s3://{BUCKET}/layers", f"s3://{BUCKET}/cache"
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample), "--out", out,
                           "--cache-url", cache, "--cache-dir", str(tmp_path / "cache"), "--dask-address", address,
                           "--task-runner", "dask"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]

    assert_tasks_ran_on(address)
    for folder in scratch:  # each worker computed in its own folder; the run's copies there are gone
        assert any((folder.rglob("ldn/cache/ndvi-tile/*/tile.tif"))), f"no tile computed in {folder}"
        assert not [p for p in folder.rglob("ldn/out/.staging/*") if p.is_file()]

    fs = s3
    fs.invalidate_cache()
    version = json.loads(fs.cat_file(f"{BUCKET}/layers/catalog.json"))["ldn:latest"]
    prefix = f"{BUCKET}/layers/versions/{version}/"
    stored = {p[len(prefix):]: p for p in fs.find(prefix)}
    reference = local / "versions" / json.loads((local / "catalog.json").read_text())["ldn:latest"]
    here = {p.relative_to(reference).as_posix(): p for p in reference.rglob("*") if p.is_file()}
    assert len(here) > 200 and set(stored) == set(here)
    differ = [name for name, path in here.items() if name != "catalog.json" and fs.cat_file(stored[name]) != path.read_bytes()]
    assert differ == []
    assert not fs.find(f"{BUCKET}/cache/.transfer"), "what the workers handed on is removed after the run"


def test_a_local_catalog_the_workers_cannot_see_is_one_line(
    blind_cluster: tuple[dict[str, str], str, list[Path]], tmp_path: Path,
) -> None:
    """The same workers with the catalog in a folder (and the cache beside it): they cannot share it, so the run
    stops before any work, in one line that names the folder and the ways out."""
    env, address, _ = blind_cluster
    out = tmp_path / "catalog"
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--out", str(out), "--dask-address", address,
                           "--task-runner", "dask"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: 2 of 2 Dask workers cannot see or write {out.resolve()}"), done.stderr
    assert "put --out and --cache-url both in object storage" in done.stderr and done.stderr.count("\n") == 1
    assert not (out / "versions").exists()
