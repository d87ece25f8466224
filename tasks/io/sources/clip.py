"""The run's area on its grid: a region is its polygons, not the rectangle around them.

A region's grid is the source's pixel grid over the region's bounding box, and its tiles are whole
lattice cells that touch its land; most of North-East Asia's box (70 % of 1.19 G pixels) is sea,
Kazakhstan or Alaska. ``clip`` sets every pixel whose centre lies outside the region's polygons to
nodata, so no layer, summary or table counts land beyond the region, and the performance
comparison area is the region itself.

It is also what keeps a run lean: a Dask block that no polygon touches becomes a constant block
with no inputs, so the scene reads and the kernels behind it drop out of the graph; a block inside
the region is passed through untouched; only blocks on the region's edge are masked, each by
rasterising the part of the polygons that crosses it.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import shapely
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from odc.geo.geobox import GeoBox

from tasks.errors import ConfigError
from tasks.geo.grid import (
    crosses_antimeridian,
    grid_crs,
    hemispheres,
    over_crs,
    parse_crs,
    project,
    unwrap,
    valid_polygons,
)
from tasks.geo.mosaic import wraps
from tasks.io.sources.integrity import file_fingerprint
from tasks.io.sources.region import resolve_region

if TYPE_CHECKING:
    from tasks.config import RunConfig

__all__ = ["RunArea", "region_area", "area_fingerprint", "windows_outside", "footprint_on", "project_area", "clip", "clip_array", "inside", "area_weights", "OUTSIDE", "EDGE", "INSIDE"]

OUTSIDE, EDGE, INSIDE = 0, 1, 2
"""How a block lies against the region: no pixel centre can be inside, some may be, all are."""


@dataclass(frozen=True, eq=False)
class RunArea:
    """The region's polygons in the grid's CRS (``+over`` coordinates for a grid past 180 degrees) and the grid."""

    footprint: shapely.Geometry
    geobox: GeoBox
    label: str
    _covers: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)
    _edges: dict[tuple, tuple[shapely.Geometry, Any]] = field(default_factory=dict, repr=False)

    def cover(self, chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
        """OUTSIDE, EDGE or INSIDE for every block of a (y, x) chunking of the grid."""
        if chunks not in self._covers:
            a = self.geobox.affine
            rows, cols = np.cumsum((0, *chunks[0])), np.cumsum((0, *chunks[1]))
            # the box through each block's outermost pixel centres: the centres are what is inside or not
            x0, x1 = a.c + (cols[:-1] + 0.5) * a.a, a.c + (cols[1:] - 0.5) * a.a
            y0, y1 = a.f + (rows[1:] - 0.5) * a.e, a.f + (rows[:-1] + 0.5) * a.e
            boxes = shapely.box(x0[None, :], y0[:, None], x1[None, :], y1[:, None])
            footprint = _prepared_copy(self.footprint)
            state = np.where(shapely.intersects(footprint, boxes), EDGE, OUTSIDE).astype("int8")
            state[shapely.contains_properly(footprint, boxes)] = INSIDE
            self._covers[chunks] = state
        return self._covers[chunks]

    def window(self, geobox: GeoBox) -> RunArea:
        """The same polygons on ``geobox``, a window of this grid (one tile): its pixels are in or out as here."""
        return RunArea(footprint=self.footprint, geobox=geobox, label=self.label)

    def edge(self, chunks: tuple[tuple[int, ...], tuple[int, ...]], i: int, j: int) -> tuple[shapely.Geometry, Any]:
        """The polygons' part within block (i, j) and the block's transform: what masking an EDGE block needs.

        Kept per chunking, so the assets of one item (and the layers of one task) cut the polygons once.
        """
        if (chunks, i, j) not in self._edges:
            row, col = sum(chunks[0][:i]), sum(chunks[1][:j])
            window = self.geobox[row:row + chunks[0][i], col:col + chunks[1][j]]
            self._edges[(chunks, i, j)] = (shapely.intersection(self.footprint, shapely.box(*window.boundingbox)),
                                           window.affine)
        return self._edges[(chunks, i, j)]


def windows_outside(area: RunArea | None, windows: list[tuple[int, int, int, int]], rows: int, cols: int) -> list[bool]:
    """For each window of a ``tile_windows`` cut of ``area``'s grid (``rows`` x ``cols`` pixels each), whether it lies
    wholly outside the region: such a window is never read. None (no region): every window is read."""
    if area is None:
        return [False] * len(windows)
    height, width = area.geobox.shape
    cover = area.cover((tuple(min(rows, height - r) for r in range(0, height, rows)),
                        tuple(min(cols, width - c) for c in range(0, width, cols))))
    return [bool(cover[r0 // rows, c0 // cols] == OUTSIDE) for r0, _, c0, _ in windows]


def project_area(geometry: shapely.Geometry, crs: str, *, over: bool) -> shapely.Geometry:
    """Lon/lat polygons (within [-180, 180]) in ``crs``; with ``over``, continued east past 180 degrees as the
    grid of a run across the antimeridian is, else each side where the plane has it (tiles at both edges)."""
    native = parse_crs(crs)
    if over:
        projected = project(unwrap(geometry), over_crs(native))
    elif crosses_antimeridian(geometry):
        projected = shapely.union_all([project(side, native) for side in hemispheres(geometry)])
    else:
        projected = project(geometry, native)
    return valid_polygons(projected)


def area_fingerprint(cfg: RunConfig) -> str | None:
    """The run's region (``cfg.region``) as cache-key data: a region code as is, a polygon file by its content."""
    area = cfg.region
    return file_fingerprint(area) if area is not None and Path(area).is_file() else area


@functools.lru_cache(maxsize=16)
def footprint_on(spec: str, content: Any, crs: str, over: bool) -> tuple[shapely.Geometry, str]:
    """``spec``'s polygons on ``crs`` (``+over`` coordinates when ``over``) and their label, kept per ``content``
    (a polygon file's hash, ``area_fingerprint``), so an edited file is read again by a long-lived process."""
    region = resolve_region(spec)
    return project_area(region.geometry, crs, over=over), region.label


def region_area(region: str | None, key: Any, geobox: GeoBox) -> RunArea | None:
    """The region ``region`` (a ``--region`` spec; ``key`` its content, ``area_fingerprint``) on ``geobox`` (the run's
    grid or one tile's), or None when there is none: the sample run without ``--region`` and a run given only a
    ``bbox`` cover their whole grid. The run context resolves its region once through this (``area_on``)."""
    if region is None:
        return None
    footprint, label = footprint_on(region, key, grid_crs(geobox), wraps(geobox))
    return RunArea(footprint=footprint, geobox=geobox, label=label)


def _prepared_copy(geometry: shapely.Geometry) -> shapely.Geometry:
    """A prepared copy of ``geometry`` that no other thread holds: a GEOS prepared geometry is not thread-safe
    (libgeos/geos#825), and the region's polygons and their parts are shared by every task thread of a run, so
    preparing and querying the shared objects concurrently crashed runs (a segfault in libgeos)."""
    copy = shapely.from_wkb(shapely.to_wkb(geometry))
    shapely.prepare(copy)
    return copy


class _EdgeMasks:
    """The pixel centres inside the region of each edge block seen lately, bit-packed, up to ``budget`` bytes.

    Every layer of a run on the same grid and chunking crosses the same edge blocks (each year of a
    cube, each asset of an item, each stage), and testing every pixel centre against the polygons is
    the costly part of a clip: a block's answer is kept and reused, least recently used first out.
    """

    def __init__(self, budget: int) -> None:
        self.budget, self.used = budget, 0
        self.masks: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def within(self, part: shapely.Geometry, transform: Any, h: int, w: int) -> np.ndarray:
        """True where the centre of a pixel of the (h, w) block at ``transform`` lies in ``part`` (or on its edge)."""
        key = (part, tuple(transform)[:6], h, w)
        with self.lock:
            packed = self.masks.get(key)
            if packed is not None:
                self.masks.move_to_end(key)
                return np.unpackbits(packed, count=h * w).view(bool).reshape(h, w)
        xs = transform.c + (np.arange(w) + 0.5) * transform.a
        ys = transform.f + (np.arange(h) + 0.5) * transform.e
        within = shapely.intersects_xy(_prepared_copy(part), xs[None, :], ys[:, None])  # each pixel centre; one on an edge is in
        packed = np.packbits(within)
        with self.lock:
            if key not in self.masks:
                self.masks[key] = packed
                self.used += packed.nbytes
            while self.used > self.budget and self.masks:
                self.used -= self.masks.popitem(last=False)[1].nbytes
        return within


_EDGE_MASKS = _EdgeMasks(budget=64 * 2**20)  # 64 MB: the edge blocks of North-East Asia's grid at 250 m


def _mask_block(block: np.ndarray, part: shapely.Geometry, transform: Any, fill: Any) -> np.ndarray:
    h, w = block.shape[-2:]
    return np.where(_EDGE_MASKS.within(part, transform, h, w), block, np.asarray(fill, dtype=block.dtype))


def clip(layer: xr.DataArray, area: RunArea | None, *, fill: Any = None) -> xr.DataArray:
    """``layer`` (dims ending in y, x on ``area``'s grid) with every pixel outside the region set to ``fill``.

    ``fill`` defaults to the layer's ``_FillValue``. Blocks outside the region are constants that
    depend on nothing, so computing the result never computes those blocks of ``layer``.
    """
    if area is None:
        return layer
    if tuple(layer.shape[-2:]) != tuple(area.geobox.shape):
        raise ConfigError(f"layer of shape {layer.shape[-2:]} is not on the run's grid {tuple(area.geobox.shape)}: "
                          "load it onto the analysis grid first")
    if fill is None:
        fill = layer.attrs.get("_FillValue")
    if fill is None:
        raise ConfigError(f"layer {layer.name or ''} has no _FillValue: say what pixels outside the region become")
    data: Any = layer.data if isinstance(layer.data, da.Array) else da.from_array(np.asarray(layer.data))
    chunks = data.chunks
    cover = area.cover((chunks[-2], chunks[-1]))
    if (cover == INSIDE).all():
        return layer
    fill = np.asarray(fill, dtype=data.dtype)
    name = f"clip-{tokenize(data, area.footprint.wkb, fill.item())}"
    dsk: dict[Any, Any] = {}
    for index in product(*(range(len(c)) for c in chunks)):
        i, j = index[-2:]
        shape = tuple(c[k] for c, k in zip(chunks, index))
        state = cover[i, j]
        if state == OUTSIDE:
            dsk[(name, *index)] = (np.full, shape, fill, data.dtype)
        elif state == INSIDE:
            dsk[(name, *index)] = (data.name, *index)
        else:
            part, transform = area.edge((chunks[-2], chunks[-1]), i, j)
            dsk[(name, *index)] = (_mask_block, (data.name, *index), part, transform, fill)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[data])
    out = da.Array(graph, name, chunks, dtype=data.dtype, meta=np.array((), dtype=data.dtype))
    return layer.copy(data=out)


def clip_array(values: np.ndarray, area: RunArea | None, *, fill: Any, chunk: int) -> np.ndarray:
    """``clip`` for an array in memory (dims ending in y, x on ``area``'s grid): the same pixels set to ``fill``.

    For a kernel's result that is already computed, so it is masked here instead of going back
    through a Dask graph; blocks of ``chunk`` pixels are decided as ``clip`` decides them (whole
    blocks outside or inside the region at once, pixel centres only on its edge).
    """
    if area is None:
        return values
    if tuple(values.shape[-2:]) != tuple(area.geobox.shape):
        raise ConfigError(f"array of shape {values.shape[-2:]} is not on the run's grid {tuple(area.geobox.shape)}")
    chunks = tuple(da.core.normalize_chunks((chunk, chunk), tuple(values.shape[-2:]))[k] for k in (0, 1))
    cover = area.cover(chunks)  # type: ignore[arg-type]
    if (cover == INSIDE).all():
        return values
    out = values.copy()
    fill = np.asarray(fill, dtype=values.dtype)
    rows, cols = np.cumsum((0, *chunks[0])), np.cumsum((0, *chunks[1]))
    for i, j in zip(*np.nonzero(cover != INSIDE)):
        block = (..., slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
        if cover[i, j] == OUTSIDE:
            out[block] = fill
        else:
            part, transform = area.edge(chunks, i, j)  # type: ignore[arg-type]
            out[block] = _mask_block(out[block], part, transform, fill)
    return out


def inside(area: RunArea, chunks: int) -> xr.DataArray:
    """True for the pixels of ``area``'s grid whose centre lies in the region (lazy, ``chunks`` pixels a block)."""
    ones = xr.DataArray(da.ones(tuple(area.geobox.shape), dtype=bool, chunks=chunks), dims=("y", "x"))
    return clip(ones, area, fill=False)


def area_weights(row_areas_km2: np.ndarray, shape: tuple[int, int], chunks: tuple, area: RunArea | None) -> da.Array:
    """Each pixel's km2 (rows' areas broadcast over columns), 0 outside the region: what tables sum."""
    weights = da.from_array(np.broadcast_to(row_areas_km2, shape), chunks=chunks)
    return clip(xr.DataArray(weights, dims=("y", "x")), area, fill=0.0).data
