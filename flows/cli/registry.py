"""``ldn registry``: the NEAMSP activity registry (add, list, show, update, remove, import, export).

The registry is a GeoPackage file by default (``outputs/registry.gpkg``, or ``$LDN_REGISTRY``) or a PostGIS
database (``--registry postgresql://...``). Every write is one transaction: a bad record is a one-line error
naming it and its field, exit 2, and the registry is left as it was.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from shapely.geometry import Point

from flows.cli._app import fail
from flows.cli._options import parse_bbox
from tasks.constants import ACTIVITY_AREAS, ACTIVITY_STATUSES
from tasks.io.sources.registry import Registry, open_registry, read_activities, write_activities
from tasks.science.activities import Activity, ActivityFilter, parse_activity, to_lonlat

cli = typer.Typer()
registry_app = typer.Typer(
    name="registry", no_args_is_help=True,
    help="The NEAMSP activity registry: who does what where (GeoPackage by default, or PostGIS).")
cli.add_typer(registry_app)

REGISTRY_HELP = ("A .gpkg file or a postgresql:// DSN; default $LDN_REGISTRY, else outputs/registry.gpkg. "
                 "(A GeoJSON or CSV file can be listed, not written.)")
RegistryOpt = Annotated[Optional[str], typer.Option("--registry", help=REGISTRY_HELP)]
AREA_HELP = "Activity area: " + ", ".join(ACTIVITY_AREAS) + "."
STATUS_HELP = "Status: " + ", ".join(ACTIVITY_STATUSES) + "."


def _open(spec: str | None, *, create: bool) -> Registry:
    return open_registry(spec, create=create)


def _filter(country: str | None, area: str | None, status: str | None, bbox: str | None, active_from: str | None,
            active_to: str | None) -> ActivityFilter:

    def day(text: str | None, flag: str) -> date | None:
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise fail(f"{flag} {text!r} is not a date: write YYYY-MM-DD") from None

    return ActivityFilter(country=country, area=area, status=status,
                          bbox=parse_bbox(bbox, antimeridian=False) if bbox else None,
                          active_from=day(active_from, "--from"), active_to=day(active_to, "--to"))


CountryOpt = Annotated[Optional[str], typer.Option(help="Only this country (ISO 3166-1 alpha-3, e.g. MNG).")]
AreaOpt = Annotated[Optional[str], typer.Option(help="Only this " + AREA_HELP[0].lower() + AREA_HELP[1:])]
StatusOpt = Annotated[Optional[str], typer.Option(help="Only this " + STATUS_HELP[0].lower() + STATUS_HELP[1:])]
BboxOpt = Annotated[Optional[str], typer.Option(help="Only footprints touching west,south,east,north (degrees).")]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="Only activities running on or after this date.")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Only activities running on or before this date.")]


def _fields(name: str | None, org: list[str] | None, country: str | None, area: str | None, status: str | None,
            start: str | None, end: str | None, funding_amount: str | None, currency: str | None, donor: str | None,
            contact: str | None) -> dict[str, Any]:
    given = {"name": name, "organisations": org or None, "country": country, "area": area, "status": status,
             "start": start, "end": end, "funding_amount": funding_amount, "currency": currency, "donor": donor,
             "contact": contact}
    return {k: v for k, v in given.items() if v is not None}


def _footprint(wkt: str | None, lon: float | None, lat: float | None) -> dict[str, Any]:
    if wkt is not None and (lon is not None or lat is not None):
        raise fail("give --wkt or --lon/--lat, not both")
    if (lon is None) != (lat is None):
        raise fail("give --lon and --lat together")
    if wkt is not None:
        return {"footprint": wkt}
    return {"lon": lon, "lat": lat} if lon is not None else {}


NameOpt = Annotated[Optional[str], typer.Option(help="What the activity is.")]
OrgOpt = Annotated[Optional[list[str]], typer.Option("--org", help="An organisation carrying it out (repeat for more).")]
StartOpt = Annotated[Optional[str], typer.Option(help="Start date, YYYY-MM-DD.")]
EndOpt = Annotated[Optional[str], typer.Option(help="End date, YYYY-MM-DD (none: open).")]
AmountOpt = Annotated[Optional[str], typer.Option(help="Funding amount (with --currency).")]
CurrencyOpt = Annotated[Optional[str], typer.Option(help="Funding currency, ISO 4217 (e.g. USD).")]
WktOpt = Annotated[Optional[str], typer.Option(help="Footprint as WKT (a point or polygons), in --crs.")]
LonOpt = Annotated[Optional[float], typer.Option(help="Footprint point: longitude (or x in --crs).")]
LatOpt = Annotated[Optional[float], typer.Option(help="Footprint point: latitude (or y in --crs).")]
CrsOpt = Annotated[Optional[str], typer.Option(help="CRS of the footprint, e.g. EPSG:32649; default lon/lat.")]
CountryField = Annotated[Optional[str], typer.Option("--country", help="ISO 3166-1 alpha-3 code, e.g. MNG.")]
AreaField = Annotated[Optional[str], typer.Option("--area", help=AREA_HELP)]
StatusField = Annotated[Optional[str], typer.Option("--status", help=STATUS_HELP)]
DonorOpt = Annotated[Optional[str], typer.Option(help="Who funds it.")]
ContactOpt = Annotated[Optional[str], typer.Option(help="Who to ask about it.")]


@registry_app.command()
def add(
    id: Annotated[str, typer.Option("--id", help="Unique id (letters, digits, . _ -).")],
    name: Annotated[str, typer.Option(help="What the activity is.")],
    org: Annotated[list[str], typer.Option("--org", help="An organisation carrying it out (repeat for more).")],
    country: Annotated[str, typer.Option("--country", help="ISO 3166-1 alpha-3 code, e.g. MNG.")],
    area: Annotated[str, typer.Option("--area", help=AREA_HELP)],
    status: Annotated[str, typer.Option("--status", help=STATUS_HELP)],
    start: Annotated[str, typer.Option(help="Start date, YYYY-MM-DD.")],
    end: EndOpt = None, funding_amount: AmountOpt = None,
    currency: CurrencyOpt = None, donor: DonorOpt = None, contact: ContactOpt = None, wkt: WktOpt = None, lon: LonOpt = None, lat: LatOpt = None, crs: CrsOpt = None, registry: RegistryOpt = None,
) -> None:
    """Add one activity (validated; nothing is written when a field is wrong or the id exists)."""

    record = {"id": id, **_fields(name, org, country, area, status, start, end, funding_amount, currency, donor,
                                  contact), **_footprint(wkt, lon, lat)}
    with _open(registry, create=True) as reg:
        activity = parse_activity(record, where="from the command line", crs=crs)
        reg.add([activity])
        typer.echo(f"added {activity.id} to {reg.where}")


@registry_app.command("list")
def list_(country: CountryOpt = None, area: AreaOpt = None, status: StatusOpt = None, bbox: BboxOpt = None,
          active_from: FromOpt = None, active_to: ToOpt = None, registry: RegistryOpt = None) -> None:
    """List activities (those the filters select), one per line: id, country, area, status, dates, name."""
    chosen = _filter(country, area, status, bbox, active_from, active_to)
    with _open(registry, create=False) as reg:
        found = reg.list(chosen)
        for a in found:
            where = a.footprint.geom_type.lower() if a.footprint is not None else "no footprint"
            typer.echo(f"{a.id:<16} {a.country}  {a.area:<22} {a.status:<9} {a.start} .. {str(a.end or ''):<10}  "
                       f"{where:<12} {a.name}")
        typer.echo(f"{len(found)} activities in {reg.where}")


@registry_app.command()
def show(id: Annotated[str, typer.Argument(help="The activity's id.")], registry: RegistryOpt = None) -> None:
    """Every field of one activity, the footprint as WKT."""
    with _open(registry, create=False) as reg:
        a = reg.get(id)
    for key, value in a.model_dump(mode="json").items():
        if key == "organisations":
            value = "; ".join(value)
        if key == "area":
            value = f"{value} ({a.area_name})"
        typer.echo(f"{key:<15} {'' if value is None else value}")


@registry_app.command()
def update(
    id: Annotated[str, typer.Argument(help="The activity's id.")],
    name: NameOpt = None, org: OrgOpt = None, country: CountryField = None, area: AreaField = None,
    status: StatusField = None, start: StartOpt = None, end: EndOpt = None, funding_amount: AmountOpt = None,
    currency: CurrencyOpt = None, donor: DonorOpt = None, contact: ContactOpt = None, wkt: WktOpt = None, lon: LonOpt = None, lat: LatOpt = None, crs: CrsOpt = None, registry: RegistryOpt = None,
) -> None:
    """Change the given fields of one activity; the result is checked as a whole before it is written."""


    changes = _fields(name, org, country, area, status, start, end, funding_amount, currency, donor, contact)
    place = _footprint(wkt, lon, lat)
    if "lon" in place:
        changes["footprint"] = to_lonlat(Point(place["lon"], place["lat"]), crs)
    elif "footprint" in place:
        changes["footprint"] = to_lonlat(place["footprint"], crs)
    if not changes:
        raise fail("nothing to change: give at least one field, e.g. --status completed")
    with _open(registry, create=False) as reg:
        reg.update(id, changes)
        typer.echo(f"updated {id} in {reg.where}")


@registry_app.command()
def remove(ids: Annotated[list[str], typer.Argument(help="Ids of the activities to remove.")],
           registry: RegistryOpt = None) -> None:
    """Remove activities by id (all or none: an unknown id removes nothing)."""
    with _open(registry, create=False) as reg:
        n = reg.remove(ids)
        typer.echo(f"removed {n} from {reg.where}")


@registry_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A GeoJSON FeatureCollection, or a CSV with wkt or lon/lat columns.")],
    crs: Annotated[Optional[str], typer.Option(
        help="CRS of the footprints; default the GeoJSON's crs member, else lon/lat.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite activities whose id exists.")] = False,
    registry: RegistryOpt = None,
) -> None:
    """Import activities from GeoJSON or CSV in one transaction: every record is checked first, and one bad record
    (or an id already there, without --replace) imports none."""

    activities = read_activities(path, crs=crs)
    with _open(registry, create=True) as reg:
        n = reg.add(activities, replace=replace)
        typer.echo(f"imported {n} activities from {path} into {reg.where}")


@registry_app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Output .geojson or .csv (written atomically).")],
    country: CountryOpt = None, area: AreaOpt = None, status: StatusOpt = None, bbox: BboxOpt = None,
    active_from: FromOpt = None, active_to: ToOpt = None,
    lonlat: Annotated[bool, typer.Option("--lonlat", help="CSV: lon and lat columns instead of WKT (points only).")] = False,
    registry: RegistryOpt = None,
) -> None:
    """Export activities (those the filters select) to GeoJSON or CSV, footprints in lon/lat at full precision."""

    chosen = _filter(country, area, status, bbox, active_from, active_to)
    with _open(registry, create=False) as reg:
        found: list[Activity] = reg.list(chosen)
        n = write_activities(found, path, lonlat=lonlat)
        typer.echo(f"exported {n} activities from {reg.where} to {path}")
