"""A self-contained HTML report of one run: maps, per-zone tables, a bar chart and the method metadata.

Everything (PNG maps and charts) is embedded as base64, so the file can be mailed or attached to a
STAC item and opens offline in any browser.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from tasks.constants import DROUGHT_CLASSES, LPD_CLASSES, THREE_CLASSES
from tasks.io.outputs.method_doc import METHOD_TITLE, method_body

__all__ = ["ActivitySection", "DroughtSection", "PeopleSection", "drought_years_png", "DROUGHT_COLUMNS", "TOTAL", "bar_chart_png", "land_cover_bars_png", "land_cover_years_png", "yearly_land_cover", "lpd_by_land_cover_png", "method_table", "soc_by_land_cover_png",
           "transition_heatmap_png", "ndvi_series_png", "target_png", "with_totals",
           "write_html_report"]


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


TOTAL = "all zones (sum)"
"""The zone name of the rows that add up every zone of a table (and of the bar beside the zones')."""


def _pct_of_land(frame: pd.DataFrame) -> pd.DataFrame:
    """Degraded / stable / improved as % of the land with data (the three added up), as the zonal tables state."""
    frame = frame.copy()
    with_data = frame[["degraded_km2", "stable_km2", "improved_km2"]].sum(axis=1)
    for name in ("degraded", "stable", "improved"):
        frame[f"{name}_pct"] = (100.0 * frame[f"{name}_km2"] / with_data).where(with_data > 0)
    return frame


def class_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A class map's zonal table (``class_name``, ``area_km2`` per zone and class, with ``land_km2`` and
    ``nodata_km2``) one row per zone, as the SDG table reads: land, each class's km2 and % of the land with data
    (the classes added up), land without data; and the sum of the zones, its % from the sums."""
    names = list(dict.fromkeys(frame["class_name"]))
    area = frame.pivot_table(index="zone", columns="class_name", values="area_km2", sort=False, aggfunc="sum")[names]
    per_zone = frame.groupby("zone", sort=False)[["land_km2", "nodata_km2"]].first()
    area.loc[TOTAL] = area.sum(axis=0)
    per_zone.loc[TOTAL] = per_zone.sum(axis=0)
    with_data = area.sum(axis=1)
    out = pd.DataFrame({"zone": area.index, "land_km2": per_zone.loc[area.index, "land_km2"].to_numpy()})
    for name in names:
        out[f"{name}_km2"] = area[name].to_numpy()
        out[f"{name}_pct"] = (100.0 * area[name] / with_data.where(with_data > 0)).to_numpy()
    out["nodata_km2"] = per_zone.loc[area.index, "nodata_km2"].to_numpy()
    return out


def with_totals(frame: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """``frame`` with a row per group of ``by`` (or one) adding up its zones: km2 and tonnes summed, percentages
    recomputed from the sums (never averaged). Zones that overlap would count their overlap twice, so the row
    is named ``TOTAL``, a sum, not the region."""
    if frame.empty or "zone" not in frame.columns:
        return frame
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not c.endswith("_pct")
               and c not in (by or [])]
    groups = frame.groupby(by, sort=False) if by else [((), frame)]
    rows = []
    for key, part in groups:
        total = {c: part[c].sum(min_count=1) for c in numeric}
        total["zone"] = TOTAL
        for col, value in zip(by or [], key if isinstance(key, tuple) else (key,)):
            total[col] = value
        rows.append(total)
    totals = pd.DataFrame(rows)
    if {"degraded_km2", "stable_km2", "improved_km2"} <= set(totals.columns):
        totals = _pct_of_land(totals)
    if {"change_t", "stock_initial_t"} <= set(totals.columns):
        totals["change_pct"] = 100.0 * totals["change_t"] / totals["stock_initial_t"].where(totals["stock_initial_t"] > 0)
    if {"change_km2", "initial_km2"} <= set(totals.columns):
        totals["change_pct"] = 100.0 * totals["change_km2"] / totals["initial_km2"].where(totals["initial_km2"] > 0)
    out = pd.concat([frame, totals[[c for c in frame.columns if c in totals.columns]]], ignore_index=True)
    if by:  # each group's total right after its zones
        order = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, frame[by].itertuples(index=False))))}
        out["_g"] = [order[tuple(r)] for r in out[by].itertuples(index=False)]
        out["_t"] = (out["zone"] == TOTAL).astype(int)
        out = out.sort_values(["_g", "_t"], kind="stable").drop(columns=["_g", "_t"])
    return out


def yearly_land_cover(annual: pd.DataFrame) -> pd.DataFrame:
    """The land cover series (``class_area_table``) as one row per year and one column per class (nodata last),
    with the year's total."""
    wide = annual.pivot_table(index="year", columns="class_name", values="area_km2", sort=False)
    wide["total"] = wide.sum(axis=1)
    return wide.rename_axis(columns=None).reset_index()


def land_cover_years_png(annual: pd.DataFrame, title: str) -> bytes:
    """Each land cover class's area year by year (km2), one line per class that has any area."""
    classes = annual[annual["class_name"] != "nodata"]
    wide = classes.pivot_table(index="year", columns="class_code", values="area_km2", sort=True)
    names = dict(zip(classes["class_code"], classes["class_name"]))
    fig, ax = _figure()
    for code in wide.columns:  # distinct line colours: the map palette's pale classes vanish as lines on white
        if wide[code].any():
            ax.plot(wide.index, wide[code], marker="o", markersize=3, linewidth=1.4, label=names[code])
    ax.set_xlabel("year")
    ax.set_ylabel("km2")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=10)
    return _png(fig)


def bar_chart_png(sdg: pd.DataFrame, labels: dict[str, str] | None = None) -> bytes:
    """Stacked bars of degraded / stable / improved (% of land with data) per zone and period, with the sum of the
    zones per period, and each share written on its bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sdg[sdg["indicator"] == "sdg_15_3_1"]
    if TOTAL not in set(rows["zone"]):
        rows = with_totals(rows, ["indicator", "period"])
    names = [f"{z}\n{p}".replace(" (sum)", "\n(sum)") for z, p in zip(rows["zone"], rows["period"])]
    fig = Figure(figsize=(max(6.0, 1.25 * len(rows) + 2), 4.2), dpi=100)  # no pyplot: not safe across threads
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    bottom = [0.0] * len(rows)
    x = list(range(len(rows)))
    for code in (-1, 0, 1):
        name, colour = THREE_CLASSES[code]
        values = rows[f"{name}_pct"].fillna(0).tolist()
        ax.bar(x, values, bottom=bottom, color=f"#{colour}", edgecolor="#555555", linewidth=0.5, label=name,
               hatch=["//" if z == TOTAL else "" for z in rows["zone"]])
        for i, (b, v) in enumerate(zip(bottom, values)):
            if v >= 4:
                ax.text(i, b + v / 2, f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if code != 0 else "#222222")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(x, names)
    ax.set_ylabel("% of land with data")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    years = [(labels or {})[p] for p in dict.fromkeys(rows["period"]) if (labels or {}).get(p, p) != p]
    if years:
        ax.set_xlabel("\n".join(years), fontsize=7, loc="left")
    ax.set_title(f"SDG 15.3.1 per zone and period (hatched: {TOTAL})", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.0), dpi=100)  # no pyplot: not safe across threads
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def transition_heatmap_png(transitions: pd.DataFrame, title: str) -> bytes:
    """The 7 x 7 land cover transition matrix (all zones summed) as a heat map with the km2 in each cell:
    initial classes down, final classes across, the diagonal is land that kept its class."""
    from matplotlib.colors import LogNorm

    wide = transitions.pivot_table(index="initial_name", columns="final_name", values="area_km2", aggfunc="sum",
                                   sort=False)
    fig, ax = _figure()
    fig.set_size_inches(6.4, 5.2)
    values = wide.to_numpy(dtype=float)
    shown = np.where(values > 0, values, np.nan)
    vmax = np.nanmax(shown) if np.isfinite(shown).any() else 1.0
    image = ax.imshow(shown, cmap="YlOrBr", norm=LogNorm(vmin=max(vmax * 1e-4, 1e-3), vmax=vmax))
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if values[i, j] > 0:
                ax.text(j, i, f"{values[i, j]:,.1f}", ha="center", va="center", fontsize=7,
                        color="white" if values[i, j] > vmax / 10 else "#222222")
    ax.set_xticks(range(len(wide.columns)), list(wide.columns), rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(wide.index)), list(wide.index), fontsize=8)
    ax.set_xlabel("final land cover")
    ax.set_ylabel("initial land cover")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="km2 (log scale)")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def land_cover_bars_png(land_cover: pd.DataFrame, title: str) -> bytes:
    """Initial and final area of each land cover class, all zones summed (km2)."""
    rows = land_cover[land_cover["class_name"] != "nodata"].groupby("class_name", sort=False)[
        ["initial_km2", "final_km2"]].sum()
    fig, ax = _figure()
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], rows["initial_km2"], width=0.4, label="initial year", color="#9ecae1", edgecolor="#555555", linewidth=0.5)
    ax.bar([i + 0.2 for i in x], rows["final_km2"], width=0.4, label="final year", color="#3182bd", edgecolor="#555555", linewidth=0.5)
    for i, (a, b) in enumerate(zip(rows["initial_km2"], rows["final_km2"])):
        if a or b:
            ax.text(i + 0.2, b, f"{b - a:+,.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(x), list(rows.index), rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("km2")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title + " (label: change, km2)", fontsize=10)
    return _png(fig)


def lpd_by_land_cover_png(cross: pd.DataFrame, title: str) -> bytes:
    """LPD classes within each land cover class (final year), all zones summed, as % of the class's area."""
    wide = cross.pivot_table(index="land_cover_name", columns="lpd_class", values="area_km2", aggfunc="sum", sort=False)
    wide = wide[wide.sum(axis=1) > 0]
    shares = wide.div(wide.sum(axis=1), axis=0) * 100
    fig, ax = _figure()
    left = [0.0] * len(shares)
    for code in shares.columns:
        name, colour = LPD_CLASSES[int(code)]
        values = shares[code].tolist()
        ax.barh(list(shares.index), values, left=left, color=f"#{colour}", edgecolor="#555555", linewidth=0.5,
                label=f"{code}: {name}")
        left = [a + b for a, b in zip(left, values)]
    for i, km2 in enumerate(wide.sum(axis=1)):
        ax.text(101, i, f"{km2:,.0f} km2", va="center", fontsize=7)
    ax.set_xlim(0, 115)
    ax.set_xlabel("% of the land cover class's area")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def soc_by_land_cover_png(soc: pd.DataFrame, title: str) -> bytes:
    """Initial and final SOC stock per land cover class, all zones summed (million tonnes C)."""
    rows = soc.groupby("class_name", sort=False)[["stock_initial_t", "stock_final_t"]].sum() / 1e6
    rows = rows[(rows > 0).any(axis=1)]
    fig, ax = _figure()
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], rows["stock_initial_t"], width=0.4, label="initial", color="#d8b365", edgecolor="#555555", linewidth=0.5)
    ax.bar([i + 0.2 for i in x], rows["stock_final_t"], width=0.4, label="final", color="#8c510a", edgecolor="#555555", linewidth=0.5)
    for i, (a, b) in enumerate(zip(rows["stock_initial_t"], rows["stock_final_t"])):
        ax.text(i + 0.2, b, f"{100 * (b - a) / a:+.1f} %" if a else "", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(x), list(rows.index), rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("million tonnes C")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def ndvi_series_png(series: pd.DataFrame, zones: pd.DataFrame | None = None) -> bytes:
    """The region's annual NDVI (mean, and mean of the annual maxima) per year, and each zone's annual mean."""
    fig, ax = _figure()
    fig.set_size_inches(7.5, 3.2)
    for column, label, colour in (("mean_ndvi", "region: annual mean", "#238b45"),
                                  ("mean_max_ndvi", "region: annual maximum", "#74c476")):
        if column in series:
            ax.plot(series["year"], series[column], marker="o", markersize=3, color=colour, label=label)
    if zones is not None and not zones.empty and zones["zone"].nunique() <= 8:  # more: the table below the chart
        styles = itertools.cycle(("--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1))))
        greys = itertools.cycle(("#444444", "#888888"))
        for (name, part), style, grey in zip(zones.groupby("zone", sort=False), styles, greys):
            ax.plot(part["year"], part["mean_ndvi"], linestyle=style, linewidth=1, color=grey,
                    label=f"{name}: annual mean")
    ax.set_xlabel("year")
    ax.set_ylabel("NDVI")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Annual NDVI of the region (mean over pixels with data)", fontsize=10)
    return _png(fig)


def target_png(rows: pd.DataFrame) -> bytes:
    """One target's chart: the straight line from its baseline to its target and the measured points (level), or
    the line's change and the measured change since the reference period (change: in the target's unit, percentage
    points for a share; relative_change: in % of the starting values), each axis naming its unit."""
    from matplotlib.ticker import FuncFormatter

    first = rows.iloc[0]
    (y0, v0), (y1, v1) = (int(first.baseline_year), float(first.baseline_value)), (int(first.target_year),
                                                                                   float(first.target_value))
    measured = rows[rows["measured"].notna()]
    fig, ax = _figure()
    if first.comparison == "level":
        ax.plot([y0, y1], [v0, v1], linestyle="--", color="#555555", label="path to the target")
        ax.plot([y1], [v1], marker="*", markersize=12, color="#1a9641", linestyle="none", label="target")
        ax.plot(measured["year"], measured["measured"], marker="o", color="#d7191c", label="measured (layers)")
        ax.set_ylabel(str(first.unit))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    else:
        ref = measured.iloc[0]
        years = [int(ref.year), y1]
        line = [v0 + (v1 - v0) * (y - y0) / (y1 - y0) for y in years]
        change = [(v / line[0] - 1) * 100 for v in line] if first.comparison == "relative_change" \
            else [v - line[0] for v in line]
        ax.plot(years, change, linestyle="--", color="#555555", label="the target's path, change since the reference")
        ax.plot([y1], [change[1]], marker="*", markersize=12, color="#1a9641", linestyle="none", label="target")
        ax.plot(measured["year"], measured["measured_change"], marker="o", color="#d7191c",
                label="measured (proxy), change since the reference")
        ax.axhline(0, color="#bbbbbb", linewidth=0.8)
        ax.set_ylabel(f"change since {int(ref.year)} ({ref.change_unit})")
    ax.set_xlabel("year")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"{first.country}: {first.title}", fontsize=10)
    return _png(fig)


def _link(text: str, href: str) -> str:
    return f"<a href={quoteattr(href)}>{html.escape(text)}</a>"


def _chart(alt: str, png: bytes) -> str:
    return f"<figure><img alt='{html.escape(alt)}' src='{_b64(png)}'><figcaption>{html.escape(alt)}</figcaption></figure>"


def _table(frame: pd.DataFrame, columns: list[str], digits: int = 2) -> str:
    shown = frame[[c for c in columns if c in frame.columns]].copy()
    shown.columns.name = None  # a pivot's column-axis name would head an empty first column
    shown.columns = [column_header(c) for c in shown.columns]  # the CSVs keep the field names
    for column in shown.columns:  # nullable integers (a target's year) print pd.NA as "<NA>", past na_rep
        if isinstance(shown[column].dtype, pd.api.extensions.ExtensionDtype) and shown[column].isna().any():
            shown[column] = shown[column].astype(object).where(shown[column].notna(), "-")
    body = shown.to_html(index=False, float_format=lambda v: f"{v:,.{digits}f}", border=0, classes="t", na_rep="-")
    return _scrolls(body.replace(f"<td>{TOTAL}</td>", f"<td><b>{TOTAL}</b></td>"))


_UNITS = (("_pct_of_land", " (% of land)"), ("_pct_of_total", " (% of total)"), ("_km2", " (km²)"), ("_pct", " (%)"),
          ("_t", " (t C)"))
"""Field-name endings and the unit they stand for in a column header (SOC stocks and changes are tonnes of carbon)."""

_WORDS = {"delta_ldn": "ΔLDN", "non_drought": "no drought", "no_data": "no data", "nodata": "no data",
          "lc": "land cover", "lpd": "LPD", "sdg": "SDG", "soc": "SOC", "ldn": "LDN", "id": "id"}
"""Field-name words as a reader writes them."""


def column_header(name: Any) -> str:
    """A table field's name as a column header: ``degraded_km2`` -> ``degraded (km²)``, ``lc_degraded_pct`` ->
    ``land cover degraded (%)``, ``stock_initial_t`` -> ``stock initial (t C)``; a name without ``_`` as it is."""
    text = str(name)
    if "_" not in text:
        return {"nodata": "no data"}.get(text, text)
    unit = ""
    for ending, label in _UNITS:
        if text.endswith(ending) and len(text) > len(ending):
            text, unit = text[: -len(ending)], label
            break
    for word, said in sorted(_WORDS.items(), key=lambda kv: -len(kv[0])):  # two-word names first
        if "_" in word:
            text = text.replace(word, said)
        else:
            text = "_".join(said if part == word else part for part in text.split("_"))
    return text.replace("_", " ") + unit


def prose(text: str) -> str:
    """Free text from a configuration file (a source's description) as HTML: escaped, its Markdown code spans
    (`ldn sample-data`) set as code rather than shown with their backticks."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _scrolls(table: str) -> str:
    """A table in a box of the page's width that scrolls sideways when the table is wider (the targets' 21 columns,
    the activity statistics): the page itself never runs off the screen, and every column stays reachable."""
    return f"<div class='scroll'>{table}</div>"


_SETTING_WORDS = {"lpd": "LPD", "land-cover": "land cover", "soc": "SOC", "sdg-15-3-1": "SDG 15.3.1",
                  "sdg": "SDG", "lc": "land cover"}
"""Words of the settings' names as a reader writes them (the rest: underscores as spaces)."""


def _setting_name(key: Any) -> str:
    return " ".join(_SETTING_WORDS.get(word, word) for word in str(key).replace("_", " ").split(" "))


def setting_rows(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (name, value) rows a reader can follow: ``{"lpd parameters": {"period_windows": {...}}}``
    -> ``("LPD parameters: period windows: productivity", "2004-2019")``; a pair of years as ``2004-2019``; a
    list as its items; a table (a list of lists, e.g. the land cover transition matrix) one row per line."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for k, v in value.items():
            rows += setting_rows(v, f"{prefix}: {_setting_name(k)}" if prefix else _setting_name(k))
        return rows
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and 1900 < v < 2200 for v in value):
        return [(prefix, f"{value[0]}-{value[1]}")]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return [(f"{prefix}, line {i}", "  ".join(f"{x:+d}" if isinstance(x, int) and x else str(x) for x in row))
                for i, row in enumerate(value, start=1)]
    if isinstance(value, (list, tuple)):
        return [(prefix, ", ".join(str(v) for v in value))]
    return [(prefix, "-" if value is None else str(value))]


def _windows_note(meta: dict[str, Any]) -> str:
    """The years a period's layers read, under its heading (its label names the years it reports on)."""
    def span(key: str) -> str | None:
        w = meta.get(key)
        return f"{w[0]}-{w[1]}" if isinstance(w, (list, tuple)) and len(w) == 2 else None

    read = [f"{what} {years}" for what, key in (("productivity", "lpd window"), ("land cover", "land-cover window"))
            if (years := span(key))]
    return f"<p class='note'>The layers read {', '.join(read)}.</p>" if read else ""


def method_table(meta: dict[str, Any]) -> str:
    """A period's method metadata as a two-column table (setting, value) instead of Python reprs."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in setting_rows(meta))
    return _scrolls(f"<table class='m'>{rows}</table>")


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1em}
.scroll{overflow-x:auto;max-width:100%}
.toc{font-size:.9em;columns:2;background:#fafafa;border:1px solid #eee;padding:.5em 1em}.toc ol{margin:.3em 0}
table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.t th,table.t td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
table.t th{background:#f4f4f4}
.maps{display:flex;flex-wrap:wrap;gap:1em}.maps img{max-width:640px;border:1px solid #ddd}
table.m{border-collapse:collapse;font-size:.8em;margin:.5em 0}
table.m th{text-align:left;font-weight:normal;color:#555;padding:1px 12px 1px 0;vertical-align:top}
table.m td{padding:1px 0;font-family:monospace;word-break:break-word}
.note{font-size:.85em;color:#555}
.warn{background:#fff4d6;border-left:4px solid #e6ab02;padding:.4em .8em}
img{max-width:100%}
.method table{border-collapse:collapse;font-size:.85em}.method th,.method td{border:1px solid #ddd;padding:2px 6px}
"""


def _period_html(t: dict[str, pd.DataFrame], maps: list[tuple[str, bytes]], meta: dict[str, Any], label: str,
                 items: list[tuple[str, str]]) -> str:
    """One period's part of the report: its heading and windows, maps, item links, tables, charts and method."""
    parts: list[str] = []
    pct = ["zone", "land_km2", "degraded_km2", "stable_km2", "improved_km2", "degraded_pct", "stable_pct",
           "improved_pct", "nodata_km2", "total_km2"]
    parts.append(f"<h2>Period {html.escape(label)}</h2>{_windows_note(meta)}"
                 "<div class='maps'>")
    parts += [f"<figure><img alt='{html.escape(c)}' src='{_b64(png)}'><figcaption>{html.escape(c)}</figcaption></figure>"
              for c, png in maps]
    parts.append("</div>")
    if items:
        parts.append("<p class='note'>The period's layers as STAC items (their COGs, styles and metadata): "
                     + ", ".join(_link(name, href) for name, href in items) + ".</p>")
    if "sdg_15_3_1" in t:
        sdg = t["sdg_15_3_1"]
        parts.append("<h3>SDG 15.3.1 (km2; % of land with data)</h3>"
                     + _table(with_totals(sdg[sdg["indicator"] == "sdg_15_3_1"]), pct))
        parts.append("<h3>Sub-indicators</h3>"
                     + _table(with_totals(sdg[sdg["indicator"] != "sdg_15_3_1"], ["indicator"]), ["indicator", *pct]))
    for name, heading in (("lpd", "Land productivity dynamics (km2; % of land with data)"),
                          ("status", "Status against the baseline (km2; % of land with data)")):
        if name in t:
            wide = class_table(t[name])
            parts.append(f"<h3>{heading}</h3>" + _table(wide, list(wide.columns)))
    if "ldn_balance" in t:
        parts.append(_balance_section(t["ldn_balance"], t.get("ldn_balance_summary")))
    if "soc" in t:
        parts.append("<h3>Soil organic carbon (t C)</h3>" + _table(with_totals(t["soc"]), [
            "zone", "soc_area_km2", "nodata_km2", "stock_initial_t", "stock_final_t", "change_t", "change_pct"]))
    charts = [_chart(f"{caption}, all zones", draw(t[table], title)) for table, draw, caption, title in (
        ("lpd_land_cover", lpd_by_land_cover_png, "LPD within each land cover class (final year)",
         "LPD within each land cover class"),
        ("land_cover", land_cover_bars_png, "Land cover, initial and final year", "Land cover by class"),
        ("land_cover_annual", land_cover_years_png, "Land cover year by year",
         "Land cover by class and year"),
        ("land_cover_transitions", transition_heatmap_png, "Land cover transitions (km2)",
         "Land cover transitions (km2)"),
        ("soc_land_cover", soc_by_land_cover_png, "SOC stock by land cover class", "SOC stock by land cover class"),
    ) if table in t]
    if charts:
        parts.append("<h3>Land cover, productivity and carbon together</h3><div class='maps'>" + "".join(charts)
                     + "</div>")
    if "land_cover" in t:
        parts.append("<h3>Land cover (km2)</h3>" + _table(with_totals(t["land_cover"], ["class_name"]), [
            "zone", "class_name", "initial_km2", "final_km2", "change_km2", "change_pct"]))
    if "land_cover_annual" in t:
        yearly = yearly_land_cover(t["land_cover_annual"])
        parts.append("<h3>Land cover by class and year, the run's whole area (km2)</h3>"
                     + _table(yearly, list(yearly.columns)))
    if meta:
        parts.append("<h3>Method and parameters</h3>" + method_table(meta))
    return "".join(parts)


def write_html_report(path: str | Path, *, title: str, tables: dict[str, dict[str, pd.DataFrame]],
                      maps: dict[str, list[tuple[str, bytes]]], about: dict[str, dict[str, Any]],
                      labels: dict[str, str] | None = None, series: pd.DataFrame | None = None,
                      sources: list[tuple[str, str]] | None = None, zone_series: pd.DataFrame | None = None,
                      targets: pd.DataFrame | None = None, activities: ActivitySection | None = None,
                      drought: DroughtSection | None = None, people: PeopleSection | None = None,
                      links: list[tuple[str, str]] | None = None,
                      items: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """Write the report: per period its maps, SDG and sub-indicator tables, LPD, status, SOC and method, and the
    national LDN targets tracked over the periods (``targets``, ``tasks.science.targets.targets_table``), and the
    activities of the registry set beside the indicators (``activities``), and the land under drought year by year
    and in each period's worst year (``drought``, SO3-1), and the people under drought, their vulnerability and the
    people on degraded land (``people``: SO3-2, SO3-3, SO2-3).

    ``tables`` is period -> table name -> DataFrame (``tasks.io.outputs.zonal.zonal_tables``), ``maps`` is
    period -> [(caption, png bytes)], ``about`` is period -> method metadata, ``labels`` is period -> its name
    with its reporting years (``tasks.io.outputs.report.period_labels``). Every table ends with the sum of its zones.
    ``links`` (name, href) head the page (the method page, the catalog); ``items`` is period -> (layer, href of
    its STAC item).
    """
    labels = labels or {}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if links:
        parts.append("<p class='links'>" + " · ".join(_link(name, href) for name, href in links) + "</p>")
    sdg_all = [t["sdg_15_3_1"] for t in tables.values() if "sdg_15_3_1" in t]
    if sdg_all:
        parts.append("<h2>Degraded, stable and improved land</h2><img alt='bar chart' "
                     f"src='{_b64(bar_chart_png(pd.concat(sdg_all), labels))}'>")
    if series is not None and not series.empty:
        parts.append("<h2>Annual NDVI of the region</h2>" + _chart(
            "Annual NDVI of the region (mean over the pixels with data of each year's mean and maximum) and of each "
            "zone (area-weighted mean of the annual mean)",
            ndvi_series_png(series, zone_series)))
        if zone_series is not None and not zone_series.empty:
            wide = zone_series.pivot_table(index="year", columns="zone", values="mean_ndvi", sort=False).reset_index()
            parts.append("<details><summary>Annual mean NDVI per zone (table)</summary>"
                         + _table(wide.rename_axis(columns=None), list(wide.columns), digits=4) + "</details>")
    if sources:
        parts.append("<h2>Data sources</h2><ul>" + "".join(
            f"<li><b>{html.escape(name)}</b>: {prose(text)}</li>" for name, text in sources) + "</ul>")
    parts.append("<p class='note'>Maps are drawn on the MODIS sinusoidal grid the layers are computed on (equal-area), "
                 "so lines of longitude lean and a lon/lat box looks sheared; nodata is dark grey.</p>")
    for period, t in tables.items():
        parts.append(_period_html(t, maps.get(period, []), about.get(period, {}), labels.get(period, period),
                                  (items or {}).get(period, [])))

    parts += [_drought_html(drought)] if drought is not None else []
    parts += [_people_html(people)] if people is not None else []
    if targets is not None and not targets.empty:
        parts.append(_targets_section(targets))
    if activities is not None:
        parts.append(_activities_section(activities))
    parts.append(f"<h2>Method notes</h2><details><summary>{html.escape(METHOD_TITLE)}: the document the layers' "
                 "metadata cites as \"method notes section N\" (also published as method.html with every version)"
                 f"</summary><div class='method'>{method_body()}</div></details>")
    parts.append("<p><small>Areas from true pixel areas and exact fractional zone coverage; percentages are of land "
                 f"with data (water excluded), with nodata shown. The '{TOTAL}' rows add up the zone rows (zones "
                 "that overlap would count their overlap twice). Generated by ldn-pipeline.</small></p></body></html>")
    path = Path(path)
    path.write_text(with_contents("\n".join(parts)), encoding="utf-8")
    return path


def with_contents(page: str) -> str:
    """``page`` with a table of contents after its title: a link to every section (``<h2>``), each given an id."""
    heads: list[str] = []

    def anchor(match: re.Match[str]) -> str:
        heads.append(match.group(1))
        return f"<h2 id='s{len(heads)}'>{match.group(1)}</h2>"

    body, method, notes = page.partition("<div class='method'>")  # the method notes' own headings stay theirs
    body = re.sub(r"<h2>(.*?)</h2>", anchor, body, flags=re.S)
    if heads:
        links = "".join(f"<li><a href='#s{i}'>{head}</a></li>" for i, head in enumerate(heads, start=1))
        body = body.replace("</h1>", f"</h1><nav class='toc'><b>Contents</b><ol>{links}</ol></nav>", 1)
    return body + method + notes


def _balance_section(balance: pd.DataFrame, summary: pd.DataFrame | None) -> str:
    """The LDN balance of a period: each zone's two verdicts, then gains, losses and delta LDN per land type."""
    parts = ["<h3>LDN balance: no net loss per land type (km2)</h3><p class='note'>Gains are land newly improved "
             "since the baseline (status 6-7), losses land newly degraded (status 1-2); land degraded in the baseline "
             "and stable since (status 3) is neither. A land type is balanced when its gains cover its losses "
             "(&Delta; LDN &ge; 0). Net balance: all land types together (Trends.Earth's Total row); every land type "
             "balanced: the LDN framework's like-for-like rule. UNCCD method notes section 6.</p>"]
    if summary is not None and not summary.empty:
        verdicts = summary.assign(
            net_balance=np.where(summary["net_balance_achieved"], "achieved", "not achieved"),
            like_for_like=np.where(summary["every_land_type_balanced"], "every land type balanced",
                                   "not balanced: " + summary["failing_land_types"].astype(str)))
        parts.append(_table(verdicts, ["zone", "gains_km2", "losses_km2", "delta_ldn_km2", "net_balance",
                                       "like_for_like", "no_land_type_km2"]))
    wide = balance[balance["area_km2"] > 0].assign(ldn_achieved=lambda f: np.where(f["ldn_achieved"], "yes", "no"))
    parts.append("<details><summary>Per land type and zone</summary>" + _table(wide, [
        "zone", "land_type_name", "gains_km2", "losses_km2", "neutral_km2", "delta_ldn_km2", "delta_ldn_pct",
        "ldn_achieved", "nodata_km2"]) + "</details>")
    return "".join(parts)


def _targets_section(targets: pd.DataFrame) -> str:
    """The report's LDN targets: a chart per target with a verdict, and the whole table, proxies named as proxies;
    a target whose country the run covers only in part has its numbers in the table and no chart."""
    tracked = targets[targets["status"].isin(["on track", "off track", "reference"])]
    charts = [_chart(f"{group.iloc[0].country}: {group.iloc[0].title}"
                     + (f" (proxy: {group.iloc[0].proxy})" if group.iloc[0].proxy else ""), target_png(group))
              for _, group in tracked.groupby("target_id", sort=False)]
    partial = sorted(set(targets.loc[targets["status"] == "partial coverage", "country"]))
    return ("<h2>National LDN targets</h2><p class='note'>Each target's straight path from its baseline to its target "
            "value, set against what these layers measure for the country in each period: a plainly labelled "
            "comparison, not a causal claim. A proxy is a different definition from the target's own; its level is "
            "not compared, only its change against the path's (for a share, in percentage points). A target the "
            "layers cannot measure, or whose country the run does not cover, says so and has no number."
            + (f" The run covers only part of {', '.join(partial)}: those rows keep their numbers, with no verdict "
               "and no chart." if partial else "") + "</p>"
            + (f"<div class='maps'>{''.join(charts)}</div>" if charts else "")
            + _table(targets, ["country", "title", "period", "year", "measured", "path", "gap", "gap_unit",
                               "measured_change", "path_change", "change_unit", "status", "unit", "proxy", "note",
                               "source"]))


@dataclass(frozen=True)
class ActivitySection:
    """What the report's activities section shows: the map, the statistics and the per-country summary."""

    registry: str
    """Where the activities came from (a file, a GeoPackage, a database), as the reader should see it."""
    statistics: pd.DataFrame
    summary: pd.DataFrame
    map_png: bytes | None
    map_caption: str
    ring_km: float
    point_km: float
    sample: bool = False
    """The shipped fictitious sample registry: the section says so first."""


def _activities_section(section: ActivitySection) -> str:
    """The report's activity registry: a map of the activities over SDG 15.3.1 coloured by area, the per-country
    summary by area and status, and footprint-versus-ring statistics per period, labelled as a comparison."""
    stats, summary = section.statistics, section.summary
    parts = ["<h2>Land degradation activities (NEAMSP registry)</h2>"]
    if section.sample:
        parts.append("<p class='warn'><b>Fictitious sample data.</b> These activities, organisations and amounts are "
                     "made up to show the feature on the sample region; they are not real.</p>")
    parts.append(f"<p class='note'>From {html.escape(section.registry)}. For each activity with a footprint the "
                 "indicators inside it (a point stands for a disc of "
                 f"{section.point_km:g} km radius) are set beside those in a ring {section.ring_km:g} km wide around "
                 "it, kept to the land cover classes found in the footprint, per period and labelled before, spanning "
                 "or after the activity's start. This is a plainly labelled comparison, not a causal claim: the ring "
                 "differs from the footprint in more than the activity.</p>")
    if section.map_png is not None:
        parts.append("<div class='maps'>" + _chart(section.map_caption, section.map_png) + "</div>")
    if not summary.empty:
        parts.append("<h3>Activities per country, by area and status</h3><p class='note'>Every area is listed for "
                     "every country with an activity: a row of zeros is an area nobody in the registry works "
                     "in.</p>" + _table(summary, ["country", "area_name", "planned", "ongoing", "completed", "total"]))
    if not stats.empty:
        numbers = stats[stats["zone"].notna()] if "zone" in stats else stats.iloc[0:0]
        flagged = stats[stats["zone"].isna()] if "zone" in stats else stats
        if not numbers.empty:
            columns = [c for c in ["activity_id", "period", "years", "timing", "zone", "land_km2", "sdg_degraded_pct",
                                   "sdg_stable_pct", "sdg_improved_pct", "lpd_declining_pct", "lpd_increasing_pct",
                                   "lc_degraded_pct", "lc_improved_pct", "lc_changed_pct", "land_cover_classes"] if c in numbers]
            parts.append("<h3>Inside the footprint and in the ring (% of land with data)</h3>"
                         + _table(numbers, columns))
        if not flagged.empty:
            parts.append("<h3>Activities without statistics</h3>"
                         + _table(flagged, ["activity_id", "activity", "country", "area", "status", "coverage"]))
    return "".join(parts)


@dataclass(frozen=True)
class DroughtSection:
    """What the report's SO3-1 section shows: the yearly and worst-year tables (``drought_area_table`` rows), each
    period's worst-year class map, how the layers were made, and the files written (asset key -> path)."""

    years: pd.DataFrame
    periods: pd.DataFrame
    maps: list[tuple[str, bytes]]
    about: dict[str, Any]
    files: dict[str, str]
    zones_of_the_run: list[str] | None = None
    """The run's zones, when its tables are per those and the report's per others (``ldn report --zones``)."""


DROUGHT_COLUMNS: tuple[tuple[int, str], ...] = tuple(
    (code, name.removesuffix(" drought").replace("-", "_")) for code, (name, _) in sorted(DROUGHT_CLASSES.items()))
"""(class code, its column stem in the drought tables), non-drought first."""


def drought_years_png(years: pd.DataFrame) -> bytes:
    """Stacked bars of the land in each drought class per year (% of land with data, all zones), extreme at the
    bottom, so the dry years stand out."""
    rows = years[years["zone_id"] == "all"].sort_values("year")
    fig, ax = _figure()
    bottom = np.zeros(len(rows))
    for code, stem in sorted(DROUGHT_COLUMNS, reverse=True):
        values = rows[f"{stem}_pct_of_land"].fillna(0).to_numpy()
        colour = DROUGHT_CLASSES[code][1]
        ax.bar(rows["year"], values, bottom=bottom, color=f"#{colour}", edgecolor="#777777", linewidth=0.4,
               label=DROUGHT_CLASSES[code][0])
        bottom += values
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of land with data")
    ax.set_xlabel("year (SPI-12 of December)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("Land per drought class and year, all zones", fontsize=10)
    return _png(fig)


def _drought_html(section: DroughtSection) -> str:
    about = section.about
    calibration = about.get("calibration") or []
    rule = about.get("class rule")
    parts = ["<h2>Drought hazard (SO3-1)</h2>",
             "<p class='note'>SPI-12 of December per year on the precipitation source's own grid, placed on the "
             "analysis grid by nearest neighbour for the areas; gamma fitted per calendar month on "
             f"{'-'.join(str(y) for y in calibration) or 'the calibration period'}; classes decided on SPI x 1000 "
             f"with the {html.escape(str(rule))} rule (exact boundaries in the "
             f"{'milder' if rule == 'trends_earth' else 'more severe'} class). Two denominators: % of the whole "
             "area (Trends.Earth's, water and nodata included) and % of land with data (water and nodata out, "
             "SO3-1's \"total land area\"). A period's worst year: "
             + ("Trends.Earth's parity mode (4-year blocks using their first three years, a nodata year winning)."
                if about.get("worst-year rule") == "trends_earth" else "the lowest SPI of every year of the period.")
             + "</p>"]
    parts.append(_run_zones_note(section.zones_of_the_run))
    missing = about.get("missing months") or []
    if missing:
        parts.append(f"<p class='note'>Months missing from the precipitation record (their years are nodata, never "
                     f"filled): {html.escape(', '.join(missing))}.</p>")
    parts.append(_chart("Land per drought class and year (% of land with data), all zones",
                        drought_years_png(section.years)))
    if section.maps:
        parts.append("<div class='maps'>" + "".join(
            f"<figure><img alt='{html.escape(c)}' src='{_b64(png)}'><figcaption>{html.escape(c)}</figcaption></figure>"
            for c, png in section.maps) + "</div>")
    every = section.years[section.years["zone_id"] == "all"]
    columns = ["year", "land_km2"] + [f"{stem}_pct_of_land" for _, stem in DROUGHT_COLUMNS] + [
        "nodata_pct_of_land", "total_km2"] + [f"{stem}_pct_of_total" for _, stem in DROUGHT_COLUMNS]
    parts.append("<h3>Land under drought by year, all zones (%)</h3>" + _table(every, columns))
    if not section.periods.empty:
        columns = ["period", "first_year", "last_year", "zone", "land_km2"] + [
            f"{stem}_land_km2" for _, stem in DROUGHT_COLUMNS] + [f"{stem}_pct_of_land" for _, stem in DROUGHT_COLUMNS]
        parts.append("<h3>The worst year of each reporting period, per zone (km2 and % of land with data)</h3>"
                     + _table(section.periods, columns))
    return "".join(parts)


@dataclass(frozen=True)
class PeopleSection:
    """What the report's SO3-2, SO3-3 and SO2-3 section shows: people per drought class by year and in each period's
    worst year, the vulnerability means, the people per SDG 15.3.1 class, the worst-year exposure maps, how they
    were made, and the files written (asset key -> path)."""

    years: pd.DataFrame
    periods: pd.DataFrame
    vulnerability: pd.DataFrame
    sdg: pd.DataFrame
    maps: list[tuple[str, bytes]]
    about: dict[str, Any]
    files: dict[str, str]
    zones_of_the_run: list[str] | None = None
    """The run's zones, when its tables are per those and the report's per others (``ldn report --zones``)."""


def _run_zones_note(zones: list[str] | None) -> str:
    """A warning that a section's tables are per the run's zones, not the report's (empty when they agree)."""
    if not zones:
        return ""
    return ("<p class='warn'>These tables are the run's, per its zones (" + html.escape(", ".join(zones)) + "), not "
            "per this report's: they come from the run's passes over the precipitation and the population, which a "
            "report from published layers does not repeat. For your zones: <code>ldn run --zones FILE</code>.</p>")


def _people_html(section: PeopleSection) -> str:
    about = section.about
    by_sex = bool(about.get("by sex"))
    parts = ["<h2>People under drought (SO3-2), drought vulnerability (SO3-3), people on degraded land (SO2-3)</h2>",
             "<p class='note'>People per pixel from the population source "
             f"{html.escape(str(about.get('population source')))}, moved onto the analysis grid sum-preserving "
             "(each source cell shared by overlapped area) and split by each zone's coverage of each pixel; water holds "
             "no one (people the source puts there are shown apart; SO2-3 counts them as land without data, as "
             "Trends.Earth does). A year's table reads the source year nearest to it (the year used is in each row). "
             "People are summed in float64 and rounded to whole persons at the end (half to even). "
             + ("" if by_sex else "The source has no split by sex: totals only. ")
             + "The signed layers are negative under drought (SPI below 0) and on degraded land, as Trends.Earth's "
             "code publishes them (its user documentation states the opposite sign).</p>",
             _run_zones_note(section.zones_of_the_run)]
    if section.maps:
        parts.append("<div class='maps'>" + "".join(
            f"<figure><img alt='{html.escape(c)}' src='{_b64(png)}'><figcaption>{html.escape(c)}</figcaption></figure>"
            for c, png in section.maps) + "</div>")
    groups = ["total", "female", "male"] if by_sex else ["total"]
    stems = [stem for _, stem in DROUGHT_COLUMNS] + ["nodata"]
    if not section.years.empty:
        every = section.years[section.years["zone_id"] == "all"]
        columns = ["year", "population_year", "total_population"] + [f"{s}_total_pct" for s in stems]
        parts.append("<h3>People under drought by year, all zones (% of the population)</h3>" + _table(every, columns))
    if not section.periods.empty:
        columns = ["period", "first_year", "last_year", "zone", *(f"{g}_population" for g in groups)] + [
            f"{s}_{g}" for g in groups for s in stems]
        parts.append("<h3>People in each drought class of the worst year of each period, per zone</h3>"
                     + _table(section.periods, columns, digits=0))
    if not section.vulnerability.empty:
        columns = ["year", "population_year", "zone", "area_weighted_mean", *(f"{g}_weighted_mean" for g in groups)]
        parts.append("<h3>Drought vulnerability index: mean over land, weighted by area and by people</h3>"
                     + _table(section.vulnerability, columns, digits=3))
    if not section.sdg.empty:
        columns = ["period", "population_year", "zone", "total_population", "improved_total", "stable_total",
                   "degraded_total", "no_data_total", "water_total", "degraded_total_pct",
                   *(f"degraded_{g}_pct" for g in groups[1:])]
        parts.append("<h3>People on degraded land (SO2-3) per period and zone: the degraded share is the "
                     "indicator</h3>" + _table(section.sdg, columns))
    return "".join(parts)
