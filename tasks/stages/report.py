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

import json
import re
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import rasterio
import shapely
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from rasterio.windows import Window

from tasks.constants import ACTIVITY_AREAS, LPD_CLASSES, NODATA, THREE_CLASSES, WATER
from tasks.errors import ConfigError, NoZoneOverlap
from tasks.geo.areas import geodesic_area_km2, pixel_areas_km2
from tasks.geo.mosaic import wraps
from tasks.io.outputs.activity_overlay import activity_statistics, activity_summary
from tasks.io.outputs.layers import read_block
from tasks.io.outputs.quicklook import classes_of, quicklook_png
from tasks.io.outputs.report_html import TOTAL, ActivitySection, with_totals, write_html_report, yearly_land_cover
from tasks.io.outputs.styles import layer_style
from tasks.io.runtime.cache_keys import cache_key
from tasks.io.runtime.layer_cache import cache_for, link_file, open_entry, store_entry
from tasks.io.runtime.report_cache import PeriodTables, PeriodTablesCache
from tasks.io.sources.clip import project_area
from tasks.io.sources.integrity import file_fingerprint
from tasks.io.sources.registry import registry_fingerprint
from tasks.io.sources.run import RunContext
from tasks.io.sources.zones import Zone, block_coverage, default_zones, read_zones, zones_on_grid
from tasks.model import LayerRef, LayerSummary, ReportFiles
from tasks.science.activities import Activity, period_spans
from tasks.science.ldn_balance import balance_code, balance_table, balance_verdicts
from tasks.science.targets import TARGETS_FILE, TargetCatalog, load_targets, period_years, targets_table

__all__ = ["ActivityOverlay", "THREE_CLASS_LAYERS", "zonal_tables", "write_tables", "write_workbook", "build_report",
           "refs_from_layers", "about_period", "annual_ndvi_series", "zonal_ndvi_series", "run_sources", "period_label", "REPORT_MAPS", "load_zones", "report_task", "report_artifacts_task",
           "TABLE_NAMES", "BLOCK", "REPORT_FORMAT", "counterbalancing_summary"]

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


def _grid(paths: Iterable[str]) -> tuple[str, Any, tuple[int, int]]:
    grids = {}
    for p in paths:
        with rasterio.open(p) as src:
            grids[p] = (src.crs.to_wkt(), tuple(src.transform)[:6], src.shape)
    distinct = set(grids.values())
    if len(distinct) != 1:
        raise ConfigError("the layers of one period are on different grids: publish them from one run")
    wkt, transform, shape = distinct.pop()
    return wkt, rasterio.Affine(*transform), shape


def _zone_blocks(on_grid: list, crs: str, transform: Any, shape: tuple[int, int], row_areas: np.ndarray,
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
    crs, transform, shape = _grid(r.path for r in refs.values())
    on_grid = on_grid if on_grid is not None else zones_on_grid(zones, crs, transform, shape)
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    wanted = [k for k in (*THREE_CLASS_LAYERS, ("lpd", "data"), ("land-cover", "initial"), ("land-cover", "final"),
                          ("land-cover", "transition"), ("status", "data"), ("soc", "stock_first"),
                          ("soc", "stock_last"), *BALANCE_LAYERS) if k in refs]
    sources = {k: rasterio.open(refs[k].path) for k in wanted}
    acc = _Accumulator()
    try:
        for window, covered, areas in _zone_blocks(on_grid, crs, transform, shape, row_areas, block):
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


def write_tables(tables: dict[str, pd.DataFrame], folder: str | Path, stem: str) -> dict[str, str]:
    """Write each table as ``<stem>_<name>.csv`` and ``.parquet``; return asset key -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, frame in tables.items():
        csv, parquet = folder / f"{stem}_{name}.csv", folder / f"{stem}_{name}.parquet"
        frame.to_csv(csv, index=False, float_format="%.6f")
        frame.to_parquet(parquet, index=False)
        out[f"{name}_csv"], out[f"{name}_parquet"] = str(csv), str(parquet)
    return out


_SHEETS = {
    "SO1-1 land cover": ("land_cover", "land_cover_annual", "land_cover_transitions"),
    "SO1-2 productivity": ("lpd",),
    "SO1-3 SOC": ("soc",),
    "SO1-4 SDG 15.3.1": ("sdg_15_3_1",),
}
"""UNCCD reporting tables (strategic objective 1) -> the zonal tables behind them."""


def _so1_4(sdg: pd.DataFrame) -> pd.DataFrame:
    """The SO1-4 table: per zone, degraded land and its proportion of land (the indicator itself)."""
    rows = sdg[sdg["indicator"] == "sdg_15_3_1"]
    return pd.DataFrame({
        "zone": rows["zone"], "total land area (km2)": rows["land_km2"], "degraded (km2)": rows["degraded_km2"],
        "proportion degraded (% of land with data)": rows["degraded_pct"], "stable (km2)": rows["stable_km2"],
        "improved (km2)": rows["improved_km2"], "no data (km2)": rows["nodata_km2"],
    })


def _matrix(frame: pd.DataFrame, value: str, label: str) -> pd.DataFrame:
    """A 7 x 7 transition table (initial class rows, final class columns) with row and column totals."""
    wide = frame.pivot_table(index="initial_name", columns="final_name", values=value, sort=False, aggfunc="sum")
    wide["total"] = wide.sum(axis=1)
    wide.loc["total"] = wide.sum(axis=0)
    return wide.rename_axis(index=label, columns=None).reset_index()


def _workbook_blocks(tables: dict[str, pd.DataFrame], period: str) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Sheet -> [(block title with its unit, table)], in the shape of Trends.Earth's ``summary_table_ld_sdg.xlsx``."""
    sheets: dict[str, list[tuple[str, pd.DataFrame]]] = {name: [] for name in _SHEETS}
    zones = lambda frame: list(dict.fromkeys(frame["zone"]))  # noqa: E731 (in the tables' order)
    if "land_cover" in tables:
        lc = tables["land_cover"]
        sheets["SO1-1 land cover"].append(("Land cover area by class, initial and final year (km2)", with_totals(
            lc, ["class_name"])[["zone", "class_name", "initial_km2", "final_km2", "change_km2", "change_pct"]]))

    if "land_cover_annual" in tables:
        sheets["SO1-1 land cover"].append(("Land cover area by class and year, the run's whole area (km2)",
                                           yearly_land_cover(tables["land_cover_annual"])))

    def per_zone(sheet: str, table: str, value: str, title: str) -> None:
        """One transition matrix (with totals) per zone of ``table``; ``title`` takes the zone's name."""
        if table in tables:
            frame = tables[table]
            for zone in zones(frame):
                sheets[sheet].append((title.format(zone=zone), _matrix(frame[frame["zone"] == zone], value,
                                                                       "initial \\ final")))

    per_zone("SO1-1 land cover", "land_cover_transitions", "area_km2",
             "Land cover transitions, {zone} (km2; rows: initial, columns: final)")
    if "lpd" in tables:
        wide = tables["lpd"].pivot_table(index="zone", columns="class_name", values="area_km2", sort=False)
        sheets["SO1-2 productivity"].append(("Land productivity dynamics by class (km2)",
                                             with_totals(wide.reset_index().rename_axis(columns=None))))
    if "lpd_land_cover" in tables:
        cross = tables["lpd_land_cover"]
        for zone in zones(cross):
            wide = cross[cross["zone"] == zone].pivot_table(index="land_cover_name", columns="lpd_name",
                                                            values="area_km2", sort=False)
            wide["total"] = wide.sum(axis=1)
            wide.loc["total"] = wide.sum(axis=0)
            sheets["SO1-2 productivity"].append((f"LPD within each land cover class (final year), {zone} (km2)",
                                                 wide.rename_axis(index="land cover", columns=None).reset_index()))
    if "lpd_transitions" in tables:
        tr = tables["lpd_transitions"]
        for zone in zones(tr):
            for (code, name), part in tr[tr["zone"] == zone].groupby(["lpd_class", "lpd_name"], sort=True):
                sheets["SO1-2 productivity"].append((
                    f"Land cover transitions within LPD class {code} ({name}), {zone} (km2)",
                    _matrix(part, "area_km2", "initial \\ final")))
    if "soc" in tables:
        sheets["SO1-3 SOC"].append(("Soil organic carbon stock, initial and final year (tonnes C)", with_totals(
            tables["soc"])[["zone", "soc_area_km2", "nodata_km2", "stock_initial_t", "stock_final_t", "change_t",
                            "change_pct"]]))
    if "soc_land_cover" in tables:
        sheets["SO1-3 SOC"].append(("SOC stock by land cover class (tonnes C; initial stock on the initial class, "
                                    "final stock on the final class)", with_totals(tables["soc_land_cover"], ["class_name"])[
            ["zone", "class_name", "initial_area_km2", "stock_initial_t", "final_area_km2", "stock_final_t", "change_t"]]))
    per_zone("SO1-3 SOC", "soc_transitions", "change_t", "SOC stock change by land cover transition, {zone} (tonnes C)")
    if "sdg_15_3_1" in tables:
        so14 = _so1_4(with_totals(tables["sdg_15_3_1"], ["indicator"]))
        so14.insert(0, "period", period)
        sheets["SO1-4 SDG 15.3.1"].append(("Proportion of land that is degraded over total land area (km2, %)", so14))
    if "ldn_balance" in tables:
        summary = tables.get("ldn_balance_summary")
        sheets["Counterbalancing Summary"] = [
            (f"LDN balance per land type, {zone} (km2; gains: status 6-7, losses: status 1-2 against the baseline)",
             counterbalancing_summary(part, None if summary is None else summary[summary["zone"] == zone]))
            for zone, part in ((z, tables["ldn_balance"][tables["ldn_balance"]["zone"] == z])
                               for z in zones(tables["ldn_balance"]))]
    return sheets


def counterbalancing_summary(balance: pd.DataFrame, verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One zone's LDN balance in Trends.Earth's "Counterbalancing Summary" shape (Land Type, Gains (sq km), Losses
    (sq km), Δ LDN (sq km), LDN Achieved, a Total row), with our columns to the right: the land type's area with
    a status, Δ LDN as % of it, its area without one, and on the Total row whether every land type is balanced."""
    rows = pd.DataFrame({
        "Land Type": balance["land_type_name"], "Gains (sq km)": balance["gains_km2"],
        "Losses (sq km)": balance["losses_km2"], "Δ LDN (sq km)": balance["delta_ldn_km2"],
        "LDN Achieved": np.where(balance["ldn_achieved"], "Yes", "No"),
        "Area with status (sq km)": balance["area_km2"], "Δ LDN (% of area)": balance["delta_ldn_pct"],
        "No status (sq km)": balance["nodata_km2"], "Every land type balanced": "",
    })
    gains, losses = float(balance["gains_km2"].sum()), float(balance["losses_km2"].sum())
    area = float(balance["area_km2"].sum())
    every = "" if verdicts is None or not len(verdicts) else (
        "Yes" if bool(verdicts["every_land_type_balanced"].iloc[0]) else
        "No: " + str(verdicts["failing_land_types"].iloc[0]))
    total = {"Land Type": "Total", "Gains (sq km)": gains, "Losses (sq km)": losses, "Δ LDN (sq km)": gains - losses,
             "LDN Achieved": "Yes" if gains - losses >= 0 else "No", "Area with status (sq km)": area,
             "Δ LDN (% of area)": 100 * (gains - losses) / area if area > 0 else np.nan,
             "No status (sq km)": float(balance["nodata_km2"].sum()), "Every land type balanced": every}
    return pd.concat([rows, pd.DataFrame([total])], ignore_index=True)


def _write_block(ws: Any, row: int, title: str, frame: pd.DataFrame) -> int:
    """One titled table at ``row`` (bold title and header, number formats, bold total rows); the next free row."""
    from openpyxl.styles import Font, PatternFill

    ws.cell(row=row, column=1, value=title).font = Font(bold=True, size=12)
    header = Font(bold=True)
    fill = PatternFill("solid", fgColor="EEEEEE")
    for c, name in enumerate(frame.columns, start=1):
        cell = ws.cell(row=row + 1, column=c, value=str(name))
        cell.font, cell.fill = header, fill
    for r, values in enumerate(frame.itertuples(index=False), start=row + 2):
        total = any(v in (TOTAL, "total", "Total") for v in values[:2])
        for c, v in enumerate(values, start=1):
            if v is pd.NA:  # a nullable integer column's missing value (the targets table's years)
                v = None
            elif isinstance(v, (float, np.floating)):
                v = None if np.isnan(v) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            cell = ws.cell(row=r, column=c, value=v)
            if isinstance(v, float):
                cell.number_format = "#,##0.00"
            if total:
                cell.font = header
    return row + len(frame) + 3


def write_workbook(tables: dict[str, pd.DataFrame], path: str | Path, *, about: dict[str, Any],
                   targets: pd.DataFrame | None = None) -> Path:
    """One Excel workbook for a period in the UNCCD / Trends.Earth shape: SO1-1 land cover (areas, transition
    matrices), SO1-2 productivity (LPD, LPD per land cover class, transitions per LPD class), SO1-3 SOC (stocks,
    by class and by transition, in tonnes), SO1-4 SDG 15.3.1 (with the period), the sub-indicators, status and
    ``about``; totals on every table, bold headers, number formats, fitted columns and frozen headers.

    The workbook's timestamps are fixed (the zip entries' and the document's), so an unchanged rerun writes the
    same bytes and the published checksum does not change.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    path = Path(path)
    book = Workbook()
    book.remove(book.active)
    blocks = _workbook_blocks(tables, str(about.get("period", "")))
    if "sdg_15_3_1" in tables:
        blocks["sub-indicators"] = [("SDG 15.3.1 and its sub-indicators per zone (km2, % of land with data)",
                                     tables["sdg_15_3_1"])]
    if "status" in tables:
        blocks["status"] = [("Status against the baseline per zone (km2)", tables["status"])]
    if targets is not None:
        blocks["LDN targets"] = [("National LDN targets tracked over the periods: measured, the path to the target, "
                                  "on or off track (a comparison, not a causal claim; proxies named)", targets)]
    blocks["about"] = [("How these tables were made", pd.DataFrame(
        {"field": list(about), "value": [json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else str(v)
                                         for v in about.values()]}))]
    for sheet, parts in blocks.items():
        if not parts:
            continue
        ws = book.create_sheet(sheet)
        row = 1
        for title, frame in parts:
            row = _write_block(ws, row, title, frame)
        ws.freeze_panes = "B3"
        for c in range(1, ws.max_column + 1):
            cells = [ws.cell(row=r, column=c).value for r in range(2, ws.max_row + 1)]
            width = max((len(f"{v:,.2f}") if isinstance(v, float) else len(str(v)) for v in cells if v is not None),
                        default=8)
            ws.column_dimensions[get_column_letter(c)].width = min(max(10, width + 2), 60)
    fixed = datetime(2000, 1, 1)
    book.properties.created = fixed
    book.properties.modified = fixed
    book.save(path)
    _fix_zip_times(path)
    return path


def _fix_zip_times(path: Path) -> None:
    """Rewrite a zip (xlsx) with fixed entry times and the document's timestamps pinned."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    tmp.replace(path)


def build_report(layers: list[LayerRef], zones: tuple[Zone, ...], out_dir: str | Path, *, title: str,
                 about: dict[str, dict[str, Any]], periods: list[str] | None = None,
                 stem: str = "zonal", area: shapely.Geometry | None = None, series: pd.DataFrame | None = None,
                 sources: list[tuple[str, str]] | None = None, annual: dict[int, str] | None = None,
                 land_cover_years: dict[str, pd.DataFrame] | None = None,
                 targets: TargetCatalog | None = None, activities: ActivityOverlay | None = None,
                 period_cache: PeriodTablesCache | None = None) -> ReportFiles:
    """Zonal tables (CSV, Parquet), one UNCCD workbook per period and one HTML report, under ``out_dir``.

    ``area`` (lon/lat polygons: the region the layers were kept to) cuts every zone to it, so a zone
    beside the region gets no table of pixels that were never computed.

    ``periods`` defaults to every period the layers have (in their order); asking for one they do
    not have lists those they do. ``land_cover_years`` (period -> the land cover item's ``annual_areas`` table:
    class areas year by year over the run's area) becomes the period's ``land_cover_annual`` table (SO1-1).
    ``targets`` are tracked over the periods (``tasks.science.targets``): one ``targets`` table (CSV, Parquet)
    listed with every period's files, a sheet of each workbook and a section of the report. ``activities`` (a
    registry's records) are set beside the indicators: an ``activities`` table (footprint and ring per period), an
    ``activity_summary`` table (per country, area and status), both listed with every period's files, and a report
    section with a map. ``period_cache`` keeps each period's tables and maps and links those whose layers did not
    change (``tasks.io.runtime.report_cache``).
    """
    have = list(dict.fromkeys(r.period for r in layers))
    if not have:
        raise ConfigError("no published layers with a reporting period: run `ldn run` with periods that fit the years")
    for p in periods or []:
        if p not in have:
            raise ConfigError(f"no published layers for period {p!r}: choose one of {have}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    maps: dict[str, list[tuple[str, bytes]]] = {}
    for period in periods or have:
        if period_cache is not None and (kept := period_cache.get(period, out_dir)) is not None:
            frames[period], files[period], maps[period] = kept.frames, kept.files, kept.maps
            continue
        refs = {(r.indicator, r.asset): r for r in layers if r.period == period}
        grid = _grid(r.path for r in refs.values())
        on_grid = zones_on_grid(zones, *grid, within=_on_grid(area, *grid))  # once per period: tables and maps
        outlines = [(zone.name, g) for zone, g in on_grid]
        tables = zonal_tables(layers, zones, period=period, on_grid=on_grid)
        if land_cover_years and period in land_cover_years:
            tables["land_cover_annual"] = land_cover_years[period]
        frames[period] = tables
        files[period] = write_tables(tables, out_dir, f"{stem}_{period}")
        maps[period] = []
        label = period_label(period, about.get(period, {}))
        with tempfile.TemporaryDirectory() as tmp:
            for key, caption in REPORT_MAPS:
                if key not in refs or not refs[key].classes:
                    continue
                ref = refs[key]
                style = layer_style(title=caption, classes=ref.classes, units=None, scale=None, nodata=None,
                                    minimum=None, maximum=None)
                png = quicklook_png(ref.path, Path(tmp) / "map.png", title=f"{caption} ({period})", classes=ref.classes,
                                    colours={code: colour for code, (_, colour) in style.classes.items()},
                                    outlines=outlines)
                maps[period].append((f"{caption}, {label}", png.read_bytes()))
        if period_cache is not None:
            period_cache.put(period, PeriodTables(frames=tables, files=dict(files[period]), maps=maps[period]))
    tracked = None
    if targets is not None:
        years = {p: y for p in frames if (y := period_years(about.get(p, {}))) is not None}
        tracked = targets_table(targets, frames, years,
                                zone_km2={z.zone_id: geodesic_area_km2(z.geometry) for z in zones})
    for period, tables in frames.items():
        book = write_workbook(tables, out_dir / f"{stem}_{period}_unccd.xlsx", about={"period": period, **about.get(period, {})},
                              targets=tracked)
        files[period]["unccd_xlsx"] = str(book)
    if tracked is not None:
        written = write_tables({"targets": tracked}, out_dir, stem)
        for period in files:
            files[period].update(written)
    section = None
    if activities is not None:
        section = _activity_section(activities, layers, frames, about, area, out_dir, stem)
        for period in files:
            files[period].update(section[1])
    by_zone = zonal_ndvi_series(annual, zones, area=area, cache=period_cache) if annual else None
    html_path = write_html_report(out_dir / f"{stem}_report.html", title=title, tables=frames, maps=maps, about=about,
                                  labels={p: period_label(p, about.get(p, {})) for p in frames}, series=series,
                                  sources=sources, zone_series=by_zone, targets=tracked,
                                  activities=section[0] if section else None)
    return ReportFiles(tables=files, html=str(html_path), frames=frames)


@dataclass(frozen=True)
class ActivityOverlay:
    """The activity registry a report sets beside the indicators, and how (``tasks.io.outputs.activity_overlay``)."""

    activities: tuple[Activity, ...]
    registry: str
    ring_km: float = 5.0
    point_km: float = 1.0
    sample: bool = False


def _activity_section(overlay: ActivityOverlay, layers: list[LayerRef], frames: dict[str, Any],
                      about: dict[str, dict[str, Any]], area: shapely.Geometry | None, out_dir: Path,
                      stem: str) -> tuple[ActivitySection, dict[str, str]]:
    """The activities' statistics and summary tables (written) and the report section with its map."""
    windows = {p: (y.land_cover[0], y.sdg) for p in frames if (y := period_years(about.get(p, {}))) is not None}
    stats = activity_statistics(overlay.activities, layers, period_spans(windows), ring_km=overlay.ring_km,
                                point_km=overlay.point_km, on_grid_area=lambda c, t, s: _on_grid(area, c, t, s))
    summary = activity_summary(overlay.activities)
    written = write_tables({"activities": stats, "activity_summary": summary}, out_dir, stem)
    last = list(frames)[-1] if frames else None
    ref = next((r for r in layers if r.period == last and (r.indicator, r.asset) == ("sdg-15-3-1", "data")), None)
    png, caption = None, ""
    if ref is not None and ref.classes:
        with rasterio.open(ref.path) as src:
            grid = (src.crs.to_wkt(), src.transform, src.shape)
        placed = {row.activity_id for row in stats.itertuples() if row.coverage in ("inside", "partly outside")} \
            if not stats.empty else set()
        marks = [(_on_grid(a.footprint, *grid), ACTIVITY_AREAS[a.area][1])  # continued past 180 degrees as the grid is
                 for a in overlay.activities if a.id in placed and a.footprint is not None]
        shown = {ACTIVITY_AREAS[a.area][0]: ACTIVITY_AREAS[a.area][1] for a in overlay.activities if a.id in placed}
        style = layer_style(title="SDG 15.3.1", classes=ref.classes, units=None, scale=None, nodata=None, minimum=None,
                            maximum=None)
        label = period_label(last or "", about.get(last or "", {}))
        caption = f"Activities over SDG 15.3.1, {label}, coloured by activity area"
        with tempfile.TemporaryDirectory() as tmp:
            png = quicklook_png(ref.path, Path(tmp) / "activities.png", title=f"Activities over SDG 15.3.1 ({last})",
                                classes=ref.classes, colours={c: col for c, (_, col) in style.classes.items()},
                                marks=marks, mark_legend=shown).read_bytes()
    section = ActivitySection(registry=overlay.registry, statistics=stats, summary=summary, map_png=png,
                              map_caption=caption, ring_km=overlay.ring_km, point_km=overlay.point_km,
                              sample=overlay.sample)
    return section, written


REPORT_MAPS: tuple[tuple[tuple[str, str], str], ...] = (
    (("sdg-15-3-1", "data"), "SDG 15.3.1"),
    (("lpd", "data"), "Land productivity dynamics"),
    (("trajectory", "data"), "Productivity trajectory"),
    (("state", "data"), "Productivity state"),
    (("performance", "data"), "Productivity performance"),
    (("land-cover", "data"), "Land cover sub-indicator"),
    (("land-cover", "final"), "Land cover at the end of the period"),
    (("soc", "data"), "Soil organic carbon sub-indicator"),
    (("status", "data"), "Status against the baseline"),
    (("ldn-balance", "data"), "LDN balance: gains and losses since the baseline"),
)
"""(indicator, asset) -> caption of the class maps the report shows per period, in this order."""


def period_label(period: str, about: dict[str, Any]) -> str:
    """A period named with its years, as reporters need it: ``report_1 (productivity 2004-2019, land cover
    2015-2019)``; just the name when the windows are not known."""
    def years(key: str) -> str | None:
        window = about.get(key)
        return f"{window[0]}-{window[1]}" if isinstance(window, (list, tuple)) and len(window) == 2 else None

    parts = [f"{what} {span}" for what, key in (("productivity", "lpd window"), ("land cover", "land-cover window"))
             if (span := years(key))]
    return f"{period} ({', '.join(parts)})" if parts else period


def _on_grid(area: shapely.Geometry | None, crs: str, transform: Any, shape: tuple[int, int]) -> shapely.Geometry | None:
    """Lon/lat region polygons in a layer grid's CRS (continued past 180 degrees where the grid is)."""
    if area is None:
        return None

    return project_area(area, crs, over=wraps(GeoBox(shape, transform, crs)))


def refs_from_layers(layers: list[LayerSummary]) -> list[LayerRef]:
    """Report inputs from the layers a run just wrote (before they are published)."""
    return [LayerRef(indicator=layer.indicator, period=layer.period, asset=a.key, path=a.path,
                     classes=classes_of(a.attrs) if a.categorical else None)
            for layer in layers if layer.period for a in layer.assets]


def about_period(layers: list[LayerSummary], period: str) -> dict[str, Any]:
    """The method metadata of a period's SDG layer and sub-indicators, for the workbook and report."""
    out: dict[str, Any] = {}
    for layer in layers:
        if layer.period == period and layer.indicator in ("sdg-15-3-1", "lpd", "land-cover", "soc"):
            out[f"{layer.indicator} method"] = layer.attrs.get("method")
            out[f"{layer.indicator} window"] = list(layer.window) if layer.window else None
            params = {k: v for k, v in layer.attrs.items() if k not in ("method", "classes", "long_name", "_FillValue")}
            if params:
                out[f"{layer.indicator} parameters"] = params
    return out


def load_zones(zones: str | Path | None, zone_field: str | None = None) -> tuple[Zone, ...]:
    """The user's zone file, or the default North-East Asia countries when ``zones`` is None."""
    return default_zones() if zones is None else read_zones(zones, name_field=zone_field)


REPORT_FORMAT = 4
"""The report's own format in its cache key: bump it with any change to what the report writes (tables, columns,
sections, maps), so a cached report of the former code is not linked into a new version. 2: the activity tables;
3: activity footprints drawn densified and continued past 180 degrees as the grid is; 4: the LDN balance."""


@task(name="zonal-report", cache_policy=NO_CACHE)
def report_task(run: RunContext, layers: list[LayerSummary], staging: str) -> ReportFiles:
    """Zonal tables, UNCCD workbooks and the HTML report of a run, written into its staging folder."""
    cfg = run.cfg
    refs = refs_from_layers(layers)
    if not refs:
        return ReportFiles(tables={}, html="", frames={})
    periods = list(dict.fromkeys(r.period for r in refs))
    keys = [layer.cache_key for layer in layers]
    if not cfg.use_cache:
        return _report(run, layers, refs, periods, staging)
    zones = {"region": cfg.region_id, "zone_field": cfg.zone_field,
             "zones": file_fingerprint(cfg.zones) if cfg.zones else "default", "format": REPORT_FORMAT}
    by_period: dict[str, list[str | None]] = {}
    for layer in layers:
        if layer.period is not None:
            by_period.setdefault(layer.period, []).append(layer.cache_key)
    per_period = PeriodTablesCache(cache_for(cfg, "report-period"), {  # a period's tables: its layers and the zones
        period: {"period": period, "layers": sorted(k for k in period_keys if k is not None), **zones}
        for period, period_keys in by_period.items() if None not in period_keys}, cache_for(cfg, "report-ndvi"), {  # a year's means: its layer
        int(layer.year): {"layer": layer.cache_key, **zones} for layer in layers
        if layer.indicator == "ndvi-annual" and layer.year is not None and layer.cache_key is not None})
    if None in keys:
        return _report(run, layers, refs, periods, staging, per_period)

    key = cache_key("report", {"layers": sorted(keys), **zones,
                               "targets": file_fingerprint(cfg.ldn_targets or TARGETS_FILE),
                               "activities": [registry_fingerprint(run.activities), cfg.activity_ring_km,
                                              cfg.activity_point_km, run.sample_activities, run.activity_registry]
                               if run.activity_registry is not None else None})
    cache = cache_for(cfg, "report")
    folder = Path(staging) / "report"
    if (hit := open_entry(cache, key)) is not None:  # same layers, same zones: link the tables, workbooks and report
        entry, meta = hit
        return _linked_report(entry, meta, folder)
    report = _report(run, layers, refs, periods, staging, per_period)
    if report.html:
        names = [Path(p).relative_to(folder).as_posix() for t in report.tables.values() for p in t.values()]
        store_entry(cache, key, {n: folder / n for n in [*names, Path(report.html).name]}, {
            "tables": {period: {k: Path(p).name for k, p in t.items()} for period, t in report.tables.items()},
            "html": Path(report.html).name})
    return report


def _linked_report(entry: Path, meta: dict[str, Any], folder: Path) -> ReportFiles:
    """A cached report linked into a run's report folder; the SDG tables are read back for the artifacts."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in entry.iterdir():
        if f.name != "entry.json":
            link_file(f, folder / f.name)
    tables = {period: {k: str(folder / n) for k, n in t.items()} for period, t in meta["tables"].items()}
    frames = {period: {"sdg_15_3_1": pd.read_csv(t["sdg_15_3_1_csv"])} for period, t in tables.items()
              if "sdg_15_3_1_csv" in t}
    get_run_logger().info("zonal report: unchanged layers and zones, linked from the cache")
    return ReportFiles(tables=tables, html=str(folder / meta["html"]), frames=frames)


def annual_ndvi_series(layers: list[LayerSummary]) -> pd.DataFrame:
    """The region's annual NDVI (mean and mean of the annual maxima over the pixels with data) per year, from
    the statistics every annual layer already carries: no raster is read again."""
    rows: dict[int, dict[str, float]] = {}
    for layer in layers:
        if layer.indicator not in ("ndvi-annual", "ndvi-annual-max") or layer.year is None:
            continue
        main = next((a for a in layer.assets if a.key == "data"), None)
        if main is None or main.mean is None:
            continue
        scale = float(main.attrs.get("scale_factor") or 1.0)
        column = "mean_ndvi" if layer.indicator == "ndvi-annual" else "mean_max_ndvi"
        rows.setdefault(int(layer.year), {})[column] = main.mean * scale
    return pd.DataFrame([{"year": y, **v} for y, v in sorted(rows.items())])


def zonal_ndvi_series(paths: dict[int, str], zones: tuple[Zone, ...], *, area: shapely.Geometry | None = None,
                      block: int = BLOCK, cache: PeriodTablesCache | None = None) -> pd.DataFrame:
    """Per zone and year, the area-weighted mean annual NDVI over the zone's pixels with data (exact fractional
    coverage, true pixel areas), from the published annual NDVI layers (``year -> path``); the years ``cache``
    holds are not read again."""
    if not paths:
        return pd.DataFrame(columns=["zone", "year", "mean_ndvi"])
    crs, transform, shape = _grid(paths.values())
    on_grid = zones_on_grid(zones, crs, transform, shape, within=_on_grid(area, crs, transform, shape))
    means = {y: kept for y in paths if cache is not None and (kept := cache.series(y)) is not None
             and len(kept) == len(on_grid)}
    todo = sorted(y for y in paths if y not in means)
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    sums = np.zeros((len(on_grid), len(todo)))
    weights_with_data = np.zeros((len(on_grid), len(todo)))
    sources = [rasterio.open(paths[y]) for y in todo]
    try:
        for window, covered, areas in _zone_blocks(on_grid, crs, transform, shape, row_areas, block) if todo else ():
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


def run_sources(run: RunContext) -> list[tuple[str, str]]:
    """(name, description) of the inputs a run used, and the expert recode polygons it applied, for the report."""
    cfg, sources = run.cfg, run.sources
    out = []
    for label, name in (("NDVI", cfg.ndvi_source), ("land cover", cfg.land_cover_source), ("SOC", cfg.soc_source)):
        try:
            source = sources.get(name)
        except ConfigError:
            continue
        where = f"STAC collection {source.stac.collection}" if source.stac else f"file {Path(str(source.file)).name}"
        out.append((f"{label}: {name}", f"{' '.join(source.description.split())} ({where})"))
    if cfg.recode_polygons is not None:
        out.append(("expert recode polygons", f"{Path(cfg.recode_polygons).name}, applied to SDG 15.3.1 after "
                                              "computation (see the SDG items' ldn:parameters)"))
    return out


def _report(run: RunContext, layers: list[LayerSummary], refs: list[LayerRef], periods: list[str],
            staging: str, per_period: PeriodTablesCache | None = None) -> ReportFiles:
    cfg = run.cfg
    try:
        report = build_report(refs, load_zones(cfg.zones, cfg.zone_field), Path(staging) / "report",
                              title=f"SDG 15.3.1 report: {cfg.region_id}", periods=periods,
                              about={p: about_period(layers, p) for p in periods}, stem=f"zonal-{cfg.region_id}",
                              area=run.area_polygons.geometry if run.area_polygons is not None else None,
                              series=annual_ndvi_series(layers), sources=run_sources(run),
                              annual={int(layer.year): next(a.path for a in layer.assets if a.key == "data")
                                      for layer in layers if layer.indicator == "ndvi-annual" and layer.year},
                              land_cover_years={layer.period: pd.read_csv(layer.tables["annual_areas"]) for layer in layers
                                                if layer.indicator == "land-cover" and layer.period
                                                and "annual_areas" in layer.tables},
                              targets=load_targets(cfg.ldn_targets or TARGETS_FILE),
                              activities=ActivityOverlay(run.activities, run.activity_registry,
                                                         cfg.activity_ring_km, cfg.activity_point_km,
                                                         run.sample_activities)
                              if run.activity_registry is not None else None, period_cache=per_period)
        if per_period is not None and per_period.hits:
            get_run_logger().info("zonal tables of %s: unchanged layers and zones, linked from the cache",
                                  ", ".join(per_period.hits))
    except NoZoneOverlap:
        if cfg.zones is not None:
            raise
        get_run_logger().warning("no North-East Asia country overlaps the run's area: no zonal tables "
                                 "(pass --zones to report on your own polygons)")
        return ReportFiles(tables={}, html="", frames={})
    return report


@task(name="report-artifacts", cache_policy=NO_CACHE)
def report_artifacts_task(run: RunContext, report: ReportFiles, layers: list[LayerSummary], staging: str,
                          catalog: str) -> None:
    """Prefect artifacts of a published run: per period a table of SDG 15.3.1 per country (km2 and %) with
    links to the published layer and tables, the national LDN targets table, and a markdown summary linking the
    report and the catalog."""
    version = Path(catalog).parent

    def published(path: str) -> str:  # the staging folder became the version folder
        return (version / Path(path).relative_to(staging)).resolve().as_uri() if path else ""

    sdg_layers = {layer.period: layer.path for layer in layers if layer.indicator == "sdg-15-3-1"}
    cfg = run.cfg
    lines = [f"# SDG 15.3.1, {cfg.region_id}", "", f"Catalog: {Path(catalog).resolve().as_uri()}",
             *([f"Report: {published(report.html)}"] if report.html else []), "",
             "| period | zone | degraded % | stable % | improved % | land km2 |", "|---|---|---|---|---|---|"]
    for period, frames in report.frames.items():
        sdg = frames.get("sdg_15_3_1")
        if sdg is None:
            continue
        rows = sdg[sdg["indicator"] == "sdg_15_3_1"]
        table = rows[["zone", "land_km2", "degraded_km2", "stable_km2", "improved_km2", "degraded_pct",
                      "nodata_km2"]].round(3).to_dict(orient="records")
        layer = published(sdg_layers.get(period, ""))
        csv = published(next((v for k, v in report.tables.get(period, {}).items() if k.endswith("sdg_15_3_1_csv")), ""))
        for row in table:
            row.update(layer=layer, table=csv)
        create_table_artifact(key=f"sdg-15-3-1-{cfg.region_id}-{period}".lower().replace("_", "-"), table=table,
                              description=f"SDG 15.3.1 per zone, {period} (km2); layer {layer}")
        lines += [f"| {period} | {r.zone} | {r.degraded_pct:.2f} | {r.stable_pct:.2f} | {r.improved_pct:.2f} | "
                  f"{r.land_km2:,.1f} |" for r in rows.itertuples()]
    tables = {key: path for period_tables in report.tables.values() for key, path in period_tables.items()}
    targets = tables.get("targets_csv")  # the run-wide tables: the same file in every period's list
    if targets:  # the national LDN targets: one table for the run, the same file every period's item lists
        tracked = pd.read_csv(version / Path(targets).relative_to(staging))  # published by now
        table = tracked[["country", "target_id", "period", "year", "measured", "path", "gap", "status", "unit",
                         "proxy", "note"]].astype(object).where(tracked.notna(), None).to_dict(orient="records")
        create_table_artifact(key=f"ldn-targets-{cfg.region_id}".lower().replace("_", "-"), table=table,
                              description=f"National LDN targets tracked over the periods; table {published(targets)}")
        lines += ["", f"LDN targets: {published(targets)}", "",
                  *(f"- {r.country} {r.target_id}, {r.period}: {r.status}" for r in tracked.itertuples()
                    if isinstance(r.period, str))]
    if "activity_summary_csv" in tables:  # the registry's activities: one summary for the run, like the targets
        summary = pd.read_csv(version / Path(tables["activity_summary_csv"]).relative_to(staging))
        stats = published(tables.get("activities_csv", ""))
        create_table_artifact(key=f"ldn-activities-{cfg.region_id}".lower().replace("_", "-"),
                              table=summary[summary["total"] > 0].to_dict(orient="records"),
                              description=f"NEAMSP activities per country, area and status (areas with none are "
                                          f"in the published table); statistics {stats}")
        lines += ["", f"Activities: {int(summary['total'].sum())} in the registry; per activity and period: {stats}"]
    create_markdown_artifact(key=f"ldn-run-{cfg.region_id}".lower().replace("_", "-"), markdown="\n".join(lines),
                             description="Per-zone SDG 15.3.1 of this run, with links to the published version")
