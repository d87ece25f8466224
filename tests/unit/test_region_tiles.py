"""Every tile of North-East Asia and of each country region, on the production MODIS grid, gets its region.

Each ingest tile asks the run for its region on the tile's own grid (``RunContext.area_on``). The union of the
countries is valid in lon/lat but not after projection (two edges a hair apart where the Russian Far East's 98
degree meridian meets Mongolia's border cross on the sinusoidal plane), and GEOS refused to cut it: 30 of the 36
tiles of the default region failed. These tests run the real region, not the 60 km sample: each tile's polygons
are valid, touch the tile, and put every sampled pixel centre inside or outside the region as its lon/lat position
says (the few that differ lie within the densification tolerance of the border).
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from tasks.config import PRODUCTION_SOURCES, RunConfig, load_sources
from tasks.geo.grid import over_crs, parse_crs, transformer, unwrap
from tasks.geo.mosaic import wraps
from tasks.geo.tiles import tile_geobox
from tasks.io.sources.region import ALL_NE_ASIA, region_grid, resolve_region
from tasks.io.sources.run import run_context
from tasks.io.sources.zones import default_zones

REGIONS = [ALL_NE_ASIA, *[z.zone_id for z in default_zones()]]
STEP = 61
"""Sample every 61st pixel centre of a tile (79 x 79 points of a 4800 px tile)."""
BORDER_DEG = 0.06
"""A pixel centre this close to the border (degrees) may fall either side: edges are densified every 0.05 degrees."""


def _run(code: str):
    source = load_sources(PRODUCTION_SOURCES).get("modis-13q1")
    grid = region_grid(resolve_region(code), crs=source.crs, resolution=source.resolution, origin=source.grid_origin)
    cfg = RunConfig(sources_file=PRODUCTION_SOURCES, region=code, region_id=code.lower(), tiles=grid.tiles,
                    native_bounds=grid.native_bounds, bbox=grid.bbox, activities="none")
    return run_context(cfg)


def test_north_east_asia_has_its_36_modis_tiles():
    run = _run(ALL_NE_ASIA)
    names = [t.name for t in run.tiles]
    assert len(names) == 36 and len(set(names)) == 36
    # Chukotka on both sides of 180 degrees: tiles at the plane's western edge beside those of the east
    assert {"h10v02", "h11v02", "h12v01"} <= set(names) and {"h25v03", "h28v05"} <= set(names)


@pytest.mark.parametrize("code", REGIONS)
def test_every_tile_gets_a_valid_region_that_agrees_with_lonlat(code):
    run = _run(code)
    src = run.ndvi
    region = resolve_region(code).geometry
    wrapped = unwrap(region) if resolve_region(code).crosses_antimeridian else region
    shapely.prepare(region)
    shapely.prepare(wrapped)
    assert run.tiles
    for tile in run.tiles:
        box = tile_geobox(tile, src.crs, src.resolution, src.grid_origin)
        area = run.area_on(box)  # raised GEOSException ("side location conflict") for 30 of NE-ASIA's 36 tiles
        assert area is not None
        assert area.footprint.is_valid, tile.name
        assert shapely.intersection(area.footprint, shapely.box(*box.boundingbox)).area > 0, f"{tile.name} has no land"
        # pixel centres: in the region on the tile exactly where their lon/lat lies in the region's polygons
        a = box.affine
        cols = np.arange(STEP // 2, box.shape[1], STEP)
        rows = np.arange(STEP // 2, box.shape[0], STEP)
        xs, ys = np.meshgrid(a.c + (cols + 0.5) * a.a, a.f + (rows + 0.5) * a.e)
        on_tile = shapely.intersects_xy(area.footprint, xs, ys)
        over = wraps(box)
        plane = over_crs(parse_crs(src.crs)) if over else parse_crs(src.crs)
        lon, lat = transformer(plane, "EPSG:4326").transform(xs, ys)
        # off the sinusoidal map (a rim tile's corners): PROJ answers inf, or wraps the longitude (without +over)
        on_map = np.isfinite(lon) & (np.abs(xs) <= np.pi * 6371007.181 * np.cos(np.radians(np.clip(lat, -90, 90))))
        truth = shapely.intersects_xy(wrapped if over else region, lon, lat)
        differ = (on_tile != truth) & on_map
        if differ.any():
            points = shapely.points(lon[differ], lat[differ])
            far = shapely.distance(shapely.boundary(wrapped if over else region), points) > BORDER_DEG
            assert not far.any(), f"{code} {tile.name}: {int(far.sum())} pixel centres on the wrong side, far from the border"
        assert (differ.sum() / max(on_map.sum(), 1)) < 0.01, tile.name
