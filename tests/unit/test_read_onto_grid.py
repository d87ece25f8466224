"""Static rasters and masks on the analysis grid, block by block: the same pixels as warping the whole file at once."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.warp import reproject

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.io.sources.load import lonlat_mask, read_onto_grid

GEOBOX = GeoBox((90, 110), Affine(MODIS_PIXEL_SIZE, 0, 8962784.50123854, 0, -MODIS_PIXEL_SIZE, 4891424.004740481),
                MODIS_SINUSOIDAL_WKT)


def _lonlat_file(path: Path, dtype: str, nodata: float | None) -> Path:
    rng = np.random.default_rng(7)
    data = rng.integers(1, 200, size=(60, 80)).astype(dtype)
    data[5:9, 10:30] = nodata if nodata is not None else 0
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=1, dtype=dtype, crs="EPSG:4326",
                       transform=Affine(0.01, 0, 111.55, 0, -0.01, 44.2), nodata=nodata) as dst:
        dst.write(data, 1)
    return path


@pytest.mark.parametrize("resampling, dtype, nodata", [("nearest", "uint8", 0), ("bilinear", "float32", -9999.0),
                                                        ("nearest", "int16", None)])
def test_block_by_block_equals_warping_the_whole_file(tmp_path: Path, resampling: str, dtype: str, nodata: float | None) -> None:
    path = _lonlat_file(tmp_path / "layer.tif", dtype, nodata)
    whole = np.full(GEOBOX.shape, nodata if nodata is not None else 0, dtype=dtype)
    with rasterio.open(path) as src:  # the whole file warped at once, every pixel transformed exactly
        reproject(rasterio.band(src, 1), whole, dst_transform=GEOBOX.affine, dst_crs=GEOBOX.crs.to_wkt(),
                  dst_nodata=nodata, resampling=Resampling[resampling], tolerance=0)
    lazy = read_onto_grid(str(path), GEOBOX, resampling=resampling, chunk=32)
    assert lazy.chunks == ((32, 32, 26), (32, 32, 32, 14)) and lazy.attrs["source_nodata"] == nodata
    got = lazy.values
    assert got.dtype == whole.dtype and (got != (nodata or 0)).mean() > 0.3
    np.testing.assert_array_equal(got, whole)
    ref = rioxarray.open_rasterio(path).rio.reproject(GEOBOX.crs.to_wkt(), shape=tuple(GEOBOX.shape),
                                                      transform=GEOBOX.affine)
    np.testing.assert_allclose(lazy.x.values, ref.x.values) and np.testing.assert_allclose(lazy.y.values, ref.y.values)


def test_lonlat_mask_block_by_block_and_across_180(tmp_path: Path) -> None:
    inv = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    a = GEOBOX.affine
    cols, rows = np.meshgrid(np.arange(110) + 0.5, np.arange(90) + 0.5)
    lon, lat = inv.transform(a.c + cols * a.a, a.f + rows * a.e)
    box = (float(np.median(lon)), float(lat.min()) + 0.05, float(lon.max()) + 1, float(np.median(lat)))
    got = lonlat_mask(GEOBOX, box, chunk=16)
    expect = (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])
    assert 0 < expect.sum() < expect.size
    np.testing.assert_array_equal(got.values, expect)
    across = lonlat_mask(GEOBOX, (float(np.median(lon)), -90, -170.0, 90), chunk=16).values  # west > east
    np.testing.assert_array_equal(across, lon >= np.median(lon))
