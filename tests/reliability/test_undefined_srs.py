"""A polygon file whose CRS is GDAL's placeholder "Undefined geographic SRS" is not taken as lon/lat."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.reliability


def _undefined_gpkg(path: Path, srs_id: int) -> Path:
    geom = np.array([shapely.to_wkb(shapely.box(111.5, 43.5, 112.0, 44.0))], dtype=object)
    write(str(path), geom, [np.array(["a zone"], dtype=object)], fields=["name"], geometry_type="Polygon",
          crs="EPSG:4326", driver="GPKG")
    with sqlite3.connect(path) as db:  # what a tool that knows no CRS writes: the GeoPackage's undefined SRS
        db.execute("update gpkg_geometry_columns set srs_id = ?", (srs_id,))
        db.execute("update gpkg_contents set srs_id = ?", (srs_id,))
    return path


@pytest.mark.parametrize("srs_id", [0, -1])
@pytest.mark.parametrize("flag", ["--region", "--zones"])
def test_an_undefined_srs_is_one_line(tmp_path: Path, srs_id: int, flag: str) -> None:
    gpkg = _undefined_gpkg(tmp_path / "zones.gpkg", srs_id)
    result = CliRunner().invoke(app, ["run", flag, str(gpkg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "placeholder CRS 'Undefined" in lines[0] and "-a_srs EPSG:4326" in lines[0], result.stderr
