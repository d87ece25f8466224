"""``ldn publish``: a published version into a pgstac database, the search index of stac-fastapi-pgstac."""
from __future__ import annotations

from typing import Annotated

import typer

from flows.cli._options import CATALOG_HELP, DEFAULT_CATALOG_ROOT
from tasks.errors import redact
from tasks.io.outputs.pgstac import load_into_pgstac

cli = typer.Typer()


@cli.command()
def publish(
    pgstac: Annotated[str, typer.Option(
        envvar="LDN_PGSTAC_DSN", help="pgstac database, e.g. postgresql://user:pass@127.0.0.1:5432/stac "
                                      "(or $LDN_PGSTAC_DSN).")],
    catalog: Annotated[str, typer.Option(help=CATALOG_HELP)] = DEFAULT_CATALOG_ROOT,
    version: Annotated[str, typer.Option(help="A published version, or latest.")] = "latest",
) -> None:
    """Load a published version into a pgstac database (search index for stac-fastapi-pgstac)."""
    collections, items = load_into_pgstac(pgstac, catalog, version)
    typer.echo(f"loaded {collections} collections and {items} items into pgstac at {redact(pgstac)}")
