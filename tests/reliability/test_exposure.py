"""Nothing the pipeline starts listens beyond 127.0.0.1, and the sample file server serves its root only."""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tasks.io.runtime.local_stac import start_file_server, stop_process
from tests.services import wait_until

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]


def _listening() -> set[str]:
    return {c.laddr.ip for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def test_a_local_cluster_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cluster import DASHBOARD_ENV, dask_client

    monkeypatch.delenv(DASHBOARD_ENV, raising=False)
    before = _listening()
    with dask_client("local") as client:
        assert client.submit(sum, [1, 2]).result() == 3
        opened = _listening() - before
        assert opened and opened <= {"127.0.0.1"}, opened  # the dashboard, /health, /metrics and the worker's server


def test_a_local_cluster_spills_into_a_folder_of_the_run_that_goes_with_it() -> None:
    """Not /tmp/dask-scratch-space, which every run used to leave behind."""
    import os
    import tempfile
    from pathlib import Path

    from flows.cluster import dask_client

    with dask_client("local") as client:
        folders = list(client.run(lambda dask_worker: dask_worker.local_directory).values())
        tmp = tempfile.gettempdir()
        assert folders and all(Path(f).relative_to(tmp).parts[0].startswith("ldn-dask-") for f in folders), folders
        assert all(os.path.isdir(f) for f in folders)
    assert not any(os.path.exists(f) for f in folders)


def test_the_default_starts_no_server() -> None:
    from flows.cluster import dask_client

    before = psutil.Process().net_connections(kind="inet")
    with dask_client(None) as client:
        assert client is None
        assert len(psutil.Process().net_connections(kind="inet")) == len(before)


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_file_server_serves_its_root_and_nothing_else(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (root / "data" / "a.tif").write_bytes(b"0123456789")
    (outside / "secret.txt").write_text("not yours\n")
    os.symlink(outside / "secret.txt", root / "data" / "link.txt")
    os.symlink(outside, root / "escape")
    os.symlink(root / "data" / "a.tif", root / "data" / "inside-link.tif")  # a link that stays inside is fine
    proc, base = start_file_server(root)
    try:
        wait_until(lambda: _get(f"{base}/data/a.tif") == 200, proc, "file server", 20)
        assert _get(f"{base}/data/a.tif", {"Range": "bytes=2-4"}) == 206
        assert _get(f"{base}/data/inside-link.tif") == 200
        for path in ("/data/link.txt", "/escape/secret.txt", "/", "/data/", "/data"):
            assert _get(base + path) == 404, path
        # `..` out of the root in the encodings the issue tried: none reaches outside/secret.txt
        for up in ("..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "..%2f..", "%2e%2e%2f%2e%2e", "..%5c..",
                   "%c0%ae%c0%ae", "....//..", "..;"):
            for path in (f"/{up}/outside/secret.txt", f"/data/{up}/{up}/outside/secret.txt"):
                assert _get(base + path) in (400, 404), path
    finally:
        stop_process(proc)
