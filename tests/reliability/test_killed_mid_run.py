"""`ldn run` killed with SIGKILL in the middle of a stage: the previous version stays, the rerun equals an
undisturbed run pixel for pixel (what already held; the issue asks to keep it tested).

The run is its own process; it is killed as soon as its log says the first task of the stage finished,
so the layer cache holds part of the stage, and the staging folder a half-written version.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import assert_same_pixels, latest_pixels, short_run_file

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in (".cache", ".staging")}


@pytest.mark.parametrize("stage", ["annual-ndvi-tile", "productivity-tile", "publish-version"])
def test_a_run_killed_mid_stage_reruns_to_the_undisturbed_layers(
    sample_dir: Path, tmp_path: Path, stage: str, prefect_harness: None,
) -> None:
    run_file = short_run_file(tmp_path)
    args = ["run", "--sample-dir", str(sample_dir), "--years", "2001-2006", "--config", str(run_file)]
    reference = tmp_path / "reference"
    assert CliRunner().invoke(app, [*args, "--out", str(reference)]).exit_code == 0
    out = tmp_path / "catalog"
    assert CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2001",
                                    "--out", str(out)]).exit_code == 0  # the previous version
    before = _tree(out)

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", *args, "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marker = f"Task run '{stage}-" if stage != "publish-version" else "Task run 'zonal-report-"
    killed = False
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if marker in line and "Finished in state Completed" in line:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed and proc.returncode == -signal.SIGKILL, "the run was killed mid-stage"
    assert _tree(out) == before, "the previous version and the root catalog are untouched"

    again = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 0, again.stderr
    assert_same_pixels(latest_pixels(out), latest_pixels(reference))
