"""A performance comparison box outside the area, or reversed, is one line before any work, not an all-nodata LPD."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.options import RefreshRun, build_run

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize(("box", "message"), [
    ([120, 43, 121, 44], "does not overlap the run's area"),
    ([170, 43.5, -170, 43.9], "has west > east, a box across 180 degrees"),  # a real crossing, not this run's
    ([112.2, 43.5, 111.7, 43.9], "west 112.2 > east 111.7 would cross the antimeridian and span 359.5 degrees: swap them"),
    ([111.7, 43.9, 112.2, 43.5], "south 43.9 > north 43.5"),
])
def test_a_bad_comparison_box_is_one_line(tmp_path: Path, box: list[float], message: str) -> None:
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"productivity:\n  comparison_bbox: {box}\n")
    result = CliRunner().invoke(app, ["run", "--config", str(run_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_box_inside_the_area_is_kept(tmp_path: Path) -> None:
    run_file = tmp_path / "run.yaml"
    run_file.write_text("productivity:\n  comparison_bbox: [111.7, 43.5, 112.2, 43.9]\n")
    assert build_run(RefreshRun(config=run_file)).cfg.productivity.comparison_bbox == (111.7, 43.5, 112.2, 43.9)
