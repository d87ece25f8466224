"""Counts moved between grids sum-preserving: people per pixel, never by nearest neighbour (UNCCD method notes 1).

A count (people per cell) is not a density: sampled at a finer grid's pixel centres it is counted as many times as
there are centres in the cell (a 300 m grid read at 231 m counts people 1.7 times), and at a coarser grid's it drops
the cells no centre falls in. GDAL's ``sum`` resampling (3.8 and later: the wheels rasterio 1.4 ships) shares each
source cell's count among the target pixels by the area they overlap, across projections, up or down in resolution,
and block by block (a block of the target grid receives exactly its share), so any set of whole source cells keeps
its total. A GDAL that does not (an older one that gives each target pixel its source cell's whole count) is found
by a hand-worked check the first time, and refused in one line.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject

from tasks.errors import ConfigError

__all__ = ["move_counts"]


@functools.lru_cache(maxsize=1)
def _gdal_shares_by_area() -> bool:
    """A 1 km cell of 16 people onto 500 m pixels: 4 each when GDAL shares by area (16 each when it does not)."""
    out = np.zeros((2, 2))
    reproject(np.array([[16.0]]), out, src_transform=Affine(1000, 0, 0, 0, -1000, 0), src_crs="EPSG:32649",
              dst_transform=Affine(500, 0, 0, 0, -500, 0), dst_crs="EPSG:32649", resampling=Resampling.sum)
    return bool(np.allclose(out, 4.0))


def move_counts(counts: np.ndarray, src_transform: Affine, src_crs: Any, dst_transform: Affine, dst_crs: Any,
                shape: tuple[int, int]) -> np.ndarray:
    """The counts (float, NaN where none; 2-D, or a stack of bands on one grid) of a source window
    (``src_transform`` is the window's) on a target block of ``shape`` at ``dst_transform`` (float64, one band per
    band given): each cell's count shared by overlapped area, the part of it outside the block left to the blocks it
    overlaps. The bands are moved in one warp (the footprints are the cost, not the bands), never split into chunks
    (GDAL's chunks drop a little of the cells at their seams), so memory holds the window and the block whole."""
    if not _gdal_shares_by_area():
        raise ConfigError(f"this rasterio's GDAL {rasterio.__gdal_version__} does not share counts by area when "
                          "resampling (people would be counted several times): upgrade rasterio (pip install -U "
                          "rasterio; GDAL 3.8 or later)")
    values = np.nan_to_num(np.asarray(counts, dtype="float64"), nan=0.0)
    stack = values[None] if values.ndim == 2 else values
    out = np.zeros((stack.shape[0], *shape), dtype="float64")
    memory = stack.nbytes + out.nbytes
    reproject(stack, out, src_transform=src_transform, src_crs=src_crs, dst_transform=dst_transform,
              dst_crs=dst_crs, resampling=Resampling.sum, src_nodata=None, dst_nodata=None,
              warp_mem_limit=int(2 * memory / 2**20) + 64)  # MB: one chunk
    return out[0] if values.ndim == 2 else out
