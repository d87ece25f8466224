"""A self-contained HTML report of one run: maps, per-zone tables, a bar chart and the method metadata.

Everything (PNG maps and charts) is embedded as base64, so the file can be mailed or attached to a
STAC item and opens offline in any browser.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.constants import THREE_CLASSES

__all__ = ["bar_chart_png", "write_html_report"]


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def bar_chart_png(sdg: pd.DataFrame) -> bytes:
    """Stacked bars of degraded / stable / improved (% of land with data) per zone and period."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sdg[sdg["indicator"] == "sdg_15_3_1"]
    labels = [f"{z}\n{p}" for z, p in zip(rows["zone"], rows["period"])]
    fig = Figure(figsize=(max(5.0, 0.9 * len(rows) + 2), 3.6), dpi=100)  # no pyplot: not safe across threads
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    bottom = [0.0] * len(rows)
    for code in (-1, 0, 1):
        name, colour = THREE_CLASSES[code]
        values = rows[f"{name}_pct"].fillna(0).tolist()
        ax.bar(labels, values, bottom=bottom, color=f"#{colour}", edgecolor="#555555", linewidth=0.5, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("% of land with data")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("SDG 15.3.1 per zone and period", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = frame[[c for c in columns if c in frame.columns]]
    return shown.to_html(index=False, float_format=lambda v: f"{v:,.2f}", border=0, classes="t", na_rep="-")


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1em}
table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.t th,table.t td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
table.t th{background:#f4f4f4}
.maps{display:flex;flex-wrap:wrap;gap:1em}.maps img{max-width:520px;border:1px solid #ddd}
dl{font-size:.85em}dt{font-weight:bold}dd{margin:0 0 .4em 1em;font-family:monospace}
"""


def write_html_report(path: str | Path, *, title: str, tables: dict[str, dict[str, pd.DataFrame]],
                      maps: dict[str, list[tuple[str, bytes]]], about: dict[str, dict[str, Any]]) -> Path:
    """Write the report: per period its maps, SDG and sub-indicator tables, LPD, status, SOC and method.

    ``tables`` is period -> table name -> DataFrame (``tasks.report.zonal_tables``), ``maps`` is
    period -> [(caption, png bytes)], ``about`` is period -> method metadata.
    """
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    sdg_all = [t["sdg_15_3_1"] for t in tables.values() if "sdg_15_3_1" in t]
    if sdg_all:
        parts.append(f"<h2>Degraded, stable and improved land</h2><img alt='bar chart' src='{_b64(bar_chart_png(pd.concat(sdg_all)))}'>")
    pct = ["zone", "land_km2", "degraded_km2", "stable_km2", "improved_km2", "degraded_pct", "stable_pct",
           "improved_pct", "nodata_km2", "total_km2"]
    for period, t in tables.items():
        parts.append(f"<h2>Period {html.escape(period)}</h2><div class='maps'>")
        parts += [f"<figure><img alt='{html.escape(c)}' src='{_b64(png)}'><figcaption>{html.escape(c)}</figcaption></figure>"
                  for c, png in maps.get(period, [])]
        parts.append("</div>")
        if "sdg_15_3_1" in t:
            sdg = t["sdg_15_3_1"]
            parts.append("<h3>SDG 15.3.1 (km2; % of land with data)</h3>" + _table(sdg[sdg["indicator"] == "sdg_15_3_1"], pct))
            parts.append("<h3>Sub-indicators</h3>" + _table(sdg[sdg["indicator"] != "sdg_15_3_1"], ["indicator", *pct]))
        for name, heading, index in (("lpd", "Land productivity dynamics (km2)", "class_name"),
                                     ("status", "Status against the baseline (km2)", "class_name")):
            if name in t:
                wide = t[name].pivot_table(index="zone", columns=index, values="area_km2", sort=False).reset_index()
                parts.append(f"<h3>{heading}</h3>" + _table(wide, list(wide.columns)))
        if "soc" in t:
            parts.append("<h3>Soil organic carbon (t C)</h3>" + _table(t["soc"], [
                "zone", "soc_area_km2", "nodata_km2", "stock_initial_t", "stock_final_t", "change_t", "change_pct"]))
        if "land_cover" in t:
            parts.append("<h3>Land cover (km2)</h3>" + _table(t["land_cover"], [
                "zone", "class_name", "initial_km2", "final_km2", "change_km2", "change_pct"]))
        meta = about.get(period, {})
        if meta:
            parts.append("<h3>Method</h3><dl>" + "".join(
                f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in meta.items()) + "</dl>")
    parts.append("<p><small>Areas from true pixel areas and exact fractional zone coverage; percentages are of land "
                 "with data (water excluded), with nodata shown. Generated by ldn-pipeline.</small></p></body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
