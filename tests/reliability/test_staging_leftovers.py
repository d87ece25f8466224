"""What a killed or failed run leaves in ``.staging`` is cleared: its version folder and every scratch folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tasks.io.outputs.catalog as publish
from tasks.config import RunConfig

pytestmark = pytest.mark.reliability


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_runs_scratch_folders_are_removed_by_the_next_run(tmp_path: Path) -> None:
    cfg = RunConfig(native_bounds=(0.0, 0.0, 2000.0, 2000.0), region_id="x", years=(2001, 2001), out_dir=str(tmp_path))
    staging = tmp_path / ".staging"
    dead = f"20260101T000000Z-abcdef-{_dead_pid()}"
    for name in (dead, f"{dead}.tiles", f"{dead}.period-tiles"):
        (staging / name / "part").mkdir(parents=True)
    mine = publish.begin_version(cfg)
    assert sorted(p.name for p in staging.iterdir()) == [Path(mine.path).name]


def test_a_failed_run_discards_its_scratch_too(tmp_path: Path) -> None:
    cfg = RunConfig(native_bounds=(0.0, 0.0, 2000.0, 2000.0), region_id="x", years=(2001, 2001), out_dir=str(tmp_path))
    run = publish.begin_version(cfg)
    for suffix in (".tiles", ".period-tiles"):
        Path(f"{run.path}{suffix}", "tile").mkdir(parents=True)
    publish.discard_staging(run)
    assert not (tmp_path / ".staging").exists()
