"""Load a published catalog version into a pgstac database, so any STAC API client can search it.

The static catalog stays the source of truth; pgstac is a search index of its latest loaded
version. Collections and items are upserted (same ids replace the previous version's), asset hrefs
are made absolute so a client on the same file system (or behind the same URL prefix; the store's own
``s3://`` URLs for a catalog in object storage) can read the COGs, and each item records the catalog version it came from (``ldn:version``). The pgstac schema
is created with pypgstac's migrations when the database has none yet.

Serve it with stac-fastapi-pgstac (see the README): searches by collection (indicator), the
``ldn:period`` property, bbox and datetime then work from pystac-client.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pystac

from tasks.errors import PublishError, redact
from tasks.io.outputs.layers import DEFAULT_CATALOG, version_catalog

__all__ = ["load_into_pgstac", "check_pgstac"]


def _documents(cat: pystac.Catalog, version: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    collections, items = [], []
    for collection in cat.get_children():
        if not isinstance(collection, pystac.Collection):
            continue
        doc = collection.to_dict(include_self_link=False, transform_hrefs=False)
        doc["links"] = []
        collections.append(doc)
        for item in collection.get_items():
            item.make_asset_hrefs_absolute()
            d = item.to_dict(include_self_link=False, transform_hrefs=False)
            d["collection"] = collection.id
            d["links"] = []
            d["properties"]["ldn:version"] = version
            items.append(d)
    return collections, items


def check_pgstac(dsn: str) -> bool:
    """Connect to ``dsn`` (a one-line ``PublishError`` if that fails); return whether it has the pgstac schema."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            row = conn.execute("select to_regnamespace('pgstac') is not null").fetchone()
            return bool(row and row[0])
    except psycopg.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PublishError(f"cannot connect to pgstac at {redact(dsn)} ({first}): start PostgreSQL or fix --pgstac") from None


def load_into_pgstac(dsn: str, root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> tuple[int, int]:
    """Upsert one published version (``latest`` by default) into the pgstac database at ``dsn``.

    Returns (collections, items) loaded. An unreachable database or a failed load is a one-line
    ``PublishError`` that names the DSN (password hidden) and the fix; the static catalog is never
    touched.
    """
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    cat = version_catalog(root, version)
    name = cat.id.removeprefix("ldn-pipeline-")
    collections, items = _documents(cat, name)
    has_schema = check_pgstac(dsn)
    try:
        with PgstacDB(dsn=dsn) as db:
            if not has_schema:
                Migrate(db).run_migration()
            loader = Loader(db=db)
            loader.load_collections(iter(collections), insert_mode=Methods.upsert)
            loader.load_items(iter(items), insert_mode=Methods.upsert)
    except Exception as err:  # psycopg and pypgstac raise many types; the message says what failed
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PublishError(f"loading version {name} into pgstac at {redact(dsn)} failed ({first}): "
                           "check the database is pgstac (pypgstac migrate) and writable") from None
    return len(collections), len(items)
