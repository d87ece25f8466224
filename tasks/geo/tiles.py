"""Processing tiles: the run's area cut along a fixed lattice, by default the MODIS h/v tiles.

The heavy work (reading a year of 16-day scenes) runs as one Prefect task per tile and year, so a
continent is a few hundred coarse tasks, a failed tile loses nothing the other tiles did, and a
refresh recomputes only the (tile, year) pairs whose scenes changed. The lattice is aligned to the
source's grid origin, so with the default 4800-pixel edge every tile is exactly one MODIS tile
(``h25v04``) and its pixels are the scenes' own pixels; a smaller ``tile_size`` cuts the same grid
finer. Only lattice cells that touch the region's land are kept.

A region crossing the antimeridian (Chukotka) has tiles on both edges of the sinusoidal plane
(``h10v02`` as well as ``h24v02``): each is processed where its scenes are, and the mosaic joins
them (``tasks.geo.mosaic``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import shapely
from odc.geo.geobox import GeoBox
from pydantic import BaseModel, ConfigDict, Field

from tasks.constants import MODIS_TILE_PX
from tasks.errors import ConfigError
from tasks.geo.grid import Bounds, parse_crs, snapped_geobox, transformer
from tasks.model import Tile

__all__ = ["Tile", "GridTile", "grid_tiles", "MODIS_TILE_PX", "tile_name", "lattice_tiles", "check_tiles", "tile_geobox", "tile_lonlat_bbox",
           "TILE_STEP_CHUNKS", "tile_windows"]

TILE_STEP_CHUNKS: tuple[int, int] = (2, 5)
"""Rows and columns, in chunks (``--chunk``, 512 px), of the window a tile's work is done in at a time: its ingest
tasks, its productivity write steps (``tile_windows``). 1024 x 2560 px: a quarter MODIS tile (2400 px) is one window
wide, a whole tile two, so memory is bounded by the window's pixels, not by the tile's width."""


def tile_windows(height: int, width: int, rows: int, cols: int) -> list[tuple[int, int, int, int]]:
    """(first row, end row, first column, end column) of the windows of at most ``rows`` x ``cols`` pixels that cut a
    ``height`` x ``width`` tile, row by row; the last of a row or column may be smaller."""
    return [(r, min(r + rows, height), c, min(c + cols, width))
            for r in range(0, height, rows) for c in range(0, width, cols)]


def tile_name(col: int, row: int) -> str:
    """The lattice cell's name: ``h<column>v<row>``, as MODIS names its tiles."""
    return f"h{col:02d}v{row:02d}"


def _cell_range(lo: float, hi: float, origin: float, edge: float, sign: int) -> range:
    """Lattice indices whose cells overlap (lo, hi) along one axis (sign -1 for rows, counted downwards)."""
    eps = 1e-6
    if sign > 0:
        return range(math.floor((lo - origin) / edge + eps), math.ceil((hi - origin) / edge - eps))
    return range(math.floor((origin - hi) / edge + eps), math.ceil((origin - lo) / edge - eps))


def lattice_tiles(
    bounds: Bounds,
    *,
    resolution: float,
    origin: tuple[float, float],
    size_px: int = MODIS_TILE_PX,
    footprint: shapely.Geometry | None = None,
) -> list[Tile]:
    """The lattice cells overlapping ``bounds``, each cut to ``bounds``; only those touching ``footprint``.

    ``bounds`` must be aligned to the pixel grid (as ``snapped_geobox`` makes them); ``footprint``
    is the region in the same CRS (None keeps every cell). Tiles are ordered row by row.
    """
    if size_px < 16:
        raise ConfigError(f"tile_size {size_px} is too small: use at least 16 pixels (default {MODIS_TILE_PX})")
    left, bottom, right, top = bounds
    edge = size_px * resolution
    x0, y0 = origin
    prepared = None  # a copy: the caller's polygons stay unprepared for the task threads (libgeos/geos#825)
    if footprint is not None:
        prepared = shapely.from_wkb(shapely.to_wkb(footprint))
        shapely.prepare(prepared)
    tiles = []
    for row in _cell_range(bottom, top, y0, edge, -1):
        for col in _cell_range(left, right, x0, edge, +1):
            cell = (max(left, x0 + col * edge), max(bottom, y0 - (row + 1) * edge),
                    min(right, x0 + (col + 1) * edge), min(top, y0 - row * edge))
            if cell[2] - cell[0] < resolution / 2 or cell[3] - cell[1] < resolution / 2:
                continue
            if prepared is not None and not prepared.intersects(shapely.box(*cell)):
                continue
            tiles.append(Tile(name=tile_name(col, row), bounds=cell))
    return tiles


def check_tiles(tiles: Iterable[Tile], *, resolution: float) -> None:
    """Refuse a tile list that would compute a pixel twice or name two tiles alike.

    Custom tiles (``tiles:`` in a run file) come from people; overlapping ones would make the mosaic
    depend on task order, so the overlap is named with its size and the fix.
    """
    tiles = list(tiles)
    if not tiles:
        raise ConfigError("the tile list is empty: give at least one tile, or leave `tiles` out to use the MODIS tiles")
    seen: dict[str, Tile] = {}
    for t in tiles:
        if t.name in seen:
            raise ConfigError(f"tile name {t.name!r} is used twice: give every tile its own name")
        left, bottom, right, top = t.bounds
        if not (right > left and top > bottom):
            raise ConfigError(f"tile {t.name} has empty bounds {list(t.bounds)}: need left < right and bottom < top")
        seen[t.name] = t
    for i, a in enumerate(tiles):
        for b in tiles[i + 1:]:
            w = min(a.bounds[2], b.bounds[2]) - max(a.bounds[0], b.bounds[0])
            h = min(a.bounds[3], b.bounds[3]) - max(a.bounds[1], b.bounds[1])
            if w > resolution / 2 and h > resolution / 2:
                raise ConfigError(
                    f"tiles {a.name} and {b.name} overlap by {round(w / resolution)} x {round(h / resolution)} pixels: "
                    "custom tiles must not overlap; fix their bounds or leave `tiles` out to use the MODIS tiles")


def tile_geobox(tile: Tile, crs: str, resolution: float, origin: tuple[float, float]) -> GeoBox:
    """The pixel grid of one tile: the source's grid, cut to the tile."""
    return snapped_geobox(tile.bounds, crs, resolution, origin)


def tile_lonlat_bbox(tile: Tile, crs: str) -> tuple[float, float, float, float]:
    """The lon/lat box of a tile's pixels that are on the map; west > east if it spans the antimeridian.

    A tile at the sinusoidal plane's edge (h10v02) has corners past the edge, which are no place on
    Earth; they are left out rather than wrapped, so the box stays where the tile's data is.
    """
    left, bottom, right, top = tile.bounds
    xs, ys = np.meshgrid(np.linspace(left, right, 33), np.linspace(bottom, top, 33))
    c = parse_crs(crs)
    inv = transformer(c, "EPSG:4326")
    fwd = transformer("EPSG:4326", c)
    lon, lat = inv.transform(xs.ravel(), ys.ravel())
    bx, by = fwd.transform(lon, lat)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(bx - xs.ravel()) < 1.0) & (np.abs(by - ys.ravel()) < 1.0)
    if not ok.any():
        raise ConfigError(f"tile {tile.name} {list(tile.bounds)} lies off the map of its CRS: remove it")
    lon, lat = lon[ok], lat[ok]
    south, north = float(lat.min()), float(lat.max())
    if lon.max() - lon.min() > 180:  # on both sides of 180 degrees
        return float(lon[lon > 0].min()), south, float(lon[lon < 0].max()), north
    return float(lon.min()), south, float(lon.max()), north


class GridTile(BaseModel):
    """One processing tile as a window of the run's own grid: the unit of the period stage.

    The ingest reads scenes per lattice tile where the scenes are (a tile past the antimeridian's
    edge of the plane lies at its western rim); the period stage works on the joined annual layers,
    so its tiles are the same lattice cells as windows of the run's grid, which continues past 180
    degrees (columns beyond the plane's last one, ``h36`` and up, are cells east of 180 degrees).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", description="e.g. h25v04 (lattice column, row).")
    rows: tuple[int, int] = Field(description="First and past-last row of the window in the run's grid.")
    cols: tuple[int, int] = Field(description="First and past-last column of the window in the run's grid.")

    def geobox(self, grid: GeoBox) -> GeoBox:
        """The window's pixel grid: exactly ``grid``'s pixels."""
        return grid[self.rows[0]:self.rows[1], self.cols[0]:self.cols[1]]


def grid_tiles(grid: GeoBox, *, resolution: float, origin: tuple[float, float],
               size_px: int = MODIS_TILE_PX) -> list[GridTile]:
    """The lattice cells (aligned to ``origin``, ``size_px`` pixels on a side) over ``grid``, each cut to it.

    ``grid`` must be aligned to the lattice's pixels (as ``snapped_geobox`` makes it). Ordered row by row.
    """
    a = grid.affine
    first_col, first_row = round((a.c - origin[0]) / resolution), round((origin[1] - a.f) / resolution)
    height, width = grid.shape
    tiles = []
    for row in range(math.floor(first_row / size_px), math.ceil((first_row + height) / size_px)):
        r0, r1 = max(0, row * size_px - first_row), min(height, (row + 1) * size_px - first_row)
        for col in range(math.floor(first_col / size_px), math.ceil((first_col + width) / size_px)):
            c0, c1 = max(0, col * size_px - first_col), min(width, (col + 1) * size_px - first_col)
            if r1 > r0 and c1 > c0:
                tiles.append(GridTile(name=tile_name(col, row), rows=(r0, r1), cols=(c0, c1)))
    return tiles
