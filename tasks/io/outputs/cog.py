"""GeoTIFF writing: the tiled scratch GeoTIFF a stage writes its pixels into, and the published COG made from it.

Every published raster goes through ``cog_from_tiled`` (``COG_PROFILE``: DEFLATE with a predictor, 512 px
blocks, overviews resampled by nearest neighbour for class codes and by average for continuous values), so
a new stage or output format has one place to get a COG from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil

from tasks.constants import COG_PROFILE, SCRATCH_PROFILE

__all__ = ["open_scratch_geotiff", "write_geotiff", "cog_from_tiled"]


def open_scratch_geotiff(path: Path, geobox: Any, *, dtype: Any, nodata: float, count: int = 1,
                         block: int = 256, compress: bool = True) -> Any:
    """A tiled scratch GeoTIFF on ``geobox`` (its exact transform and CRS, ``SCRATCH_PROFILE`` or uncompressed)
    opened for writing: what a stage whose kernel computes the pixels itself writes them into, with no Dask graph
    between."""
    height, width = geobox.shape
    return rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype,
                         crs=geobox.crs.to_wkt(), transform=geobox.affine, nodata=nodata, tiled=True,
                         blockxsize=block, blockysize=block, **(SCRATCH_PROFILE if compress else {}))


def write_geotiff(path: Path, bands: np.ndarray, geobox: Any, *, nodata: float, block: int = 256) -> Path:
    """Write an in-memory (band, y, x) or (y, x) array as a scratch GeoTIFF on ``geobox`` (``open_scratch_geotiff``)."""
    data = bands[None] if bands.ndim == 2 else bands
    with open_scratch_geotiff(path, geobox, dtype=data.dtype, nodata=nodata, count=data.shape[0], block=block) as dst:
        dst.write(data)
    return path


def cog_from_tiled(tiled: str | Path, out: str | Path, *, categorical: bool) -> Path:
    """The published COG at ``out`` from a tiled GeoTIFF (``COG_PROFILE``; overviews by nearest neighbour for
    ``categorical`` class codes, by average otherwise): the one COG writer of every stage."""
    rasterio.shutil.copy(tiled, out, driver="COG", **COG_PROFILE,
                         OVERVIEW_RESAMPLING="NEAREST" if categorical else "AVERAGE")
    return Path(out)
