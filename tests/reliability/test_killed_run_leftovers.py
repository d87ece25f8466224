"""A run killed with SIGKILL leaves no server running and no temporary STAC copy behind."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tasks.local_stac import serve_collections

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]

_SERVE = """
import sys, time
import tasks
from tasks.local_stac import serve_collections
with serve_collections(sys.argv[1]) as stac:
    print(stac.api_url, flush=True)
    time.sleep(600)
"""


def test_sigkill_takes_the_servers_down_and_the_next_run_clears_the_copy(sample_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(sample_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("http://127.0.0.1:")
        children = psutil.Process(proc.pid).children()
        assert len(children) == 2  # the file server and rustac serve
        workdirs = glob.glob(os.path.join(tempfile.gettempdir(), f"ldn-stac-{proc.pid}-*"))
        assert len(workdirs) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
    with serve_collections(sample_dir):  # the next run removes the dead run's copy of the collections
        assert not os.path.exists(workdirs[0])
