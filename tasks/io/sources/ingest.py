"""Ingest kernel: a tile-year's annual NDVI mean and maximum in one streaming pass over its composites.

Where the scenes lie on the analysis grid itself (same CRS and pixel size, whole-pixel offsets, as
MOD13Q1 does on the MODIS sinusoidal grid, by the items' STAC projection fields), the tile is cut into
windows of a bounded size (``tasks.geo.tiles.tile_windows``), one task per window;
each task opens every composite of the year once (NDVI and QA assets), reads its window of them
(block-aligned rows, only the part a scene covers), and folds the valid values into a running sum,
count and maximum. A tile-year is a few tens of tasks instead of a graph of thousands, and no file is
opened once per chunk. Scenes on another grid go through odc-stac's general loader (``load_cube``).

The result is bit for bit what ``annual_ndvi`` and ``annual_ndvi_max`` compute from the same scenes:
the sum of integer raw values is exact (int32 for 16-bit assets, else float64) whatever the order, and the conversion to stored
int16 is the same function (``finish``: ``annual_ndvi.stored_values``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import pystac
import rasterio
import rasterio.crs
import rasterio.errors
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tasks.config import AssetSpec, QaRule, Source
from tasks.constants import NODATA
from tasks.geo.grid import grid_crs
from tasks.io.sources.integrity import check_plausible, decoding

__all__ = ["SceneGrid", "SceneOffGrid", "item_native_bounds", "touches_on_grid", "aligned_scenes", "fold_window", "fold_tile_year"]

_PIXEL_TOLERANCE = 1e-6
"""How far from a whole pixel a scene's offset may be (in pixels) to count as on the grid."""


@dataclass(frozen=True)
class SceneGrid:
    """Where one composite's assets lie on the analysis grid: hrefs and the scene's pixel offset from the tile."""

    item_id: str
    hrefs: dict[str, str]
    row_off: int
    col_off: int
    height: int
    width: int
    origin: tuple[float, float]
    """The scene's upper-left corner (x, y) in the grid's CRS."""
    resolution: tuple[float, float]


class SceneOffGrid(RuntimeError):
    """A scene's file does not lie where its STAC item says: the tile goes through the general loader."""


@functools.lru_cache(maxsize=64)
def _crs(text: str) -> rasterio.crs.CRS:
    return rasterio.crs.CRS.from_user_input(text)


def _item_grid(item: pystac.Item, asset: pystac.Asset) -> tuple[str, list[float], list[int]] | None:
    """The (CRS, transform, shape) the STAC projection extension gives an asset (its own, else the item's)."""
    def get(key: str) -> Any:
        return asset.extra_fields.get(key, item.properties.get(key))

    crs = get("proj:wkt2") or get("proj:code") or (f"EPSG:{get('proj:epsg')}" if get("proj:epsg") else None)
    transform, shape = get("proj:transform"), get("proj:shape")
    if crs is None or transform is None or shape is None or len(transform) < 6 or len(shape) != 2:
        return None
    return crs, [float(v) for v in transform[:6]], [int(v) for v in shape]


@functools.lru_cache(maxsize=64)
def _same_crs(text: str, crs: str) -> bool:
    try:
        return bool(_crs(text) == _crs(crs))
    except rasterio.errors.CRSError:
        return False


def item_native_bounds(item: dict[str, Any], crs: str) -> tuple[float, float, float, float] | None:
    """The (left, bottom, right, top) an item's scenes cover in ``crs`` by its STAC projection fields (the item's, else
    its first asset's), or None when it gives none, or a rotated grid, or another CRS."""
    assets = list(item.get("assets", {}).values())

    def get(key: str) -> Any:
        return item.get("properties", {}).get(key, next((a[key] for a in assets if key in a), None))

    epsg = get("proj:epsg")
    text = get("proj:wkt2") or get("proj:code") or (f"EPSG:{epsg}" if epsg else None)
    transform, shape = get("proj:transform"), get("proj:shape")
    if not text or transform is None or shape is None or len(transform) < 6 or len(shape) != 2:
        return None
    a, b, c, d, e, f = (float(v) for v in transform[:6])
    if b != 0 or d != 0 or not _same_crs(text, crs):
        return None
    xs, ys = (c, c + a * int(shape[1])), (f, f + e * int(shape[0]))
    return min(xs), min(ys), max(xs), max(ys)


_TOUCH = 1e-3
"""Overlap (in the CRS's units) below which a scene only shares an edge with a tile and gives it no pixel."""


def touches_on_grid(item: dict[str, Any], bounds: tuple[float, float, float, float], crs: str) -> bool | None:
    """Whether an item's scenes overlap ``bounds`` (left, bottom, right, top in ``crs``) by their footprint on the
    grid (``item_native_bounds``); None when the item gives no footprint in ``crs``."""
    native = item_native_bounds(item, crs)
    if native is None:
        return None
    left, bottom, right, top = bounds
    return min(right, native[2]) - max(left, native[0]) > _TOUCH and min(top, native[3]) - max(bottom, native[1]) > _TOUCH


def aligned_scenes(items: list[pystac.Item], source: Source, geobox: GeoBox) -> list[SceneGrid] | None:
    """Each item's position on ``geobox`` when every asset lies on that grid (same CRS, pixel size, whole-pixel
    offsets) by its STAC projection metadata, else None: such scenes need the general loader.

    Nothing is opened here: the windows check each file's real geotransform as they read them
    (``SceneOffGrid`` when a file disagrees with its item).
    """
    out = []
    res_x, res_y = geobox.affine.a, geobox.affine.e
    crs = _crs(grid_crs(geobox))
    for item in items:
        hrefs, place = {}, None
        for name, spec in source.assets.items():
            asset = item.assets.get(spec.key)
            grid = _item_grid(item, asset) if asset is not None else None
            if asset is None or grid is None:
                return None  # the general loader names a missing asset, and needs no metadata
            text, (a, b, c, d, e, f), (height, width) = grid
            if (b != 0 or d != 0 or abs(a - res_x) > _PIXEL_TOLERANCE * abs(res_x)
                    or abs(e - res_y) > _PIXEL_TOLERANCE * abs(res_y) or _crs(text) != crs):
                return None
            col = (c - geobox.affine.c) / res_x
            row = (f - geobox.affine.f) / res_y
            if abs(col - round(col)) > _PIXEL_TOLERANCE or abs(row - round(row)) > _PIXEL_TOLERANCE:
                return None
            here = (round(row), round(col), height, width)
            if place is not None and here != place:
                return None  # the assets of one scene must share a grid
            place = here
            hrefs[name] = asset.href
        assert place is not None
        out.append(SceneGrid(item.id, hrefs, *place, origin=(geobox.affine.c + place[1] * res_x,
                                                               geobox.affine.f + place[0] * res_y),
                             resolution=(res_x, res_y)))
    return out


def _check_on_grid(src: Any, scene: SceneGrid) -> None:
    t = src.transform
    ok = (src.count == 1 and (src.height, src.width) == (scene.height, scene.width)
          and abs(t.c - scene.origin[0]) <= _PIXEL_TOLERANCE * abs(scene.resolution[0])
          and abs(t.f - scene.origin[1]) <= _PIXEL_TOLERANCE * abs(scene.resolution[1])
          and abs(t.a - scene.resolution[0]) <= _PIXEL_TOLERANCE * abs(scene.resolution[0])
          and abs(t.e - scene.resolution[1]) <= _PIXEL_TOLERANCE * abs(scene.resolution[1]))
    if not ok:
        raise SceneOffGrid(f"scene {scene.item_id}: {src.name} is not where its STAC item's proj fields put it")


def fold_window(scenes: list[SceneGrid], rows: tuple[int, int], cols: tuple[int, int], *, ndvi: AssetSpec,
                qa_name: str, qa_rule: QaRule, finish: Callable[[np.ndarray, np.ndarray], np.ndarray],
                gdal_env: dict[str, str], qa: AssetSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Annual mean and maximum of one window of the tile, rows ``rows`` and columns ``cols`` (end excluded), as
    ``finish(raw values, valid count)`` makes them (the stored int16 encoding).

    Each scene's assets are opened once; only the part of the window a scene covers is read, and a warning GDAL
    gives while decoding it is an error (``decoding``). What was read is checked against what an intact file of
    ``ndvi`` and ``qa`` can hold (``check_plausible``) before it is used.
    """
    (r0, r1), (c0, c1) = rows, cols
    shape = (r1 - r0, c1 - c0)
    raw = np.dtype(ndvi.dtype)
    small = raw.kind in "iu" and raw.itemsize <= 2  # int16 MOD13Q1: int32 sums are exact (46 x 32767 fits)
    acc = np.dtype(np.int32) if small else np.dtype(np.float64)  # else float64, exact for integers below 2**53
    total = np.zeros(shape, dtype=acc)
    count = np.zeros(shape, dtype=np.int16)
    top = np.full(shape, np.iinfo(np.int32).min if small else -np.inf, dtype=acc)
    with rasterio.Env(**gdal_env):
        for scene in scenes:
            # the window's rows and columns, in the scene's pixels, clipped to the scene
            sr0, sr1 = max(r0 - scene.row_off, 0), min(r1 - scene.row_off, scene.height)
            sc0, sc1 = max(c0 - scene.col_off, 0), min(c1 - scene.col_off, scene.width)
            if sr0 >= sr1 or sc0 >= sc1:
                continue
            window = Window(sc0, sr0, sc1 - sc0, sr1 - sr0)
            with rasterio.open(scene.hrefs["ndvi"]) as src:
                _check_on_grid(src, scene)
                with decoding(scene.item_id, scene.hrefs["ndvi"], ndvi.key):  # GDAL's warnings are errors
                    values = src.read(1, window=window)
            with rasterio.open(scene.hrefs[qa_name]) as src:
                _check_on_grid(src, scene)
                with decoding(scene.item_id, scene.hrefs[qa_name], qa_name):
                    codes = src.read(1, window=window)
            if qa is not None and qa.codes is not None and not _within(codes, qa.codes):
                check_plausible(codes, qa, scene=scene.item_id, href=scene.hrefs[qa_name])  # says what it found
            ok = _valid_qa(codes, qa_rule.valid_values)
            fill = values == ndvi.nodata if ndvi.nodata is not None else None
            if fill is not None and not _outside(ndvi.nodata, ndvi.valid_range):  # else the range test drops it
                ok &= ~fill
            if ndvi.valid_range is not None:
                inside = (values >= ndvi.valid_range[0]) & (values <= ndvi.valid_range[1])
                if ndvi.out_of_range == "corrupt" and np.count_nonzero(
                        inside if fill is None else inside | fill) != values.size:
                    check_plausible(values, ndvi, scene=scene.item_id, href=scene.hrefs["ndvi"])  # says what it found
                ok &= inside
            out = (slice(sr0 + scene.row_off - r0, sr1 + scene.row_off - r0),
                   slice(sc0 + scene.col_off - c0, sc1 + scene.col_off - c0))
            _fold(total[out], count[out], top[out], values, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        some = count > 0
        mean = finish(np.where(some, total, 0) / np.where(some, count, np.nan), count)
        maximum = finish(np.where(some, top, np.nan), count)
    return mean, maximum


def _outside(value: float | None, valid_range: tuple[float, float] | list[float] | None) -> bool:
    """True when ``value`` lies outside ``valid_range`` (so the range test already masks it)."""
    return value is not None and valid_range is not None and not valid_range[0] <= value <= valid_range[1]


def _fold(total: np.ndarray, count: np.ndarray, top: np.ndarray, values: np.ndarray, ok: np.ndarray) -> None:
    """Add one scene's valid ``values`` (where ``ok``) to the running sum, count and maximum, in place.

    For 8- and 16-bit integers the invalid pixels are first set to 0 (sum) and to the type's least value (maximum),
    which leaves both results unchanged, so the folds run on whole arrays, faster than ufuncs with ``where=``
    (which the general case, floats and wider integers, keeps).
    """
    if values.dtype.kind in "iu" and values.dtype.itemsize <= 2:  # int32 or float64 sums of them are exact
        kept = values * ok  # the value where valid, else 0: exact (a product by 0 or 1)
        np.add(total, kept, out=total, casting="unsafe")
        np.add(count, ok, out=count, casting="unsafe")
        least = np.iinfo(values.dtype).min  # no valid value is below it, so the maximum of the valid ones is kept
        if least != 0:
            kept += np.array(least, dtype=values.dtype) * ~ok  # exact: 0 + least where invalid, v + 0 where valid
        np.maximum(top, kept, out=top, casting="unsafe")
        return
    np.add(total, values, out=total, where=ok, casting="unsafe")
    np.add(count, ok, out=count, casting="unsafe")
    np.maximum(top, values, out=top, where=ok, casting="unsafe")


def _run(values: Any) -> tuple[int, int] | None:
    """(least, greatest) when the integers ``values`` are a run with no gap (MOD13Q1's QA codes -1..3, its valid
    0, 1), else None: such a set is tested by comparisons instead of a lookup."""
    distinct = {int(v) for v in values}
    lo, hi = min(distinct), max(distinct)
    return (lo, hi) if hi - lo + 1 == len(distinct) else None


def _within(codes: np.ndarray, declared: list[int]) -> bool:
    """True when every value of ``codes`` is one of ``declared``: two reductions when the declared codes are a run of
    integers (MOD13Q1's -1..3), the full check otherwise. The kernel's fast path of ``implausible``."""
    if (run := _run(declared)) is not None:
        return codes.size == 0 or (int(codes.min()) >= run[0] and int(codes.max()) <= run[1])
    return bool(np.isin(codes, np.asarray(declared, dtype=codes.dtype)).all())


@functools.lru_cache(maxsize=16)
def _valid_lookup(dtype: str, valid: tuple[int, ...]) -> np.ndarray | None:
    """A table of the valid QA values over every value of a one-byte ``dtype`` (indexed by its bytes), else None."""
    if np.dtype(dtype).itemsize != 1:
        return None
    codes = np.arange(256, dtype=np.uint8).view(dtype)
    return np.isin(codes, np.asarray(valid))


def _valid_qa(qa: np.ndarray, valid: Any) -> np.ndarray:
    """True where the QA value is one of ``valid``: a subtraction and a comparison when ``valid`` is a run of integers
    (MOD13Q1's 0 and 1), a table lookup for other one-byte QA, ``np.isin`` otherwise."""
    codes = sorted({int(v) for v in valid})
    if qa.dtype.kind in "iu" and (run := _run(codes)) is not None:
        info = np.iinfo(qa.dtype)
        lo, hi = max(run[0], info.min), min(run[1], info.max)
        if lo > hi:
            return np.zeros(qa.shape, dtype=bool)
        unsigned = np.dtype(f"u{qa.dtype.itemsize}")
        # modulo 2**bits, lo..hi become 0..hi-lo and every other value lies above
        shifted = qa.view(unsigned) - np.array(lo, dtype=qa.dtype).view(unsigned)
        return shifted <= hi - lo
    lut = _valid_lookup(qa.dtype.str, tuple(codes))
    if lut is not None:
        return np.take(lut, qa.view(np.uint8))  # faster than lut[...] for the same values
    return np.isin(qa, np.asarray(codes))


def fold_tile_year(scenes: list[SceneGrid], geobox: GeoBox, *, ndvi: AssetSpec, qa_name: str, qa_rule: QaRule,
                   finish: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   windows: list[tuple[int, int, int, int]], skip: list[bool] | None = None,
                   gdal_env: dict[str, str] | None = None, qa: AssetSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The tile-year's annual mean and maximum (int16 arrays on ``geobox``), one Dask task per window
    (first row, end row, first column, end column) of ``windows``, which cut the tile (``tasks.geo.tiles.tile_windows``).

    ``skip[i]`` leaves window i unread (nodata): it lies wholly outside the run's region. The tasks go to
    whatever Dask scheduler is current (the run's cluster, or threads).
    """
    height, width = geobox.shape
    skip = skip or [False] * len(windows)
    kw: dict[str, Any] = dict(ndvi=ndvi, qa_name=qa_name, qa_rule=qa_rule, finish=finish, gdal_env=gdal_env or {},
                              qa=qa)
    todo = [w for w, outside in zip(windows, skip) if not outside]
    parts = dask.compute(*[dask.delayed(fold_window, pure=False)(scenes, (r0, r1), (c0, c1), **kw)
                           for r0, r1, c0, c1 in todo])
    mean = np.full((height, width), NODATA, dtype=np.int16)
    maximum = np.full((height, width), NODATA, dtype=np.int16)
    for (r0, r1, c0, c1), (m, x) in zip(todo, parts):
        mean[r0:r1, c0:c1] = m
        maximum[r0:r1, c0:c1] = x
    return mean, maximum
