"""True pixel areas: geographic rows against an independent numerical integral, equal-area grids, refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from scipy import integrate

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError
from tasks.geo.areas import band_area_km2, pixel_areas_km2

A, INV_F = 6378137.0, 298.257223563


def _integral_km2(lat1: float, lat2: float, dlon: float) -> float:
    """Area of a lat/lon box by integrating M(phi) N(phi) cos(phi) on WGS84 (independent of the code)."""
    f = 1 / INV_F
    e2 = f * (2 - f)
    def element(phi: float) -> float:
        return A * A * (1 - e2) * math.cos(phi) / (1 - e2 * math.sin(phi) ** 2) ** 2
    val, _ = integrate.quad(element, math.radians(lat1), math.radians(lat2), epsabs=0, epsrel=1e-13)
    return val * math.radians(dlon) / 1e6


@pytest.mark.parametrize(("west", "south", "east", "north", "res"), [
    (110.0, 41.0, 116.0, 46.0, 1 / 12),        # Mongolia - Inner Mongolia, SOC/climate grid
    (130.0, 42.0, 131.5, 43.0, 1 / 360),       # 300 m CCI grid
    (-180.0, 60.0, -170.0, 70.0, 0.0833333),   # not exactly 1/12 (as the real SOC rasters)
])
def test_geographic_grid_sum_equals_the_box_area(west: float, south: float, east: float, north: float, res: float) -> None:
    rows = int(round((north - south) / res))
    cols = int(round((east - west) / res))
    transform = Affine(res, 0, west, 0, -res, north)
    areas = pixel_areas_km2("EPSG:4326", transform, (rows, cols))
    total = float((areas * np.ones((rows, cols))).sum())
    box = _integral_km2(north - rows * res, north, cols * res)
    assert total == pytest.approx(box, rel=1e-6)


def test_whole_earth() -> None:
    assert float(band_area_km2(np.array(-90.0), np.array(90.0), 360.0)) == pytest.approx(510_065_621.7, rel=1e-9)


def test_equal_area_grid_is_constant() -> None:
    areas = pixel_areas_km2(MODIS_SINUSOIDAL_WKT, Affine(MODIS_PIXEL_SIZE, 0, 0, 0, -MODIS_PIXEL_SIZE, 0), (3, 4))
    assert areas.shape == (3, 1) and np.all(areas == pytest.approx(MODIS_PIXEL_SIZE**2 / 1e6))


def test_non_equal_area_projection_is_refused() -> None:
    with pytest.raises(ConfigError, match="not equal-area\\): reproject the layer"):
        pixel_areas_km2("EPSG:3857", Affine(100, 0, 0, 0, -100, 0), (2, 2))
