"""Monthly precipitation for the SO3-1 drought layers (UNCCD method notes section 2), read on its own grid.

The SPI is fitted per pixel of the precipitation source (4-30 km: no point in fitting millions of copies of one
cell), so this reads the source's monthly items onto the source's own pixel grid over the run's area, one month a
time step, missing values as NaN. A month the collection lacks inside the record is a month of NaN: its year's SPI
becomes nodata and the run says which months, never filling them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox

from tasks.config import Source
from tasks.errors import ConfigError
from tasks.geo.grid import grid_crs, lonlat_bounds, native_bounds, parse_crs, snapped_geobox
from tasks.io.sources.load import load_cube
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import run_items

__all__ = ["MonthlyPrecipitation", "precipitation_grid", "monthly_precipitation", "month_of"]


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


def monthly_precipitation(run: RunContext, name: str, source: Source, years: tuple[int, int], geobox: GeoBox,
                          *, chunk: int) -> MonthlyPrecipitation:
    """The monthly totals of ``years`` (whole calendar years) from the source ``name`` on ``geobox``, lazily.

    Items are found with one STAC search over the run's area; two items for one month are an error (the source's
    ``properties`` should tell them apart); values that are the source's nodata or outside its ``valid_range`` are
    NaN. Months the collection lacks are NaN and listed in ``missing``.
    """
    items = run_items(run, source, years)
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
    valid = raw.notnull()
    if spec.nodata is not None:
        valid = valid & (raw != spec.nodata)
    if spec.valid_range is not None:
        valid = valid & (raw >= spec.valid_range[0]) & (raw <= spec.valid_range[1])
    months = (values.where(valid) * spec.scale + spec.offset)
    every = np.array([np.datetime64(m, "M") for m in span]).astype("datetime64[ns]")
    months = months.reindex(time=every)  # a missing month: NaN, never filled
    months.attrs = {"units": spec.unit or "mm", "source": name}
    by_year: dict[int, list[str]] = {}
    for item in found:
        by_year.setdefault(int(month_of(item)[:4]), []).append(item.id)
    return MonthlyPrecipitation(months=months, items=by_year, missing=missing)
