"""GeoTIFF writing: every GeoTIFF the pipeline writes, scratch or published, is made here.

A tiled GeoTIFF is written either from a (lazy) DataArray (``write_layer``: one Dask pass, blocks written as they
are computed) or block by block by a kernel that computes its pixels itself (``open_scratch_geotiff``). Both write
the exact transform (MODIS's 231.65635826395825 m pixels, not a size rounded from coordinates), the named CRS,
the nodata value, the blocks and the compression the first time, so nothing patches a file afterwards. Every
published raster is then made from such a file by ``cog_from_tiled`` (``COG_PROFILE``: DEFLATE with a predictor,
512 px blocks, overviews resampled by nearest neighbour for class codes and by average for continuous values),
so a new stage or output format has one place to get a COG from.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.crs
import rasterio.io
import rasterio.shutil
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from tasks.constants import (
    COG_PROFILE,
    COG_SCRATCH_OVERVIEWS,
    LOW_SPACE,
    MODIS_SINUSOIDAL_NAME,
    MODIS_SINUSOIDAL_WKT,
    SCRATCH_PROFILE,
)

__all__ = ["open_scratch_geotiff", "write_geotiff", "write_layer", "cog_from_tiled", "named_crs"]


_MODIS_CRS = rasterio.crs.CRS.from_wkt(MODIS_SINUSOIDAL_WKT)


def named_crs(crs: rasterio.crs.CRS) -> rasterio.crs.CRS:
    """``crs`` with a name where it has none: the MODIS sinusoidal CRS is published as ``MODIS_SINUSOIDAL_NAME``
    (the same CRS; GDAL, QGIS and titiler show "unnamed" otherwise)."""
    if crs is None or not crs.to_wkt().startswith('PROJCS["unnamed"') or crs != _MODIS_CRS:
        return crs
    return rasterio.crs.CRS.from_wkt(MODIS_SINUSOIDAL_WKT.replace('PROJCRS["unnamed"', f'PROJCRS["{MODIS_SINUSOIDAL_NAME}"', 1))


def open_scratch_geotiff(path: Path, grid: Any, *, dtype: Any, nodata: float, count: int = 1,
                         block: int = 256, compress: bool = True) -> Any:
    """A tiled scratch GeoTIFF on ``grid`` (an odc-geo GeoBox, or an open raster whose grid it copies: the exact
    transform and CRS; ``SCRATCH_PROFILE`` or uncompressed) opened for writing: what a stage whose kernel computes
    the pixels itself writes them into, block by block, with no Dask graph between."""
    if isinstance(grid, rasterio.io.DatasetReader):
        (height, width), transform, crs = grid.shape, grid.transform, grid.crs
    else:
        (height, width), transform, crs = grid.shape, grid.affine, grid.crs.to_wkt()
    return rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype,
                         crs=crs, transform=transform, nodata=nodata, tiled=True,
                         blockxsize=block, blockysize=block, **(SCRATCH_PROFILE if compress else {}))


def write_layer(layer: xr.DataArray, path: str | Path, *, nodata: float | None, transform: Affine | None = None,
                block: int = 512, compress: bool = False, lock: Any = None, compute: bool = True,
                colormap: dict[int, tuple[int, ...]] | None = None) -> Any:
    """Write a 2-D (lazy) layer as a tiled GeoTIFF on its exact grid, its attrs as tags (Dask's delayed write when
    not ``compute``).

    ``transform`` is the grid the layer is on (a GeoBox's affine); without it the grid comes from the coordinates,
    which loses the last digits of pixel sizes such as MODIS's. The CRS is the layer's, named (``named_crs``);
    ``compress`` writes ``SCRATCH_PROFILE`` (a copy too large to write raw), otherwise uncompressed; ``lock``
    serialises block writes to the file when threads or workers compute it; ``colormap`` (value -> RGBA) is the
    band's colour table, for a paletted picture (written once the pixels are, so only when computing now). Written
    now, a disk left full is ``OSError(ENOSPC)`` (``check_room``)."""
    if colormap is not None and not compute:
        raise ValueError("a colour table is written after the pixels: write_layer(..., compute=True)")
    grid = layer.rio.transform(recalc=True) if transform is None else transform
    out = layer.rio.write_crs(named_crs(layer.rio.crs)).rio.write_transform(grid).rio.write_nodata(nodata, encoded=False)
    written = out.rio.to_raster(path, tiled=True, blockxsize=block, blockysize=block, lock=lock, compute=compute,
                                recalc_transform=False, **(SCRATCH_PROFILE if compress else {}))
    if colormap is not None:
        with rasterio.open(path, "r+") as dst:
            dst.write_colormap(1, colormap)
    if compute:
        check_room(path)
    return written


def check_room(path: str | Path) -> None:
    """Raise ``OSError(ENOSPC)`` naming ``path``, and remove it, when the file system ``path`` was just written to has
    less than ``LOW_SPACE`` left: GDAL reports a write that ran out of space on stderr only ("_tiffWriteProc: No space
    left on device") and leaves a truncated file behind, which must never reach the layer cache or a version."""
    path = Path(path)
    st = os.statvfs(path.parent)
    if st.f_bavail * st.f_frsize < LOW_SPACE:
        path.unlink(missing_ok=True)
        raise OSError(errno.ENOSPC, "No space left on device (GDAL's write of it may be truncated)", str(path))


def write_geotiff(path: Path, bands: np.ndarray, geobox: Any, *, nodata: float, block: int = 256) -> Path:
    """Write an in-memory (band, y, x) or (y, x) array as a scratch GeoTIFF on ``geobox`` (``open_scratch_geotiff``);
    a disk left full is ``OSError(ENOSPC)`` (``check_room``)."""
    data = bands[None] if bands.ndim == 2 else bands
    with open_scratch_geotiff(path, geobox, dtype=data.dtype, nodata=nodata, count=data.shape[0], block=block) as dst:
        dst.write(data)
    check_room(path)
    return path


def cog_from_tiled(tiled: str | Path, out: str | Path, *, categorical: bool) -> Path:
    """The published COG at ``out`` from a tiled GeoTIFF (``COG_PROFILE``; overviews by nearest neighbour for
    ``categorical`` class codes, by average otherwise): the one COG writer of every stage. A disk left full is
    ``OSError(ENOSPC)`` (``check_room``)."""
    with rasterio.Env(**COG_SCRATCH_OVERVIEWS):  # the driver's scratch overviews at ZSTD level 1: same bytes
        rasterio.shutil.copy(tiled, out, driver="COG", **COG_PROFILE,
                             OVERVIEW_RESAMPLING="NEAREST" if categorical else "AVERAGE")
    check_room(out)
    return Path(out)
