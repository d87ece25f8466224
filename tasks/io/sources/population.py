"""People per pixel for the SO3-2 exposure and SO2-3 tables (UNCCD method notes 1, 3 and 5), on the analysis grid.

A population source gives people per pixel of its own grid, by sex (``female``, ``male``) or in total, one item a
year (WorldPop: 2000-2020; GPW: every fifth year) or one file. A table of year Y reads the source year nearest to Y
(later years the latest, earlier the first: the year used is recorded). Counts move onto the analysis grid
sum-preserving (``tasks.geo.counts``: GDAL's area-weighted sum), block by block of the analysis grid, each block reading only the source
window under it: a continent's population is never in memory.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tasks.config import POPULATION_BANDS, Source, is_density
from tasks.errors import ConfigError
from tasks.geo.counts import move_counts
from tasks.geo.grid import grid_crs, over_crs, transformer
from tasks.geo.mosaic import wraps
from tasks.io.sources.integrity import sign_items
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import STATIC_YEARS, items_by_year, run_items

__all__ = ["PopulationYears", "population_years", "year_used", "PeopleReader"]


@dataclass(frozen=True)
class PopulationYears:
    """The source's years and, for each, the file of each band it has (``total``, ``female``, ``male``)."""

    name: str
    hrefs: dict[int, dict[str, str]]
    items: dict[int, str]
    """The item id (or file path) of each year."""
    by_sex: bool
    """True when the source splits people by sex (``female`` and ``male``)."""

    def used(self, year: int) -> int:
        """The source year a table of ``year`` reads (``year_used``)."""
        return year_used(year, sorted(self.hrefs))


def year_used(year: int, available: list[int]) -> int:
    """The year of ``available`` nearest to ``year`` (a tie: the earlier): later years use the latest, earlier the
    first, as the method notes clamp WorldPop's 2000-2020; a five-yearly source uses its nearest census year."""
    if not available:
        raise ValueError("no population year to choose from")
    return min(available, key=lambda y: (abs(y - year), y))


def _density_unit(item: pystac.Item, key: str) -> str | None:
    bands = item.assets[key].extra_fields.get("raster:bands") or [{}]
    unit = bands[0].get("unit") if isinstance(bands[0], dict) else None
    return unit if isinstance(unit, str) and is_density(unit) else None


def population_years(run: RunContext, name: str, source: Source) -> PopulationYears:
    """Every year of the population source ``name`` over the run's area and the files of its bands. Two items for
    one year, an item without a band's asset, or bands declared in people per km2 (a density, by the items'
    ``raster:bands`` unit) are one-line errors."""
    by_sex = {"female", "male"} <= set(source.assets)
    if source.file is not None:
        if not source.file.is_file():
            raise ConfigError(f"population file {source.file} does not exist: download it and point `file` at it in "
                              f"{run.cfg.sources_file}")
        if set(source.assets) != {"total"}:
            raise ConfigError(f"population source {name!r} is one file: give it one asset named 'total' (a source by "
                              "sex is a STAC collection of yearly items with 'female' and 'male' assets)")
        year = source.years[0] if source.years is not None else 2020
        return PopulationYears(name, {year: {"total": str(source.file)}}, {year: str(source.file)}, False)
    items = sign_items(run_items(run, source, source.years or STATIC_YEARS), source)
    hrefs: dict[int, dict[str, str]] = {}
    ids: dict[int, str] = {}
    for year, group in items_by_year(items).items():
        if len(group) > 1:
            raise ConfigError(f"population source {name!r} has {len(group)} items for {year} ({group[0].id}, "
                              f"{group[1].id}): add a `properties` rule in the sources file that keeps one")
        item = group[0]
        hrefs[year], ids[year] = {}, item.id
        for band, spec in source.assets.items():
            if spec.key not in item.assets:
                raise ConfigError(f"population item {item.id} has no asset {spec.key!r} ({band}): fix `assets` of "
                                  f"{name!r} in the sources file")
            if (unit := _density_unit(item, spec.key)) is not None:
                raise ConfigError(f"population item {item.id} declares {spec.key!r} in {unit!r}, a density: the tables "
                                  "need people per pixel; use the source's count product")
            hrefs[year][band] = item.assets[spec.key].get_absolute_href() or item.assets[spec.key].href
    return PopulationYears(name, hrefs, ids, by_sex)


@dataclass
class PeopleReader:
    """People per pixel of the analysis grid, one block at a time, for any of the source's years.

    A block reads only the window of each file under it (two windows where it crosses the antimeridian) and moves
    every year's and band's counts, with where the source has data, onto the block in one warp (``move_counts``).
    The last few blocks are kept, so the SO2-3 layers' groups share one warp. Cells at the source's nodata or NaN
    carry no one and are counted (``missing_cells``); a negative count is an error naming the file."""

    years: PopulationYears
    source: Source
    grid: GeoBox
    lonlat: tuple[float, float, float, float] | None = None
    """The run's lon/lat box (west > east across 180 degrees): pixels that map outside it are a sinusoidal grid's
    corners past the map, which hold no one the run counts; None: every pixel on the map."""
    _grid_of: dict[str, tuple[Affine, Any, tuple[int, int], float | None]] = field(default_factory=dict)
    _kept: OrderedDict[tuple[tuple[int, int, int, int], tuple[int, ...]], dict[int, dict[str, np.ndarray]]] = field(
        default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    missing_cells: int = 0

    def _file_grid(self, href: str) -> tuple[Affine, Any, tuple[int, int], float | None]:
        if href not in self._grid_of:
            try:
                with rasterio.open(href) as src:
                    self._grid_of[href] = (src.transform, src.crs, src.shape, src.nodata)
            except rasterio.errors.RasterioIOError as err:
                raise ConfigError(f"population file {href} cannot be read ({str(err)[:120]}): check the source's "
                                  "items") from None
            if self._grid_of[href][1] is None:
                raise ConfigError(f"population file {href} has no CRS: set one (e.g. gdal_edit.py -a_srs EPSG:4326)")
        return self._grid_of[href]

    def _layout(self, hrefs: list[str]) -> tuple[Affine, Any, tuple[int, int]]:
        """The one grid of the files read together; files on different grids are an error naming two of them."""
        grids = {href: self._file_grid(href)[:3] for href in hrefs}
        first = next(iter(grids.values()))
        for href, grid in grids.items():
            if grid != first:
                raise ConfigError(f"population files {hrefs[0]} and {href} are on different grids: publish every "
                                  f"year and band of {self.years.name!r} on one grid")
        return first

    def _plane(self) -> Any:
        """The analysis grid's CRS as its pixels are placed: with PROJ's ``+over`` on a grid that continues east
        past 180 degrees (Chukotka), where longitudes run on past 180 instead of wrapping."""
        return over_crs(grid_crs(self.grid)) if wraps(self.grid) else grid_crs(self.grid)

    def _windows(self, layout: tuple[Affine, Any, tuple[int, int]],
                 block: tuple[int, int, int, int]) -> list[tuple[Window, float]]:
        """The windows of the files under ``block``, a few cells of margin, each with the shift (degrees) that puts
        it under the block: 360 for a lon/lat file's part east of 180 degrees on a grid that continues past it. From
        the block's pixel centres every 8 pixels that lie on the map (a sinusoidal grid's corners past the map wrap
        to any longitude: a round trip finds them)."""
        transform, crs, shape = layout
        r0, c0, h, w = block
        rows, cols = np.meshgrid(np.unique(np.r_[np.arange(0, h, 8), h - 1]) + 0.5,
                                 np.unique(np.r_[np.arange(0, w, 8), w - 1]) + 0.5, indexing="ij")
        centres: Any = (c0 + cols.ravel(), r0 + rows.ravel())  # arrays: affine maps them element-wise
        x, y = self.grid.affine * centres
        plane = self._plane()
        sx, sy = (np.asarray(v, dtype="float64") for v in transformer(plane, crs).transform(x, y))
        bx, by = (np.asarray(v, dtype="float64") for v in transformer(crs, plane).transform(sx, sy))
        size = abs(self.grid.affine.a)
        on_map = np.isfinite(sx) & np.isfinite(sy) & (np.hypot(bx - x, by - y) < size)
        if self.lonlat is not None:  # +over maps every pixel somewhere: keep those in the run's (unwrapped) box
            west, south, east, north = self.lonlat
            east = east + 360.0 if west > east else east
            lon, lat = (np.asarray(v, dtype="float64") for v in transformer(plane, "EPSG:4326").transform(x, y))
            on_map &= (lon >= west - 1) & (lon <= east + 1) & (lat >= south - 1) & (lat <= north + 1)
        if not on_map.any():
            return []
        sx, sy = sx[on_map], sy[on_map]
        groups = [(np.ones(sx.size, bool), 0.0)]
        if crs.is_geographic:  # the parts east of 180 (a grid past it) and, across it, the western and eastern part
            groups = [(sx > 180, 360.0), ((sx <= 180) & (sx >= 0), 0.0), (sx < 0, 0.0)] if np.ptp(sx) > 180 or (
                sx > 180).any() else groups
        inv = ~transform
        out = []
        for keep, shift in groups:
            if not keep.any():
                continue
            col, row = inv * (sx[keep] - shift, sy[keep])
            c = (max(0, int(np.floor(col.min())) - 2), min(shape[1], int(np.ceil(col.max())) + 2))
            r = (max(0, int(np.floor(row.min())) - 2), min(shape[0], int(np.ceil(row.max())) + 2))
            if c[0] < c[1] and r[0] < r[1]:
                out.append((Window(c[0], r[0], c[1] - c[0], r[1] - r[0]), shift))
        return out

    def _read(self, href: str, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """A window's counts (0 where none) and where it has data."""
        nodata = self._file_grid(href)[3]
        with rasterio.open(href) as src:
            raw = src.read(1, window=window).astype("float64")
        bad = ~np.isfinite(raw)
        if nodata is not None:
            bad |= raw == nodata
        with self._lock:
            self.missing_cells += int(bad.sum())
        raw[bad] = 0.0
        if (raw < 0).any():
            raise ConfigError(f"population file {href} holds negative counts ({float(raw.min()):g}) that are not its "
                              "nodata: fix the file or declare its nodata")
        return raw, (~bad).astype("float64")

    def blocks(self, years: tuple[int, ...], block: tuple[int, int, int, int]) -> dict[int, dict[str, np.ndarray]]:
        """For each of the source's ``years``: people per pixel (float64) of the analysis-grid ``block`` (row,
        column, rows, columns) of each band, ``total`` always (``female + male`` when the source has no total), and
        ``covered``: True where some source cell with data lands."""
        key = (block, tuple(years))
        with self._lock:
            if key in self._kept:
                return self._kept[key]
        jobs = [(y, band, href) for y in years for band, href in self.years.hrefs[y].items()]
        layout = self._layout([href for _, _, href in jobs])
        r0, c0, h, w = block
        people: np.ndarray | None = None  # each job's people
        reached: dict[int, np.ndarray] = {}  # each year's cells with data
        spec = self.source.assets
        for window, shift in self._windows(layout, block):
            stack: list[np.ndarray] = []
            masks: list[np.ndarray] = []
            mask_of: list[int] = []
            for y in years:  # a cell has data in a year where every band of it has: one mask per year, one per
                oks = []  # window when the years' masks agree (they usually do: a warp costs by its bands)
                for _, band, href in (job for job in jobs if job[0] == y):
                    counts, ok = self._read(href, window)
                    stack.append(counts * spec[band].scale + spec[band].offset)
                    oks.append(ok)
                valid = np.prod(oks, axis=0)
                same = next((i for i, m in enumerate(masks) if np.array_equal(m, valid)), None)
                if same is None:
                    masks.append(valid)
                    same = len(masks) - 1
                mask_of.append(same)
            placed = Affine.translation(shift, 0) * layout[0] * Affine.translation(window.col_off, window.row_off)
            here = move_counts(np.stack(stack + masks), placed, layout[1], self.grid.affine * Affine.translation(c0, r0),
                               self._plane(), (h, w))
            if people is None:  # the usual single window: its warp is the block (counts are >= 0: never -0.0)
                people = here[:len(jobs)]
                shared = {m: here[len(jobs) + m] for m in set(mask_of)}  # years with the same mask share it
                reached = {y: shared[m] for y, m in zip(years, mask_of)}
            else:  # a block across 180 degrees: the windows' shares added
                people += here[:len(jobs)]
                reached = {y: reached[y] + here[len(jobs) + m] for y, m in zip(years, mask_of)}
        if people is None:  # no file under the block
            people = np.zeros((len(jobs), h, w))
            reached = dict.fromkeys(years, np.zeros((h, w)))
        out: dict[int, dict[str, np.ndarray]] = {y: {} for y in years}
        for i, (y, band, _) in enumerate(jobs):
            out[y][band] = people[i]
        for y in years:
            out[y]["covered"] = reached[y] > 1e-9
        for y in years:
            if "total" not in out[y]:
                out[y]["total"] = out[y]["female"] + out[y]["male"]
        with self._lock:
            self._kept[key] = out
            while len(self._kept) > 8:
                self._kept.popitem(last=False)
        return out

    def block(self, year: int, block: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
        """People per pixel (float64) of ``block`` in the source's ``year`` for each band (``blocks``)."""
        people = self.blocks((year,), block)[year]
        return {band: people[band] for band in POPULATION_BANDS if band in people}

    def covered(self, year: int, block: tuple[int, int, int, int]) -> np.ndarray:
        """True on the pixels of ``block`` that some source cell with data of ``year`` lands on."""
        return self.blocks((year,), block)[year]["covered"]
