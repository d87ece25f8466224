"""The mosaic's windowed fast path picks exactly the pixels of its general per-pixel path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tasks.geo.mosaic import _read_block

RES = MODIS_PIXEL_SIZE


def _tile(path: Path, left: float, top: float, shape: tuple[int, int], rng: np.random.Generator) -> tuple:
    data = rng.integers(-2000, 10000, size=(2, *shape), dtype=np.int16)
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=2, dtype="int16",
                       crs=MODIS_SINUSOIDAL_WKT, transform=Affine(RES, 0, left, 0, -RES, top), nodata=NODATA) as dst:
        dst.write(data)
    return (left, top - shape[0] * RES, left + shape[1] * RES, top), str(path)


@pytest.mark.parametrize("seed", range(6))
def test_fast_path_equals_the_general_path(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x0, y0 = 10_000 * RES, 20_000 * RES  # a grid window near the plane's centre: nothing to wrap
    tiles = [_tile(tmp_path / f"t{i}.tif", x0 + int(rng.integers(-40, 40)) * RES, y0 + int(rng.integers(-40, 40)) * RES,
                   (int(rng.integers(20, 90)), int(rng.integers(20, 90))), rng) for i in range(3)]
    for _ in range(5):  # blocks anywhere around the tiles, overlapping some, none or all
        c0, r0 = int(rng.integers(-60, 60)), int(rng.integers(-60, 60))
        x = x0 + (c0 + np.arange(int(rng.integers(1, 120))) + 0.5) * RES
        y = y0 - (r0 + np.arange(int(rng.integers(1, 120))) + 0.5) * RES
        for band in (1, 2):
            for radius in (None, 6371007.181):
                fast = _read_block(tiles, x, y, RES, radius, np.dtype("int16"), NODATA, band)
                general = _read_block(tiles, x, y, RES, radius, np.dtype("int16"), NODATA, band, fast=False)
                np.testing.assert_array_equal(fast, general)
