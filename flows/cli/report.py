"""``ldn report``: zonal tables, UNCCD workbooks and the HTML report for your zones, from published layers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import shapely.geometry
import typer

from flows.cli._app import fail
from flows.cli._options import CATALOG_HELP, DEFAULT_CATALOG_ROOT, print_zones
from tasks.constants import DEFAULT_OUTPUTS
from tasks.io.outputs.layers import published_layers, version_catalog
from tasks.io.outputs.report import ActivityOverlay, build_report, load_zones, report_inputs, zones_of_the_run
from tasks.io.sources.integrity import open_href
from tasks.io.sources.registry import SAMPLE_ACTIVITIES, open_registry, registry_label
from tasks.science.targets import TARGETS_FILE, load_targets

cli = typer.Typer()


@cli.command()
def report(
    zones: Annotated[Optional[Path], typer.Option(
        help="Your zones (GeoPackage/GeoJSON, any CRS); default: the countries of North-East Asia.")] = None,
    zone_field: Annotated[Optional[str], typer.Option(help="Field naming each zone (default: `name`).")] = None,
    periods: Annotated[Optional[str], typer.Option(help="Comma-separated periods (default: all published).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the tables, workbooks and HTML report.")] = DEFAULT_OUTPUTS / "report",
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    version: Annotated[str, typer.Option(help="A published version, or latest.")] = "latest",
    targets: Annotated[Optional[Path], typer.Option(
        help="National LDN targets YAML to track; default: catalogs/ldn_targets.yaml.")] = None,
    activities: Annotated[Optional[str], typer.Option(
        help="Activity registry to set beside the indicators: a .gpkg, a GeoJSON/CSV file or a postgresql:// DSN.")] = None,
    ring_km: Annotated[float, typer.Option(help="Width of the ring around each activity (km).")] = 5.0,
    point_km: Annotated[float, typer.Option(help="Radius of the disc an activity's point stands for (km).")] = 1.0,
) -> None:
    """Zonal tables (CSV, Parquet), UNCCD workbooks and an HTML report for your zones, from published layers;
    with --activities, the registry's activities beside the indicators too."""
    if ring_km <= 0 or point_km <= 0:
        raise fail(f"--ring-km {ring_km:g} and --point-km {point_km:g} must be positive")
    overlay = None
    if activities is not None:
        with open_registry(activities, create=False) as registry:
            overlay = ActivityOverlay(tuple(registry.list()), registry_label(activities, registry), ring_km, point_km,
                                      sample=Path(activities).resolve() == SAMPLE_ACTIVITIES.resolve())
    chosen = [p.strip() for p in periods.split(",") if p.strip()] if periods else None
    zone_set = load_zones(zones, zone_field)
    cat, layers = published_layers(catalog, version)
    inputs = report_inputs(layers)
    items = list(cat.get_items(recursive=True))
    software = next((i.properties.get("ldn:software_version") for i in items), None)
    about: dict = {}
    for layer in layers:  # what the version says about each period, for its headings and method tables
        if layer.indicator == "sdg-15-3-1":
            about.setdefault(layer.period, {}).update({
                "version": cat.id, "method": layer.attrs.get("method"),
                "window": list(layer.window) if layer.window else None,
                "parameters": {k: v for k, v in layer.attrs.items() if k != "method"},
                "software": software})
        elif layer.indicator in ("lpd", "land-cover") and layer.period:
            about.setdefault(layer.period, {})[f"{layer.indicator} window"] = list(layer.window) if layer.window else None
    area = next((shapely.geometry.shape(i.geometry) for i in items
                 if i.properties.get("ldn:area") and i.geometry), None)  # the run kept to a region: so do the zones
    sdg = next((c for c in cat.get_children() if c.id == "sdg-15-3-1"), None)
    sources = [(p.name, p.description or "") for p in (getattr(sdg, "providers", None) or [])
               if p.name != "ldn-pipeline"]
    built = build_report(inputs["refs"], zone_set, out, title=f"SDG 15.3.1 report: {cat.title or cat.id}",
                         about=about, periods=chosen, area=area, sources=sources, series=inputs["series"],
                         annual=inputs["annual"], land_cover_years=inputs["land_cover_years"],
                         targets=load_targets(targets or TARGETS_FILE), activities=overlay,
                         drought=inputs["drought"], people=inputs["people"], links=_version_links(cat, out))
    for period, frames in built.frames.items():
        print_zones(period, frames.get("sdg_15_3_1"))
    if (theirs := zones_of_the_run(inputs["drought"], inputs["people"], zone_set)) is not None:
        typer.echo(f"\nnote: the drought and people tables are the run's, per its zones ({', '.join(theirs)}): "
                   "`ldn report` does not repeat the run's passes over the precipitation and the population; "
                   "`ldn run --zones` computes them for yours")
    typer.echo(f"\nwrote {sum(len(v) for v in built.tables.values())} tables and workbooks to {out}")
    typer.echo(f"  report: {built.html}")


def _version_links(cat: Any, out: Path) -> list[tuple[str, str]]:
    """The published version's method page and catalog, as the report's first links (relative to its folder for a
    local catalog, the URL for one served over HTTP)."""
    href = cat.get_self_href() or ""
    if not href:
        return []
    folder = href.rpartition("/")[0]
    found = [("Method notes", f"{folder}/method.html"), (f"STAC catalog of version {cat.id}", href)]
    if "://" in href and not href.startswith("file://"):
        return found
    return [(name, os.path.relpath(h.removeprefix("file://"), out).replace(os.sep, "/")) for name, h in found
            if Path(h.removeprefix("file://")).exists()]


@cli.command()
def targets(
    country: Annotated[Optional[str], typer.Option(help="Only this country (ISO 3166-1 alpha-3, e.g. MNG).")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print the whole table as CSV (every column, notes and sources).")] = False,
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    version: Annotated[str, typer.Option(help="A published version, or latest.")] = "latest",
) -> None:
    """The national LDN targets table of a published version: per target and period the measured value, the path to
    the target and on or off track, read from what the run published (nothing is recomputed)."""
    try:
        cat = version_catalog(catalog, version)
        asset = next((item.assets["targets_csv"] for item in cat.get_items(recursive=True)
                      if "targets_csv" in item.assets), None)
        if asset is None:
            raise fail(f"version {cat.id} has no targets table: it was published before targets were tracked; run "
                       "`ldn run` again, or `ldn report` to make one from its layers")
        href = asset.get_absolute_href() or asset.href
        with open_href(href) as f:
            table = pd.read_csv(f, dtype={"year": "Int64", "baseline_year": "Int64", "target_year": "Int64"})
    except OSError as err:
        raise fail(f"the targets table of {cat.id} cannot be read ({err}): check that the catalog's files are all "
                   "there, or publish the version again") from None
    if country is not None:
        have = sorted(set(table["country"]))
        table = table[table["country"] == country.upper()]
        if table.empty:
            raise fail(f"no target of {country.upper()} in {cat.id}: the table has targets of {', '.join(have)}")
    if csv:
        typer.echo(table.to_csv(index=False, float_format="%.6g"), nl=False)
        return
    for target_id, rows in table.groupby("target_id", sort=False):
        first = rows.iloc[0]
        typer.echo(f"\n{first['country']}  {first['title']}  [{target_id}]")
        if isinstance(first["proxy"], str) and first["proxy"]:
            typer.echo(f"  proxy: {first['proxy']}")
        measured = rows[rows["measured"].notna()]
        if measured.empty:
            typer.echo(f"  {first['status']}: {first['note']}")
            continue
        shown = measured[["period", "year", "measured", "path", "gap", "measured_change", "path_change",
                          "status"]].dropna(axis=1, how="all")
        typer.echo("  " + shown.to_string(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-")
                   .replace("\n", "\n  "))
        units = [f"{what} in {unit}" for what, column in (("gap", "gap_unit"), ("changes", "change_unit"))
                 if isinstance(unit := next((u for u in measured[column] if isinstance(u, str)), None), str)]
        if units:
            typer.echo(f"  ({'; '.join(units)})")
        notes = sorted({str(n).split(";")[0] for n in measured["note"] if isinstance(n, str)
                        and ("covers" in n or "no reference" in n)})
        for note in notes:
            typer.echo(f"  note: {note}")
    typer.echo(f"\n{len(table)} rows from {cat.id}; every column with --csv")
