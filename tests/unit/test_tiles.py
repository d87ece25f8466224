"""Tiles and regions: the MODIS lattice, North-East Asia on both sides of the antimeridian, and the
one-line errors for unknown, empty and overlapping areas; the mosaic joins tiles without a seam."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError
from tasks.geo.grid import snapped_geobox, split_bbox
from tasks.geo.mosaic import mosaic, source_x, wraps
from tasks.geo.tiles import TILE_STEP_CHUNKS, Tile, check_tiles, lattice_tiles, tile_lonlat_bbox, tile_windows
from tasks.io.sources.region import region_grid, resolve_region

R = 6371007.181
GRID = dict(crs=MODIS_SINUSOIDAL_WKT, resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN)


def _names(spec: str) -> set[str]:
    return {t.name for t in region_grid(resolve_region(spec), **GRID).tiles}


def test_lattice_cells_are_the_modis_tiles() -> None:
    # Zamyn-Uud (43.7 N, 111.9 E) is in MODIS tile h26v04
    x, y = Transformer.from_crs("EPSG:4326", MODIS_SINUSOIDAL_WKT, always_xy=True).transform(111.9, 43.72)
    bounds = tuple(snapped_geobox((x - 1000, y - 1000, x + 1000, y + 1000), **GRID).boundingbox)
    (tile,) = lattice_tiles(bounds, resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN)
    assert tile.name == "h26v04" and tile.bounds == bounds


def test_lattice_cuts_cells_to_the_area_and_covers_it_once() -> None:
    gb = snapped_geobox((8.9e6, 4.8e6, 9.1e6, 4.95e6), **GRID)
    tiles = lattice_tiles(tuple(gb.boundingbox), resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN, size_px=300)
    px = sum(round((t.bounds[2] - t.bounds[0]) / MODIS_PIXEL_SIZE) * round((t.bounds[3] - t.bounds[1]) / MODIS_PIXEL_SIZE)
             for t in tiles)
    assert px == gb.shape[0] * gb.shape[1]
    check_tiles(tiles, resolution=MODIS_PIXEL_SIZE)


def test_north_east_asia_has_tiles_on_both_sides_of_the_antimeridian() -> None:
    names = _names("NE-ASIA")
    assert {"h10v02", "h11v02"} <= names, "Chukotka east of 180 degrees (MODIS h10-h11)"
    assert {"h26v04", "h25v05", "h28v05", "h27v04", "h24v02"} <= names  # Mongolia/China, China, Japan, Korea, Yakutia
    assert not {"h30v08", "h18v03"} & names  # open Pacific; Kazakhstan
    region = resolve_region("RUS")
    assert region.crosses_antimeridian
    west, _, east, _ = region.bbox
    assert west > 90 and -180 < east < -160, "a box across 180, never -180..180 from min/max longitude"


def test_a_crossing_grid_continues_east_of_180_and_stays_narrow() -> None:
    grid = region_grid(resolve_region("170,60,-170,70"), **GRID)
    left, _, right, _ = grid.native_bounds
    edge_60 = math.pi * R * math.cos(math.radians(60))
    assert right > edge_60 - 1, "the grid continues past the plane's edge at the southern row"
    assert (right - left) / MODIS_PIXEL_SIZE < 20000, "not the whole width of the sinusoidal plane"
    assert {t.name for t in grid.tiles} >= {"h10v02", "h26v02"}
    assert split_bbox(grid.bbox) == [(170.0, 60.0, 180.0, 70.0), (-180.0, 60.0, -170.0, 70.0)]


def test_country_regions_keep_to_their_land() -> None:
    assert _names("JPN") == {"h27v04", "h28v04", "h28v05", "h29v05"}
    assert "h10v02" not in _names("MNG")


@pytest.mark.parametrize("spec, words", [
    ("XYZ", ["unknown region 'XYZ'", "NE-ASIA", "MNG", "bbox", "GeoPackage"]),
    ("missing.gpkg", ["region file missing.gpkg does not exist"]),
    ("10,20,10,30", ["distinct longitudes"]),
])
def test_bad_region_is_one_line_with_the_fix(spec: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_region(spec)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)


def test_empty_region_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no land in the run's area"):
        region_grid(resolve_region("JPN"), **GRID, within=(8.96e6, 4.83e6, 9.02e6, 4.89e6))


def test_overlapping_custom_tiles_are_refused() -> None:
    a = Tile(name="a", bounds=(0.0, 0.0, 10 * MODIS_PIXEL_SIZE, 10 * MODIS_PIXEL_SIZE))
    b = Tile(name="b", bounds=(8 * MODIS_PIXEL_SIZE, 0.0, 20 * MODIS_PIXEL_SIZE, 10 * MODIS_PIXEL_SIZE))
    with pytest.raises(ConfigError, match=r"tiles a and b overlap by 2 x 10 pixels.*must not overlap"):
        check_tiles([a, b], resolution=MODIS_PIXEL_SIZE)
    with pytest.raises(ConfigError, match="used twice"):
        check_tiles([a, a], resolution=MODIS_PIXEL_SIZE)
    check_tiles([a, Tile(name="c", bounds=(10 * MODIS_PIXEL_SIZE, 0.0, 20 * MODIS_PIXEL_SIZE, 10 * MODIS_PIXEL_SIZE))],
                resolution=MODIS_PIXEL_SIZE)


def test_tile_at_the_plane_edge_has_a_box_where_its_data_is() -> None:
    (tile,) = [t for t in region_grid(resolve_region("RUS"), **GRID).tiles if t.name == "h10v02"]
    west, south, east, north = tile_lonlat_bbox(tile, MODIS_SINUSOIDAL_WKT)
    assert -180 <= west < east < -160 and 60 <= south < north <= 80


def test_source_x_shifts_by_the_parallel_length() -> None:
    lat = np.radians(66.0)
    y = np.array([R * lat])
    edge = math.pi * R * math.cos(lat)
    assert source_x(np.array([edge - 10.0]), y, R)[0] == pytest.approx(edge - 10.0)
    assert source_x(np.array([edge + 10.0]), y, R)[0] == pytest.approx(-edge + 10.0)
    assert source_x(np.array([edge + 10.0]), y, None)[0] == edge + 10.0


def _tile_file(path: Path, gb, offset: int) -> np.ndarray:
    h, w = gb.shape
    data = (np.arange(h * w, dtype="int32").reshape(h, w) + offset)
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="int32",
                       crs=MODIS_SINUSOIDAL_WKT, transform=gb.affine, nodata=-1) as dst:
        dst.write(data, 1)
    return data


def test_mosaic_copies_tiles_exactly(tmp_path: Path) -> None:
    gb = snapped_geobox((8.9e6, 4.8e6, 9.0e6, 4.9e6), **GRID)
    tiles = lattice_tiles(tuple(gb.boundingbox), resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN, size_px=97)
    whole = np.full(gb.shape, -1, dtype="int32")
    paths = {}
    for i, t in enumerate(tiles):
        tg = snapped_geobox(t.bounds, **GRID)
        data = _tile_file(tmp_path / f"{t.name}.tif", tg, 10_000 * i)
        r0 = round((gb.affine.f - tg.affine.f) / MODIS_PIXEL_SIZE)
        c0 = round((tg.affine.c - gb.affine.c) / MODIS_PIXEL_SIZE)
        whole[r0:r0 + data.shape[0], c0:c0 + data.shape[1]] = data
        paths[t.name] = tmp_path / f"{t.name}.tif"
    assert not wraps(gb)
    out = mosaic(paths, gb, chunk=64).compute()
    np.testing.assert_array_equal(out.values, whole)


def test_mosaic_joins_the_antimeridian_without_a_seam(tmp_path: Path) -> None:
    """Pixels east of 180 come from the western tile: each exactly once, at the same latitude, within half a pixel."""
    res = MODIS_PIXEL_SIZE * 8  # a coarse grid keeps the test small; the geometry is the same
    grid_kw = dict(crs=MODIS_SINUSOIDAL_WKT, resolution=res, origin=MODIS_GRID_ORIGIN)
    y0, y1 = R * math.radians(64.0), R * math.radians(66.0)
    edge = lambda lat: math.pi * R * math.cos(math.radians(lat))  # noqa: E731
    east = snapped_geobox((edge(66) - 150e3, y0, edge(64), y1), **grid_kw)
    west = snapped_geobox((-edge(64), y0, -edge(66) + 150e3, y1), **grid_kw)
    _tile_file(tmp_path / "east.tif", east, 0)
    wdata = _tile_file(tmp_path / "west.tif", west, 1_000_000)
    grid = snapped_geobox((east.boundingbox.left, y0, edge(64) + 100e3, y1), **grid_kw)
    assert wraps(grid) and not wraps(west), "the run grid continues east; a tile past the western rim does not"
    out = mosaic({"east": tmp_path / "east.tif", "west": tmp_path / "west.tif"}, grid, chunk=37).compute().values
    valid = out[out >= 0]
    assert np.unique(valid).size == valid.size, "no source pixel is used twice"
    inv = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    rows, cols = np.nonzero(out >= 1_000_000)
    assert rows.size > 100
    k = out[rows, cols] - 1_000_000
    src_r, src_c = np.divmod(k, wdata.shape[1])
    sx = west.affine.c + (src_c + 0.5) * res
    sy = west.affine.f - (src_r + 0.5) * res
    mx = grid.affine.c + (cols + 0.5) * res
    my = grid.affine.f - (rows + 0.5) * res
    np.testing.assert_allclose(sy, my)
    lon_s, _ = inv.transform(sx, sy)
    lon_m, _ = inv.transform(mx, my)  # past the edge: PROJ wraps to the same place west of 180
    km = np.abs((lon_s - lon_m + 180) % 360 - 180) * np.cos(sy / R) * 111.195
    assert km.max() <= res / 2000 + 1e-6
    for r in range(out.shape[0]):  # each row runs without a gap across 180 degrees
        row = out[r]
        have = np.nonzero(row >= 0)[0]
        crossing = np.nonzero(row >= 1_000_000)[0]
        if crossing.size and have.min() < crossing.min():
            assert np.all(row[have.min():crossing.max() + 1] >= 0)


@pytest.mark.parametrize("a, b, expected", [
    ((10, 0, 20, 10), (15, 5, 25, 15), True),
    ((10, 0, 20, 10), (21, 0, 30, 10), False),
    ((10, 0, 20, 10), (20, 10, 30, 20), True),  # a shared corner touches
    ((170, 60, -170, 70), (175, 65, 178, 66), True),  # a across 180, b east of it
    ((170, 60, -170, 70), (-175, 65, -172, 66), True),  # ... b west of it
    ((170, 60, -170, 70), (0, 60, 10, 70), False),  # ... never the long way round
    ((175, 65, 178, 66), (170, 60, -170, 70), True),  # b across 180
    ((179, 60, -179, 70), (178, 60, -178, 70), True),  # both across 180
])
def test_bboxes_intersect_across_the_antimeridian(a: tuple, b: tuple, expected: bool) -> None:
    from tasks.geo.grid import bboxes_intersect

    assert bboxes_intersect(a, b) is expected and bboxes_intersect(b, a) is expected


@pytest.mark.parametrize("size", [16, 100, 4800])
def test_grid_tiles_cut_the_grid_into_lattice_windows(size: int) -> None:
    """The period stage's tiles partition the run's grid exactly along the ingest's lattice, named alike."""
    from tasks.geo.tiles import grid_tiles, lattice_tiles

    grid = snapped_geobox((11_000_000.0, 4_800_000.0, 11_060_000.0, 4_860_000.0), MODIS_SINUSOIDAL_WKT,
                          MODIS_PIXEL_SIZE, MODIS_GRID_ORIGIN)
    tiles = grid_tiles(grid, resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN, size_px=size)
    cover = np.zeros(grid.shape, "int32")
    for t in tiles:
        cover[t.rows[0]:t.rows[1], t.cols[0]:t.cols[1]] += 1
        assert t.geobox(grid).shape == (t.rows[1] - t.rows[0], t.cols[1] - t.cols[0])
    assert (cover == 1).all()
    ingest = lattice_tiles(tuple(grid.boundingbox), resolution=MODIS_PIXEL_SIZE, origin=MODIS_GRID_ORIGIN, size_px=size)
    assert [t.name for t in tiles] == [t.name for t in ingest]
    for mine, theirs in zip(tiles, ingest):
        np.testing.assert_allclose(tuple(mine.geobox(grid).boundingbox), theirs.bounds, atol=1e-3)


def test_period_tiles_across_180_degrees_join_back_into_the_run_grid(tmp_path: Path) -> None:
    """Chukotka's run grid continues east past the plane's edge: its period tiles are windows of that grid on both
    sides, they keep every pixel of the region, and joining them
    (``mosaic(wrap=False)``) puts every pixel back where it was."""
    from odc.geo.geobox import GeoBox

    from tasks.config import SAMPLE_SOURCES, RunConfig
    from tasks.geo.mosaic import mosaic, wraps
    from tasks.io.sources.clip import inside
    from tasks.io.sources.region import region_grid, resolve_region
    from tasks.io.sources.run import period_tiles, run_context
    from tests.helpers import run_area

    spec = "179.7,66.40,-179.7,66.55"
    made = region_grid(resolve_region(spec), crs=MODIS_SINUSOIDAL_WKT, resolution=MODIS_PIXEL_SIZE,
                       origin=MODIS_GRID_ORIGIN, tile_size=16)
    cfg = RunConfig(sources_file=SAMPLE_SOURCES, native_bounds=made.native_bounds, tile_size=16, region=spec)
    grid = snapped_geobox(made.native_bounds, MODIS_SINUSOIDAL_WKT, MODIS_PIXEL_SIZE, MODIS_GRID_ORIGIN)
    assert wraps(grid)
    tiles = period_tiles(run_context(cfg))
    assert {wraps(t.geobox(grid)) for t in tiles} == {False, True}  # windows on both sides of the plane's edge
    region = inside(run_area(cfg, grid), 16).values
    kept = np.zeros(grid.shape, bool)
    values = np.arange(grid.shape[0] * grid.shape[1], dtype="int32").reshape(grid.shape)
    paths = {}
    for t in tiles:
        (r0, r1), (c0, c1) = t.rows, t.cols
        kept[r0:r1, c0:c1] = True
        box: GeoBox = t.geobox(grid)
        paths[t.name] = tmp_path / f"{t.name}.tif"
        with rasterio.open(paths[t.name], "w", driver="GTiff", width=c1 - c0, height=r1 - r0, count=1, dtype="int32",
                           crs=MODIS_SINUSOIDAL_WKT, transform=box.affine, nodata=-1) as dst:
            dst.write(values[r0:r1, c0:c1], 1)
    assert kept[region].all()  # no pixel of the region is in a left-out tile
    joined = mosaic(paths, grid, chunk=64, wrap=False).values
    np.testing.assert_array_equal(joined[kept], values[kept])
    assert (joined[~kept] == -1).all()


def test_tile_windows_cover_the_tile_once() -> None:
    for height, width, rows, cols in [(300, 260, 128, 128), (4800, 4800, 1024, 2560), (2400, 2400, 1024, 2560),
                                      (5, 7, 10, 10), (9, 9, 2, 3), (1, 1, 1, 1)]:
        seen = np.zeros((height, width), dtype=int)
        for r0, r1, c0, c1 in tile_windows(height, width, rows, cols):
            assert 0 < r1 - r0 <= rows and 0 < c1 - c0 <= cols
            seen[r0:r1, c0:c1] += 1
        assert (seen == 1).all()
    steps = (TILE_STEP_CHUNKS[0] * 512, TILE_STEP_CHUNKS[1] * 512)
    assert len(tile_windows(2400, 2400, *steps)) == 3  # a quarter MODIS tile: strips as wide as the tile
    assert len(tile_windows(4800, 4800, *steps)) == 10  # a whole one: two windows per strip, so memory does not double
