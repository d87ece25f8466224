"""``ldn layers list | versions | get``: what a published version holds, and its layers, with no recomputation."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flows.cli._app import fail
from flows.cli._options import CATALOG_HELP, DEFAULT_CATALOG_ROOT, parse_bbox
from tasks.geo.grid import bboxes_intersect
from tasks.io.outputs.layers import fetch_layer, find_layer, is_url, layer_items, published_versions
from tasks.io.runtime.object_store import incomplete_versions, remove_version

cli = typer.Typer()
layers_app = typer.Typer(help="List and fetch published layers (no recomputation).", no_args_is_help=True)
cli.add_typer(layers_app, name="layers")


@layers_app.command("list")
def layers_list(
    indicator: Annotated[Optional[str], typer.Option(help="Only this indicator, e.g. lpd.")] = None,
    period: Annotated[Optional[str], typer.Option(help="Only this period, e.g. report_1.")] = None,
    bbox: Annotated[Optional[str], typer.Option(help="Only layers touching west,south,east,north (degrees).")] = None,
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    version: Annotated[str, typer.Option(help="A published version, or latest.")] = "latest",
) -> None:
    """List the layers of a published version: indicator, period or year, id, bbox."""
    rows = layer_items(catalog, version)
    area = parse_bbox(bbox) if bbox else None
    if indicator and rows and indicator not in {r["indicator"] for r in rows}:
        raise fail(f"no layer {indicator!r} in version {rows[0]['version']}; it has {sorted({r['indicator'] for r in rows})}")
    if period and rows and period not in {r["period"] for r in rows}:
        raise fail(f"no period {period!r} in version {rows[0]['version']}; it has "
                    f"{sorted({r['period'] for r in rows if r['period']})}")
    shown_version = rows[0]["version"] if rows else version
    rows = [r for r in rows if (not indicator or r["indicator"] == indicator) and (not period or r["period"] == period)
            and (area is None or bboxes_intersect(tuple(r["bbox"]), area))]
    typer.echo(f"{'indicator':<14}{'period/year':<14}{'id':<44}bbox")
    for r in rows:
        typer.echo(f"{r['indicator']:<14}{str(r['period'] or r['year']):<14}{r['id']:<44}{r['bbox']}")
    typer.echo(f"{len(rows)} layers, version {shown_version}")


@layers_app.command("versions")
def layers_versions(
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    incomplete: Annotated[bool, typer.Option("--incomplete",
        help="List instead the versions in object storage that its root catalog does not name: an upload or a switch "
             "that failed (or a run uploading now: `claimed`).")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="With --incomplete: delete those versions' objects (not "
                                                          "the ones a run claimed in the last 6 hours).")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --remove: the claimed ones too (a run that failed "
                                                        "without removing its claim, e.g. its credential expired).")] = False,
) -> None:
    """List every published version, newest first; `latest` marks the one readers get by default."""
    if remove and not incomplete:
        raise fail("--remove deletes incomplete versions only: add --incomplete")
    if force and not remove:
        raise fail("--force removes claimed incomplete versions too: add --incomplete --remove")
    if not incomplete:
        versions, latest = published_versions(catalog)
        for name in versions:
            typer.echo(f"{name}{'  (latest)' if name == latest else ''}")
        return
    store = catalog.removesuffix("/catalog.json").rstrip("/")
    if not is_url(store) or store.startswith(("http://", "https://")):
        raise fail(f"--incomplete lists a catalog in object storage (s3://bucket/prefix), not {catalog}: a folder's "
                   "versions are renamed into place whole, and an HTTP server cannot be listed")
    left = incomplete_versions(store)
    removed = 0
    for name, live in left:
        gone = remove and (force or not live)
        if gone:
            remove_version(store, name)
            removed += 1
        typer.echo(f"{name}{'  (removed)' if gone else '  (claimed: a run may be uploading it)' if live else ''}")
    typer.echo(f"{len(left)} incomplete version(s) in {store}" + (f", {removed} removed" if remove else ""))


@layers_app.command("get")
def layers_get(
    indicator: Annotated[str, typer.Argument(help="e.g. lpd, sdg-15-3-1, trajectory, ndvi-annual.")],
    period: Annotated[Optional[str], typer.Option(help="Reporting period, e.g. baseline.")] = None,
    year: Annotated[Optional[int], typer.Option(help="Year (annual layers).")] = None,
    asset: Annotated[str, typer.Option(help="Asset key; data is the main layer.")] = "data",
    bbox: Annotated[Optional[str], typer.Option(help="Clip to west,south,east,north (degrees).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the layer here (default: print its path).")] = None,
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    version: Annotated[str, typer.Option(help="A published version, or latest.")] = "latest",
) -> None:
    """Print the path of one published layer, or write it (optionally clipped) to --out."""
    item = find_layer(indicator, period=period, year=year, root=catalog, version=version)
    if asset not in item.assets:
        raise fail(f"{item.id} has no asset {asset!r}; it has {sorted(item.assets)}")
    if out is None and bbox is None:
        typer.echo(item.assets[asset].get_absolute_href())
        return
    target = fetch_layer(item, out or Path(f"{item.id}_{asset}.tif"), asset=asset, bbox=parse_bbox(bbox, antimeridian=False) if bbox else None)
    typer.echo(str(target))
