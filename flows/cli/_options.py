"""What the command modules share: option parsers and defaults, and the per-zone table they print."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from flows.cli._app import fail
from flows.run_options import DEFAULT_SAMPLE_DIR
from tasks.constants import DEFAULT_OUTPUTS
from tasks.geo.boxes import lonlat_box_problem

if TYPE_CHECKING:  # the tables printed are pandas frames; the commands that print them have it loaded
    import pandas as pd

__all__ = ["DEFAULT_SAMPLE_DIR", "parse_years", "parse_bbox", "print_zones", "CATALOG_HELP", "DEFAULT_CATALOG_ROOT"]


def parse_years(text: str, flag: str = "--years") -> tuple[int, int]:
    """``--years`` (or ``flag``) as (first, last): ``2001-2024``, or one year ``2024``."""
    try:
        first, _, last = text.partition("-")
        return int(first), int(last or first)
    except ValueError:
        raise fail(f"{flag} {text!r} is not YEAR or FIRST-LAST: write e.g. 2001-2024") from None


def parse_bbox(text: str, *, antimeridian: bool = True) -> tuple[float, float, float, float]:
    """``--bbox`` west,south,east,north in degrees, checked (west > east crosses 180 degrees if ``antimeridian``)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise fail(f"--bbox {text!r} is not four numbers: write west,south,east,north in degrees")
    if (problem := lonlat_box_problem(*values, antimeridian=antimeridian)) is not None:
        raise fail(f"--{problem}")
    return values  # type: ignore[return-value]


CATALOG_HELP = "Root catalog.json, its folder, or its URL (http(s)://host/catalog.json, s3://bucket/prefix/...)."
DEFAULT_CATALOG_ROOT = str(DEFAULT_OUTPUTS / "catalog")


def print_zones(period: str, sdg: pd.DataFrame | None) -> None:
    """Per-zone SDG 15.3.1: land, degraded / stable / improved km2 and %."""
    if sdg is None:
        return
    typer.echo(f"\n{period}: SDG 15.3.1 per zone (km2; % of land with data)")
    typer.echo(f"  {'zone':<22}{'land':>10}{'degraded':>20}{'stable':>20}{'improved':>20}{'nodata':>10}")
    for row in sdg[sdg["indicator"] == "sdg_15_3_1"].itertuples():
        typer.echo(f"  {row.zone[:21]:<22}{row.land_km2:>10.1f}"
                   f"{row.degraded_km2:>11.1f} ({row.degraded_pct:5.1f}%)"
                   f"{row.stable_km2:>11.1f} ({row.stable_pct:5.1f}%)"
                   f"{row.improved_km2:>11.1f} ({row.improved_pct:5.1f}%){row.nodata_km2:>10.1f}")
