"""Monthly precipitation for the SO3-1 drought layers (UNCCD method notes section 2), read on its own grid.

The SPI is fitted per pixel of the precipitation source (4-30 km: no point in fitting millions of copies of one
cell), so this reads the source's monthly items onto the source's own pixel grid over the run's area, one month a
time step, missing values as NaN. A month the collection lacks inside the record is a month of NaN: its year's SPI
becomes nodata and the run says which months, never filling them.

A source is either a STAC collection with one COG item per month, or a Zarr store of monthly totals read in place
(``zarr:`` in the sources file: TerraClimate's ``ppt``, ERA5's monthly sums, a national grid written by xarray). A
store's cells are picked, not resampled: the run's grid is the store's own (its ``resolution`` and ``grid_origin``),
and each cell takes the store's value at its centre. A store's years are keyed by the chunks they are read from
(``zarr_year_fingerprints``: each chunk object's size and ETag, last-modified time or MD5), so appending a year to
the store recomputes only that year, and rewriting a year's chunks recomputes what reads them.
"""
from __future__ import annotations

import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox

from tasks.config import Source
from tasks.errors import ConfigError, StacUnreachable, TransientReadError
from tasks.geo.grid import grid_crs, lonlat_bounds, native_bounds, parse_crs, snapped_geobox
from tasks.io.sources.load import grid_coords, load_cube
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import open_api

__all__ = ["MonthlyPrecipitation", "precipitation_grid", "monthly_precipitation", "month_of", "zarr_months",
           "zarr_year_fingerprints", "computed", "resolved_zarr"]


@dataclass(frozen=True)
class MonthlyPrecipitation:
    """A span of whole calendar years of monthly totals on the source's grid, and what they were read from."""

    months: xr.DataArray
    """(time, y, x) float32 mm, NaN where missing; ``time`` is every month of the span, January to December."""
    items: dict[int, list[str]]
    """The item ids read, by year."""
    missing: list[str]
    """The months (``YYYY-MM``) inside the span that the collection lacks (NaN in ``months``)."""


def precipitation_grid(run: RunContext, source: Source) -> GeoBox:
    """The source's pixel grid over the run's area (one cell of margin): the grid the SPI is fitted and published
    on. An area across the antimeridian takes every longitude of the source (a lon/lat grid has no +over)."""
    assert source.crs is not None and source.resolution is not None  # required of a precipitation source
    box = run.grid.boundingbox
    west, south, east, north = lonlat_bounds((box.left, box.bottom, box.right, box.top), grid_crs(run.grid))
    if run.search_bbox[0] > run.search_bbox[2] or east - west >= 359:
        west, east = -180.0, 180.0
    res = source.resolution
    bounds = native_bounds((west, south, east, north), source.crs)
    pad = (res, res, res, res) if not (west == -180.0 and east == 180.0) else (0.0, res, 0.0, res)
    left, bottom, right, top = (bounds[0] - pad[0], bounds[1] - pad[1], bounds[2] + pad[2], bounds[3] + pad[3])
    if parse_crs(source.crs).is_geographic:
        left, right = max(left, -180.0), min(right, 180.0)
        bottom, top = max(bottom, -90.0), min(top, 90.0)
    return snapped_geobox((left, bottom, right, top), source.crs, res, source.grid_origin)


def month_of(item: pystac.Item) -> str:
    """The ``YYYY-MM`` an item's monthly total belongs to (its ``start_datetime``, else ``datetime``)."""
    stamp = item.properties.get("start_datetime") or item.properties.get("datetime")
    if not stamp:
        raise ConfigError(f"precipitation item {item.id} has no start_datetime or datetime: it cannot be placed in a month")
    return str(stamp)[:7]


def monthly_precipitation(name: str, source: Source, years: tuple[int, int], geobox: GeoBox, *, chunk: int,
                          items: list[pystac.Item] | None = None) -> MonthlyPrecipitation:
    """The monthly totals of ``years`` (whole calendar years) from the source ``name`` on ``geobox``, lazily.

    ``items`` are the STAC items of a collection over the run's area (the caller's one search); a Zarr source
    (``zarr``) is read in place instead (``zarr_months``). Two items for one month are an error (the source's
    ``properties`` should tell them apart); values that are the source's nodata or outside its ``valid_range`` are
    NaN. Months the collection lacks are NaN and listed in ``missing``.
    """
    if source.zarr is not None:
        return zarr_months(source, years, geobox, chunk=chunk)
    if items is None:
        raise ValueError(f"precipitation source {name!r} is a STAC collection: pass its items")
    by_month: dict[str, pystac.Item] = {}
    for item in items:
        month = month_of(item)
        if month in by_month:
            raise ConfigError(f"precipitation source {name!r} has two items for {month} ({by_month[month].id}, "
                              f"{item.id}): add a `properties` rule in the sources file that keeps one")
        by_month[month] = item
    span = [f"{y}-{m:02d}" for y in range(years[0], years[1] + 1) for m in range(1, 13)]
    missing = [m for m in span if m not in by_month]
    found = [by_month[m] for m in span if m in by_month]
    spec = source.assets["precipitation"]
    raw = load_cube(found, source, geobox, chunk=chunk)["precipitation"]
    raw = raw.assign_coords(time=[np.datetime64(month_of(it), "M").astype("datetime64[ns]") for it in found])
    values = raw.astype("float32")
    months = _physical(raw, values, spec)
    every = np.array([np.datetime64(m, "M") for m in span]).astype("datetime64[ns]")
    months = months.reindex(time=every)  # a missing month: NaN, never filled
    months.attrs = {"units": spec.unit or "mm", "source": name}
    by_year: dict[int, list[str]] = {}
    for item in found:
        by_year.setdefault(int(month_of(item)[:4]), []).append(item.id)
    return MonthlyPrecipitation(months=months, items=by_year, missing=missing)


def _physical(raw: xr.DataArray, values: xr.DataArray, spec: Any) -> xr.DataArray:
    """Monthly totals in mm: NaN where the raw value is missing, the asset's nodata or outside its valid range."""
    valid = raw.notnull()
    if spec.nodata is not None:
        valid = valid & (raw != spec.nodata)
    if spec.valid_range is not None:
        valid = valid & (raw >= spec.valid_range[0]) & (raw <= spec.valid_range[1])
    return values.where(valid) * spec.scale + spec.offset


def _month_keys(times: np.ndarray) -> list[str]:
    """``YYYY-MM`` of each time step (numpy datetimes or cftime dates)."""
    if np.issubdtype(times.dtype, np.datetime64):
        return [str(t)[:7] for t in times.astype("datetime64[M]")]
    return [f"{t.year:04d}-{t.month:02d}" for t in times]


def resolved_zarr(source: Source, api_url: str) -> Source:
    """``source`` with its Zarr store's ``href`` filled in where it names its STAC collection's ``asset``: the asset's
    href and its ``xarray:storage_options`` (under the source's own). A source with an ``href`` comes back as it is.
    One request to the API; an asset it lacks, or one behind a signing service, is one line naming the fix."""
    spec = source.zarr
    if spec is None or spec.asset is None:
        return source
    assert source.stac is not None  # validated with the sources file
    cid = source.stac.collection
    if source.stac.signing != "none":
        raise ConfigError(f"collection {cid}'s Zarr asset {spec.asset!r} needs signed credentials ({source.stac.signing}"
                          "), which this version does not fetch for a Zarr store: copy its months to a store you can "
                          "read and give that store's `zarr.href`")
    try:
        collection = open_api(api_url).get_collection(cid)
    except StacUnreachable:
        raise
    except Exception as err:
        raise ConfigError(f"collection {cid} cannot be read from {api_url} ({err}): check the source's `stac` "
                          "settings") from None
    asset = collection.assets.get(spec.asset) if collection is not None else None
    if collection is None or asset is None:
        have = sorted(collection.assets) if collection is not None else []
        raise ConfigError(f"collection {cid} has no asset {spec.asset!r} (it has {have or 'none'})"
                          ": set `zarr.asset` to the key of its Zarr store, or give the store's `zarr.href`")
    options = {**(asset.extra_fields.get("xarray:storage_options") or {}), **spec.storage_options}
    href = (asset.get_absolute_href() or asset.href).rstrip("/")
    return source.model_copy(update={"zarr": spec.model_copy(update={"href": href, "storage_options": options})})


def _store_name(source: Source) -> str:
    """How the published items name the store they read: its collection's asset, or its href."""
    spec = source.zarr
    assert spec is not None
    if spec.asset is not None and source.stac is not None:
        return f"{source.stac.collection}/{spec.asset}"
    return str(spec.href)


def _open_variable(source: Source) -> xr.DataArray:
    """The store's monthly variable (the asset ``precipitation``'s ``key``), lazily, with dims (time, y, x) as named
    in ``zarr``; a store that cannot be opened or lacks the variable is one line naming the fix."""
    spec, var = source.zarr, source.assets["precipitation"].key
    assert spec is not None and spec.href is not None, "a store named by its collection's asset: resolved_zarr first"
    try:
        with warnings.catch_warnings():  # a store without consolidated metadata is read without: no need to say so
            warnings.filterwarnings("ignore", message=".*consolidated metadata.*", category=RuntimeWarning)
            ds = xr.open_zarr(spec.href, storage_options=spec.storage_options or None, consolidated=None, chunks={})
    except FileNotFoundError as err:
        raise ConfigError(f"precipitation Zarr {spec.href} cannot be opened ({err}): check `zarr.href` in the sources "
                          "file (the store's folder or URL)") from None
    except (OSError, TimeoutError) as err:
        raise TransientReadError(f"precipitation Zarr {spec.href} cannot be reached ({err}): check the URL and the "
                                 "network, then rerun") from None
    except Exception as err:  # zarr's own errors (not a Zarr store, unreadable metadata), aiohttp's
        if type(err).__module__.startswith("aiohttp"):
            raise TransientReadError(f"precipitation Zarr {spec.href} cannot be reached ({err}): check the URL and "
                                     "the network, then rerun") from None
        raise ConfigError(f"precipitation Zarr {spec.href} cannot be read as a Zarr store ({type(err).__name__}: "
                          f"{err}): check `zarr.href` in the sources file") from None
    if var not in ds.data_vars:
        if not ds.data_vars and "://" in spec.href:
            raise ConfigError(f"precipitation Zarr {spec.href} shows no variable: a store read over the network needs "
                              "consolidated metadata (zarr.consolidate_metadata(store)), as published stores have")
        raise ConfigError(f"precipitation Zarr {spec.href} has no variable {var!r} (it has {sorted(ds.data_vars)}): "
                          "set the asset's `key` to the monthly totals' variable")
    da = ds[var]
    wanted = (spec.time, spec.y, spec.x)
    if set(da.dims) != set(wanted):
        raise ConfigError(f"precipitation Zarr {spec.href}: {var!r} has dims {list(da.dims)}, not {list(wanted)}: set "
                          "`zarr.time`, `zarr.y` and `zarr.x` to its coordinates' names")
    return da.transpose(*wanted)


def _cell_indices(coords: np.ndarray, wanted: np.ndarray, res: float, *, longitude: bool) -> np.ndarray:
    """For each wanted cell centre, the index of the store's coordinate at it (within a hundredth of a cell), or -1
    where the store has none: the store's own cells, picked, never resampled. Longitudes in 0-360 are understood."""
    values = np.asarray(coords, dtype="float64")
    want = np.asarray(wanted, dtype="float64")
    if longitude and values.size and values.max() > 180.0:
        want = np.mod(want, 360.0)
    order = np.argsort(values)
    ranked = values[order]
    pos = np.clip(np.searchsorted(ranked, want), 1, max(len(ranked) - 1, 1))
    left, right = ranked[np.maximum(pos - 1, 0)], ranked[np.minimum(pos, len(ranked) - 1)]
    nearest = np.where(np.abs(want - left) <= np.abs(want - right), pos - 1, pos)
    nearest = np.clip(nearest, 0, len(ranked) - 1)
    close = np.abs(ranked[nearest] - want) <= 0.01 * abs(res)
    return np.where(close, order[nearest], -1)


def _on_grid(da: xr.DataArray, source: Source, geobox: GeoBox) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """The store's cells of ``geobox`` (NaN where the store has none), lazily, with the geobox's coordinates; and the
    store's row and column index of each grid row and column (-1: none)."""
    spec = source.zarr
    assert spec is not None and source.resolution is not None
    coords = grid_coords(geobox)
    rows = _cell_indices(da[spec.y].values, coords["y"], source.resolution, longitude=False)
    cols = _cell_indices(da[spec.x].values, coords["x"], source.resolution, longitude=True)
    if (rows < 0).all() or (cols < 0).all():
        raise ConfigError(f"precipitation Zarr {spec.href} has no cell on the run's area (its grid: "
                          f"{source.resolution} from {list(source.grid_origin)} in the sources file): check `resolution`"
                          ", `grid_origin` and `zarr.x` / `zarr.y`")
    picked = da.isel({spec.y: xr.DataArray(np.maximum(rows, 0), dims="y"),
                      spec.x: xr.DataArray(np.maximum(cols, 0), dims="x")})
    inside = xr.DataArray((rows >= 0)[:, None] & (cols >= 0)[None, :], dims=("y", "x"))
    dims = geobox.dimensions
    out = picked.where(inside).drop_vars([spec.y, spec.x], errors="ignore")
    out = out.rename({spec.time: "time", "y": dims[0], "x": dims[1]})
    return out.assign_coords({dims[0]: coords["y"], dims[1]: coords["x"],
                              "spatial_ref": coords["spatial_ref"]}), rows, cols


def zarr_months(source: Source, years: tuple[int, int], geobox: GeoBox, *, chunk: int) -> MonthlyPrecipitation:
    """``monthly_precipitation`` from a Zarr store: the months of ``years`` on ``geobox`` (the store's own cells),
    lazily in ``chunk``-cell blocks; a month the store lacks is NaN and listed, two steps in one month an error.
    The "items" read are the store's years, named ``<href>#<year>`` (``<collection>/<asset>#<year>``)."""
    spec = source.zarr
    assert spec is not None
    da = _open_variable(source)
    keys = _month_keys(da[spec.time].values)
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ConfigError(f"precipitation Zarr {spec.href} has two time steps in {', '.join(twice[:3])}: it must "
                          "hold one total per month")
    span = [f"{y}-{m:02d}" for y in range(years[0], years[1] + 1) for m in range(1, 13)]
    at = {k: i for i, k in enumerate(keys)}
    found = [m for m in span if m in at]
    if not found:
        raise ConfigError(f"precipitation Zarr {spec.href} has no month of {years[0]}-{years[1]} (it holds "
                          f"{keys[0] if keys else '-'} to {keys[-1] if keys else '-'}): check the source's `years`")
    months, _, _ = _on_grid(da.isel({spec.time: [at[m] for m in found]}), source, geobox)
    spec_asset = source.assets["precipitation"]
    raw = months.chunk({"time": 1, geobox.dimensions[0]: chunk, geobox.dimensions[1]: chunk})
    months = _physical(raw, raw.astype("float32"), spec_asset)
    every = pd.to_datetime(span).values.astype("datetime64[ns]")
    months = months.assign_coords(time=pd.to_datetime(found).values.astype("datetime64[ns]")).reindex(time=every)
    months.attrs = {"units": spec_asset.unit or "mm", "source": spec.href}
    by_year: dict[int, list[str]] = {}
    for m in found:
        by_year.setdefault(int(m[:4]), [f"{_store_name(source)}#{m[:4]}"])
    return MonthlyPrecipitation(months=months, items=by_year, missing=[m for m in span if m not in at])


_CHUNK_IDENTITY = ("size", "ETag", "etag", "Content-MD5", "Digest", "Last-Modified", "LastModified", "last_modified",
                   "mtime", "md5")
"""What a store states of a chunk object that changes when its bytes do (fsspec's ``info``: HTTP headers, S3's
and GCS's fields, a local file's modification time)."""


def zarr_year_fingerprints(source: Source, geobox: GeoBox) -> dict[str, Any]:
    """What identifies each year of a Zarr store over ``geobox``, by year: the array's layout (dtype,
    fill value, chunk shape, dims, Zarr format; a new compressor rewrites every chunk) and, for every chunk object the year's months and the area's cells lie in, its identity as
    its store states it (size with ETag, last-modified time or MD5; ``absent`` for a chunk never written). No pixel
    is read: one metadata request per chunk, in parallel."""
    import fsspec
    import zarr

    spec = source.zarr
    assert spec is not None
    da = _open_variable(source)
    keys = _month_keys(da[spec.time].values)
    _, rows, cols = _on_grid(da, source, geobox)
    try:
        group = zarr.open_group(spec.href, mode="r", storage_options=spec.storage_options or None)
        array = group[source.assets["precipitation"].key]
    except Exception as err:
        raise ConfigError(f"precipitation Zarr {spec.href}: its array cannot be opened ({err})") from None
    if not isinstance(array, zarr.Array):
        raise ConfigError(f"precipitation Zarr {spec.href}: {source.assets['precipitation'].key!r} is a group, not an "
                          "array: set the asset's `key` to the monthly totals' variable")
    fs, root = fsspec.core.url_to_fs(spec.href, **spec.storage_options)
    chunks = array.chunks
    # the array as stored may order its dims otherwise than (time, y, x): map through xarray's names
    named: Any = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS") or []
    stored = [str(d) for d in named]
    if sorted(stored) != sorted(str(d) for d in da.dims):
        raise ConfigError(f"precipitation Zarr {spec.href}: cannot tell the dims of its array ({stored})")
    encoding = {"dtype": str(array.dtype), "fill": repr(array.fill_value), "chunks": list(chunks),
                "dims": stored, "format": array.metadata.zarr_format}
    ys = sorted({int(r) // chunks[stored.index(spec.y)] for r in rows if r >= 0})
    xs = sorted({int(c) // chunks[stored.index(spec.x)] for c in cols if c >= 0})
    per_year: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        per_year.setdefault(k[:4], []).append(i // chunks[stored.index(spec.time)])
    wanted = sorted({(t, y, x) for ts in per_year.values() for t in set(ts) for y in ys for x in xs})

    def key_of(t: int, y: int, x: int) -> str:
        position = {spec.time: t, spec.y: y, spec.x: x}
        return f"{array.path}/{array.metadata.encode_chunk_key(tuple(position[d] for d in stored))}".lstrip("/")

    def identity(chunk: tuple[int, int, int]) -> tuple[tuple[int, int, int], Any]:
        path = f"{root.rstrip('/')}/{key_of(*chunk)}"
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return chunk, "absent"
        except OSError as err:
            raise TransientReadError(f"precipitation Zarr {spec.href}: chunk {key_of(*chunk)} cannot be reached "
                                     f"({err}): check the network, then rerun") from None
        return chunk, {k: str(info[k]) for k in _CHUNK_IDENTITY if k in info}

    with ThreadPoolExecutor(8) as pool:
        known = dict(pool.map(identity, wanted))
    return {year: {"encoding": encoding,
                   "chunks": [[list(c), known[c]] for c in sorted(itertools.product(sorted(set(ts)), ys, xs))]}
            for year, ts in sorted(per_year.items())}


def _network_error(err: BaseException) -> bool:
    """An error of the store's transport (a connection refused or dropped, a timeout, an HTTP error status)."""
    return isinstance(err, (ConnectionError, TimeoutError)) or type(err).__module__.startswith("aiohttp")


def computed(source: Source, values: xr.DataArray) -> xr.DataArray:
    """``values`` computed now; for a Zarr source, a store that stops answering while its chunks are read is one line
    (``TransientReadError``: rerun) instead of its transport's traceback."""
    try:
        return values.compute()
    except Exception as err:
        if source.zarr is None or not _network_error(err):
            raise
        raise TransientReadError(f"precipitation Zarr {source.zarr.href} stopped answering while its months were read "
                                 f"({type(err).__name__}: {err}): check the store and the network, then rerun") from None
