"""A run killed with SIGKILL leaves no server running and no temporary STAC copy behind."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from tasks.io.runtime.local_stac import serve_collections

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]

_SERVE = """
import sys, time
import tasks
from tasks.io.runtime.local_stac import serve_collections
with serve_collections(sys.argv[1]) as stac:
    print(stac.api_url, flush=True)
    time.sleep(600)
"""


def _kill_and_wait(proc: subprocess.Popen, family: list[psutil.Process], *, timeout: float) -> None:
    """SIGKILL ``proc`` and assert that every process of ``family`` is gone within ``timeout`` seconds."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=timeout)
    assert not alive, [p.cmdline() for p in alive]


def test_sigkill_takes_the_servers_down_and_the_next_run_clears_the_copy(sample_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(sample_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("http://127.0.0.1:")
        children = psutil.Process(proc.pid).children()
        assert len(children) == 2  # the file server and rustac serve
        workdirs = glob.glob(os.path.join(tempfile.gettempdir(), f"ldn-stac-{proc.pid}-*"))
        assert len(workdirs) == 1
        _kill_and_wait(proc, children, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with serve_collections(sample_dir):  # the next run removes the dead run's copy of the collections
        assert not os.path.exists(workdirs[0])


def test_sigkill_of_ldn_run_leaves_no_prefect_server_and_no_prefect_database(sample_dir: Path, tmp_path: Path) -> None:
    """The run's temporary Prefect server (started by Prefect, so no PR_SET_PDEATHSIG) is stopped by its watchdog;
    its database lives in the run's folder, not in ~/.prefect, and the next run removes that folder."""
    env = {**os.environ, "HOME": str(tmp_path / "home")}  # a ~/.prefect written to would show here
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample_dir), "--years",
                             "2001-2001", "--out", str(tmp_path / "out")], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the flow's log
            if "local STAC API" in line:  # the flow runs: the Prefect server is up
                break
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("uvicorn" in " ".join(p.cmdline()) for p in family), [p.cmdline() for p in family]
        folders = glob.glob(os.path.join(tempfile.gettempdir(), f"ldn-prefect-{proc.pid}-*"))
        assert len(folders) == 1 and os.path.exists(os.path.join(folders[0], "prefect.db"))
        _kill_and_wait(proc, family, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "home" / ".prefect" / "prefect.db").exists()
    from flows.prefect_server import _clear_stale

    _clear_stale()  # what the next run does first
    assert not os.path.exists(folders[0])
