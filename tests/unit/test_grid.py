"""Analysis grids snap to the source's pixel grid and convert areas between CRSs correctly."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError
from tasks.geo.grid import lonlat_bounds, native_bounds, parse_crs, snapped_geobox


def test_geobox_aligns_with_the_modis_grid() -> None:
    bounds = native_bounds((111.5, 43.5, 112.0, 43.9), MODIS_SINUSOIDAL_WKT)
    gb = snapped_geobox(bounds, MODIS_SINUSOIDAL_WKT, MODIS_PIXEL_SIZE, MODIS_GRID_ORIGIN)
    a = gb.affine
    assert a.a == MODIS_PIXEL_SIZE and a.e == -MODIS_PIXEL_SIZE
    cols = (a.c - MODIS_GRID_ORIGIN[0]) / MODIS_PIXEL_SIZE
    rows = (MODIS_GRID_ORIGIN[1] - a.f) / MODIS_PIXEL_SIZE
    assert cols == pytest.approx(round(cols), abs=1e-6) and rows == pytest.approx(round(rows), abs=1e-6)
    # it covers the requested bounds, by less than one pixel on each side
    left, bottom, right, top = bounds
    gl, gb_, gr, gt = gb.boundingbox
    assert gl <= left < gl + MODIS_PIXEL_SIZE and gr - MODIS_PIXEL_SIZE < right <= gr
    assert gb_ <= bottom < gb_ + MODIS_PIXEL_SIZE and gt - MODIS_PIXEL_SIZE < top <= gt


def test_lonlat_and_native_bounds_round_trip_contains_the_box() -> None:
    box = (111.5, 43.5, 112.0, 43.9)
    back = lonlat_bounds(native_bounds(box, MODIS_SINUSOIDAL_WKT), MODIS_SINUSOIDAL_WKT)
    assert back[0] <= box[0] and back[1] <= box[1] + 1e-9 and back[2] >= box[2] and back[3] >= box[3] - 1e-9


def test_snapping_is_exact_on_grid_lines() -> None:
    gb = snapped_geobox((0.0, 0.0, 100.0, 50.0), "EPSG:3857", 10.0)
    assert tuple(gb.shape) == (5, 10)


@pytest.mark.parametrize("bounds", [(5.0, 0.0, 1.0, 1.0), (0.0, 5.0, 1.0, 1.0)])
def test_empty_bounds_are_an_error(bounds: tuple) -> None:
    with pytest.raises(ConfigError, match="are empty"):
        snapped_geobox(bounds, "EPSG:3857", 1.0)


def test_wrong_crs_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"is not a valid WKT or authority code: give WKT2 or e.g. 'EPSG:4326'"):
        parse_crs("EPSG:99999999")


def test_pixel_area_is_constant_on_the_sinusoidal_grid() -> None:
    """Equal-area grid: a MODIS pixel covers pixel_size^2 m2 everywhere (method notes section 6)."""
    from pyproj import Geod, Transformer

    inv = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    sphere = Geod(a=6371007.181, b=6371007.181)
    for x, y in [(8.96e6, 4.89e6), (1.0e6, 1.0e6), (12.0e6, 7.0e6)]:
        xs = np.array([x, x + MODIS_PIXEL_SIZE, x + MODIS_PIXEL_SIZE, x])
        ys = np.array([y, y, y - MODIS_PIXEL_SIZE, y - MODIS_PIXEL_SIZE])
        lon, lat = inv.transform(xs, ys)
        area, _ = sphere.polygon_area_perimeter(lon, lat)
        assert abs(area) == pytest.approx(MODIS_PIXEL_SIZE**2, rel=1e-6)
