"""Keeping a run to its region's polygons: every pixel outside is nodata, and blocks outside are never computed."""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import shapely
import xarray as xr
from affine import Affine
from hypothesis import example, given, settings
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox
from rasterio.features import geometry_mask

from tasks.config import RunConfig
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tasks.geo.areas import class_areas
from tasks.io.sources.clip import EDGE, INSIDE, OUTSIDE, RunArea, area_weights, clip, inside
from tests.helpers import run_area

RES = MODIS_PIXEL_SIZE
X0, Y0 = 8962784.50123854, 4891424.004740481
GEOBOX = GeoBox((60, 80), Affine(RES, 0, X0, 0, -RES, Y0), MODIS_SINUSOIDAL_WKT)


def _xy(col: float, row: float) -> tuple[float, float]:
    return X0 + col * RES, Y0 - row * RES


def _triangle() -> shapely.Geometry:
    """A triangle over the grid's lower-left half: whole blocks inside, outside and cut by its edge."""
    return shapely.Polygon([_xy(-5, -5), _xy(-5, 65), _xy(75, 65)])


def _reference(footprint: shapely.Geometry) -> np.ndarray:
    """True where a pixel centre is in the polygon or on its edge, tested over the whole grid at once."""
    cols, rows = np.meshgrid(np.arange(80) + 0.5, np.arange(60) + 0.5)
    return shapely.intersects_xy(footprint, X0 + cols * RES, Y0 - rows * RES)


def _layer(chunks: int) -> xr.DataArray:
    values = np.arange(60 * 80, dtype="int16").reshape(60, 80)
    return xr.DataArray(da.from_array(values, chunks=chunks), dims=("y", "x"), attrs={"_FillValue": NODATA})


def test_pixels_outside_the_polygons_become_nodata_and_the_rest_is_untouched() -> None:
    area = RunArea(footprint=_triangle(), geobox=GEOBOX, label="triangle")
    out = clip(_layer(16), area).values
    ref = _reference(area.footprint)
    assert 0 < ref.sum() < ref.size
    gdal = geometry_mask([area.footprint], out_shape=GEOBOX.shape, transform=GEOBOX.affine, invert=True)
    np.testing.assert_array_equal(ref, gdal)  # no centre lies on the triangle's edge: GDAL's rasterising agrees
    np.testing.assert_array_equal(out[ref], _layer(16).values[ref])
    assert (out[~ref] == NODATA).all()
    cover = area.cover(((16, 16, 16, 12), (16,) * 5))
    assert {OUTSIDE, EDGE, INSIDE} <= set(np.unique(cover).tolist())


def test_blocks_outside_the_region_are_never_computed() -> None:
    area = RunArea(footprint=shapely.box(*_xy(0, 20), *_xy(20, 0)), geobox=GEOBOX, label="corner")  # block (0, 0)

    def poisoned(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info[None]["chunk-location"] != (0, 0):
            raise AssertionError(f"block {block_info[None]['chunk-location']} outside the region was computed")
        return block

    data = da.map_blocks(poisoned, da.zeros((60, 80), dtype="float32", chunks=20), dtype="float32")
    out = clip(xr.DataArray(data, dims=("y", "x")), area, fill=np.nan)
    with dask.config.set(scheduler="synchronous"):
        values = out.values
    assert (values[:20, :20] == 0).all() and np.isnan(values[20:]).all() and np.isnan(values[:, 20:]).all()


def test_a_stack_of_years_is_clipped_year_by_year() -> None:
    area = RunArea(footprint=_triangle(), geobox=GEOBOX, label="triangle")
    cube = xr.DataArray(da.ones((3, 60, 80), dtype="int16", chunks=(1, 25, 25)), dims=("year", "y", "x"))
    out = clip(cube, area, fill=-1).values
    ref = _reference(area.footprint)
    assert all((out[k][ref] == 1).all() and (out[k][~ref] == -1).all() for k in range(3))


@settings(max_examples=40, deadline=None)
@given(chunk=st.integers(7, 64), points=st.lists(st.tuples(st.floats(-10, 90), st.floats(-10, 70)), min_size=3,
                                                 max_size=7))
@example(chunk=7, points=[(2.0, 11.0), (0.0, 0.0), (1.0, 11.0), (0.0, 11.0)])  # a triangle and a dangling line
def test_any_polygon_and_chunking_match_rasterising_the_whole_grid(chunk: int, points: list) -> None:
    polygon = shapely.make_valid(shapely.Polygon([_xy(c, r) for c, r in points]))
    if polygon.is_empty or polygon.area == 0:
        return
    area = RunArea(footprint=polygon, geobox=GEOBOX, label="random")
    cols, rows = np.meshgrid(np.arange(80) + 0.5, np.arange(60) + 0.5)
    centres = shapely.points(X0 + cols * RES, Y0 - rows * RES)
    # a centre on an edge is in or out by float rounding; make_valid may leave a collection with dangling lines (a
    # collection has no boundary: its parts' edges and lines are the edges)
    edges = shapely.union_all([part.boundary if part.area > 0 else part for part in shapely.get_parts(polygon)])
    clear = ~shapely.dwithin(edges, centres, 1e-6)
    got, ref = inside(area, chunk).values, _reference(polygon)
    np.testing.assert_array_equal(got[clear], ref[clear])
    weights = area_weights(np.full((60, 1), 0.0537), (60, 80), (chunk, chunk), area).compute()
    np.testing.assert_allclose(weights, np.where(got, 0.0537, 0.0))


def test_region_summary_counts_only_the_region() -> None:
    """The summary's total is the region's area on the grid, not the grid's: land outside is no land of the run."""
    area = RunArea(footprint=_triangle(), geobox=GEOBOX, label="triangle")
    sdg = clip(xr.DataArray(da.zeros((60, 80), dtype="int16", chunks=16), dims=("y", "x"),
                            attrs={"_FillValue": NODATA}), area)
    rows = np.full((60, 1), 2.0)
    table = class_areas({"sdg": sdg}, area_weights(rows, (60, 80), sdg.data.chunks, area))
    n = int(_reference(area.footprint).sum())
    assert table.loc[0, "total_km2"] == pytest.approx(2.0 * n)
    assert table.loc[0, "stable_km2"] == pytest.approx(2.0 * n) and table.loc[0, "nodata_km2"] == 0


def test_no_region_means_the_whole_grid(tmp_path) -> None:
    cfg = RunConfig(native_bounds=tuple(GEOBOX.boundingbox))
    assert cfg.region is None and run_area(cfg, GEOBOX) is None
    layer = _layer(16)
    assert clip(layer, None) is layer


def test_a_country_footprint_on_a_tile_and_on_the_run_grid_across_180_degrees() -> None:
    """Russia crosses 180 degrees: on the run's +over grid it is one piece east of the plane's edge, on a tile at
    the plane's western edge (h10v02) it is where that tile's pixels are."""
    from pyproj import Transformer

    from tasks.geo.grid import over_crs

    lon, lat = -175.0, 66.5  # inland Chukotka, west of 180 degrees
    x_plain, y = Transformer.from_crs("EPSG:4326", MODIS_SINUSOIDAL_WKT, always_xy=True).transform(lon, lat)
    x_over, _ = Transformer.from_crs("EPSG:4326", over_crs(MODIS_SINUSOIDAL_WKT), always_xy=True).transform(lon + 360, lat)
    west = GeoBox((10, 10), Affine(RES, 0, x_plain, 0, -RES, y), MODIS_SINUSOIDAL_WKT)  # on h10v02, inside the plane
    east = GeoBox((10, 10), Affine(RES, 0, x_over, 0, -RES, y), MODIS_SINUSOIDAL_WKT)  # the run grid past the edge
    cfg = RunConfig(native_bounds=(0, 0, 1, 1), region="RUS")
    for geobox in (west, east):
        area = run_area(cfg, geobox)
        assert area is not None and inside(area, 5).values.all(), f"Chukotka is inside on {geobox.boundingbox}"
    china = run_area(RunConfig(native_bounds=(0, 0, 1, 1), region="CHN"), west)
    assert china is not None and not inside(china, 5).values.any()


def test_edge_masks_kept_between_layers_answer_as_a_fresh_test_and_stay_within_their_budget() -> None:
    """Every layer and year of a run crosses the same edge blocks, so their pixel-centre tests are kept (bit-packed,
    least recently used out first): a kept answer is the fresh one, and a small budget only costs recomputing."""
    from tasks.io.sources.clip import _EdgeMasks

    area = RunArea(footprint=_triangle(), geobox=GEOBOX, label="triangle")
    chunks = ((16, 16, 16, 12), (16,) * 5)
    edges = [(i, j) for i, j in zip(*np.nonzero(area.cover(chunks) == EDGE))]
    masks = _EdgeMasks(budget=3 * 32)  # three 16 x 16 blocks' bits
    ref = _reference(area.footprint)
    for _ in range(2):
        for i, j in edges:
            part, transform = area.edge(chunks, i, j)
            h, w = chunks[0][i], chunks[1][j]
            got = masks.within(part, transform, h, w)
            np.testing.assert_array_equal(got, ref[16 * i:16 * i + h, 16 * j:16 * j + w])
            assert masks.used <= masks.budget
    assert len(edges) > 3 and len(masks.masks) == 3
