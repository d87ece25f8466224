"""`--bbox W,S,E,N` and `--region W,S,E,N` are one area: the same grid, tiles, polygons and land area."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from flows.options import RefreshRun, build_run
from tasks.config import PRODUCTION_SOURCES
from tasks.geo.areas import pixel_areas_km2
from tasks.io.sources.clip import area_weights
from tasks.io.sources.run import run_context
from tests.helpers import run_area

BOX = "111.5,43.5,112.0,43.9"


def _production_with_files(folder: Path) -> Path:
    """The production sources with their user-downloaded files (SoilGrids, climate zones) as small stand-ins, which
    the run checks before any work."""
    doc = yaml.safe_load(PRODUCTION_SOURCES.read_text())
    stand_in = folder / "stand-in.tif"
    with rasterio.open(stand_in, "w", driver="GTiff", width=4, height=4, count=1, dtype="int16", crs="EPSG:4326",
                       transform=from_origin(111, 44, 0.25, 0.25)) as dst:
        dst.write(np.ones((1, 4, 4), "int16"))
    for source in doc["sources"].values():
        if "file" in source:
            source["file"] = str(stand_in)
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("production", [True, False])
def test_bbox_and_region_give_the_same_area(production: bool, tmp_path: Path) -> None:
    sources = _production_with_files(tmp_path) if production else None
    by_bbox = build_run(RefreshRun(sources_file=sources, bbox=tuple(float(v) for v in BOX.split(",")))).cfg
    by_region = build_run(RefreshRun(sources_file=sources, region=BOX)).cfg
    for field in ("native_bounds", "bbox", "tiles", "region"):
        assert getattr(by_bbox, field) == getattr(by_region, field), field
    assert by_bbox.region is not None  # pixels outside the box are nodata with --bbox too (they were computed before)
    areas = []
    for cfg in (by_bbox, by_region):
        geobox = run_context(cfg).grid
        weights = area_weights(pixel_areas_km2(geobox.crs.to_wkt(), geobox.affine, tuple(geobox.shape)),
                               tuple(geobox.shape), ((geobox.shape[0],), (geobox.shape[1],)), run_area(cfg, geobox))
        areas.append(float(np.asarray(weights).sum()))
    assert areas[0] == areas[1]
