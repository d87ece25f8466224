"""The report stage: the zonal tables, workbooks, maps and HTML report of a run's layers, and its Prefect artifacts.

The tables (method notes section 6) are summed in ``tasks.io.outputs.zonal``, written as files and the UNCCD
workbook in ``tasks.io.outputs.workbooks`` and assembled with the maps and the page in
``tasks.io.outputs.report`` (which ``ldn report`` uses on a published catalog too). This stage runs that for the
layers a run just wrote, from the cache when neither the layers nor the zones changed, and publishes the per-zone
SDG tables and the national targets as Prefect artifacts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.config import load_periods
from tasks.constants import OWN_TABLE_INDICATORS
from tasks.errors import NoZoneOverlap
from tasks.io.outputs.report import (
    ActivityOverlay,
    about_period,
    build_report,
    load_zones,
    refs_from_layers,
    report_inputs,
    run_sources,
)
from tasks.io.runtime.cache_keys import cache_key
from tasks.io.runtime.layer_cache import cache_for, link_file, open_entry, store_entry
from tasks.io.runtime.report_cache import PeriodTablesCache
from tasks.io.sources.integrity import file_fingerprint
from tasks.io.sources.registry import registry_fingerprint
from tasks.io.sources.run import RunContext
from tasks.model import LayerRef, LayerSummary, ReportFiles
from tasks.science.drought import reporting_years
from tasks.science.targets import TARGETS_FILE, load_targets

__all__ = ["report_task", "report_artifacts_task", "REPORT_FORMAT"]


REPORT_FORMAT = 6
"""The report's own format in its cache key: bump it with any change to what the report writes (tables, columns,
sections, maps), so a cached report of the former code is not linked into a new version. 2: the activity tables;
3: activity footprints drawn densified and continued past 180 degrees as the grid is; 4: the LDN balance; 5: the drought
(SO3-1) tables, workbook and section; 6: one label per period (its reporting years: the whole report's key holds the
periods file; a period's cached tables and maps do not carry the label, so a new period recomputes only its own),
the SOC means and LPD shares per land cover class in the workbooks."""


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
    for layer in layers:  # what the period's zonal tables read: not the layers with tables of their own
        if layer.period is not None and layer.indicator not in OWN_TABLE_INDICATORS:
            by_period.setdefault(layer.period, []).append(layer.cache_key)
    per_period = PeriodTablesCache(cache_for(cfg, "report-period"), {  # a period's tables: its layers and the zones
        period: {"period": period, "layers": sorted(k for k in period_keys if k is not None), **zones}
        for period, period_keys in by_period.items() if None not in period_keys}, cache_for(cfg, "report-ndvi"), {  # a year's means: its layer
        int(layer.year): {"layer": layer.cache_key, **zones} for layer in layers
        if layer.indicator == "ndvi-annual" and layer.year is not None and layer.cache_key is not None})
    if None in keys:
        return _report(run, layers, refs, periods, staging, per_period)

    key = cache_key("report", {"layers": sorted(keys), **zones,
                               "periods": file_fingerprint(cfg.periods_file),  # each period's label: its years
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


def _about(run: RunContext, layers: list[LayerSummary], periods: list[str]) -> dict[str, dict[str, Any]]:
    """Each period's method metadata, with the calendar years it reports on (from the periods file, as the drought
    stage takes them): the period's label everywhere in the report."""
    spans = reporting_years(load_periods(run.cfg.periods_file).periods, periods)
    return {p: {**about_period(layers, p), **({"reporting years": list(spans[p])} if p in spans else {})}
            for p in periods}


def _report(run: RunContext, layers: list[LayerSummary], refs: list[LayerRef], periods: list[str],
            staging: str, per_period: PeriodTablesCache | None = None) -> ReportFiles:
    cfg = run.cfg
    inputs = report_inputs(layers)
    try:
        report = build_report(refs, load_zones(cfg.zones, cfg.zone_field), Path(staging) / "report",
                              title=f"SDG 15.3.1 report: {cfg.region_id}", periods=periods,
                              about=_about(run, layers, periods), stem=f"zonal-{cfg.region_id}",
                              area=run.area_polygons.geometry if run.area_polygons is not None else None,
                              series=inputs["series"], sources=run_sources(run), annual=inputs["annual"],
                              land_cover_years=inputs["land_cover_years"],
                              targets=load_targets(cfg.ldn_targets or TARGETS_FILE),
                              activities=ActivityOverlay(run.activities, run.activity_registry,
                                                         cfg.activity_ring_km, cfg.activity_point_km,
                                                         run.sample_activities)
                              if run.activity_registry is not None else None, period_cache=per_period,
                              drought=inputs["drought"], people=inputs["people"],
                              links=[("Method notes", "../method.html"), ("STAC catalog of this version", "../catalog.json")])
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
