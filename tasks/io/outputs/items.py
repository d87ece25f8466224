"""Writing one published item's files: its layers as Cloud-Optimized GeoTIFFs, its quick-look map and its tables.

``write_item`` computes every asset of an item in one Dask pass into tiled scratch GeoTIFFs on the exact grid
(``write_layer``; block writes to one file serialised by ``write_lock``, different files in parallel),
summarises their pixels and converts each to the published COG (``cog_from_tiled``). The stages call it for every
layer they publish; ``tasks.io.outputs.catalog`` then describes what it wrote as STAC items.
"""
from __future__ import annotations

import json
import threading
import uuid
import weakref
from pathlib import Path
from typing import Any

import dask
import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from dask.utils import SerializableLock

from tasks.config import Period
from tasks.constants import NODATA, SIGNED_PEOPLE_INDICATORS
from tasks.errors import PublishError
from tasks.geo.mosaic import mosaic
from tasks.io.outputs.cog import cog_from_tiled, write_layer
from tasks.io.outputs.quicklook import binned_png, classes_of, people_bins, people_classes, quicklook_png
from tasks.io.outputs.styles import LayerStyle, layer_style
from tasks.io.runtime.cluster import computes_here, on_a_worker
from tasks.io.sources.clip import RunArea, clip
from tasks.model import AssetSummary, LayerSummary, ProductivityTile

__all__ = ["write_item", "join_period_tiles", "write_lock", "plain_attrs", "geotiff_tags", "asset_style",
           "UNCOMPRESSED_COPY_BYTES"]


UNCOMPRESSED_COPY_BYTES: int = 512 * 2**20
"""The tiled copy a COG is made from is read once and deleted: below this size it is written uncompressed (twice as
fast to write and read; a tile-year's layer is 12-46 MB), above it ZSTD (``SCRATCH_PROFILE``), so a continent's
layer does not take gigabytes of scratch disk."""


class _FileLock:
    """A lock for the block writes of one GeoTIFF (a class, so the registry below can hold it weakly)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        return self._lock.acquire(*args, **kwargs)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()


_FILE_LOCKS: weakref.WeakValueDictionary[str, _FileLock] = weakref.WeakValueDictionary()


_REGISTRY = threading.Lock()
"""Per-file write locks while some write holds them: blocks of one GeoTIFF are written one at a time, while
different files (a tile's twenty layers) are compressed and written by Dask's threads in parallel."""


def write_lock(path: Path) -> Any:
    """The lock serialising block writes to one GeoTIFF: a distributed lock when a Dask cluster computes."""
    if computes_here() or dask.config.get("scheduler", None) == "threads":  # graphs on this process's threads
        return _local_lock(path)
    try:
        from distributed import Lock, default_client

        if on_a_worker():  # a task shipped to a worker (--task-runner dask): its blocks are written across the cluster
            return Lock(f"ldn-write-{path.name}")
        client = default_client()
    except (ImportError, ValueError):  # no distributed client: threads in this process
        return _local_lock(path)
    if str(getattr(client.scheduler, "address", "")).startswith("inproc://"):  # an in-process cluster: threads too

        return SerializableLock(f"ldn-write-{path.name}")  # graphs are pickled even in-process; same lock per token
    return Lock(f"ldn-write-{path.name}")


def _local_lock(path: Path) -> _FileLock:
    """The lock of ``path``'s block writes among this process's threads."""
    with _REGISTRY:
        lock = _FILE_LOCKS.get(str(path))
        if lock is None:
            lock = _FILE_LOCKS[str(path)] = _FileLock()
        return lock


def _stats(path: Path) -> tuple[int, int, float | None, float | None, float | None]:
    """Valid count, total count, mean, min and max of a written single-band raster, read block by block."""
    valid = total = 0
    acc = 0.0
    lo, hi = np.inf, -np.inf
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            block = src.read(1, window=window, masked=True)
            total += block.size
            values = block.compressed()
            if values.size:
                valid += values.size
                acc += float(values.sum(dtype="float64"))
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if not valid:
        return 0, total, None, None, None
    return valid, total, acc / valid, lo, hi


def geotiff_tags(attrs: dict[str, Any]) -> dict[str, Any]:
    """Layer attrs as GeoTIFF metadata: mappings and lists as JSON (readable by any tool), not Python reprs."""
    return {k: (json.dumps(plain_attrs(v), sort_keys=True, default=str) if isinstance(v, (dict, list, tuple)) else v)
            for k, v in attrs.items()}


def plain_attrs(value: Any) -> Any:
    """Attributes as JSON-safe plain values (numpy to Python, tuples to lists, keys to strings), as published."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain_attrs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_attrs(v) for v in value]
    return value


def asset_style(summary: AssetSummary, nodata: float | None, display: tuple[float, float] | None = None) -> LayerStyle:
    """How a written asset is drawn (``layer_style``): its classes and colours, or its colour ramp from its range
    (NDVI: over ``display``, its collection's range, when known)."""
    return layer_style(
        title=str(summary.attrs.get("long_name", summary.key)),
        classes=classes_of(summary.attrs) if summary.categorical else None, units=summary.attrs.get("units"),
        scale=summary.attrs.get("scale_factor"), nodata=nodata, minimum=summary.minimum, maximum=summary.maximum,
        key=summary.key, display=display)


def write_item(
    assets: dict[str, tuple[xr.DataArray, bool]],
    staging: str | Path,
    *,
    indicator: str,
    item_id: str,
    year: int | None = None,
    period: str | None = None,
    window: tuple[int, int] | None = None,
    attrs: dict[str, Any] | None = None,
    source_items: list[str] | None = None,
    transform: Affine | None = None,
    tables: dict[str, Any] | None = None,
    area: RunArea | None = None,
) -> LayerSummary:
    """Write the assets of one item as ``<staging>/<indicator>/<item_id>/<item_id>[_<key>].tif``.

    ``assets`` maps asset keys (``data`` is the main one) to (2-D array, is-categorical). All assets
    are computed in one Dask pass, so work they share (e.g. the trend statistics behind both the
    classes and the slopes) runs once; each is then converted to a COG and summarised.
    ``transform`` is the exact grid; without it the grid is derived from the coordinates, which
    loses the last digits of pixel sizes such as MODIS's 231.65635826395825 m. ``tables`` (name ->
    pandas DataFrame) are written as CSV beside the rasters and published as assets too. With ``area``
    every pixel outside the run's region is nodata, and blocks outside it are never computed.
    """
    if "data" not in assets:
        raise PublishError(f"item {item_id} has no 'data' asset: name the main layer 'data'")
    folder = Path(staging) / indicator / item_id
    folder.mkdir(parents=True, exist_ok=True)
    pending = []
    tiled: dict[str, Path] = {}
    published: dict[str, dict[str, Any]] = {}  # each asset's attrs as published
    for key, (layer, categorical) in assets.items():
        if layer.rio.crs is None:
            raise PublishError(f"layer {item_id}/{key} has no CRS: set it with rio.write_crs() before publishing")
        nodata = layer.attrs.get("_FillValue", NODATA if np.issubdtype(layer.dtype, np.integer) else np.nan)
        # class codes are exact: a scale or offset inherited from an input would rescale them
        published[key] = {k: v for k, v in layer.attrs.items()
                          if not (categorical and k in ("scale_factor", "add_offset"))}
        out = clip(layer, area, fill=nodata).drop_vars([c for c in layer.coords if c not in ("x", "y", "spatial_ref")])
        out = out.copy(deep=False)  # the same data with its own attrs: the GeoTIFF tags
        out.attrs = geotiff_tags(published[key])
        tmp = folder / f".{key}.{uuid.uuid4().hex[:8]}.tiled.tif"
        tiled[key] = tmp
        pending.append(write_layer(out, tmp, nodata=nodata, transform=transform, lock=write_lock(tmp), compute=False,
                                   compress=out.nbytes > UNCOMPRESSED_COPY_BYTES))
    try:
        dask.compute(*[p for p in pending if p is not None])
        written = []
        for key, (_, categorical) in assets.items():
            path = folder / (f"{item_id}.tif" if key == "data" else f"{item_id}_{key}.tif")
            valid, total, mean, lo, hi = _stats(tiled[key])  # the COG's pixels and blocks, without decoding DEFLATE
            cog_from_tiled(tiled[key], path, categorical=categorical)
            written.append(AssetSummary(
                key=key, path=str(path), categorical=categorical, attrs=plain_attrs(published[key]),
                valid_pixels=valid, total_pixels=total, mean=mean, minimum=lo, maximum=hi,
            ))
    finally:
        for tmp in tiled.values():
            tmp.unlink(missing_ok=True)
    main = next(a for a in written if a.key == "data")
    title, when = str(main.attrs.get("long_name", indicator)), str(period or year or "")
    title = title if when in title else f"{title} ({when})"  # "drought intensity class 2016", not "... 2016 (2016)"
    if indicator in SIGNED_PEOPLE_INDICATORS:  # people per pixel: decades, so the herders show beside a town
        png = binned_png(main.path, folder / f"{item_id}.png", title=title,
                         classes=people_classes(*SIGNED_PEOPLE_INDICATORS[indicator]), codes=people_bins)
    else:
        classes = classes_of(main.attrs) if main.categorical else None
        png = quicklook_png(
            main.path, folder / f"{item_id}.png", title=title, classes=classes,
            colours={c: colour for c, (_, colour) in asset_style(main, None).classes.items()} or None,
            units=main.attrs.get("units"),
        )
    table_paths = {}
    for name, frame in (tables or {}).items():
        path = folder / f"{item_id}_{name}.csv"
        frame.to_csv(path, index=False, float_format="%.6f")
        table_paths[name] = str(path)
    return LayerSummary(
        indicator=indicator, item_id=item_id, year=year, period=period, window=window,
        attrs=plain_attrs(attrs if attrs is not None else published["data"]),
        source_items=list(source_items or []), assets=written, tables=table_paths, quicklook=str(png),
    )


def join_period_tiles(tiles: list[ProductivityTile], grid: Any, staging: str | Path, *, region_id: str, name: str,
                      period: Period, sources: list[str], chunk: int, area: RunArea | None) -> list[LayerSummary]:
    """One period's tiles joined, pixel for pixel, into its published trajectory, state, performance and LPD items on
    ``grid``: the period join (``productivity_task``; the benchmark times it too)."""
    written = []
    for indicator, spec in tiles[0].layout.items():
        assets = {}
        for key, asset in spec["assets"].items():
            layer = mosaic({t.tile: t.path(indicator, key) for t in tiles}, grid, chunk=chunk, wrap=False)
            layer.attrs = dict(asset["attrs"])
            assets[key] = (layer, asset["categorical"])
        written.append(write_item(
            assets, staging, indicator=indicator, item_id=f"{indicator}-{region_id}-{name}", period=name,
            window=period.productivity, attrs=spec["attrs"], source_items=sources, transform=grid.affine, area=area,
        ))
    return written
