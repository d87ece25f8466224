"""The annual layers of one tile as a (year, y, x) cube: each block holds exactly the files' pixels of its window."""
from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tasks.errors import ConfigError
from tasks.io.sources.load import grid_coords, open_annual_layers

GRID = GeoBox((70, 90), Affine(MODIS_PIXEL_SIZE, 0, 8962784.50123854, 0, -MODIS_PIXEL_SIZE, 4891424.004740481),
              MODIS_SINUSOIDAL_WKT)


def _years(tmp_path: Path, n: int = 5) -> tuple[dict[int, str], np.ndarray]:
    rng = np.random.default_rng(3)
    values = rng.integers(-2000, 10000, size=(n, *GRID.shape)).astype("int16")
    values[rng.random(values.shape) < 0.1] = NODATA
    paths = {}
    for i in range(n):
        path = tmp_path / f"annual-{2001 + i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=GRID.shape[1], height=GRID.shape[0], count=1,
                           dtype="int16", crs=MODIS_SINUSOIDAL_WKT, transform=GRID.affine, nodata=NODATA,
                           tiled=True, blockxsize=16, blockysize=16) as dst:
            dst.write(values[i], 1)
        paths[2001 + i] = str(path)
    return paths, values


@pytest.mark.parametrize("rows, cols, chunk", [((0, 70), (0, 90), 32), ((5, 61), (17, 90), 16), ((3, 4), (9, 10), 7),
                                               ((0, 70), (0, 90), 512)])
def test_window_cube_is_the_files_pixels(tmp_path: Path, rows: tuple[int, int], cols: tuple[int, int],
                                         chunk: int) -> None:
    paths, values = _years(tmp_path)
    window = GRID[rows[0]:rows[1], cols[0]:cols[1]]
    cube = open_annual_layers(paths, chunk=chunk, window=window)
    assert cube.dims == ("year", "y", "x") and cube.dtype == np.int16 and cube.name is None
    assert cube.data.chunks[0] == (5,)  # every year in each block: read and reduced together
    assert max(cube.data.chunks[1]) <= chunk and max(cube.data.chunks[2]) <= chunk
    assert list(cube.year.values) == sorted(paths)
    coords = grid_coords(window)
    np.testing.assert_array_equal(cube.y.values, np.asarray(coords["y"]))
    np.testing.assert_array_equal(cube.x.values, np.asarray(coords["x"]))
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(cube.values, values[:, rows[0]:rows[1], cols[0]:cols[1]])
    whole = open_annual_layers(paths, chunk=chunk)  # the whole files, opened by rioxarray
    np.testing.assert_array_equal(whole.values[:, rows[0]:rows[1], cols[0]:cols[1]], cube.values)
    assert whole.attrs == cube.attrs


def test_a_window_off_the_layers_is_a_clear_error(tmp_path: Path) -> None:
    paths, _ = _years(tmp_path, 2)
    outside = GeoBox((10, 10), GRID.affine * Affine.translation(85, 0), GRID.crs)
    with pytest.raises(ConfigError, match="not inside .*rerun the ingest"):
        open_annual_layers(paths, chunk=16, window=outside)
