"""Chukotka across 180 degrees, end to end: scenes at both edges of the sinusoidal plane, tiles on both
sides, one annual NDVI layer on the run's grid (continued east past 180) with no seam, gap or double count.

The scenes are built here: MOD13Q1-shaped windows at the plane's eastern edge (lon 179.6..180, with
MODIS's fill beyond the edge) and its western edge (lon -180..-179.6), whose NDVI is a known function of
longitude and latitude plus a disc planted on the 180th meridian.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.io.runtime.local_stac import serve_collections
from tasks.io.samples.sample_data import (
    box_polygon,
    collection_doc,
    composite_doys,
    iso_time,
    write_cog,
    write_collection,
)

pytestmark = pytest.mark.integration

R = 6371007.181
ORIGIN = (-20015109.354, 10007554.677)
SOUTH, NORTH = 66.40, 66.55
REGION = f"179.7,{SOUTH},-179.7,{NORTH}"
DISC = (180.0, 66.475, 3.0)  # lon, lat, radius km: straddles the meridian
YEARS = (2001, 2002)


def ndvi_truth(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Raw NDVI (x 10000) at lon/lat: a ramp eastwards across 180 degrees, 8000 in the disc."""
    east = np.where(lon < 0, lon + 360.0, lon)  # continuous across the meridian
    value = 2000.0 + 3000.0 * (east - 179.5)
    dx = (east - DISC[0]) * 111.195 * np.cos(np.radians(lat))
    dy = (lat - DISC[1]) * 111.195
    return np.where(np.hypot(dx, dy) <= DISC[2], 8000.0, np.round(value))


def _scene_window(lon_inner: float, side: int) -> tuple[rasterio.Affine, int, int]:
    """A MODIS-grid window from ``lon_inner`` to the plane's edge (side +1 east, -1 west) over the test's latitudes."""
    lats = np.linspace(SOUTH - 0.05, NORTH + 0.05, 50)
    xs_inner = R * math.radians(lon_inner) * np.cos(np.radians(lats))
    xs_edge = side * math.pi * R * np.cos(np.radians(lats))
    left, right = min(xs_inner.min(), xs_edge.min()), max(xs_inner.max(), xs_edge.max())
    top, bottom = R * math.radians(NORTH + 0.05), R * math.radians(SOUTH - 0.05)
    col0 = math.floor((left - ORIGIN[0]) / MODIS_PIXEL_SIZE) - 2
    col1 = math.ceil((right - ORIGIN[0]) / MODIS_PIXEL_SIZE) + 2
    row0 = math.floor((ORIGIN[1] - top) / MODIS_PIXEL_SIZE)
    row1 = math.ceil((ORIGIN[1] - bottom) / MODIS_PIXEL_SIZE)
    transform = rasterio.Affine(MODIS_PIXEL_SIZE, 0, ORIGIN[0] + col0 * MODIS_PIXEL_SIZE, 0, -MODIS_PIXEL_SIZE,
                                ORIGIN[1] - row0 * MODIS_PIXEL_SIZE)
    return transform, row1 - row0, col1 - col0


def build_antimeridian_scenes(root: Path) -> Path:
    """MOD13Q1-shaped composites (23 a year, Terra) at both edges of the plane, as a collection folder."""
    inverse = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    cdir = root / "modis-13Q1-061"
    items = []
    scenes = {"h25": (179.6, +1), "h10": (-179.6, -1)}
    rasters = {}
    for name, (lon_inner, side) in scenes.items():
        transform, h, w = _scene_window(lon_inner, side)
        cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        x, y = transform.c + cols * transform.a, transform.f + rows * transform.e
        lon, lat = inverse.transform(x, y)
        on_map = np.abs(x) <= math.pi * R * np.cos(y / R)
        ndvi = np.where(on_map, ndvi_truth(lon, lat), -3000).astype("int16")  # MODIS fills beyond the edge
        qa = np.where(on_map, 0, -1).astype("int8")
        west, east = (lon_inner, 180.0) if side > 0 else (-180.0, lon_inner)
        rasters[name] = (transform, ndvi, qa, (west, SOUTH - 0.05, east, NORTH + 0.05), (h, w))
    for year in range(YEARS[0], YEARS[1] + 1):
        for doy in composite_doys(year):
            start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=doy - 1)
            for name, (transform, ndvi, qa, bbox, shape) in rasters.items():
                item_id = f"MOD13Q1.A{year}{doy:03d}.{name}v02.061"
                assets = {}
                for key, data, nodata in (("250m_16_days_NDVI", ndvi, -3000),
                                          ("250m_16_days_pixel_reliability", qa, -1)):
                    rel = f"data/{item_id}/{item_id}_{key}.tif"
                    write_cog(cdir / rel, data, crs=MODIS_SINUSOIDAL_WKT, transform=transform, nodata=nodata)
                    assets[key] = {"href": rel, "type": "image/tiff; application=geotiff", "roles": ["data"]}
                items.append({
                    "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "modis-13Q1-061",
                    "properties": {"start_datetime": iso_time(start), "end_datetime": iso_time(start + timedelta(days=15)),
                                   "datetime": None, "platform": "terra", "updated": "2024-01-01T00:00:00Z",
                                   "proj:wkt2": MODIS_SINUSOIDAL_WKT, "proj:shape": list(shape),
                                   "proj:transform": list(transform)[:6]},
                    "geometry": box_polygon(bbox), "bbox": list(bbox), "links": [], "assets": assets,
                    "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json"],
                })
    write_collection(cdir, collection_doc("modis-13Q1-061", "MOD13Q1-shaped scenes at both edges of the plane",
                                        (179.6, SOUTH - 0.05, -179.6, NORTH + 0.05),
                                        (items[0]["properties"]["start_datetime"], items[-1]["properties"]["end_datetime"]),
                                        [], {}), items)
    return root


def test_chukotka_across_180_degrees_joins_without_seam_gap_or_double_count(tmp_path: Path,
                                                                          prefect_harness: None) -> None:
    from flows.ldn_yearly import ldn_yearly
    from flows.options import RefreshRun, build_run
    from tasks.config import SAMPLE_SOURCES

    scenes = build_antimeridian_scenes(tmp_path / "scenes")
    out = tmp_path / "catalog"
    with serve_collections(scenes) as stac:
        run = build_run(RefreshRun(sources_file=SAMPLE_SOURCES, stac_api=stac.api_url, region=REGION, region_id="chukotka",
                                   years=YEARS, tile_size=64, out_dir=out, precipitation_source="none",
                                   population_source="none"))
        cfg, tiles = run.cfg, run.tiles
        west = {t.name for t in tiles if t.bounds[0] < 0}
        east = {t.name for t in tiles if t.bounds[0] > 0}
        assert west and east, "tiles on both edges of the plane"
        ldn_yearly(cfg)
    version = out / "versions" / json.loads((out / "catalog.json").read_text())["ldn:latest"]
    path = version / "ndvi-annual/ndvi-annual-chukotka-2002/ndvi-annual-chukotka-2002.tif"
    item = json.loads(path.with_suffix(".json").read_text())
    tiles = item["properties"]["ldn:tiles"]
    with rasterio.open(path) as src:
        values, t, nodata = src.read(1), src.transform, src.nodata
    assert t.c + t.a * values.shape[1] > math.pi * R * math.cos(math.radians(NORTH)), "the grid continues past 180"

    # every pixel centre on the run's grid, as lon (continued east past 180) and lat
    cols, rows = np.meshgrid(np.arange(values.shape[1]) + 0.5, np.arange(values.shape[0]) + 0.5)
    x, y = t.c + cols * t.a, t.f + rows * t.e
    lat = np.degrees(y / R)
    lon = np.degrees(x / (R * np.cos(y / R)))  # the sinusoidal inverse, without wrapping
    core = (lon > 179.71) & (lon < 180.29) & (lat > SOUTH + 0.005) & (lat < NORTH - 0.005)
    assert core.sum() > 1000
    # no gap: every pixel of the region has a value, on both sides of 180, except where the source itself has
    # none: a pixel whose centre is just past the plane's edge (by under a quarter pixel) falls in the sliver that
    # neither edge's straddling MODIS pixel covers (both have their centres off the map, so both are fill)
    past = x - math.pi * R * np.cos(y / R)
    missing = core & (values == nodata)
    assert ((past[missing] > 0) & (past[missing] < MODIS_PIXEL_SIZE / 4)).all(), "a gap where the source has data"
    assert missing.sum(axis=1).max() <= 1 and missing.sum() < 0.3 * values.shape[0], "at most a pixel in some rows"
    beyond = (lon < 179.69) | (lon > 180.31) | (lat < SOUTH - 0.003) | (lat > NORTH + 0.003)
    assert (values[beyond] == nodata).all(), "nothing outside the region"
    # no seam: each pixel holds the value at (about) its own place, on either side; one pixel is 16 units of ramp
    expected = ndvi_truth(np.where(lon > 180, lon - 360, lon), lat)
    ramp = core & ~missing & (expected != 8000) & (np.abs(np.hypot((lon - DISC[0]) * 44.3, (lat - DISC[1]) * 111.2) - DISC[2]) > 0.5)
    assert np.abs(values[ramp] - expected[ramp]).max() <= 20
    # no double count: the disc's area, half on each side, is its own
    disc_km2 = (values[core] == 8000).sum() * (MODIS_PIXEL_SIZE / 1000) ** 2
    assert disc_km2 == pytest.approx(math.pi * DISC[2] ** 2, rel=0.08)
    east_half = (values == 8000) & (lon < 180)
    west_half = (values == 8000) & (lon > 180)
    assert east_half.sum() > 0.35 * (values == 8000).sum() and west_half.sum() > 0.35 * (values == 8000).sum()
    assert set(tiles) & west and set(tiles) & east, f"the layer joins tiles from both edges: {tiles}"
