"""The indicators inside each activity's footprint and in a ring around it, per reporting period, read from the
published layers; and the per-country summary of activities by area and status.

Areas are exact fractional coverage (exactextract) of true pixel areas, as in the zonal tables; percentages are
of the land (water excluded) with data: SDG 15.3.1, the LPD classes, the land cover sub-indicator (from the
period's land cover transitions) and the share of land whose land cover class changed over the period. The ring is kept to the land cover classes found in the footprint at the
start of the period's land cover window ("same land cover units"): grassland is compared with grassland, not with
the town next to it. A comparison, plainly labelled, not a causal claim.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.windows import Window

from tasks.constants import ACTIVITY_AREAS, ACTIVITY_STATUSES, LPD_CLASSES, THREE_CLASSES, WATER
from tasks.errors import NoZoneOverlap
from tasks.geo.areas import pixel_areas_km2
from tasks.io.outputs.layers import read_block
from tasks.io.sources.zones import Zone, block_coverage, zones_on_grid
from tasks.model import LayerRef
from tasks.science.activities import Activity, footprint_and_ring, timing

__all__ = ["OVERLAY_LAYERS", "activity_statistics", "activity_summary", "activities_on_grid"]

OVERLAY_LAYERS: dict[tuple[str, str], str] = {
    ("sdg-15-3-1", "data"): "sdg",
    ("lpd", "data"): "lpd",
    ("land-cover", "data"): "lc",
    ("land-cover", "initial"): "lc_initial",
    ("land-cover", "final"): "lc_final",
}
"""The published layers the overlay reads (indicator, asset) -> short name."""


def _shares(codes: np.ndarray, weights: np.ndarray, names: dict[int, str], prefix: str) -> dict[str, float]:
    """Percent of the weighted pixels with data in each class, and the percent without data."""
    total = float(weights.sum())
    known = ~np.isnan(codes)
    valid = float(weights[known].sum())
    out = {f"{prefix}_{name.replace(' ', '_')}_pct": (100 * float(weights[known & (codes == code)].sum()) / valid
                                                      if valid > 0 else np.nan) for code, name in names.items()}
    out[f"{prefix}_nodata_pct"] = 100 * (total - valid) / total if total > 0 else np.nan
    return out


def _zone_row(data: dict[str, np.ndarray], cells: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    final = data.get("lc_final")
    land = np.ones(cells.size, bool) if final is None else final[cells] != WATER
    row: dict[str, Any] = {"total_km2": float(weights.sum()), "land_km2": float(weights[land].sum())}
    three = {code: name for code, (name, _) in THREE_CLASSES.items()}
    for key, names in (("sdg", three), ("lpd", {c: n for c, (n, _) in LPD_CLASSES.items()}), ("lc", three)):
        if key in data:
            row.update(_shares(data[key][cells][land], weights[land], names, key))
    if "lc_initial" in data and final is not None:  # land cover transitions: the share of land whose class changed
        first, last, w = data["lc_initial"][cells][land], final[cells][land], weights[land]
        known = ~np.isnan(first) & ~np.isnan(last)
        valid = float(w[known].sum())
        row["lc_changed_pct"] = 100 * float(w[known & (first != last)].sum()) / valid if valid > 0 else np.nan
    return row


def activities_on_grid(activities: Sequence[Activity], crs: str, transform: Any, shape: tuple[int, int], *,
                       ring_km: float, point_km: float, within: shapely.Geometry | None
                       ) -> dict[str, tuple[str, list[tuple[Zone, shapely.Geometry]]]]:
    """Each activity's footprint and ring on a layer grid: id -> (coverage, [(zone, geometry in the grid's CRS)]).

    Coverage is ``inside``, ``partly outside`` (statistics over the part inside), ``outside the region`` (no
    statistics) or ``no footprint``. ``within`` is the run's region in the grid's CRS.
    """
    out: dict[str, tuple[str, list[tuple[Zone, shapely.Geometry]]]] = {}
    for a in activities:
        if a.footprint is None:
            out[a.id] = ("no footprint", [])
            continue
        inside, ring = footprint_and_ring(a.footprint, ring_km=ring_km, point_km=point_km)
        zones = (Zone(f"{a.id}/footprint", "footprint", inside), Zone(f"{a.id}/ring", "ring", ring))
        try:
            on_grid = zones_on_grid(zones, crs, transform, shape, within=within)
        except NoZoneOverlap:
            out[a.id] = ("outside the region", [])
            continue
        if not any(z.name == "footprint" for z, _ in on_grid):
            out[a.id] = ("outside the region", [])
            continue
        whole = zones_on_grid(zones[:1], crs, transform, shape)[0][1] if within is not None else None
        part = next(g for z, g in on_grid if z.name == "footprint")
        partly = whole is not None and part.area < whole.area * (1 - 1e-9)
        out[a.id] = ("partly outside" if partly else "inside", on_grid)
    return out


def _window(geoms: list[shapely.Geometry], transform: Any, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(row, col, height, width) of the grid cells that cover the geometries, within the grid."""
    x0, y0, x1, y1 = shapely.union_all(geoms).bounds
    inv = ~transform
    cols, rows = zip(*(inv * (x, y) for x in (x0, x1) for y in (y0, y1)))
    r0, r1 = max(0, int(np.floor(min(rows)))), min(shape[0], int(np.ceil(max(rows))))
    c0, c1 = max(0, int(np.floor(min(cols)))), min(shape[1], int(np.ceil(max(cols))))
    return r0, c0, max(0, r1 - r0), max(0, c1 - c0)


def activity_statistics(activities: Sequence[Activity], layers: list[LayerRef], periods: dict[str, tuple[int, int]],
                        *, ring_km: float, point_km: float, area: shapely.Geometry | None = None,
                        on_grid_area: Any = None) -> pd.DataFrame:
    """Per activity, period and zone (footprint, ring), the share of SDG 15.3.1, LPD and land cover sub-indicator
    classes, from the published layers (``layers``: every period's ``LayerRef``) over the years ``periods`` stand
    for (period -> first, last year; their order is the table's). ``on_grid_area(crs, transform, shape)`` gives the
    run's region on a grid (None: the whole grid). Activities outside the region, or without a footprint, get one
    row that says so and no numbers."""
    by_period: dict[str, dict[tuple[str, str], LayerRef]] = defaultdict(dict)
    for ref in layers:
        if (ref.indicator, ref.asset) in OVERLAY_LAYERS:
            by_period[ref.period][(ref.indicator, ref.asset)] = ref
    rows: list[dict[str, Any]] = []
    flagged: set[str] = set()
    on_grids: dict[tuple[Any, ...], tuple[np.ndarray, dict[str, Any]]] = {}
    for period, span in periods.items():
        refs = by_period.get(period)
        if not refs:
            continue
        with rasterio.open(next(iter(refs.values())).path) as src:
            crs, transform, shape = src.crs.to_wkt(), src.transform, src.shape
        grid = (crs, tuple(transform), shape)
        if grid not in on_grids:  # the periods of one run share a grid: place the activities on it once
            within = on_grid_area(crs, transform, shape) if on_grid_area is not None else None
            on_grids[grid] = (pixel_areas_km2(crs, transform, shape)[:, 0], activities_on_grid(
                activities, crs, transform, shape, ring_km=ring_km, point_km=point_km, within=within))
        row_areas, placed = on_grids[grid]
        sources = {OVERLAY_LAYERS[k]: rasterio.open(ref.path) for k, ref in refs.items()}
        try:
            for a in activities:
                coverage, on_grid = placed[a.id]
                base = {"activity_id": a.id, "activity": a.name, "country": a.country, "area": a.area,
                        "status": a.status, "start": a.start.isoformat(), "end": a.end.isoformat() if a.end else None,
                        "coverage": coverage}
                if not on_grid:
                    if a.id not in flagged:
                        rows.append({**base, "period": None, "years": None, "timing": None, "zone": None})
                        flagged.add(a.id)
                    continue
                r0, c0, h, w = _window([g for _, g in on_grid], transform, shape)
                if h == 0 or w == 0:
                    continue
                window = Window(c0, r0, w, h)
                data = {name: read_block(src, window, boundless=True).ravel() for name, src in sources.items()}
                areas = np.repeat(row_areas[r0:r0 + h], w)
                sub = transform * rasterio.Affine.translation(c0, r0)
                covered = {on_grid[z][0].name: (cells, fraction)
                           for z, cells, fraction in block_coverage(on_grid, crs, sub, (0, 0, h, w))}
                period_base = {**base, "period": period, "years": f"{span[0]}-{span[1]}", "timing": timing(a.start, span)}
                inside = covered.get("footprint")
                classes: list[int] = []
                if inside is not None and "lc_initial" in data:
                    cells, fraction = inside
                    initial = data["lc_initial"][cells]
                    classes = sorted({int(c) for c in initial[~np.isnan(initial) & (fraction > 0)] if int(c) != WATER})
                for zone in ("footprint", "ring"):
                    if zone not in covered:
                        continue
                    cells, fraction = covered[zone]
                    if zone == "ring" and "lc_initial" in data:  # the same land cover units as the footprint
                        keep = np.isin(data["lc_initial"][cells], classes)
                        cells, fraction = cells[keep], fraction[keep]
                    rows.append({**period_base, "zone": zone, "land_cover_classes": " ".join(map(str, classes)),
                                 **_zone_row(data, cells, fraction * areas[cells])})
        finally:
            for src in sources.values():
                src.close()
    frame = pd.DataFrame(rows)
    if not frame.empty and "zone" in frame:
        frame = frame.sort_values(["activity_id", "period", "zone"], na_position="first", kind="stable")
    return frame.reset_index(drop=True)


def activity_summary(activities: Sequence[Activity]) -> pd.DataFrame:
    """Per country and activity area, the number of activities by status and in all: every area listed for every
    country with an activity, so an area nobody works in shows as a row of zeros (the gaps NEAMSP reviews)."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACTIVITY_STATUSES, 0))
    for a in activities:
        counts[(a.country, a.area)][a.status] += 1
    rows = []
    for country in sorted({a.country for a in activities}):
        for code, (name, _) in ACTIVITY_AREAS.items():
            by_status = counts.get((country, code), dict.fromkeys(ACTIVITY_STATUSES, 0))
            rows.append({"country": country, "area": code, "area_name": name, **by_status,
                         "total": sum(by_status.values())})
    return pd.DataFrame(rows, columns=["country", "area", "area_name", *ACTIVITY_STATUSES, "total"])
