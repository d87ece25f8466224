"""Loading scenes: STAC items to a lazy, chunked (time, y, x) cube on the analysis grid.

odc-stac builds the Dask graph; nothing is read until the cube is computed or written. Raw values
are kept (no scaling here): masking and scaling follow the source config in the science functions.
Asset hrefs are signed first where the source needs it (Planetary Computer).
"""
from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import odc.stac
import pystac
import rasterio
import rasterio.errors
import rioxarray  # noqa: F401  (registers the .rio accessor read_onto_grid uses)
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from tasks.config import AssetSpec, Source
from tasks.constants import DEFAULT_CHUNK
from tasks.environment import set_environment_defaults
from tasks.errors import ConfigError, SceneReadError, TransientReadError
from tasks.geo.grid import grid_crs, transformer
from tasks.io.sources.clip import RunArea, clip
from tasks.io.sources.integrity import (
    HTTP_TIMEOUT,
    DecodeComplaint,
    WatchedRioDriver,
    check_plausible,
    decoding,
    sign_items,
    verify_checksums,
)
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import STATIC_YEARS, run_items

__all__ = [
    "static_layer", "READ_SETTINGS", "configure_reads", "ReadSettings",
    "load_cube", "sign_items", "unreadable_scenes", "scene_read_error",
    "open_annual_layers", "open_tile_layer", "grid_coords", "load_layer", "lonlat_mask", "read_onto_grid", "grid_blocks",
]


READ_SETTINGS: dict[str, str] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # a COG has no side-car files: no directory listing per open
    "GDAL_HTTP_MAX_RETRY": "3",  # HTTP 429/5xx on a scene read: retried with backoff ...
    "GDAL_HTTP_RETRY_DELAY": "1",  # ... after 1, 2 and 4 s, before the task's own retry
    # a server that never answers fails the read instead of hanging the run (GDAL's own variables win)
    "GDAL_HTTP_CONNECTTIMEOUT": os.environ.get("GDAL_HTTP_CONNECTTIMEOUT", str(int(HTTP_TIMEOUT[0]))),
    "GDAL_HTTP_TIMEOUT": os.environ.get("GDAL_HTTP_TIMEOUT", str(int(HTTP_TIMEOUT[1]))),
}
"""GDAL settings for every scene read (odc-stac's cloud defaults, with fewer, backed-off retries)."""


def configure_reads() -> None:
    """Apply ``READ_SETTINGS`` to every read odc-stac makes in this process (and keep its GDAL environment
    between reads): about 40 % off the open cost of each COG, and transient HTTP errors retried."""
    settings: dict[str, Any] = dict(READ_SETTINGS)  # GDAL options, passed as **params
    odc.stac.configure_rio(cloud_defaults=True, **settings)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover  (distributed is a dependency)
    WorkerPlugin = object  # type: ignore[assignment,misc]


class ReadSettings(WorkerPlugin):  # type: ignore[misc,valid-type]
    """The process defaults (``tasks.environment``) and ``configure_reads`` on every Dask worker, also those that
    join later."""

    name = "ldn-read-settings"

    def setup(self, worker: Any) -> None:
        set_environment_defaults()  # a worker's process, started by whoever started the cluster
        configure_reads()


def load_cube(items: list[pystac.Item], source: Source, geobox: GeoBox, *, chunk: int,
              resampling: str = "nearest", verify: bool = True) -> xr.Dataset:
    """A lazy Dataset with one variable per asset of ``source`` (named as in the config), on ``geobox``.

    Chunks are ``chunk`` x ``chunk`` pixels and one scene deep; raw dtype and nodata come from the
    source config, so sources whose items lack ``raster:bands`` nodata (MOD13Q1) are read correctly.
    Assets that carry ``file:checksum`` are checked against their bytes first (``verify_checksums``), unless
    the caller did (``verify=False``); with nearest-neighbour reads every block is checked against what an intact
    file of its asset can hold (``check_plausible``) as it is read, with or without checksums, and a warning GDAL
    gives while decoding a scene is an error (``decoding``).
    """
    assert source.stac is not None
    readable = sign_items(items, source)
    if verify:
        verify_checksums(readable, source)
    assets = {name: spec for name, spec in source.assets.items()}
    cfg = {source.stac.collection: {"assets": {
        spec.key: {"data_type": spec.dtype, "nodata": spec.nodata} for spec in assets.values()
    }}}
    configure_reads()  # odc-stac's cloud defaults with the project's retries (calling it bare reset them)
    scenes = {asset.href: (item.id, name) for item in readable for name, spec in assets.items()
              if (asset := item.assets.get(spec.key)) is not None}
    ds = odc.stac.load(
        readable,
        driver=WatchedRioDriver(scenes),  # GDAL's warnings while decoding a scene are errors
        bands=[spec.key for spec in assets.values()],
        geobox=geobox,
        chunks={"x": chunk, "y": chunk},
        stac_cfg=cfg,
        groupby="id",
        resampling=resampling,
        fail_on_error=True,
    )
    ds = ds.rename({spec.key: name for name, spec in assets.items()})
    if resampling == "nearest":  # values as stored: a resampled value could fall between codes
        for name, spec in assets.items():
            if spec.codes is not None or spec.out_of_range == "corrupt":
                ds[name] = _plausible(ds[name], spec, readable)
    ds.attrs["source_items"] = [it.id for it in items]
    return ds


def _plausible(layer: xr.DataArray, spec: AssetSpec, items: list[pystac.Item]) -> xr.DataArray:
    """``layer`` (time, y, x; a scene per time step) checked block by block as Dask reads it (``check_plausible``),
    a failing block naming the scene of its time step."""
    by_time: dict[np.datetime64, list[pystac.Item]] = {}
    for item in items:
        when = item.datetime or item.common_metadata.start_datetime
        if when is not None:
            by_time.setdefault(np.datetime64(when.replace(tzinfo=None), "ns"), []).append(item)
    scenes = []
    for t in layer.time.values:
        found = by_time.get(np.datetime64(t, "ns"), [])
        href = found[0].assets[spec.key].href if found and spec.key in found[0].assets else "its asset"
        scenes.append((", ".join(it.id for it in found) or f"of {str(t)[:10]}", href))

    def check(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        first = block_info[0]["array-location"][0][0] if block_info else 0
        for k in range(block.shape[0]):
            scene, href = scenes[first + k]
            check_plausible(block[k], spec, scene=scene, href=href)
        return block

    return layer.copy(data=layer.data.map_blocks(check, dtype=layer.dtype))


def unreadable_scenes(items: list[pystac.Item], source: Source, geobox: GeoBox) -> list[tuple[str, str, str, str]]:
    """(item id, href, problem, detail) for every asset of ``items`` that cannot be read over ``geobox``.

    Used after a load failed, to name the culprit: each asset is opened and the run's window read
    in full, so missing files (HTTP 404) and truncated or corrupt ones are both found.
    """
    bad = []
    left, bottom, right, top = geobox.boundingbox
    for item in sign_items(items, source):
        for spec in source.assets.values():
            asset = item.assets.get(spec.key)
            if asset is None:
                bad.append((item.id, "", f"has no asset {spec.key!r}", ""))
                continue
            href = asset.href
            try:
                with rasterio.open(href) as src:
                    bounds = transform_bounds(grid_crs(geobox), src.crs, left, bottom, right, top)
                    full = Window(0, 0, src.width, src.height)
                    window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
                    with decoding(item.id, href, spec.key):
                        src.read(1, window=window.intersection(full))
            except DecodeComplaint as err:  # decoded, but only with GDAL's complaints
                bad.append((item.id, href.split("?")[0], "is truncated or corrupt", f" (GDAL: {err.complaint})"))
            except (rasterio.errors.RasterioError, rasterio.errors.WindowError) as err:
                cause = err.__cause__ or err.__context__ or err
                text = f"{err} {cause}"
                if "404" in text:
                    bad.append((item.id, href.split("?")[0], "is missing (HTTP 404)", ""))
                else:
                    detail = str(cause).splitlines()[0][:120] if str(cause) else type(cause).__name__
                    bad.append((item.id, href.split("?")[0], "is truncated or corrupt", f" (GDAL: {detail})"))
    return bad


def scene_read_error(err: Exception, items: list[pystac.Item], source: Source, geobox: GeoBox) -> SceneReadError:
    """A one-line error naming the scene that broke a load (found by probing), and the fix."""
    bad = unreadable_scenes(items, source, geobox)
    if not bad:
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return TransientReadError(f"reading the scenes failed ({first}); the files read fine when probed again, "
                                  "so the failure looks transient: rerun")
    item_id, href, problem, detail = bad[0]
    more = f" (and {len(bad) - 1} more unreadable assets)" if len(bad) > 1 else ""
    return SceneReadError(
        f"scene {item_id!r} {problem}: {href}{detail}{more}; "
        f"re-download or repair it at the source, or leave it out with --exclude-scene {item_id}, then rerun"
    )


_OPEN_FILES = threading.local()
_OPEN_FILES_MAX = 48
"""Local annual layers each reading thread keeps open (a tile-period reads 16, or 32 with the annual maximum)."""


def _open_local(path: str) -> Any:
    """``path`` opened for reading, reused by this thread while the file is unchanged: a block of the cube reads
    one window of every year, and opening a COG costs about half of reading a 512 px block of it."""
    files: OrderedDict[tuple[Any, ...], Any] = getattr(_OPEN_FILES, "files", None) or OrderedDict()
    _OPEN_FILES.files = files
    st = os.stat(path)
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns)  # a file rewritten in place is opened again
    if key in files:
        files.move_to_end(key)
        return files[key]
    files[key] = rasterio.open(path)
    while len(files) > _OPEN_FILES_MAX:
        files.popitem(last=False)[1].close()
    return files[key]


def _read_year_windows(paths: tuple[str, ...], rows: tuple[int, int], cols: tuple[int, int],
                       dtype: str) -> np.ndarray:
    """One (year, y, x) block of the cube: the window ``rows`` x ``cols`` (file pixels) of every year's file."""
    (r0, r1), (c0, c1) = rows, cols
    out = np.empty((len(paths), r1 - r0, c1 - c0), dtype=dtype)
    window = Window(c0, r0, c1 - c0, r1 - r0)
    for i, path in enumerate(paths):
        if os.path.isfile(path):
            _open_local(path).read(1, window=window, out=out[i])
        else:  # a URL or a GDAL virtual path: opened for this read only
            with rasterio.open(path) as src:
                src.read(1, window=window, out=out[i])
    return out


def _windowed_cube(paths: list[str], window: GeoBox, *, chunk: int) -> Any:
    """The lazy (year, y, x) Dask array of ``window`` in the years' files, one task per ``chunk`` x ``chunk`` block
    reading that block of every year: a block's years are read together and reduced together, so memory holds a
    few blocks, never the tile's whole cube (a cube joined year by year and rechunked is read whole first)."""
    with rasterio.open(paths[0]) as src:
        t, dtype, size = src.transform, src.dtypes[0], (src.height, src.width)
    w = window.affine
    r0, c0 = round((w.f - t.f) / t.e), round((w.c - t.c) / t.a)
    height, width = window.shape
    if r0 < 0 or c0 < 0 or r0 + height > size[0] or c0 + width > size[1]:
        raise ConfigError(f"the window {window.shape} at row {r0}, column {c0} is not inside {paths[0]} {size}: "
                          "the annual layers are not on the run's grid; rerun the ingest")

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return _read_year_windows(tuple(paths), (r0 + y0, r0 + y1), (c0 + x0, c0 + x1), dtype)

    chunks = ((len(paths),), da.core.normalize_chunks(chunk, (height,))[0], da.core.normalize_chunks(chunk, (width,))[0])
    return da.map_blocks(block, chunks=chunks, dtype=dtype, meta=np.empty((0, 0, 0), dtype=dtype))


def open_annual_layers(paths: dict[int, str], *, chunk: int, window: GeoBox | None = None) -> xr.DataArray:
    """The published annual NDVI COGs as one lazy (year, y, x) cube, all years in each chunk.

    ``window`` (a window of the layers' grid: one tile) opens only that part, with the coordinates every
    other input on that window has (``grid_coords``); each chunk reads its own pixels of every year's file.
    """
    if not paths:
        raise ConfigError("no annual NDVI layers to open: the run produced none for these years")
    years = sorted(paths)
    if window is not None:
        first = rioxarray.open_rasterio(paths[years[0]], mask_and_scale=False, cache=False, lock=False)
        assert isinstance(first, xr.DataArray), paths[years[0]]  # an annual layer: one band
        data = _windowed_cube([paths[y] for y in years], window, chunk=chunk)
        coords = grid_coords(window)
        cube = xr.DataArray(data, dims=("year", "y", "x"), attrs=dict(first.attrs),
                            coords={"year": years, "y": coords["y"], "x": coords["x"],
                                    "spatial_ref": coords["spatial_ref"]})
        cube.name = None  # not the Dask array's key
        return cube
    layers = []
    for year in years:
        da = rioxarray.open_rasterio(paths[year], chunks={"x": chunk, "y": chunk}, mask_and_scale=False)
        assert isinstance(da, xr.DataArray), paths[year]  # an annual layer: one band
        layers.append(da.squeeze("band", drop=True).expand_dims(year=[year]))
    whole: xr.DataArray = xr.concat(layers, dim="year")
    return whole.chunk({"year": -1})


def open_tile_layer(path: str | Path, window: GeoBox, *, chunk: int) -> xr.DataArray:
    """One single-band GeoTIFF on ``window`` (a tile's scratch layer, or a window of a layer on the run's grid) as
    a lazy (y, x) array of its stored values (no masking, no scaling), with the coordinates of every other input
    on that window: what an earlier pass of a tile wrote, read back for the next."""
    data = _windowed_cube([str(path)], window, chunk=chunk)[0]
    coords = grid_coords(window)
    return xr.DataArray(data, dims=("y", "x"), coords={"y": coords["y"], "x": coords["x"],
                                                       "spatial_ref": coords["spatial_ref"]})


def load_layer(items: list[pystac.Item], source: Source, geobox: GeoBox, *, chunk: int,
               resampling: str = "nearest") -> xr.DataArray:
    """The single item's first asset on ``geobox`` (nearest by default: classes are never averaged)."""
    if len(items) != 1:
        raise ConfigError(
            f"expected one item of {source.stac.collection if source.stac else source.description!r}, found "
            f"{len(items)} ({[i.id for i in items][:5]}): narrow the years or check the collection"
        )
    ds = load_cube(items, source, geobox, chunk=chunk, resampling=resampling)
    name = next(iter(source.assets))
    return ds[name].isel(time=0, drop=True)


def grid_coords(geobox: GeoBox) -> dict[str, Any]:
    """The ``y``, ``x`` and ``spatial_ref`` coordinates odc-stac gives ``geobox``: what every layer on it shares,
    so xarray aligns layers read by different libraries pixel for pixel."""
    coords = _grid_coords(geobox)
    return {**coords, "spatial_ref": coords["spatial_ref"].copy()}


@functools.lru_cache(maxsize=256)
def _grid_coords(geobox: GeoBox) -> dict[str, Any]:
    """``grid_coords``, kept per geobox: a tile's every year asks again, and for a CRS without an EPSG code (MODIS
    sinusoidal) odc-geo searches the EPSG database each time it builds ``spatial_ref``."""
    coords = xr_coords(geobox, crs_coord_name="spatial_ref")
    ydim, xdim = geobox.dimensions
    y, x = coords[ydim].values, coords[xdim].values
    y.flags.writeable = x.flags.writeable = False  # shared by every caller
    return {"y": y, "x": x, "spatial_ref": coords["spatial_ref"]}


def grid_blocks(geobox: GeoBox, chunk: int, read: Any, dtype: Any) -> xr.DataArray:
    """A lazy layer on ``geobox`` whose every block is ``read(row0, row1, col0, col1)``, with the grid's coordinates."""
    def block(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None  # Dask passes it to a function that asks for it
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return read(r0, r1, c0, c1)

    chunks = da.core.normalize_chunks((chunk, chunk), tuple(geobox.shape))
    data = da.map_blocks(block, chunks=chunks, dtype=dtype, meta=np.array((), dtype=dtype))
    return xr.DataArray(data, dims=("y", "x"), coords=grid_coords(geobox))


def lonlat_mask(geobox: GeoBox, bbox: tuple[float, float, float, float], *, chunk: int = DEFAULT_CHUNK) -> xr.DataArray:
    """True for pixels of ``geobox`` whose centre lies in the lon/lat ``bbox`` (west > east: across 180 degrees);
    lazy, block by block."""
    a = geobox.affine
    crs = grid_crs(geobox)
    w, s, e, n = bbox

    def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        cols, rows = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
        lon, lat = transformer(crs, "EPSG:4326").transform(a.c + cols * a.a, a.f + rows * a.e)
        east = (lon >= w) & (lon <= e) if w <= e else (lon >= w) | (lon <= e)
        return east & (lat >= s) & (lat <= n)

    return grid_blocks(geobox, chunk, read, bool)


def read_onto_grid(path: str, geobox: GeoBox, *, nodata: float | None = None,
                   resampling: str = "nearest", chunk: int = DEFAULT_CHUNK) -> xr.DataArray:
    """A local raster reprojected onto ``geobox`` (nearest by default, for class layers), lazily: each block
    warps only the part of the file under it, so a continent-sized file never has to fit in memory."""
    target = grid_crs(geobox)
    try:
        src = rasterio.open(path)
    except Exception as err:  # rasterio raises several types for missing or unreadable files
        raise ConfigError(f"cannot read raster {path} ({type(err).__name__}): check the path") from None
    with src:
        if src.crs is None:
            raise ConfigError(f"raster {path} has no CRS: set one (e.g. gdal_edit.py -a_srs EPSG:4326 {path})")
        dtype, tagged = src.dtypes[0], src.nodata
        # one resampling scale (destination pixels per source pixel) for every block, as for the whole grid: GDAL
        # otherwise estimates it per block, and a block at the file's edge would widen its bilinear kernel
        left, bottom, right, top = transform_bounds(target, src.crs, *geobox.boundingbox, densify_pts=21)
        scale = {"XSCALE": geobox.shape[1] * abs(src.res[0]) / (right - left),
                 "YSCALE": geobox.shape[0] * abs(src.res[1]) / (top - bottom)}
    fill = nodata if nodata is not None else tagged
    method = Resampling[resampling]

    def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.full((r1 - r0, c1 - c0), fill if fill is not None else 0, dtype=dtype)
        with rasterio.open(path) as src:
            reproject(rasterio.band(src, 1), out, src_nodata=src.nodata, dst_transform=geobox.affine * Affine.translation(c0, r0),
                      dst_crs=target, dst_nodata=fill, resampling=method, tolerance=0, **scale)  # exact: no block seams
        return out

    out = grid_blocks(geobox, chunk, read, dtype)
    return out.rio.write_nodata(fill, encoded=False).assign_attrs(source_nodata=fill)





def static_layer(run: RunContext, source: Source, geobox: GeoBox, *, resampling: str = "nearest",
                 area: RunArea | None = None, require_data: bool = True) -> tuple[xr.DataArray, list[str]]:
    """A single-item (or file) source on the analysis grid, nodata as NaN (and outside ``area``), with what it was
    read from; lazy, so a continent's layer is read block by block where it is used.

    ``require_data`` fails, in one streaming pass, when the layer has no data on ``geobox`` at all; a tile of
    the run (which may lie where the layer has none) leaves the check to its caller.
    """
    cfg = run.cfg
    spec = next(iter(source.assets.values()))
    if source.file is not None:
        path = Path(source.file)
        if not path.is_file():
            raise ConfigError(f"{source.role} file {path} does not exist: download it and point `file` at it in {cfg.sources_file}")
        layer = read_onto_grid(str(path), geobox, nodata=spec.nodata, resampling=resampling, chunk=cfg.chunk)
        origin = [str(path)]
    else:
        items = run_items(run, source, STATIC_YEARS)
        layer = load_layer(items, source, geobox, chunk=cfg.chunk, resampling=resampling)
        origin = [it.id for it in items]
    values = layer.astype("float64")
    if spec.nodata is not None:
        values = values.where(layer != spec.nodata)
    values = clip(values, area, fill=np.nan)
    if require_data and not bool(values.notnull().any()):  # one streaming pass
        raise ConfigError(
            f"{source.role} layer {origin[0]} has no data over the run's grid: it does not cover the area, or its "
            "CRS/georeferencing is wrong; check the layer against the area (bbox) of the run"
        )
    return values * spec.scale + spec.offset, origin
