"""`--bbox W,S,E,N` and `--region W,S,E,N` are one area: the same grid, tiles, polygons and land area."""
from __future__ import annotations

import numpy as np
import pytest

from flows.refresh import RefreshRun, build_config
from tasks.areas import pixel_areas_km2
from tasks.clip import area_weights, run_area
from tasks.config import PRODUCTION_SOURCES
from tasks.load import analysis_geobox

BOX = "111.5,43.5,112.0,43.9"


@pytest.mark.parametrize("sources", [PRODUCTION_SOURCES, None])
def test_bbox_and_region_give_the_same_area(sources: object) -> None:
    by_bbox = build_config(RefreshRun(sources=sources, bbox=tuple(float(v) for v in BOX.split(","))))
    by_region = build_config(RefreshRun(sources=sources, region=BOX))
    for field in ("native_bounds", "bbox", "tiles", "area"):
        assert getattr(by_bbox, field) == getattr(by_region, field), field
    assert by_bbox.area is not None  # pixels outside the box are nodata with --bbox too (they were computed before)
    areas = []
    for cfg in (by_bbox, by_region):
        geobox = analysis_geobox(cfg, cfg.ndvi())
        weights = area_weights(pixel_areas_km2(geobox.crs.to_wkt(), geobox.affine, tuple(geobox.shape)),
                               tuple(geobox.shape), ((geobox.shape[0],), (geobox.shape[1],)), run_area(cfg, geobox))
        areas.append(float(np.asarray(weights).sum()))
    assert areas[0] == areas[1]
