"""The annual NDVI stage: one task per tile and year, then one mosaic per year that publishes both layers.

Each tile-year computes the annual NDVI integral and maximum (method notes, section 1; the science is
``tasks.science.annual_ndvi``) from its composites, by the streaming ingest kernel where the scenes sit on the
grid (``tasks.io.sources.ingest``) or the general loader otherwise, and writes one two-band GeoTIFF (mean,
maximum) in one Dask compute, so the scenes are read once for both. The year's tiles are then joined and
published (``ndvi-annual``, ``ndvi-annual-max``: int16 NDVI x 10000, nodata -32768), and cached by their inputs.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import Source
from tasks.constants import NODATA
from tasks.errors import NoScenesFound, TransientReadError, is_read_error
from tasks.geo.mosaic import mosaic
from tasks.geo.tiles import TILE_STEP_CHUNKS, Tile, tile_geobox, tile_windows
from tasks.io.outputs.cog import write_geotiff
from tasks.io.outputs.items import write_item
from tasks.io.runtime.cache_keys import cache_key, tile_year_key
from tasks.io.runtime.cluster import computes_on_cluster
from tasks.io.runtime.layer_cache import (
    cache_for,
    open_entry,
    remember,
    restore_layers,
    store_entry,
    store_layers,
    why_recomputed,
)
from tasks.io.runtime.shared_nothing import on_its_own_disk
from tasks.io.sources.clip import RunArea, clip, clip_array, windows_outside
from tasks.io.sources.ingest import SceneGrid, SceneOffGrid, fold_tile_year
from tasks.io.sources.inputs import SceneInputs, scene_inputs, tile_items
from tasks.io.sources.integrity import scene_fingerprints, server_digests
from tasks.io.sources.load import READ_SETTINGS, grid_coords, scene_read_error
from tasks.io.sources.run import RunContext
from tasks.model import LayerSummary, TileYear
from tasks.science.annual_ndvi import (
    ANNUAL_BANDS,
    MAX_METHOD,
    MAX_NAME,
    MEAN_NAME,
    METHOD,
    annual_attrs,
    annual_ndvi,
    annual_ndvi_max,
    stored_values,
)

__all__ = ["annual_tile_layers", "annual_ndvi_tile_task", "annual_ndvi_year_task", "restore_annual_year_task",
           "TileJob", "YearRestore", "plan_tiles_task"]


def annual_tile_layers(inputs: SceneInputs, *, year: int, min_valid: int,
                       area: RunArea | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """One tile-year's annual mean and maximum on its grid (int16 NDVI x 10000, nodata -32768, clipped to ``area``):
    in memory from the ingest kernel, lazy (Dask) from the general loader.

    Scenes on the analysis grid itself (``inputs.scenes``, checked against each file as it is read) go through the
    ingest kernel (``tasks.io.sources.ingest``: a window per task, each composite opened once per window); others,
    or a file that disagrees with its item, through odc-stac's loader and ``annual_ndvi`` / ``annual_ndvi_max``.
    Both give the same pixels.
    """
    source, geobox = inputs.source, inputs.geobox
    assert source.qa is not None
    rules: dict[str, Any] = dict(ndvi_spec=source.assets["ndvi"], qa_rule=source.qa, min_valid=min_valid)
    if inputs.scenes is not None:
        try:
            return _kernel_layers(inputs.scenes, source, geobox, min_valid=min_valid, chunk=inputs.chunk, area=area)
        except SceneOffGrid:  # a file is not where its item says: the general loader places it by the file
            pass
    cube = inputs.cube()
    mean = annual_ndvi(cube["ndvi"], cube[source.qa.asset], **rules).sel(year=year, drop=True)
    top = annual_ndvi_max(cube["ndvi"], cube[source.qa.asset], **rules).sel(year=year, drop=True)
    return clip(mean, area), clip(top, area)


def _kernel_layers(scenes: list[SceneGrid], source: Source, geobox: GeoBox, *, min_valid: int, chunk: int,
                   area: RunArea | None) -> tuple[xr.DataArray, xr.DataArray]:
    """``annual_tile_layers`` through the ingest kernel (scenes on the grid)."""
    assert source.qa is not None
    height, width = geobox.shape
    rows, cols = chunk * TILE_STEP_CHUNKS[0], chunk * TILE_STEP_CHUNKS[1]  # a few tens of tasks per tile-year
    windows = tile_windows(height, width, rows, cols)
    skip = windows_outside(area, windows, rows, cols) if area is not None else None  # never read
    finish = functools.partial(stored_values, spec=source.assets["ndvi"], min_valid=min_valid)
    mean_np, top_np = fold_tile_year(scenes, geobox, ndvi=source.assets["ndvi"], qa_name=source.qa.asset,
                                     qa_rule=source.qa, finish=finish, windows=windows, skip=skip,
                                     gdal_env=READ_SETTINGS, qa=source.assets[source.qa.asset])
    out = []
    for values, name, method in ((mean_np, MEAN_NAME, METHOD), (top_np, MAX_NAME, MAX_METHOD)):
        out.append(xr.DataArray(clip_array(values, area, fill=NODATA, chunk=chunk), dims=("y", "x"),
                                coords=grid_coords(geobox),
                                attrs=annual_attrs(long_name=name, method=method, min_valid=min_valid, qa_rule=source.qa)))
    return out[0], out[1]


@task(name="annual-ndvi-tile", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5,
      retry_condition_fn=lambda task, run, state: _read_failed(state))
@on_its_own_disk
@computes_on_cluster
def annual_ndvi_tile_task(run: RunContext, tile: Tile, year: int, items: list[dict[str, Any]], scratch: str,
                          prints: list[dict[str, Any]] | None = None) -> TileYear | None:
    """One tile's annual NDVI for one year, from the composites that touch it; None if none does.

    With the layer cache on, a (tile, year) whose composites (ids, ``updated``, and what identifies their
    bytes: ``file:checksum``, else HTTP size/ETag/Last-Modified, else a file hash), source
    settings, tile grid and parameters are unchanged comes from the cache and no scene is read; a new
    result is stored at once, so a run that fails later keeps it and a rerun resumes from it. ``prints`` are the
    composites' fingerprints when ``restore_annual_year_task`` made them already (no second HTTP request each).
    """
    started = time.monotonic()
    cfg, source = run.cfg, run.ndvi
    assert source.qa is not None and source.crs is not None and source.resolution is not None
    mine = tile_items(tile, items, source.crs)
    if not mine:
        return None
    geobox = tile_geobox(tile, source.crs, source.resolution, source.grid_origin)
    prints = scene_fingerprints(mine, source) if prints is None else prints
    key = _tile_year_key(run, tile, year, prints, geobox)
    cache = cache_for(cfg, "ndvi-tile")
    if cfg.use_cache and (hit := open_entry(cache, key)) is not None:
        entry, meta = hit
        return TileYear(tile=tile.name, year=year, path=str(entry / "tile.tif"), key=key, source_items=meta["source_items"],
                        attrs=meta["attrs"], from_cache=True, bytes_decoded=0, bytes_checked=0,
                        seconds=time.monotonic() - started)
    stac_items = [pystac.Item.from_dict(d) for d in mine]
    area = run.area_on(geobox)  # scenes under blocks outside the region are never read
    path = Path(scratch) / f"{tile.name}-{year}-{key[:8]}.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        inputs = scene_inputs(stac_items, source, geobox, chunk=cfg.chunk,  # a corrupt scene is never read
                              digests=server_digests(prints))
        mean, top = annual_tile_layers(inputs, year=year, min_valid=cfg.min_valid_composites, area=area)
        bands = np.stack(dask.compute(mean.data, top.data))  # one compute: the general loader reads the scenes once
    except Exception as err:
        if not is_read_error(err):
            raise
        raise scene_read_error(err, stac_items, source, geobox) from None
    try:  # a write, apart from the reads: a full disk here is never taken for a scene's transient failure and retried
        write_geotiff(path, bands, geobox, nodata=NODATA)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    ids = [it.id for it in stac_items]
    attrs = {name: json.loads(json.dumps({k: v for k, v in band.attrs.items() if k != "_FillValue"}, default=list))
             for name, band in zip(ANNUAL_BANDS, (mean, top))}
    if cfg.use_cache:
        path = store_entry(cache, key, {"tile.tif": path}, {"source_items": ids, "attrs": attrs}) / "tile.tif"
    per_scene = sum(np.dtype(spec.dtype).itemsize for spec in source.assets.values())
    decoded = int(geobox.shape[0] * geobox.shape[1]) * len(stac_items) * per_scene
    return TileYear(tile=tile.name, year=year, path=str(path), key=key, source_items=ids, attrs=attrs,
                    from_cache=False, bytes_decoded=decoded, bytes_checked=inputs.bytes_checked, seconds=time.monotonic() - started)


def _tile_year_key(run: RunContext, tile: Tile, year: int, prints: list[dict[str, Any]], geobox: GeoBox) -> str:
    """The cache key of one tile-year from its composites' fingerprints: the one the tile task stores its result
    under and the year's restore looks up."""
    return tile_year_key(tile=tile, year=year, scenes=prints, source=run.ndvi, min_valid=run.cfg.min_valid_composites,
                         geobox=geobox, area_key=run.area_key)


def _year_parts(run: RunContext, year: int, tile_keys: dict[str, str], left_out: list[str] | None) -> dict[str, Any]:
    """What a year's published annual layers depend on (their cache key's parts): the year, its tile-years' keys, the
    run's grid and the composites left out."""
    noted = {"excluded_scenes": sorted(left_out)} if left_out else {}  # nothing left out: keys and items as before
    return {"year": year, "tiles": tile_keys, "grid": run.grid_key, **noted}


@dataclass(frozen=True)
class TileJob:
    """One mapped task of the ingest stage: a tile, a year and the composites that touch the tile (``prints``: their
    fingerprints, once the year's restore has made them)."""

    tile: Tile
    year: int
    items: list[dict[str, Any]]
    prints: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class YearRestore:
    """What ``restore_annual_year_task`` found for one year: its two published layers (None on a miss) and its jobs,
    with their composites' fingerprints."""

    layers: list[LayerSummary] | None
    jobs: list[TileJob]


@task(name="annual-ndvi-restore", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5,
      retry_condition_fn=lambda task, run, state: _read_failed(state))  # a HEAD for a fingerprint, as the tile task
@on_its_own_disk
def restore_annual_year_task(run: RunContext, year: int, jobs: list[TileJob], staging: str,
                             left_out: list[str] | None = None) -> YearRestore:
    """One year's published annual NDVI mean and maximum from the cache when none of its tile-years changed (the two
    layers, linked into ``staging``), with the year's jobs and their composites' fingerprints, for the tile tasks
    on a miss.

    A refresh then runs one task for each year it published before instead of one per tile and year: every tile-year
    key is made here, as the tile task makes it, and the year's key from them, as the mosaic task makes it, so a
    hit is exactly what the mosaic would have linked. A year with a tile-year not cached, or cached alone (a run
    stopped before its mosaic), goes through the tile tasks as before.
    """
    source = run.ndvi
    assert source.crs is not None and source.resolution is not None
    fingerprinted, keys = [], {}
    for job in jobs:
        mine = tile_items(job.tile, job.items, source.crs)
        if not mine:  # the tile task returns nothing for it, and the mosaic leaves it out
            fingerprinted.append(job)
            continue
        prints = scene_fingerprints(mine, source)
        keys[job.tile.name] = _tile_year_key(run, job.tile, year, prints,
                                             tile_geobox(job.tile, source.crs, source.resolution, source.grid_origin))
        fingerprinted.append(replace(job, prints=prints))
    key = cache_key("ndvi-annual", _year_parts(run, year, keys, left_out))
    return YearRestore(restore_layers(cache_for(run.cfg, "ndvi-annual"), key, staging), fingerprinted)


@task(name="plan-tiles", cache_policy=NO_CACHE)
def plan_tiles_task(run: RunContext, scenes: dict[int, list[dict[str, Any]]]) -> list[TileJob]:
    """Every (tile, year) of the run with the composites touching that tile; tiles no composite touches are left out."""
    source, tiles = run.ndvi, run.tiles
    assert source.crs is not None
    jobs = [TileJob(tile, year, mine) for year, items in scenes.items() for tile in tiles
            if (mine := tile_items(tile, items, source.crs))]
    if not jobs:
        raise NoScenesFound(f"no composite touches any of the run's {len(tiles)} tiles: check the area and the source")
    return jobs


@task(name="annual-ndvi-mosaic", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def annual_ndvi_year_task(run: RunContext, year: int, tiles: list[TileYear | None], staging: str,
                          left_out: list[str] | None = None) -> list[LayerSummary]:
    """Join one year's tiles into the published annual NDVI mean and maximum layers on the run's grid (exact;
    see ``tasks.geo.mosaic``): two items, ``ndvi-annual`` and ``ndvi-annual-max``; ``left_out`` (the year's
    composites the run leaves out, ``exclude_scenes``) is in their metadata as ``excluded_scenes``."""
    done = [t for t in tiles if t is not None]
    if not done:
        raise NoScenesFound(f"no composite of {year} touches any tile of the run: check the area and the source")
    cfg, grid = run.cfg, run.grid
    noted = {"excluded_scenes": sorted(left_out)} if left_out else {}  # nothing left out: keys and items as before
    parts = _year_parts(run, year, {t.tile: t.key for t in done}, left_out)
    key = cache_key("ndvi-annual", parts)
    cache = cache_for(cfg, "ndvi-annual")
    if cfg.use_cache and (hit := restore_layers(cache, key, staging)) is not None:
        return hit
    if cfg.use_cache and (why := why_recomputed(cache, str(year), "ndvi-annual", parts)) is not None:
        get_run_logger().info("%d: annual NDVI recomputed: %s", year, why)
    area = run.area

    def publish(band: int, indicator: str) -> LayerSummary:
        layer = mosaic({t.tile: t.path for t in done}, grid, chunk=cfg.chunk, band=band)
        layer.attrs.update({**done[0].attrs[indicator], "_FillValue": NODATA, "tiles": sorted(t.tile for t in done),
                            **noted})
        return write_item(
            {"data": (layer, False)}, staging, indicator=indicator, item_id=f"{indicator}-{cfg.region_id}-{year}",
            year=year, source_items=sorted({i for t in done for i in t.source_items}), transform=grid.affine, area=area,
        )

    written = [publish(band, indicator) for band, indicator in enumerate(ANNUAL_BANDS, start=1)]
    if cfg.use_cache:
        written = store_layers(cache, key, written)
        remember(cache, str(year), "ndvi-annual", parts)
    return [replace(w, from_cache=all(t.from_cache for t in done)) for w in written]


def _read_failed(state: Any) -> bool:
    """Retry once on a transient read failure; a 404 or corrupt file fails at once."""
    try:
        state.result()
    except TransientReadError:
        return True
    except Exception:
        return False
    return False
