"""The zonal tables as files: CSV and Parquet per table, and the UNCCD workbook (SO1-1 to SO1-4 and the LDN
balance, per zone, km2) laid out as the Trends.Earth reporting workbook, with byte-stable zip times.
"""
from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.io.outputs.report_html import DROUGHT_COLUMNS, TOTAL, setting_rows, with_totals, yearly_land_cover

__all__ = ["write_tables", "write_workbook", "write_drought_workbook", "counterbalancing_summary"]


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
            shares = 100 * wide.drop(columns="total").div(wide["total"].where(wide["total"] > 0), axis=0)
            wide = pd.concat([wide, shares.add_suffix(" (% of class)")], axis=1)
            sheets["SO1-2 productivity"].append((
                f"LPD within each land cover class (final year), {zone} (km2, and % of each class's area)",
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
                                    "final stock on the final class) and its mean (t C/ha)",
                                    _soc_means(with_totals(tables["soc_land_cover"], ["class_name"]))))
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


def _soc_means(frame: pd.DataFrame) -> pd.DataFrame:
    """The SOC-by-class block with each class's mean stock (t C/ha: tonnes over km2 x 100), initial and final, as
    Trends.Earth's SOC sheet shows it; the totals rows' means from their sums, never averaged."""
    out = frame[["zone", "class_name", "initial_area_km2", "stock_initial_t", "final_area_km2", "stock_final_t",
                 "change_t"]].copy()
    for when in ("initial", "final"):
        area = out[f"{when}_area_km2"]
        out.insert(out.columns.get_loc(f"stock_{when}_t") + 1, f"mean_{when}_t_ha",
                   out[f"stock_{when}_t"] / (100 * area.where(area > 0)))
    return out


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
                   targets: pd.DataFrame | None = None, population: pd.DataFrame | None = None) -> Path:
    """One Excel workbook for a period in the UNCCD / Trends.Earth shape: SO1-1 land cover (areas, transition
    matrices), SO1-2 productivity (LPD, LPD per land cover class, transitions per LPD class), SO1-3 SOC (stocks,
    by class and by transition, in tonnes), SO1-4 SDG 15.3.1 (with the period), the sub-indicators, status and
    ``about``; totals on every table, bold headers, number formats, fitted columns and frozen headers. With
    ``population`` (the period's SO2-3 table) a "Population" sheet in Trends.Earth's layout.

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
    if population is not None and not population.empty:
        blocks["Population"] = [(f"{name}: land and people by SDG 15.3.1 class (SO2-3), population "
                                 f"{int(part.population_year.iloc[0])}", _population_sheet(part))
                                for name, part in population.groupby("zone", sort=False)]
    blocks["about"] = [("How these tables were made", _about(about))]
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
    return _save(book, path)


def _about(about: dict[str, Any]) -> pd.DataFrame:
    """A workbook's "about" table: each setting and its value as the report's method table reads them (nested
    settings named by their path, pairs of years as spans, tables line by line), not JSON."""
    rows = setting_rows(about)
    return pd.DataFrame({"field": [name for name, _ in rows], "value": [value for _, value in rows]})


def _save(book: Any, path: Path) -> Path:
    """Save a workbook with its document and zip entry times fixed, so an unchanged rerun writes the same bytes."""
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


_TE_DROUGHT = (("mild", "Mild drought"), ("moderate", "Moderate drought"), ("severe", "Severe drought"),
               ("extreme", "Extreme drought"), ("non_drought", "Non-drought"), ("nodata", "No data"))
"""Trends.Earth's drought columns, in its order: our table's column stem -> its header."""


def _area_under_drought(years: pd.DataFrame) -> pd.DataFrame:
    """Trends.Earth's "Area under drought by year" block for one zone: Year; Total area (sq km); then (Area (sq km),
    % of total) per class over the whole area; ours to the right: land, water and % of land with data."""
    out = pd.DataFrame({"Year": years["year"].astype(int), "Total area (sq km)": years["total_km2"]})
    for stem, label in _TE_DROUGHT:
        out[f"{label}: Area (sq km)"] = years[f"{stem}_km2"]
        out[f"{label}: % of total"] = years[f"{stem}_pct_of_total"]
    out["Land area (sq km)"] = years["land_km2"]
    out["Water (sq km)"] = years["water_km2"]
    for _, stem in DROUGHT_COLUMNS:
        out[f"{stem.replace('_', '-')}: % of land with data"] = years[f"{stem}_pct_of_land"]
    return out.reset_index(drop=True)


_TE_SDG_POPULATION = (("improved", "Improved land"), ("stable", "Stable land"), ("degraded", "Degraded land"),
                      ("no_data", "No data land"))
"""Trends.Earth's "Population" sheet rows: our SO2-3 table's column stem -> its label."""


def _population_sheet(part: pd.DataFrame) -> pd.DataFrame:
    """Trends.Earth's "Population" block for one zone: per class, Land Area (sq km), Percent of total land area,
    Population, Percent of total population; ours to the right: female and male (when split) and water apart."""
    row = part.iloc[0]
    out = pd.DataFrame({"": [label for _, label in _TE_SDG_POPULATION],
                        "Land Area (sq km)": [row[f"{s}_km2"] for s, _ in _TE_SDG_POPULATION],
                        "Percent of total land area": [row[f"{s}_pct_of_area"] for s, _ in _TE_SDG_POPULATION],
                        "Population": [row[f"{s}_total"] for s, _ in _TE_SDG_POPULATION],
                        "Percent of total population": [row[f"{s}_total_pct"] for s, _ in _TE_SDG_POPULATION]})
    for group in ("female", "male"):
        if f"{group}_population" in part.columns:
            out[f"Population ({group})"] = [row[f"{s}_{group}"] for s, _ in _TE_SDG_POPULATION]
            out[f"Percent of {group} population"] = [row[f"{s}_{group}_pct"] for s, _ in _TE_SDG_POPULATION]
    out["of which water (sq km; people)"] = ["", "", "", f"{row['water_km2']:.2f}; {int(row['water_total'])}"]
    return out


def _pop_under_drought(years: pd.DataFrame, group: str) -> pd.DataFrame:
    """Trends.Earth's "Pop under drought" block for one zone and group: Year; Total population; then (Population,
    % of total) per class."""
    out = pd.DataFrame({"Year": years["year"].astype(int), "Population year": years["population_year"].astype(int),
                        "Total population": years[f"{group}_population"]})
    for stem, label in _TE_DROUGHT:
        out[f"{label}: Population"] = years[f"{stem}_{group}"]
        out[f"{label}: % of total"] = years[f"{stem}_{group}_pct"]
    out["On water (not counted)"] = years[f"water_{group}"]
    return out.reset_index(drop=True)


def write_drought_workbook(years: pd.DataFrame, periods: pd.DataFrame, path: str | Path, *,
                           about: dict[str, Any], people: pd.DataFrame | None = None,
                           vulnerability: pd.DataFrame | None = None) -> Path:
    """The SO3-1 workbook in Trends.Earth's shape: sheet "Area under drought by year" (TE's header texts and column
    order, one block per zone and one for all zones, our land-based shares to the right), the worst year of each
    period per zone, and how the layers were made. Timestamps fixed, as ``write_workbook``'s."""
    from openpyxl import Workbook

    path = Path(path)
    book = Workbook()
    book.remove(book.active)
    ws = book.create_sheet("Area under drought by year")
    row = 1
    for zone_id, part in years.groupby("zone_id", sort=False):
        name = part["zone"].iloc[0]
        row = _write_block(ws, row, f"{name} ({zone_id})" if zone_id != "all" else "All zones",
                           _area_under_drought(part.sort_values("year")))
    if not periods.empty:
        ws = book.create_sheet("Worst year per period")
        row = 1
        for period, part in periods.groupby("period", sort=False):
            span = f"{int(part.first_year.iloc[0])}-{int(part.last_year.iloc[0])}"
            frame = _area_under_drought(part.assign(year=int(part.last_year.iloc[0])))
            frame.insert(0, "Zone", part["zone"].to_numpy())
            row = _write_block(ws, row, f"{period} ({span}): drought class of each cell's worst year",
                               frame.drop(columns=["Year"]))
    if people is not None and not people.empty:
        ws = book.create_sheet("Pop under drought (total)")
        row = 1
        for group in ("total", "female", "male"):
            if f"{group}_population" not in people.columns:
                continue
            for zone_id, part in people.groupby("zone_id", sort=False):
                name = part["zone"].iloc[0] if zone_id != "all" else "All zones"
                row = _write_block(ws, row, f"{name}: {group} people per drought class",
                                   _pop_under_drought(part.sort_values("year"), group))
    if vulnerability is not None and not vulnerability.empty:
        ws = book.create_sheet("Drought Vulnerability Index")
        row = 1
        for zone_id, part in vulnerability.groupby("zone_id", sort=False):
            part = part.sort_values("year")
            frame = pd.DataFrame({"Year": part["year"].astype(int)})
            for group, label in (("total", "total population"), ("male", "male population"),
                                 ("female", "female population")):
                if f"{group}_weighted_mean" in part.columns:
                    frame[f"Mean value over {label}"] = part[f"{group}_weighted_mean"]
            frame["Mean value over land (area-weighted)"] = part["area_weighted_mean"]
            frame["Population year"] = part["population_year"].astype(int)
            row = _write_block(ws, row, part["zone"].iloc[0] if zone_id != "all" else "All zones",
                               frame.reset_index(drop=True))
    ws = book.create_sheet("about")
    _write_block(ws, 1, "How these tables were made", _about(about))
    return _save(book, path)
