"""Productivity sub-indicator per reporting period: trajectory, state, performance and LPD, tile by tile.

The science lives in ``tasks.science.productivity`` (the period's layers, from the kernels in
``tasks.science.trajectory``, ``state``, ``performance``, ``fao_wocat`` and ``lpd``); this module reads the period's annual NDVI layers and the land cover of its first year and writes
the four items (each a 3- or 5-class map plus the continuous layers behind it).

The work is one task per tile and period, the same tiles as the ingest (``tasks.geo.tiles.grid_tiles``),
so a continent is a few hundred coarse tasks and a failed tile loses nothing the others did. Only
performance looks beyond a pixel: each land unit's percentile is taken over the whole comparison
region. So the stage has two passes, and only the first reads the annual NDVI cube. Pass 1 computes
each tile's trajectory and state (each pixel's own), keeps the window's exact NDVI sum and valid-year
count (``WINDOW_SUMS``, scratch only) and counts the window-mean NDVI per unit (``UnitHistograms``);
the counts are added up per period and the percentiles read off (``UnitPercentiles``, exact:
histograms of disjoint tiles add up to the region's); pass 2 computes performance from the sums with
those percentiles and the LPD from the three; the tiles are then joined into the period's layers,
pixel for pixel. Each pass's tile results are cached until their period is joined, so a rerun
resumes from the tiles that were done.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import rasterio
import rasterio.windows
import xarray as xr
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.config import Period, RunConfig
from tasks.constants import NODATA
from tasks.errors import ConfigError, SceneReadError, is_read_error
from tasks.geo.tiles import TILE_STEP_CHUNKS, GridTile, tile_windows
from tasks.io.outputs.cog import open_scratch_geotiff
from tasks.io.outputs.items import join_period_tiles, plain_attrs
from tasks.io.runtime.cache_keys import PRODUCTIVITY_SETTINGS, cache_key, inputs_of, settings_fingerprint
from tasks.io.runtime.cluster import computes_on_cluster
from tasks.io.runtime.layer_cache import (
    cache_for,
    drop_entry,
    link_file,
    open_entry,
    remember,
    restore_layers,
    store_entry,
    store_layers,
    why_recomputed,
)
from tasks.io.runtime.shared_nothing import on_its_own_disk
from tasks.io.sources.inputs import PeriodTileInputs, annual_in_window, period_tile_inputs, uses_maximum
from tasks.io.sources.load import (
    open_tile_layer,
    read_onto_grid,
)
from tasks.io.sources.run import RunContext, period_tiles
from tasks.model import LayerSummary, ProductivityTile
from tasks.science.land_cover import LEGEND_FILE
from tasks.science.lpd import recode_lpd
from tasks.science.performance import (
    UnitHistograms,
    UnitPercentiles,
    land_units,
)
from tasks.science.productivity import (
    WINDOW_SUMS,
    Layers,
    lpd_layers,
    period_fao_wocat,
    period_performance,
    trend_layers,
    window_sum_layers,
)

__all__ = ["write_trend_tile", "write_lpd_tile",
           "PeriodTile", "TrendTile", "restore_productivity_task",
           "trend_tile_task", "unit_percentiles_task", "productivity_tile_task", "productivity_task",
           "write_tile_layers"]


@dataclass(frozen=True)
class PeriodTile:
    """One mapped task of the productivity stage: a reporting period and one tile of the run's grid."""

    period: str
    window: Period
    tile: GridTile


@dataclass(frozen=True)
class TrendTile:
    """Pass 1 of one tile and period: its trajectory and state assets and the window sums (GeoTIFFs in ``folder``,
    ``layout`` as in ``ProductivityTile``, the sums left out) and its unit histograms (``hist.npz`` there);
    ``lpd_attrs``: what the LPD layer inherits from the 3-class trajectory (``trend_layers``)."""

    period: str
    tile: str
    folder: str
    layout: dict[str, Any]
    lpd_attrs: dict[str, Any]
    from_cache: bool

    @property
    def histograms(self) -> str:
        """The tile's ``UnitHistograms`` (``.npz``)."""
        return str(Path(self.folder) / "hist.npz")

    def path(self, indicator: str, key: str) -> str:
        """The tile's GeoTIFF of one asset (``WINDOW_SUMS`` too)."""
        return str(Path(self.folder) / f"{indicator}_{key}.tif")


def _period_parts(run: RunContext, name: str, period: Period, annual: list[LayerSummary],
                  inputs: dict[str, Any]) -> dict[str, Any] | None:
    """What a period's productivity reads (cache-key data), or None when an input has no key (cache off): the annual
    layers of its window by their keys, its method's settings, the land cover of the window's first year and the
    land units, the grid and region. Not the run's years or other periods: next year's refresh keeps it."""
    cfg = run.cfg
    parts: dict[str, Any] = {
        "period": name, "window": period.model_dump(mode="json"), "grid": run.grid_key,
        "annual": {str(y): layer.cache_key for y, layer in annual_in_window(annual, period).items()},
        "settings": settings_fingerprint(cfg, PRODUCTIVITY_SETTINGS, land_cover_legend=LEGEND_FILE),
        "sources": {"land_cover": run.land_cover.model_dump(mode="json"),
                    "land_units": run.land_units.model_dump(mode="json") if run.land_units is not None else None},
        "land_cover": inputs_of(inputs, cfg.land_cover_source, (period.productivity[0], period.productivity[0])),
        "land_units": inputs_of(inputs, cfg.productivity.land_unit_source)}
    if uses_maximum(cfg):
        parts["annual_max"] = {str(y): layer.cache_key for y, layer in annual_in_window(annual, period, "ndvi-annual-max").items()}
    keys = list(parts["annual"].values()) + list(parts.get("annual_max", {}).values())
    return None if not cfg.use_cache or None in keys else parts


def _tile_key(kind: str, parts: dict[str, Any] | None, tile: GridTile) -> str | None:
    return None if parts is None else cache_key(kind, {**parts, "tile": tile.model_dump(mode="json")})


@task(name="productivity-restore", cache_policy=NO_CACHE)
@on_its_own_disk
def restore_productivity_task(run: RunContext, name: str, period: Period, annual: list[LayerSummary],
                              inputs: dict[str, Any], staging: str) -> list[LayerSummary] | None:
    """The period's four productivity items from the cache when nothing they depend on changed, else None.

    The key is the period, the window's annual layers (their own keys), the run's settings and the
    land cover and land-unit inputs (``inputs``); a hit skips both passes of every tile.
    """
    cfg = run.cfg
    parts = _period_parts(run, name, period, annual, inputs)
    if parts is None:
        return None
    cache = cache_for(cfg, "productivity")
    hit = restore_layers(cache, cache_key("productivity", parts), staging)
    if hit is None and (why := why_recomputed(cache, name, "productivity", parts)) is not None:
        get_run_logger().info("%s: productivity recomputed: %s", name, why)
    return hit


@contextlib.contextmanager
def _reads(job: PeriodTile) -> Iterator[None]:
    """Turn a failed read of one of the tile's inputs into a one-line error naming the tile and the fix."""
    try:
        yield
    except Exception as err:
        if not is_read_error(err):
            raise
        chain: list[str] = []
        cause: BaseException | None = err  # GDAL names the file in the error behind rasterio's ("Chunk and warp failed")
        while cause is not None and len(chain) < 3:
            chain.append(f"{type(cause).__name__}: {' '.join(str(cause).split())[:200]}")
            cause = cause.__cause__ or cause.__context__
        raise SceneReadError(
            f"productivity tile {job.tile.name} of period {job.period}: an input could not be read "
            f"({' <- '.join(chain)}); check or repair the period's inputs (land cover, land units, a "
            "precomputed LPD, the annual NDVI layers) and rerun: the tiles already done are kept") from None


def _cached_layout(layout: dict[str, Any]) -> dict[str, Any]:
    """A tile's layout as its cache entry holds it (JSON), with class codes as integers again."""
    return {ind: {"attrs": spec["attrs"], "assets": {k: {**a, "attrs": _layout_attrs(a["attrs"])}
                                                   for k, a in spec["assets"].items()}}
            for ind, spec in layout.items()}


def _read_window_sums(folder: Path, geobox: Any, *, chunk: int) -> tuple[xr.DataArray, xr.DataArray]:
    """The window sum and valid-year count pass 1 wrote in ``folder`` (``WINDOW_SUMS``), lazy, as int64."""
    return tuple(open_tile_layer(folder / f"{WINDOW_SUMS}_{key}.tif", geobox, chunk=chunk).astype("int64")
                 for key in ("sum", "count"))  # type: ignore[return-value]


def write_trend_tile(annual: xr.DataArray, land_cover: xr.DataArray, period: Period, cfg: RunConfig, folder: Path,
                     geobox: Any, *, soil: xr.DataArray | None = None, region: xr.DataArray | None = None,
                     ) -> tuple[dict[str, Any], dict[str, Path], dict[str, Any]]:
    """Pass 1 on one tile: trajectory, state and the window sums written in ``folder`` and the unit histograms of the
    window-mean NDVI (``hist.npz``), all from one read of ``annual``; (layout without the sums, files, the attrs
    the LPD inherits)."""
    trends, inherited = trend_layers(annual, period, cfg)
    unit, fallback = land_units(land_cover, soil)
    extra = {"unit": unit, "fallback": fallback, **({"region": region} if region is not None else {})}
    counted: list[UnitHistograms] = []

    def count(window: dict[str, np.ndarray]) -> None:  # the window's mean NDVI per unit, as pass 2's performance
        counted.append(UnitHistograms.of_sums(window["unit"], window["fallback"], window[f"{WINDOW_SUMS}_sum"],
                                              window[f"{WINDOW_SUMS}_count"], window.get("region"),
                                              crossed=soil is not None))

    layout, files = write_tile_layers({**trends, **window_sum_layers(annual, period)}, folder, geobox, extra=extra,
                                      on_window=count)
    UnitHistograms.merge(counted).save(folder / "hist.npz")  # disjoint windows add up to the tile's histograms
    files["hist.npz"] = folder / "hist.npz"
    layout.pop(WINDOW_SUMS)
    return layout, files, _layout_attrs(inherited)


def write_lpd_tile(trend: TrendTile, land_cover: xr.DataArray, period: Period, cfg: RunConfig,
                   percentiles: UnitPercentiles, folder: Path, geobox: Any, *, soil: xr.DataArray | None = None,
                   region: xr.DataArray | None = None, precomputed_lpd: xr.DataArray | None = None,
                   fao: xr.Dataset | None = None) -> tuple[dict[str, Any], dict[str, Path]]:
    """Pass 2 on one tile: performance from pass 1's window sums with the region's ``percentiles`` and the LPD
    from pass 1's trajectory and state (or ``precomputed_lpd``, or ``fao``), written in ``folder`` with pass 1's
    files linked in; (layout of every productivity asset, files). Reads no annual layer."""
    def back(indicator: str, key: str) -> xr.DataArray:
        return open_tile_layer(trend.path(indicator, key), geobox, chunk=cfg.chunk)

    perf = period_performance(cfg, period, land_cover, sums=_read_window_sums(Path(trend.folder), geobox, chunk=cfg.chunk),
                              soil=soil, region=region, percentiles=percentiles)
    layers = lpd_layers(perf, back("trajectory", "data").assign_attrs(trend.lpd_attrs), back("state", "data"),
                        period, cfg, precomputed_lpd=precomputed_lpd, fao=fao)
    layout, files = write_tile_layers(layers, folder, geobox)
    for spec in trend.layout.values():
        for asset in spec["assets"].values():
            link_file(Path(trend.folder) / asset["file"], folder / asset["file"])
            files[asset["file"]] = folder / asset["file"]
    return {**trend.layout, **layout}, files


@task(name="trend-tile", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def trend_tile_task(run: RunContext, job: PeriodTile, annual: list[LayerSummary], inputs: dict[str, Any],
                    scratch: str) -> TrendTile:
    """Pass 1 of one tile and period: trajectory and state, the window sums and the window-mean NDVI counted per
    land unit, from one read of the tile's annual NDVI (kept until the period is joined).

    Trajectory and state are each pixel's own; performance needs the region's unit percentiles, so pass 2
    does it and the LPD from what this pass wrote, without reading the annual layers again.
    """
    cfg = run.cfg
    key = _tile_key("productivity-trend", _period_parts(run, job.period, job.window, annual, inputs), job.tile)
    cache = cache_for(cfg, "productivity-trend")
    if key is not None and (hit := open_entry(cache, key)) is not None:
        entry, meta = hit
        return TrendTile(job.period, job.tile.name, str(entry), _cached_layout(meta["layout"]),
                         meta["lpd_attrs"], True)
    folder = Path(scratch) / f"trend-{job.period}-{job.tile.name}-{time.monotonic_ns()}"
    with _reads(job):
        t = period_tile_inputs(run, job.window, annual, job.tile)
        layout, files, inherited = write_trend_tile(t.cube, t.land_cover, job.window, cfg, folder, t.geobox,
                                                    soil=t.soil, region=t.region)
    if key is not None:
        folder = store_entry(cache, key, files, {"period": job.period, "tile": job.tile.name, "layout": layout,
                                                 "lpd_attrs": inherited})
    return TrendTile(job.period, job.tile.name, str(folder), layout, inherited, False)


@task(name="unit-percentiles", cache_policy=NO_CACHE)
@on_its_own_disk
def unit_percentiles_task(run: RunContext, name: str, trends: list[TrendTile]) -> UnitPercentiles:
    """Each land unit's percentile over the whole comparison region, from every tile's histograms of one period."""
    cfg = run.cfg
    p = cfg.productivity
    merged = UnitHistograms.merge([UnitHistograms.load(t.histograms) for t in trends])
    unit_source = run.land_units
    if unit_source is not None and merged.fb_ids.size and not merged.ids.size:
        raise ConfigError(
            f"land_units source {p.land_unit_source!r} has no data over the run's area: it does not cover the area, "
            f"or its CRS/georeferencing is wrong; check it in {cfg.sources_file} against the area (bbox) of the run")
    return UnitPercentiles.of(merged, percentile=p.percentile, min_unit_pixels=p.min_unit_pixels)


def _layout_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attrs as they travel through the cache (JSON) and back: plain values, class codes as integers."""
    out = plain_attrs(attrs)
    if isinstance(out.get("classes"), dict):
        out["classes"] = {int(k): v for k, v in out["classes"].items()}
    return out


def write_tile_layers(layers: Layers, folder: Path, geobox: Any, *, rows: int | None = None, cols: int | None = None,
                      extra: dict[str, xr.DataArray] | None = None,
                      on_window: Callable[[dict[str, np.ndarray]], None] | None = None,
                      ) -> tuple[dict[str, Any], dict[str, Path]]:
    """Write ``productivity_layers``' assets of one tile as GeoTIFFs on ``geobox`` in ``folder``, window by window
    of ``rows`` x ``cols`` pixels (default: ``TILE_STEP_CHUNKS`` chunks); return the layout
    (``ProductivityTile.layout``) and files.

    Each window of every asset is computed in one Dask pass (the assets share the trend statistics) and written
    through a file opened once, so no block reopens a file and memory holds one window of each asset.
    ``on_window``, when given, gets each window's arrays by name (``indicator_asset``, and the ``extra`` layers
    computed with them, not written) after they are written: a reduction over the tile rides the same pass.
    """
    folder.mkdir(parents=True, exist_ok=True)
    layout: dict[str, Any] = {}
    outputs: list[tuple[Any, Path, float]] = []
    names: list[str] = []
    for indicator, (assets, attrs) in layers.items():
        spec: dict[str, Any] = {"attrs": plain_attrs(attrs), "assets": {}}
        for asset, (layer, categorical) in assets.items():
            name = f"{indicator}_{asset}.tif"
            nodata = layer.attrs.get("_FillValue", NODATA if np.issubdtype(layer.dtype, np.integer) else np.nan)
            outputs.append((layer.transpose("y", "x").data, folder / name, nodata))
            names.append(name.removesuffix(".tif"))
            spec["assets"][asset] = {"file": name, "categorical": categorical, "attrs": _layout_attrs(layer.attrs)}
        layout[indicator] = spec
    height, width = geobox.shape
    first = outputs[0][0]
    chunk_rows, chunk_cols = ((int(max(first.chunks[0])), int(max(first.chunks[1]))) if isinstance(first, da.Array)
                              else (height, width))
    rows = rows or TILE_STEP_CHUNKS[0] * chunk_rows
    cols = cols or TILE_STEP_CHUNKS[1] * chunk_cols

    more = [layer.transpose("y", "x").data for layer in (extra or {}).values()]
    names += list(extra or {})

    def write(step: tuple[int, int, int, int], parts: tuple[Any, ...]) -> None:
        r0, r1, c0, c1 = step
        for dst, part in zip(dsts, parts):
            dst.write(np.asarray(part), 1, window=rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0))
        if on_window is not None:
            on_window({name: np.asarray(part) for name, part in zip(names, parts)})

    with contextlib.ExitStack() as stack:
        # float layers (slopes, z, p, ratios) are near-incompressible noise: ZSTD saves 20-60 % of their bytes
        # for 3-5x the write time, so they are written uncompressed; class codes and sums compress 2-20x
        dsts = [stack.enter_context(open_scratch_geotiff(path, geobox, dtype=data.dtype, nodata=nodata,
                                                         compress=np.dtype(data.dtype).kind != "f"))
                for data, path, nodata in outputs]
        with ThreadPoolExecutor(1) as writer:  # a window is written while the next one is computed
            pending = None
            for step in tile_windows(height, width, rows, cols):
                r0, r1, c0, c1 = step
                parts = dask.compute(*[data[r0:r1, c0:c1] for data in [d for d, _, _ in outputs] + more])
                if pending is not None:
                    pending.result()
                pending = writer.submit(write, step, parts)
            if pending is not None:
                pending.result()
    return layout, {path.name: path for _, path, _ in outputs}


def _write_tile(run: RunContext, job: PeriodTile, annual: list[LayerSummary], trend: TrendTile,
                percentiles: UnitPercentiles, scratch: str) -> tuple[PeriodTileInputs, Path, dict[str, Any], dict[str, Path]]:
    """Every productivity asset of one tile as a GeoTIFF in a new scratch folder: (inputs, folder, layout, files);
    performance and LPD computed here, trajectory and state linked from pass 1."""
    cfg = run.cfg
    t = period_tile_inputs(run, job.window, annual, job.tile)
    p = cfg.productivity
    pre = fao = None
    if p.precomputed_lpd is not None and (p.precomputed_lpd.periods is None or job.period in p.precomputed_lpd.periods):
        raw = read_onto_grid(str(p.precomputed_lpd.path), t.geobox, nodata=p.precomputed_lpd.nodata, chunk=cfg.chunk)
        pre = recode_lpd(raw, p.precomputed_lpd.legend, source=p.precomputed_lpd.name, nodata=raw.attrs["source_nodata"])
    elif p.method == "fao_wocat":  # its LPD reads the annual layers (and their maxima) again
        fao = period_fao_wocat(cfg, job.window, t.cube, t.maximum)
    folder = Path(scratch) / f"{job.period}-{job.tile.name}-{time.monotonic_ns()}"
    layout, files = write_lpd_tile(trend, t.land_cover, job.window, cfg, percentiles, folder, t.geobox, soil=t.soil,
                                   region=t.region, precomputed_lpd=pre, fao=fao)
    return t, folder, layout, files


@task(name="productivity-tile", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def productivity_tile_task(run: RunContext, job: PeriodTile, annual: list[LayerSummary], inputs: dict[str, Any],
                           trend: TrendTile, percentiles: UnitPercentiles, scratch: str) -> ProductivityTile:
    """Pass 2 of one tile and period: performance with the region's unit percentiles and the LPD, joined with
    pass 1's trajectory and state into every productivity asset of the tile."""
    cfg = run.cfg
    key = _tile_key("productivity-tile", _period_parts(run, job.period, job.window, annual, inputs), job.tile)
    cache = cache_for(cfg, "productivity-tile")
    if key is not None and (hit := open_entry(cache, key)) is not None:
        entry, meta = hit
        return ProductivityTile(job.period, job.tile.name, str(entry), _cached_layout(meta["layout"]),
                                meta["sources"], meta["pixels"], True)
    with _reads(job):
        t, folder, layout, files = _write_tile(run, job, annual, trend, percentiles, scratch)
    pixels = int(t.geobox.shape[0] * t.geobox.shape[1]) * len(annual_in_window(annual, job.window))
    if key is not None:
        folder = store_entry(cache, key, files, {"layout": layout, "sources": t.sources, "pixels": pixels})
    return ProductivityTile(job.period, job.tile.name, str(folder), layout, t.sources, pixels, False)


@task(name="productivity-period", cache_policy=NO_CACHE)
@on_its_own_disk
@computes_on_cluster
def productivity_task(run: RunContext, name: str, period: Period, annual: list[LayerSummary], inputs: dict[str, Any],
                      tiles: list[ProductivityTile], staging: str) -> list[LayerSummary]:
    """Join one period's tiles into its trajectory, state, performance and LPD items on the run's grid (exact).

    The items are cached under the period's key; once they are, the tiles' own cache entries are dropped.
    """
    log = get_run_logger()
    if not tiles:
        raise ConfigError(f"period {name}: no tile of the run lies in its region, so there is nothing to compute")
    cfg, grid, area = run.cfg, run.grid, run.area
    in_window = annual_in_window(annual, period)
    sources = list(tiles[0].sources) + sorted(layer.item_id for layer in in_window.values())
    written = join_period_tiles(tiles, grid, staging, region_id=cfg.region_id, name=name, period=period,
                                sources=sources, chunk=cfg.chunk, area=area)
    counts = {a.key: a.valid_pixels for a in written[-1].assets}
    log.info("period %s (%d-%d): %d tiles joined, %d pixels with an LPD class%s", name, *period.productivity,
             len(tiles), counts.get("data", 0), f" ({written[-1].attrs['method']})"
             if str(written[-1].attrs.get("method", "")).startswith("precomputed") else "")
    parts = _period_parts(run, name, period, annual, inputs)
    if parts is None:
        return written
    cache = cache_for(cfg, "productivity")
    written = store_layers(cache, cache_key("productivity", parts), written)
    remember(cache, name, "productivity", parts)
    for kind in ("productivity-tile", "productivity-trend"):  # joined and cached whole: the tiles are not needed again
        for tile in period_tiles(run):
            if (key := _tile_key(kind, parts, tile)) is not None:
                drop_entry(cache_for(cfg, kind), key)
    return written
