"""Land under drought in km2 (SO3-1 tables, UNCCD method notes 2.3), from SPI cells placed on the analysis grid.

The SPI lives on the precipitation's coarse grid; the tables count it as the method notes place it, by nearest
neighbour on the analysis grid, so they share the SDG tables' zones, region, water and true pixel areas. Rather than
warp every year's classes, one pass over the analysis grid adds each pixel's km2 (its true area times each zone's
exact coverage of it, 0 outside the region) to the coarse cell whose centre it is nearest, per zone, in total and
on each water map (final land cover class 7). Every year's and period's table is then a sum over coarse cells: the
pass is the only work at the analysis grid's size, however many years there are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import shapely
from odc.geo.geobox import GeoBox

from tasks.constants import DROUGHT_CLASSES, NODATA, WATER
from tasks.geo.areas import pixel_areas_km2
from tasks.geo.grid import grid_crs, transformer
from tasks.io.outputs.layers import read_block
from tasks.io.outputs.zonal import BLOCK, region_on_grid, zone_blocks
from tasks.io.sources.zones import Zone, zones_on_grid
from tasks.model import LayerSummary

__all__ = ["CellAreas", "cell_areas", "drought_area_table", "DROUGHT_AREA_COLUMNS", "coarse_cell_index",
           "wraps_around", "WaterMap", "water_maps"]


@dataclass(frozen=True)
class CellAreas:
    """km2 of the analysis grid that falls to each coarse cell, per zone: ``total[z, c]`` and ``water[k, z, c]``
    for water map ``k``; the last cell (index ``cells``) is the area outside the coarse grid."""

    zones: tuple[Zone, ...]
    cells: int
    total: np.ndarray
    water: np.ndarray


def coarse_cell_index(window_xy: tuple[Any, Any], to_cells: Any, cells: GeoBox, wrap: bool) -> np.ndarray:
    """The flat index of the coarse cell each analysis pixel centre (``window_xy``, in the analysis grid's CRS)
    falls in; the number of cells (one past the last) outside the coarse grid."""
    x, y = to_cells.transform(*window_xy)
    a = cells.affine
    if wrap:  # a lon/lat grid all the way round: a longitude past 180 degrees is the same cell
        x = a.c + np.mod(np.asarray(x) - a.c, 360.0)
    col = np.floor((np.asarray(x) - a.c) / a.a)
    row = np.floor((np.asarray(y) - a.f) / a.e)
    h, w = cells.shape
    inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    return np.where(inside, row * w + col, h * w).astype(np.int64)


def wraps_around(cells: GeoBox) -> bool:
    """True for a lon/lat grid all the way round the globe (a longitude past 180 degrees is the same cell)."""
    return bool(cells.crs is not None and cells.crs.geographic and abs(cells.affine.a * cells.shape[1] - 360) < 1e-6)


def cell_areas(grid: GeoBox, cells: GeoBox, zones: tuple[Zone, ...], *, region: shapely.Geometry | None,
               water: list[str], block: int = BLOCK) -> CellAreas:
    """One pass over the analysis ``grid``: the km2 of each zone (cut to ``region``, lon/lat polygons) that falls
    to each cell of the coarse grid ``cells``, and of it the water of each of the land cover maps ``water``
    (paths of published layers on ``grid``)."""
    crs, transform, shape = grid_crs(grid), grid.affine, (int(grid.shape[0]), int(grid.shape[1]))
    on_grid = zones_on_grid(zones, crs, transform, shape, within=region_on_grid(region, crs, transform, shape))
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    n = int(cells.shape[0]) * int(cells.shape[1])
    total = np.zeros((len(on_grid), n + 1))
    wet = np.zeros((len(water), len(on_grid), n + 1))
    to_cells = transformer(crs, grid_crs(cells))
    wrap = wraps_around(cells)
    sources = [rasterio.open(p) for p in water]
    try:
        for window, covered, areas in zone_blocks(on_grid, crs, transform, shape, row_areas, block):
            cols, rows = np.meshgrid(window.col_off + np.arange(window.width) + 0.5,
                                     window.row_off + np.arange(window.height) + 0.5)
            xy = transform * (cols.ravel(), rows.ravel())
            index = coarse_cell_index(xy, to_cells, cells, wrap)
            maps = [read_block(src, window).ravel() == WATER for src in sources]
            for z, flat, fraction in covered:
                weights = fraction * areas[flat]
                total[z] += np.bincount(index[flat], weights=weights, minlength=n + 1)
                for k, is_water in enumerate(maps):
                    hit = is_water[flat]
                    wet[k, z] += np.bincount(index[flat][hit], weights=weights[hit], minlength=n + 1)
    finally:
        for src in sources:
            src.close()
    return CellAreas(zones=tuple(zone for zone, _ in on_grid), cells=n, total=total, water=wet)


@dataclass(frozen=True)
class WaterMap:
    """The water map (a published land cover's final year) a table takes its land from, and its cache key."""

    path: str | None
    key: str | None
    item_id: str | None


def water_maps(land_cover: dict[str, LayerSummary], spans: dict[str, tuple[int, int]],
                years: range) -> tuple[dict[str, WaterMap], dict[int, WaterMap]]:
    """Each period's water map (its own final land cover) and each year's: that of the period whose reporting years
    hold it, else of the latest period; none without a period (a run of annual layers only). A new period changes
    the water of its own years only."""
    per = {name: WaterMap(layer.asset_path("final"), layer.cache_key, layer.item_id) for name, layer in land_cover.items()}
    latest = max(per, key=lambda n: (spans.get(n, (0, 0))[1], n), default=None)
    fallback = per[latest] if latest is not None else WaterMap(None, None, None)
    holder = {y: n for n, (a, b) in spans.items() if n in per for y in range(a, b + 1)}
    return per, {y: per[holder[y]] if y in holder else fallback for y in years}


_NAMES = {code: name.removesuffix(" drought").replace("-", "_") for code, (name, _) in DROUGHT_CLASSES.items()}

DROUGHT_AREA_COLUMNS: tuple[str, ...] = (
    "total_km2", "water_km2", "land_km2",
    *(f"{_NAMES[c]}_km2" for c in sorted(_NAMES)), "nodata_km2",
    *(f"{_NAMES[c]}_pct_of_total" for c in sorted(_NAMES)), "nodata_pct_of_total",
    *(f"{_NAMES[c]}_land_km2" for c in sorted(_NAMES)), "nodata_land_km2",
    *(f"{_NAMES[c]}_pct_of_land" for c in sorted(_NAMES)), "nodata_pct_of_land")
"""The area columns of every SO3-1 table: km2 and % per class over the whole area (Trends.Earth's denominator: water
and nodata included), then over land (water out), the % of land taken over land with data (nodata out too)."""


def drought_area_table(classes: np.ndarray, areas: CellAreas, *, water: int | None, where: dict[str, object]) -> pd.DataFrame:
    """km2 and % per drought class (``DROUGHT_CLASSES``, and nodata) per zone and for all zones together, from the
    classes of the coarse cells (flat, int, ``NODATA`` where none) and ``cell_areas``' sums; ``water`` picks the
    water map (None: no water). ``where`` (year or period) leads every row."""
    codes = np.append(np.asarray(classes).ravel().astype(np.int64), NODATA)  # the area off the coarse grid: nodata
    rows = []
    wet_all = areas.water[water] if water is not None else np.zeros_like(areas.total)
    for label, total, wet in [*((z, areas.total[i], wet_all[i]) for i, z in enumerate(areas.zones)),
                              (None, areas.total.sum(axis=0), wet_all.sum(axis=0))]:
        land = total - wet
        all_km2 = {c: float(total[codes == c].sum()) for c in [*sorted(_NAMES), NODATA]}
        land_km2 = {c: float(land[codes == c].sum()) for c in [*sorted(_NAMES), NODATA]}
        whole, dry = float(total.sum()), float(land.sum())
        with_data = dry - land_km2[NODATA]
        row: dict[str, object] = {**where, "zone_id": label.zone_id if label else "all",
                                  "zone": label.name if label else "all zones",
                                  "total_km2": whole, "water_km2": whole - dry, "land_km2": dry}
        names = {**_NAMES, NODATA: "nodata"}
        for c in [*sorted(_NAMES), NODATA]:
            row[f"{names[c]}_km2"] = all_km2[c]
        for c in [*sorted(_NAMES), NODATA]:
            row[f"{names[c]}_pct_of_total"] = 100 * all_km2[c] / whole if whole > 0 else np.nan
        for c in [*sorted(_NAMES), NODATA]:
            row[f"{names[c]}_land_km2"] = land_km2[c]
        for c in sorted(_NAMES):
            row[f"{names[c]}_pct_of_land"] = 100 * land_km2[c] / with_data if with_data > dry * 1e-9 else np.nan
        row["nodata_pct_of_land"] = 100 * land_km2[NODATA] / dry if dry > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
