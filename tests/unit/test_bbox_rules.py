"""One rule for every lon/lat box the project reads: reversed latitudes and a west > east box that would span
most of the globe are one-line errors naming the fix, before anything is started; a real box across 180 degrees
is taken."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.geo.boxes import MAX_ANTIMERIDIAN_SPAN, lonlat_box_problem


@pytest.mark.parametrize(("box", "problem"), [
    ((111.0, 42.0, 112.0, 43.0), None),
    ((170.0, 60.0, -170.0, 70.0), None),  # 20 degrees across 180: Chukotka
    ((100.0, 40.0, -80.0, 70.0), None),  # exactly MAX_ANTIMERIDIAN_SPAN
    ((112.0, 42.0, 111.0, 43.0), "swap them (111,42,112,43)"),  # a typo, not a 359-degree box
    ((10.0, 42.0, -10.0, 43.0), "span 340 degrees"),
    ((111.0, 43.0, 112.0, 42.0), "south 43 > north 42"),
    ((111.0, 43.0, 111.0, 44.0), "distinct longitudes"),
    ((111.0, -91.0, 112.0, 44.0), "-90 <= south < north <= 90"),
    ((111.0, 43.0, 181.0, 44.0), "in [-180, 180]"),
    ((111.0, float("nan"), 112.0, 44.0), "not a number"),
])
def test_lonlat_box_problem(box: tuple[float, float, float, float], problem: str | None) -> None:
    found = lonlat_box_problem(*box)
    assert (found is None) if problem is None else (problem in found), found


def test_a_box_across_180_is_refused_where_only_one_box_is_taken() -> None:
    assert "give one box on each side" in lonlat_box_problem(170.0, 60.0, -170.0, 70.0, antimeridian=False)
    assert MAX_ANTIMERIDIAN_SPAN == 180.0


@pytest.mark.parametrize(("args", "expected"), [
    (["--bbox", "112,42,111,43"], "--bbox west 112 > east 111 would cross the antimeridian"),
    (["--bbox", "111,43,112,42"], "--bbox south 43 > north 42"),
    (["--region", "112,42,111,43"], "region bbox west 112 > east 111"),
])
def test_ldn_run_refuses_a_bad_box_before_starting_anything(args: list[str], expected: str, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", *args, "--out", str(out), "--sample-dir", str(tmp_path / "no-sample")])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not out.exists() and not (tmp_path / "no-sample").exists(), "nothing was generated, staged or started"
