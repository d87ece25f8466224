"""People per pixel for the SO3-2 exposure and SO2-3 tables (UNCCD method notes 1, 3 and 5), on the analysis grid.

A population source gives people per pixel of its own grid, by sex (``female``, ``male``) or in total, one item a
year (WorldPop: 2000-2020; GPW: every fifth year) or one file. A table of year Y reads the source year nearest to Y
(later years the latest, earlier the first: the year used is recorded). Counts move onto the analysis grid
sum-preserving (``tasks.geo.counts``: GDAL's area-weighted sum), block by block of the analysis grid, each block reading only the source
window under it: a continent's population is never in memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from tasks.config import POPULATION_BANDS, Source, is_density
from tasks.errors import ConfigError
from tasks.geo.counts import move_counts
from tasks.geo.grid import grid_crs
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

    Each block reads only the window of each file under it and moves its counts onto the block sum-preserving
    (``move_counts``). Cells at the source's nodata or NaN carry no one and are counted (``missing_cells``); a
    negative count is an error naming the file. ``covered(window)`` is True where some cell with data lands."""

    years: PopulationYears
    source: Source
    grid: GeoBox
    _grid_of: dict[str, tuple[Affine, Any, tuple[int, int], float | None]] = field(default_factory=dict)
    _windows: dict[tuple[str, tuple[int, int, int, int]], Window | None] = field(default_factory=dict)
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

    def _window(self, href: str, block: tuple[int, int, int, int]) -> Window | None:
        """The window of the file under the analysis-grid ``block`` (a cell of margin), None when there is none."""
        transform, crs, shape, _ = self._file_grid(href)
        key = (str((tuple(transform)[:6], str(crs), shape)), block)
        known = self._windows.get(key, False)  # one lookup: another thread may replace the dict meanwhile
        if known is not False:
            return known
        r0, c0, h, w = block
        a = self.grid.affine
        left, top = a * (c0, r0)
        right, bottom = a * (c0 + w, r0 + h)
        try:
            west, south, east, north = transform_bounds(grid_crs(self.grid), crs, min(left, right), min(top, bottom),
                                                        max(left, right), max(top, bottom), densify_pts=21)
        except Exception:  # a block off the source CRS's domain
            west = south = east = north = float("nan")
        window = None
        if all(math.isfinite(v) for v in (west, south, east, north)):
            inv = ~transform
            if east < west:  # across the antimeridian: every column (a lon/lat source wraps at 180 degrees)
                cols = (0, shape[1])
            else:
                xs = sorted([(inv * (west, north))[0], (inv * (east, south))[0]])
                cols = (max(0, math.floor(xs[0]) - 1), min(shape[1], math.ceil(xs[1]) + 1))
            ys = sorted([(inv * (west, north))[1], (inv * (east, south))[1]])
            rows = (max(0, math.floor(ys[0]) - 1), min(shape[0], math.ceil(ys[1]) + 1))
            if rows[0] < rows[1] and cols[0] < cols[1]:
                window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        self._windows = {key: window}  # the latest block only: a block's years and bands ask one after another
        return window

    def _move(self, href: str, values: np.ndarray, window: Window, block: tuple[int, int, int, int]) -> np.ndarray:
        transform, crs, _, _ = self._file_grid(href)
        r0, c0, h, w = block
        return move_counts(values, transform * Affine.translation(window.col_off, window.row_off), crs,
                           self.grid.affine * Affine.translation(c0, r0), grid_crs(self.grid), (h, w))

    def _read(self, href: str, window: Window) -> np.ndarray:
        nodata = self._file_grid(href)[3]
        with rasterio.open(href) as src:
            raw = src.read(1, window=window).astype("float64")
        bad = ~np.isfinite(raw)
        if nodata is not None:
            bad |= raw == nodata
        self.missing_cells += int(bad.sum())
        raw[bad] = 0.0
        if (raw < 0).any():
            raise ConfigError(f"population file {href} holds negative counts ({float(raw.min()):g}) that are not its "
                              "nodata: fix the file or declare its nodata")
        return raw

    def block(self, year: int, block: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
        """People per pixel (float64) of the analysis-grid ``block`` (row, column, rows, columns) in the source's
        ``year`` for each band, ``total`` always (``female + male`` when the source has no total)."""
        out: dict[str, np.ndarray] = {}
        spec = self.source.assets
        for band, href in self.years.hrefs[year].items():
            window = self._window(href, block)
            if window is None:
                out[band] = np.zeros(block[2:])
                continue
            values = self._read(href, window) * spec[band].scale + spec[band].offset
            out[band] = self._move(href, values, window, block)
        if "total" not in out:
            out["total"] = out["female"] + out["male"]
        return {band: out[band] for band in POPULATION_BANDS if band in out}

    def covered(self, year: int, block: tuple[int, int, int, int]) -> np.ndarray:
        """True on the pixels of ``block`` that some source cell with data (of ``year``'s first band) lands on."""
        href = next(iter(self.years.hrefs[year].values()))
        window = self._window(href, block)
        if window is None:
            return np.zeros(block[2:], bool)
        nodata = self._file_grid(href)[3]
        with rasterio.open(href) as src:
            raw = src.read(1, window=window).astype("float64")
        has = np.isfinite(raw) & ((raw != nodata) if nodata is not None else True)
        return self._move(href, has.astype("float64"), window, block) > 1e-9
