"""Joining tiles into one layer on the run's grid, exactly: every pixel is copied, none resampled.

Tiles are cut from the run's own pixel grid, so most pixels of the mosaic are the same pixels of one
tile. A run across the antimeridian is the one exception: its grid continues east past 180 degrees,
where the sinusoidal plane has no pixels, and the pixels there come from the tiles at the plane's
western edge. Sinusoidal rows are straight lines of constant latitude with the same pixel size on both
sides, so each such row is its western twin shifted by the length of the parallel (2 pi R cos lat):
a pure shift, one source pixel per mosaic pixel, and the join has no seam, gap or double count.

The mosaic is a lazy Dask array; each block reads only the tile windows it needs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tasks.errors import ConfigError
from tasks.geo.grid import grid_crs

__all__ = ["source_x", "mosaic", "wraps"]


def _sphere_radius(grid: GeoBox) -> float | None:
    """The sphere radius of a sinusoidal grid centred on Greenwich, else None (no wrapping possible)."""
    if grid.crs is None:
        return None
    crs: Any = grid.crs._crs if hasattr(grid.crs, "_crs") else grid.crs  # odc-geo's CRS wraps pyproj's
    op = crs.coordinate_operation
    if op is None or op.method_name.lower() != "sinusoidal":
        return None
    lon0 = next((p.value for p in op.params if "longitude" in p.name.lower()), 0.0)
    ell = crs.ellipsoid
    if lon0 != 0.0 or ell.inverse_flattening not in (0.0, math.inf):
        return None
    return float(ell.semi_major_metre)


def source_x(x: np.ndarray, y: np.ndarray, radius: float | None) -> np.ndarray:
    """Where each pixel centre (x, y) lies on the sinusoidal plane: x itself, or shifted back across 180 degrees.

    ``x`` and ``y`` broadcast (columns and rows). A point east of the plane's edge (x > pi R cos lat) is
    the point 2 pi R cos lat further west; one west of it, further east.
    """
    x, y = np.broadcast_arrays(np.asarray(x, "float64"), np.asarray(y, "float64"))
    if radius is None:
        return x
    half = math.pi * radius * np.cos(y / radius)
    return np.where(x > half, x - 2 * half, np.where(x < -half, x + 2 * half, x))


def wraps(grid: GeoBox) -> bool:
    """True when ``grid`` continues east past the sinusoidal plane's edge (a run across the antimeridian).

    Only the eastern edge counts: a run across 180 degrees continues east (``tasks.io.sources.region.unwrap``),
    while a grid past the western edge is a tile or an area at the plane's western rim (h10v02),
    whose off-map corners are just off the map.
    """
    radius = _sphere_radius(grid)
    if radius is None:
        return False
    left, bottom, right, top = grid.boundingbox
    edge = math.pi * radius * math.cos(max(abs(bottom), abs(top)) / radius)  # the nearest edge: at the poleward row
    return right > edge


def _read_block(tiles: list[tuple[tuple[float, float, float, float], str]], x: np.ndarray, y: np.ndarray,
                res: float, radius: float | None, dtype: np.dtype, nodata: float, band: int = 1,
                fast: bool = True) -> np.ndarray:
    out = np.full((y.size, x.size), nodata, dtype=dtype)
    if fast and (radius is None or _unshifted(x, y, radius)):  # one windowed read per tile, no per-pixel lookup
        for (left, bottom, right, top), path in tiles:
            _paste(out, x, y, (left, bottom, right, top), path, res, band)
        return out
    xs = source_x(x[None, :], y[:, None], radius)
    ys = np.broadcast_to(y[:, None], xs.shape)
    for (left, bottom, right, top), path in tiles:
        inside = (xs > left) & (xs < right) & (ys > bottom) & (ys < top)
        if not inside.any():
            continue
        cols = np.floor((xs[inside] - left) / res).astype("int64")
        rows = np.floor((top - ys[inside]) / res).astype("int64")
        c0, r0 = int(cols.min()), int(rows.min())
        with rasterio.open(path) as src:
            window = src.read(band, window=Window(c0, r0, int(cols.max()) - c0 + 1, int(rows.max()) - r0 + 1))
        out[inside] = window[rows - r0, cols - c0]
    return out


def _unshifted(x: np.ndarray, y: np.ndarray, radius: float) -> bool:
    """True when no pixel centre of the block lies past the sinusoidal plane's edge (nothing to shift)."""
    half = math.pi * radius * np.cos(np.asarray(y, "float64") / radius)
    return bool(np.all((x.max() <= half) & (x.min() >= -half)))


def _paste(out: np.ndarray, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float], path: str,
           res: float, band: int) -> None:
    """Copy the tile's pixels under the block (pixel centres ``x``, ``y``, none shifted) into ``out``: one
    windowed read. The pixels are those ``_read_block``'s general path picks (centre strictly inside the tile,
    column ``floor((x - left) / res)``), found with the same comparisons on the block's rows and columns."""
    left, bottom, right, top = bounds
    in_x = (x > left) & (x < right)
    in_y = (y > bottom) & (y < top)
    if not in_x.any() or not in_y.any():
        return
    jx, iy = np.flatnonzero(in_x), np.flatnonzero(in_y)
    cols = np.floor((x[jx] - left) / res).astype("int64")
    rows = np.floor((top - y[iy]) / res).astype("int64")
    c0, r0 = int(cols.min()), int(rows.min())
    with rasterio.open(path) as src:
        window = src.read(band, window=Window(c0, r0, int(cols.max()) - c0 + 1, int(rows.max()) - r0 + 1))
    out[np.ix_(iy, jx)] = window[np.ix_(rows - r0, cols - c0)]


def mosaic(tiles: dict[str, str | Path], grid: GeoBox, *, chunk: int, wrap: bool = True, band: int = 1) -> xr.DataArray:
    """The tile GeoTIFFs (name -> path, written on the same pixel grid) as one lazy layer on ``grid``.

    Pixels no tile covers are nodata. dtype and nodata come from the tiles, which must agree.
    ``wrap=False`` when the tiles are windows of ``grid`` itself (period tiles), whose pixels past 180
    degrees are already where the grid has them.
    """
    if not tiles:
        raise ConfigError("no tiles to join: the run computed no tile")
    specs = []
    kinds = set()
    for name, path in sorted(tiles.items()):
        with rasterio.open(path) as src:
            b = src.bounds
            specs.append(((b.left, b.bottom, b.right, b.top), str(path)))
            kinds.add((src.dtypes[0], None if src.nodata is None else repr(src.nodata)))  # nan == nan here
            res = src.res[0]
    if len(kinds) != 1:
        raise ConfigError(f"tiles disagree on dtype/nodata {sorted(map(str, kinds))}: they must come from one run")
    dtype, tagged = kinds.pop()
    nodata = float(tagged) if tagged is not None else 0
    radius = _sphere_radius(grid) if wrap else None
    affine = grid.affine
    height, width = grid.shape
    xs = affine.c + (np.arange(width) + 0.5) * affine.a
    ys = affine.f + (np.arange(height) + 0.5) * affine.e

    def block(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None  # Dask passes it to a function that asks for it
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return _read_block(specs, xs[c0:c1], ys[r0:r1], res, radius, np.dtype(dtype), nodata, band)

    arr = da.map_blocks(block, dtype=dtype, chunks=da.core.normalize_chunks((chunk, chunk), (height, width)),
                        meta=np.array((), dtype=dtype))
    out = xr.DataArray(arr, dims=("y", "x"), coords={"y": ys, "x": xs})
    return out.rio.write_crs(grid_crs(grid)).rio.write_transform(affine)
