"""Zonal tables (method notes section 6): per period and zone, areas in km2 of every class of
SDG 15.3.1, its sub-indicators, LPD, land cover, SOC and status, from published layers.

Rules, stated once:

- **Areas** are true pixel areas (``tasks.geo.areas``) times each zone's exact fractional coverage of
  the pixel (``tasks.io.sources.zones``), so a pixel on a border is shared in proportion to area.
- **Total** is the zone's area on the layers' grid; **water** is the area of land cover class 7
  (water body) in the period's final land cover map; **land** is total minus water; **nodata** is
  land where the layer has no value. Percentages are of land with a value (land minus nodata), and
  the nodata share of land is shown beside them, so degraded + stable + improved + nodata = land.
- Land cover tables (SO1-1) cover all 7 classes including water, over the total area.
- SOC totals are stocks in tonnes of carbon (t C/ha x ha) over land with a value in both years.

Tables are computed in one pass over blocks of the layers, so memory stays at a few blocks.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import numpy as np
import pandas as pd
import rasterio
import shapely
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tasks.constants import LPD_CLASSES, NODATA, THREE_CLASSES, WATER
from tasks.errors import ConfigError
from tasks.geo.areas import pixel_areas_km2
from tasks.geo.mosaic import wraps
from tasks.io.outputs.layers import read_block
from tasks.io.runtime.report_cache import PeriodTablesCache
from tasks.io.sources.clip import project_area
from tasks.io.sources.zones import Zone, block_coverage, zones_on_grid
from tasks.model import LayerRef
from tasks.science.ldn_balance import balance_code, balance_table, balance_verdicts

__all__ = ["zonal_tables", "zonal_ndvi_series", "sums_by_code", "zone_blocks", "layers_grid", "region_on_grid", "THREE_CLASS_LAYERS",
           "TABLE_NAMES", "BALANCE_LAYERS", "BLOCK"]


BLOCK = 1024
"""Rows and columns of the blocks the tables are accumulated over."""


THREE_CLASS_LAYERS: dict[tuple[str, str], str] = {
    ("sdg-15-3-1", "data"): "sdg_15_3_1",
    ("lpd", "sdg"): "productivity",
    ("land-cover", "data"): "land_cover",
    ("soc", "data"): "soc",
    ("trajectory", "data"): "trajectory",
    ("state", "data"): "state",
    ("performance", "data"): "performance",
}
"""(collection, asset) of every 3-class layer -> its name in the SDG table."""


TABLE_NAMES: tuple[str, ...] = ("sdg_15_3_1", "lpd", "lpd_land_cover", "lpd_transitions", "land_cover",
                                 "land_cover_transitions", "soc", "soc_land_cover", "soc_transitions", "status",
                                 "ldn_balance", "ldn_balance_summary")
"""Every zonal table, in report order (``status`` and the LDN balance only for reporting periods). ``lpd_land_cover``:
LPD within each land cover class (at the period's end); ``lpd_transitions``: the land cover transition matrix per LPD
class (UNCCD SO1-2); ``soc_land_cover`` and ``soc_transitions``: SOC stocks by land cover class and transition
(SO1-3); ``ldn_balance``: gains, losses and delta LDN per land type, ``ldn_balance_summary``: each zone's net balance
and whether every land type is balanced (UNCCD method notes section 6)."""


BALANCE_LAYERS: tuple[tuple[str, str], tuple[str, str]] = (("ldn-balance", "data"), ("ldn-balance", "land_type"))
"""The LDN balance's gains/losses and land type layers, tallied together."""


class _Accumulator:
    """km2 per (zone, layer, code) and SOC sums, added block by block."""

    def __init__(self) -> None:
        self.area: dict[tuple[int, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.total: dict[int, float] = defaultdict(float)
        self.water: dict[int, float] = defaultdict(float)
        self.soc: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.soc_by: dict[int, dict[int, np.ndarray]] = defaultdict(dict)  # zone -> transition -> [km2, t first, t last]
        self.balance_untyped: dict[int, float] = defaultdict(float)  # km2 with a gain/loss status but no land type

    def add_soc(self, zone: int, transitions: np.ndarray, weights: np.ndarray, first_t: np.ndarray,
                last_t: np.ndarray) -> None:
        values, sums = sums_by_code(transitions, weights, first_t, last_t)
        target = self.soc_by[zone]
        for v, row in zip(values.tolist(), np.stack(sums, 1)):
            target[int(v)] = target.get(int(v), np.zeros(3)) + row

    def add_codes(self, zone: int, key: str, codes: np.ndarray, weights: np.ndarray) -> None:
        values, (sums,) = sums_by_code(codes, weights)
        target = self.area[(zone, key)]
        for v, s in zip(values.tolist(), sums.tolist()):
            target[int(v)] += s


def sums_by_code(codes: np.ndarray, *weights: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct integer ``codes`` (sorted) and, for each of ``weights``, its sum per code: what every zonal table
    adds up block by block. Codes within 65,536 of each other (class codes with -32768 nodata) are counted in
    place instead of sorted; each sum adds its values in the order given either way, so the floats are the same."""
    if codes.size and int(codes.max()) - int(codes.min()) < 1 << 16:
        low = codes.min()
        index = (codes - low).astype(np.intp)
        present = np.flatnonzero(np.bincount(index))
        return present + low, [np.bincount(index, weights=w)[present] for w in weights]
    values, inverse = np.unique(codes, return_inverse=True)
    return values, [np.bincount(inverse, weights=w, minlength=values.size) for w in weights]


def layers_grid(paths: Iterable[str]) -> tuple[str, Any, tuple[int, int]]:
    """The one grid (CRS WKT, transform, shape) of a period's layers; layers on different grids are an error."""
    grids = {}
    for p in paths:
        with rasterio.open(p) as src:
            grids[p] = (src.crs.to_wkt(), tuple(src.transform)[:6], src.shape)
    distinct = set(grids.values())
    if len(distinct) != 1:
        raise ConfigError("the layers of one period are on different grids: publish them from one run")
    wkt, transform, shape = distinct.pop()
    return wkt, rasterio.Affine(*transform), shape


def zone_blocks(on_grid: list, crs: str, transform: Any, shape: tuple[int, int], row_areas: np.ndarray,
                 block: int) -> Iterable[tuple[Window, list, np.ndarray]]:
    """The grid's blocks that some zone touches: (window, [(zone, flat cells, covered fraction)], km2 per cell)."""
    for row in range(0, shape[0], block):
        for col in range(0, shape[1], block):
            h, w = min(block, shape[0] - row), min(block, shape[1] - col)
            covered = list(block_coverage(on_grid, crs, transform, (row, col, h, w)))
            if covered:
                yield Window(col, row, w, h), covered, np.repeat(row_areas[row:row + h], w)


def zonal_tables(layers: list[LayerRef], zones: tuple[Zone, ...], *, period: str,
                 block: int = BLOCK, on_grid: list | None = None) -> dict[str, pd.DataFrame]:
    """Every zonal table of one period, from its published layers and a set of zones.

    Returns DataFrames keyed by ``TABLE_NAMES`` (only those the layers allow). Raises when no zone
    overlaps the layers or the layers are on different grids. ``on_grid`` is the zones already
    projected onto the layers' grid (``zones_on_grid``), when the caller has them.
    """
    refs = {(r.indicator, r.asset): r for r in layers if r.period == period}
    if not refs:
        raise ConfigError(f"no published layers for period {period!r}: choose one the catalog has")
    crs, transform, shape = layers_grid(r.path for r in refs.values())
    on_grid = on_grid if on_grid is not None else zones_on_grid(zones, crs, transform, shape)
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    wanted = [k for k in (*THREE_CLASS_LAYERS, ("lpd", "data"), ("land-cover", "initial"), ("land-cover", "final"),
                          ("land-cover", "transition"), ("status", "data"), ("soc", "stock_first"),
                          ("soc", "stock_last"), *BALANCE_LAYERS) if k in refs]
    sources = {k: rasterio.open(refs[k].path) for k in wanted}
    acc = _Accumulator()
    try:
        for window, covered, areas in zone_blocks(on_grid, crs, transform, shape, row_areas, block):
            data = {k: read_block(src, window).ravel() for k, src in sources.items()}
            final = data.get(("land-cover", "final"))
            for z, cells, fraction in covered:
                weights = fraction * areas[cells]
                acc.total[z] += float(weights.sum())
                land = np.ones(cells.size, bool)
                if final is not None:
                    water = final[cells] == WATER
                    acc.water[z] += float(weights[water].sum())
                    land = ~water
                for key, values in data.items():
                    v = values[cells]
                    if key[1].startswith("stock_") or key in BALANCE_LAYERS:
                        continue
                    over = np.ones(cells.size, bool) if key[0] == "land-cover" and key[1] != "data" else land
                    codes = np.where(np.isnan(v[over]), NODATA, v[over]).astype("int64")
                    acc.add_codes(z, "/".join(key), codes, weights[over])
                transition = data.get(("land-cover", "transition"))
                if ("lpd", "data") in data and transition is not None:  # LPD x land cover transition, on land
                    lpd, trans = data[("lpd", "data")][cells], transition[cells]
                    ok = land & ~np.isnan(lpd) & ~np.isnan(trans)
                    acc.add_codes(z, "lpd x transition", (lpd[ok] * 100 + trans[ok]).astype("int64"), weights[ok])
                if all(k in data for k in BALANCE_LAYERS):  # gains and losses by land type (LDN balance)
                    gl = data[BALANCE_LAYERS[0]][cells]
                    lt = data[BALANCE_LAYERS[1]][cells]
                    typed, assessed = ~np.isnan(lt), ~np.isnan(gl)
                    acc.add_codes(z, "balance", balance_code(lt[typed], np.where(assessed[typed], gl[typed], NODATA)),
                                  weights[typed])
                    acc.balance_untyped[z] += float(weights[assessed & ~typed].sum())
                if ("soc", "stock_first") in data and ("soc", "stock_last") in data:
                    first, last = data[("soc", "stock_first")][cells], data[("soc", "stock_last")][cells]
                    ok = land & ~np.isnan(first) & ~np.isnan(last)
                    hectares = weights[ok] * 100.0
                    acc.soc[z]["area_km2"] += float(weights[ok].sum())
                    acc.soc[z]["first_t"] += float((first[ok] * hectares).sum())
                    acc.soc[z]["last_t"] += float((last[ok] * hectares).sum())
                    if transition is not None:
                        trans = transition[cells][ok]
                        known = ~np.isnan(trans)
                        acc.add_soc(z, trans[known].astype("int64"), weights[ok][known],
                                    (first[ok] * hectares)[known], (last[ok] * hectares)[known])
    finally:
        for src in sources.values():
            src.close()
    return _frames(acc, on_grid, refs, period)


def _base(zone: Zone, acc: _Accumulator, z: int, period: str) -> dict[str, Any]:
    total, water = acc.total[z], acc.water[z]
    return {"period": period, "zone_id": zone.zone_id, "zone": zone.name, "total_km2": total,
            "water_km2": water, "land_km2": total - water}


def _pct(km2: float, valid: float, land: float) -> float:
    """``km2`` as a percentage of ``valid`` (the land with data), NaN where there is none. ``valid`` is land minus
    nodata, two sums of the same pixels in different orders: where every pixel is nodata it is rounding noise
    (+-1e-9 km2 of 7e4), which must read as "no data", not as 0 %."""
    return 100 * km2 / valid if valid > land * 1e-9 else np.nan


def _frames(acc: _Accumulator, on_grid: list, refs: dict, period: str) -> dict[str, pd.DataFrame]:
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for z, (zone, _) in enumerate(on_grid):
        base = _base(zone, acc, z, period)
        land = base["land_km2"]
        for key, name in THREE_CLASS_LAYERS.items():
            if key not in refs:
                continue
            km2 = acc.area[(z, "/".join(key))]
            nodata = km2.get(NODATA, 0.0)
            valid = land - nodata
            row = {**base, "indicator": name}
            for code, (label, _) in sorted(THREE_CLASSES.items()):
                row[f"{label}_km2"] = km2.get(code, 0.0)
            for code, (label, _) in sorted(THREE_CLASSES.items()):
                row[f"{label}_pct"] = _pct(km2.get(code, 0.0), valid, land)
            row["nodata_km2"] = nodata
            row["nodata_pct_of_land"] = 100 * nodata / land if land > 0 else np.nan
            tables["sdg_15_3_1"].append(row)
        for key, table, classes in ((("lpd", "data"), "lpd", {k: v[0] for k, v in LPD_CLASSES.items()}),
                                    (("status", "data"), "status", None)):
            if key not in refs:
                continue
            names = refs[key].classes or classes or {}
            km2 = acc.area[(z, "/".join(key))]
            nodata = km2.get(NODATA, 0.0)
            valid = land - nodata
            for code in sorted(names):
                tables[table].append({**base, "class": int(code), "class_name": names[code], "area_km2": km2.get(code, 0.0),
                                      "pct_of_land": _pct(km2.get(code, 0.0), valid, land),
                                      "nodata_km2": nodata})
        if ("land-cover", "initial") in refs and ("land-cover", "final") in refs:
            names = refs[("land-cover", "initial")].classes or {}
            first, last = acc.area[(z, "land-cover/initial")], acc.area[(z, "land-cover/final")]
            total = base["total_km2"]
            for code in sorted(names):
                a, b = first.get(code, 0.0), last.get(code, 0.0)
                tables["land_cover"].append({**base, "class": int(code), "class_name": names[code], "initial_km2": a,
                                             "final_km2": b, "change_km2": b - a,
                                             "change_pct": 100 * (b - a) / a if a > 0 else np.nan})
            tables["land_cover"].append({**base, "class": NODATA, "class_name": "nodata",
                                         "initial_km2": first.get(NODATA, 0.0), "final_km2": last.get(NODATA, 0.0),
                                         "change_km2": last.get(NODATA, 0.0) - first.get(NODATA, 0.0), "change_pct": np.nan})
            if ("land-cover", "transition") in refs:
                km2 = acc.area[(z, "land-cover/transition")]
                base = {**base, "nodata_km2": km2.get(NODATA, 0.0)}
                for i in sorted(names):
                    for j in sorted(names):
                        tables["land_cover_transitions"].append({
                            **base, "initial_class": int(i), "initial_name": names[i], "final_class": int(j),
                            "final_name": names[j], "area_km2": km2.get(10 * int(i) + int(j), 0.0),
                            "pct_of_total": 100 * km2.get(10 * int(i) + int(j), 0.0) / total if total > 0 else np.nan})
        lc_names = (refs.get(("land-cover", "initial")) or refs.get(("land-cover", "final")) or LayerRef("", "", "", "")).classes or {}
        if (z, "lpd x transition") in acc.area and lc_names:
            _lpd_cross_tables(tables, base, acc.area[(z, "lpd x transition")], lc_names,
                              refs[("lpd", "data")].classes or {k: v[0] for k, v in LPD_CLASSES.items()})
        if acc.soc_by.get(z) and lc_names:
            _soc_cross_tables(tables, base, acc.soc_by[z], lc_names)
        if all(k in refs for k in BALANCE_LAYERS):
            names = refs[BALANCE_LAYERS[1]].classes or {}
            where = {"period": period, "zone_id": zone.zone_id, "zone": zone.name}
            table = balance_table(acc.area.get((z, "balance"), {}), names, where)
            tables["ldn_balance"] += table.to_dict("records")
            tables["ldn_balance_summary"].append(balance_verdicts(table, where, acc.balance_untyped.get(z, 0.0)))
        if z in acc.soc:
            s = acc.soc[z]
            tables["soc"].append({**base, "soc_area_km2": s["area_km2"], "nodata_km2": base["land_km2"] - s["area_km2"], "stock_initial_t": s["first_t"],
                                  "stock_final_t": s["last_t"], "change_t": s["last_t"] - s["first_t"],
                                  "change_pct": 100 * (s["last_t"] - s["first_t"]) / s["first_t"] if s["first_t"] else np.nan,
                                  "mean_initial_t_ha": s["first_t"] / (s["area_km2"] * 100) if s["area_km2"] else np.nan,
                                  "mean_final_t_ha": s["last_t"] / (s["area_km2"] * 100) if s["area_km2"] else np.nan})
    return {name: pd.DataFrame(tables[name]) for name in TABLE_NAMES if tables.get(name)}


def _lpd_cross_tables(tables: dict[str, list[dict[str, Any]]], base: dict[str, Any], km2: dict[int, float],
                      lc_names: dict[int, str], lpd_names: dict[int, str]) -> None:
    """LPD within each land cover class (at the period's end) and the transition matrix per LPD class, from the
    areas of ``lpd * 100 + 10 * initial + final`` codes (UNCCD SO1-2)."""
    base = {k: v for k, v in base.items() if k not in ("nodata_km2",)}
    for lpd in sorted(lpd_names):
        for final in sorted(lc_names):
            area = sum(km2.get(int(lpd) * 100 + 10 * int(i) + int(final), 0.0) for i in lc_names)
            tables["lpd_land_cover"].append({**base, "land_cover_class": int(final), "land_cover_name": lc_names[final],
                                             "lpd_class": int(lpd), "lpd_name": lpd_names[lpd], "area_km2": area})
        for i in sorted(lc_names):
            for j in sorted(lc_names):
                tables["lpd_transitions"].append({
                    **base, "lpd_class": int(lpd), "lpd_name": lpd_names[lpd], "initial_class": int(i),
                    "initial_name": lc_names[i], "final_class": int(j), "final_name": lc_names[j],
                    "area_km2": km2.get(int(lpd) * 100 + 10 * int(i) + int(j), 0.0)})


def _soc_cross_tables(tables: dict[str, list[dict[str, Any]]], base: dict[str, Any], sums: dict[int, np.ndarray],
                      lc_names: dict[int, str]) -> None:
    """SOC stocks by land cover class (the initial stock on the initial class, the final stock on the final class)
    and by transition (UNCCD SO1-3), in tonnes of carbon over the land with an SOC estimate."""
    base = {k: v for k, v in base.items() if k not in ("nodata_km2",)}
    zero = np.zeros(3)
    for i in sorted(lc_names):
        initial = sum((sums.get(10 * int(i) + int(j), zero) for j in lc_names), zero)
        final = sum((sums.get(10 * int(j) + int(i), zero) for j in lc_names), zero)
        tables["soc_land_cover"].append({
            **base, "class": int(i), "class_name": lc_names[i], "initial_area_km2": initial[0],
            "stock_initial_t": initial[1], "final_area_km2": final[0], "stock_final_t": final[2],
            "change_t": final[2] - initial[1]})
    for i in sorted(lc_names):
        for j in sorted(lc_names):
            area, first, last = sums.get(10 * int(i) + int(j), zero)
            tables["soc_transitions"].append({
                **base, "initial_class": int(i), "initial_name": lc_names[i], "final_class": int(j),
                "final_name": lc_names[j], "area_km2": area, "stock_initial_t": first, "stock_final_t": last,
                "change_t": last - first, "change_pct": 100 * (last - first) / first if first > 0 else np.nan})


def region_on_grid(area: shapely.Geometry | None, crs: str, transform: Any, shape: tuple[int, int]) -> shapely.Geometry | None:
    """Lon/lat region polygons in a layer grid's CRS (continued past 180 degrees where the grid is)."""
    if area is None:
        return None

    return project_area(area, crs, over=wraps(GeoBox(shape, transform, crs)))


def zonal_ndvi_series(paths: dict[int, str], zones: tuple[Zone, ...], *, area: shapely.Geometry | None = None,
                      block: int = BLOCK, cache: PeriodTablesCache | None = None) -> pd.DataFrame:
    """Per zone and year, the area-weighted mean annual NDVI over the zone's pixels with data (exact fractional
    coverage, true pixel areas), from the published annual NDVI layers (``year -> path``); the years ``cache``
    holds are not read again."""
    if not paths:
        return pd.DataFrame(columns=["zone", "year", "mean_ndvi"])
    crs, transform, shape = layers_grid(paths.values())
    on_grid = zones_on_grid(zones, crs, transform, shape, within=region_on_grid(area, crs, transform, shape))
    means = {y: kept for y in paths if cache is not None and (kept := cache.series(y)) is not None
             and len(kept) == len(on_grid)}
    todo = sorted(y for y in paths if y not in means)
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    sums = np.zeros((len(on_grid), len(todo)))
    weights_with_data = np.zeros((len(on_grid), len(todo)))
    sources = [rasterio.open(paths[y]) for y in todo]
    try:
        for window, covered, areas in zone_blocks(on_grid, crs, transform, shape, row_areas, block) if todo else ():
            for k, src in enumerate(sources):
                values = read_block(src, window).ravel()
                for z, cells, fraction in covered:
                    v, wgt = values[cells], fraction * areas[cells]
                    ok = ~np.isnan(v)
                    sums[z, k] += float((v[ok] * wgt[ok]).sum())
                    weights_with_data[z, k] += float(wgt[ok].sum())
    finally:
        for src in sources:
            src.close()
    for k, year in enumerate(todo):
        means[year] = [sums[z, k] / weights_with_data[z, k] if weights_with_data[z, k] > 0 else np.nan
                       for z in range(len(on_grid))]
        if cache is not None:
            cache.put_series(year, means[year])
    return pd.DataFrame([{"zone": zone.name, "year": year, "mean_ndvi": means[year][z]}
                         for z, (zone, _) in enumerate(on_grid) for year in sorted(paths)])
