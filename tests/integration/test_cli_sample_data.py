"""`ldn sample-data` writes the full default sample region, and keeps a complete one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.integration


def test_sample_data_command(tmp_path: Path) -> None:
    out = tmp_path / "sample-data"
    result = CliRunner().invoke(app, ["sample-data", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "MOD13Q1 composites 598/598 (2024)" in result.stdout and f"sample region in {out}" in result.stdout
    region = json.loads((out / "region.json").read_text())
    assert region["tile"] == "h26v04" and region["size_px"] == 259 and region["ndvi_years"] == [2001, 2024]
    assert {p.name for p in out.iterdir() if p.is_dir()} == {
        "modis-13Q1-061", "esa-cci-lc", "soilgrids-soc-0-30cm", "ipcc-climate-zones", "soil-taxonomy",
        "sample-monthly-precipitation", "sample-population", "sample-drought-vulnerability"}
    again = CliRunner().invoke(app, ["sample-data", "--out", str(out)])
    assert again.exit_code == 0 and "already present" in again.stdout
