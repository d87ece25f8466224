"""The activity registry's storage: a GeoPackage file (the embedded default) or a PostGIS table, plus the GeoJSON
and CSV files activities are exchanged in.

Both backends keep the same columns (``tasks.science.activities.FIELDS``), the footprint in EPSG:4326, and a
schema version in a ``meta`` table; a registry written by a newer schema is refused instead of misread. Every write
is one transaction: an import of 1,000 records with one bad record changes nothing. Two writers to one
GeoPackage take turns (SQLite's write lock, waited on for ``wait_s``); a writer still waiting after that fails
with a one-line error and its records are not half written. The GeoPackage is a standard one (OGC 1.4: the
``gpkg_*`` tables, binary geometry headers), so QGIS and GDAL open it as a layer.

A GeoJSON or CSV file can also stand for a registry to read (``ldn run``'s ``activities:``); writing to it is
refused with the command that imports it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import struct
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Sequence

import shapely

from tasks.constants import CATALOGS_DIR, DEFAULT_OUTPUTS
from tasks.errors import ConfigError, RegistryError, redact
from tasks.science.activities import FIELDS, Activity, ActivityFilter, parse_activity

__all__ = [
    "SCHEMA_VERSION",
    "DEFAULT_REGISTRY",
    "SAMPLE_ACTIVITIES",
    "Registry",
    "GeoPackageRegistry",
    "PostgisRegistry",
    "FileRegistry",
    "open_registry",
    "read_activities",
    "write_activities",
    "is_dsn",
    "registry_fingerprint",
    "registry_label",
]

SCHEMA_VERSION = 1
"""The registry's table layout; bump it (with a migration in ``_migrate``) when a column changes."""

DEFAULT_REGISTRY = DEFAULT_OUTPUTS / "registry.gpkg"
"""Where ``ldn registry`` keeps activities when neither ``--registry`` nor ``LDN_REGISTRY`` says otherwise."""

SAMPLE_ACTIVITIES = CATALOGS_DIR / "sample_activities.geojson"
"""The fictitious sample registry of the bundled sample region (every name says so)."""

TABLE = "activities"
COLUMNS: dict[str, str] = {  # column -> SQL type (GeoPackage; PostGIS maps TEXT/DATE the same)
    "id": "TEXT NOT NULL UNIQUE", "name": "TEXT NOT NULL", "organisations": "TEXT NOT NULL",
    "country": "TEXT NOT NULL", "area": "TEXT NOT NULL", "status": "TEXT NOT NULL", "start": "DATE NOT NULL",
    "end": "DATE", "funding_amount": "TEXT", "currency": "TEXT", "donor": "TEXT", "contact": "TEXT",
}
assert tuple(COLUMNS) + ("footprint",) == FIELDS, "the registry's columns follow the Activity model"


def is_dsn(spec: str | Path) -> bool:
    """True for a PostgreSQL connection string (``postgresql://...`` or ``postgres://...``)."""
    return str(spec).startswith(("postgresql://", "postgres://"))


def _row(activity: Activity) -> dict[str, Any]:
    """The registry columns of an activity (text for lists, dates and the exact funding decimal)."""
    a = activity
    return {"id": a.id, "name": a.name, "organisations": "; ".join(a.organisations), "country": a.country,
            "area": a.area, "status": a.status, "start": a.start.isoformat(),
            "end": a.end.isoformat() if a.end else None,
            "funding_amount": str(a.funding_amount) if a.funding_amount is not None else None,
            "currency": a.currency, "donor": a.donor, "contact": a.contact}


def _activity(row: dict[str, Any], footprint: shapely.Geometry | None, where: str) -> Activity:
    record = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
    return parse_activity({**record, "footprint": footprint}, where=where)


class Registry:
    """Activities kept somewhere: list, get, add, update, remove; each write one transaction, all or nothing."""

    where: str = ""

    def _read(self, ident: str | None) -> list[Activity]:
        """Every stored activity ordered by id, or the one with id ``ident`` (none when there is no such id)."""
        raise NotImplementedError

    def list(self, where: ActivityFilter | None = None) -> list[Activity]:
        """Every activity (those ``where`` selects), ordered by id."""
        return [a for a in self._read(None) if where is None or where(a)]

    def get(self, ident: str) -> Activity:
        """The activity with this id; a one-line error naming the registry when there is none."""
        found = self._read(ident)
        if not found:
            raise RegistryError(f"no activity {ident!r} in {self.where}: `ldn registry list` shows the ids")
        return found[0]

    def add(self, activities: Sequence[Activity], *, replace: bool = False) -> int:
        """Add activities (``replace``: or overwrite those whose id exists) in one transaction; a duplicate id in
        the batch, or one already in the registry without ``replace``, changes nothing. Returns the count."""
        raise NotImplementedError

    def update(self, ident: str, changes: dict[str, Any]) -> Activity:
        """Change fields of one activity; the result is validated as a whole before anything is written."""
        current = self.get(ident)
        record = {**current.model_dump(), **changes}
        updated = parse_activity(record, where=self.where)
        if updated.id != ident:
            raise ConfigError(f"activity {ident!r}: id cannot change (remove it and add the new one)")
        self.add([updated], replace=True)
        return updated

    def remove(self, ids: Sequence[str]) -> int:
        """Remove activities by id in one transaction; an unknown id removes nothing."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check_batch(activities: Sequence[Activity]) -> None:
        seen: set[str] = set()
        for a in activities:
            if a.id in seen:
                raise ConfigError(f"activity {a.id!r}: id: appears twice in the records given: ids are unique")
            seen.add(a.id)


# --- GeoPackage --------------------------------------------------------------------------------------------------

_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10400  # 1.4.0
_SRS_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
             'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",'
             '0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],'
             'AUTHORITY["EPSG","4326"]]')


def gpkg_blob(geom: shapely.Geometry | None) -> bytes | None:
    """A GeoPackage binary geometry: the ``GP`` header (version 0, little-endian, xy envelope, SRS 4326) + WKB."""
    if geom is None:
        return None
    x0, y0, x1, y1 = geom.bounds
    return b"GP" + struct.pack("<BBi4d", 0, 0b011, 4326, x0, x1, y0, y1) + shapely.to_wkb(geom, byte_order=1)


def from_gpkg_blob(blob: bytes | None) -> shapely.Geometry | None:
    """The geometry of a GeoPackage binary geometry (any envelope, either byte order)."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise RegistryError("a footprint in the GeoPackage is not a GeoPackage geometry: was it written by another tool?")
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0b111)
    if envelope is None:
        raise RegistryError("a footprint in the GeoPackage has an invalid envelope flag")
    return shapely.from_wkb(bytes(blob[8 + envelope:]))


class GeoPackageRegistry(Registry):
    """The registry in a GeoPackage file (SQLite): a feature table ``activities`` with a ``geom`` column in
    EPSG:4326, readable by QGIS and GDAL, and a ``meta`` table with the schema version."""

    def __init__(self, path: str | Path, *, create: bool = True, wait_s: float = 30.0) -> None:
        self.path = Path(path)
        self.where = f"registry {self.path}"
        self.wait_s = wait_s
        if not self.path.exists():
            if not create:
                raise RegistryError(f"{self.where} does not exist: create it with `ldn registry import` or `ldn "
                                    "registry add`, or name an existing registry")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise RegistryError(f"{self.where} is a folder: pass a .gpkg file")
        try:
            self.conn = sqlite3.connect(self.path, timeout=wait_s, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self._prepare()
        except sqlite3.DatabaseError as err:
            raise RegistryError(f"{self.where} cannot be opened as a GeoPackage ({err}): pass a GeoPackage written "
                                "by `ldn registry`, or a new file name") from None

    def _prepare(self) -> None:
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables and TABLE in tables:
            self._check_version(self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone())
            return
        if tables and app_id != _GPKG_APPLICATION_ID:
            raise RegistryError(f"{self.where} is an SQLite file but not a GeoPackage: pass a new file name")
        if tables - {"gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_geometry_columns", "sqlite_sequence",
                     "gpkg_ogr_contents", "gpkg_extensions"}:
            raise RegistryError(f"{self.where} is a GeoPackage of other data (no activity registry in it): "
                                "pass a new file name")
        self._write(self._create)

    def _create(self, cur: sqlite3.Cursor) -> None:
        cur.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
        cur.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
        cur.execute("""CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL,
            srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
            definition TEXT NOT NULL, description TEXT)""")
        cur.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, _SRS_4326, "longitude/latitude coordinates in decimal degrees")])
        cur.execute("""CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY,
            data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE,
            min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""")
        cur.execute("""CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL,
            column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL,
            z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name))""")
        columns = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        cur.execute(f'CREATE TABLE "{TABLE}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom GEOMETRY, {columns})')
        cur.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                    "VALUES (?, 'features', ?, ?, 4326)",
                    (TABLE, "activities", "land degradation activities (NEAMSP registry, ldn-pipeline)"))
        cur.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', 4326, 0, 0)", (TABLE,))
        cur.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        cur.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                    "VALUES ('meta', 'attributes', 'registry metadata', 'schema version of the activity registry')")
        cur.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _check_version(self, row: Any) -> None:
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise RegistryError(f"{self.where} has registry schema {version}, newer than this ldn-pipeline's "
                                f"{SCHEMA_VERSION}: upgrade ldn-pipeline")
        if version < 1:
            raise RegistryError(f"{self.where} has no registry schema version: pass a registry written by `ldn registry`")

    def _write(self, work: Any) -> Any:
        """Run ``work(cursor)`` in one immediate transaction (the writer's lock taken first); roll back on error."""
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise RegistryError(f"{self.where} is being written by another process and stayed locked for "
                                    f"{self.wait_s:g} s: retry when it is done (nothing was changed)") from None
            raise RegistryError(f"{self.where} cannot be written ({err}): check the file and its folder's "
                                "permissions") from None
        try:
            out = work(cur)
            cur.execute("COMMIT")
            return out
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _read(self, ident: str | None) -> list[Activity]:
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        one = "WHERE id = ?" if ident is not None else ""
        rows = self.conn.execute(f'SELECT geom, {names} FROM "{TABLE}" {one} ORDER BY id',
                                 (ident,) if ident is not None else ())
        out = []
        for row in rows:
            values = dict(row)
            blob = values.pop("geom")
            out.append(_activity(values, from_gpkg_blob(blob), self.where))
        return out

    def add(self, activities: Sequence[Activity], *, replace: bool = False) -> int:
        self._check_batch(activities)
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))

        def work(cur: sqlite3.Cursor) -> int:
            if not replace:
                have = {r[0] for r in cur.execute(f'SELECT id FROM "{TABLE}"')}
                for a in activities:
                    if a.id in have:
                        raise ConfigError(f"activity {a.id!r}: id: already in {self.where}: use `ldn registry "
                                          "update`, or import with --replace")
            for a in activities:
                if replace:
                    cur.execute(f'DELETE FROM "{TABLE}" WHERE id = ?', (a.id,))
                row = _row(a)
                cur.execute(f'INSERT INTO "{TABLE}" (geom, {names}) VALUES ({marks})',
                            (gpkg_blob(a.footprint), *row.values()))
            self._touch(cur)
            return len(activities)

        return self._write(work)

    def remove(self, ids: Sequence[str]) -> int:
        def work(cur: sqlite3.Cursor) -> int:
            for ident in ids:
                if cur.execute(f'DELETE FROM "{TABLE}" WHERE id = ?', (ident,)).rowcount == 0:
                    raise RegistryError(f"no activity {ident!r} in {self.where}: nothing removed "
                                        "(`ldn registry list` shows the ids)")
            self._touch(cur)
            return len(ids)

        return self._write(work)

    def _touch(self, cur: sqlite3.Cursor) -> None:
        """Keep gpkg_contents' extent and change time true, as GeoPackage readers expect."""
        geoms = (from_gpkg_blob(r[0]) for r in cur.execute(f'SELECT geom FROM "{TABLE}" WHERE geom IS NOT NULL'))
        boxes = [g.bounds for g in geoms if g is not None]
        box = ((min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
               if boxes else (None, None, None, None))
        cur.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
                    "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?", (*box, TABLE))

    def close(self) -> None:
        self.conn.close()


# --- PostGIS -----------------------------------------------------------------------------------------------------

class PostgisRegistry(Registry):
    """The registry in a PostGIS database: table ``ldn_registry.activities`` (footprint ``geometry(Geometry, 4326)``,
    spatially indexed) and ``ldn_registry.meta``; the PostGIS extension is created when missing."""

    SCHEMA = "ldn_registry"

    def __init__(self, dsn: str, *, connect_timeout: int = 10) -> None:
        import psycopg

        self.dsn = dsn
        self.where = f"registry database {redact(dsn)}"
        try:
            self.conn = psycopg.connect(dsn, connect_timeout=connect_timeout, autocommit=True)
        except psycopg.Error as err:
            first = " ".join(str(err).split())[:200]
            raise RegistryError(f"cannot reach the {self.where} ({first}): start PostgreSQL or fix the DSN") from None
        self._prepare()

    def _prepare(self) -> None:
        s = self.SCHEMA
        row = self.conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (f"{s}.meta", f"{s}.{TABLE}")).fetchone()
        if row and row[0] and row[1]:
            version = self.conn.execute(f"SELECT value FROM {s}.meta WHERE key = 'schema_version'").fetchone()
            v = int(version[0]) if version else 0
            if v > SCHEMA_VERSION:
                raise RegistryError(f"{self.where} has registry schema {v}, newer than this ldn-pipeline's "
                                    f"{SCHEMA_VERSION}: upgrade ldn-pipeline")
            return
        columns = ", ".join(f'"{c}" {t.replace("DATE", "date")}' for c, t in COLUMNS.items())

        def work(cur: Any) -> None:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {s}.{TABLE} (fid bigserial PRIMARY KEY, "
                        f"footprint geometry(Geometry, 4326), {columns})")
            cur.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_footprint_idx ON {s}.{TABLE} USING gist (footprint)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL)")
            cur.execute(f"INSERT INTO {s}.meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
                        (str(SCHEMA_VERSION),))

        self._write(work)

    def _write(self, work: Any) -> Any:
        import psycopg

        try:
            with self.conn.transaction():
                with self.conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext('ldn_registry'))")  # writers take turns
                    return work(cur)
        except psycopg.OperationalError as err:
            first = " ".join(str(err).split())[:200]
            raise RegistryError(f"the {self.where} failed during a write ({first}): nothing was changed; "
                                "retry when it is reachable") from None
        except psycopg.errors.InsufficientPrivilege as err:
            first = " ".join(str(err).split())[:200]
            raise RegistryError(f"the {self.where} refused the write ({first}): connect as a user who may create "
                                "and write the ldn_registry schema") from None

    def _read(self, ident: str | None) -> list[Activity]:
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        one = "WHERE id = %s" if ident is not None else ""
        rows = self.conn.execute(f"SELECT ST_AsBinary(footprint), {names} FROM {self.SCHEMA}.{TABLE} {one} ORDER BY id",
                                 (ident,) if ident is not None else ())
        out = []
        for row in rows.fetchall():
            footprint = shapely.from_wkb(bytes(row[0])) if row[0] is not None else None
            out.append(_activity(dict(zip(COLUMNS, row[1:])), footprint, self.where))
        return out

    def add(self, activities: Sequence[Activity], *, replace: bool = False) -> int:
        self._check_batch(activities)
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join(["ST_GeomFromWKB(%s, 4326)", *("%s" for _ in COLUMNS)])

        def work(cur: Any) -> int:
            if not replace:
                cur.execute(f"SELECT id FROM {self.SCHEMA}.{TABLE} WHERE id = ANY(%s)", ([a.id for a in activities],))
                have = [r[0] for r in cur.fetchall()]
                if have:
                    raise ConfigError(f"activity {sorted(have)[0]!r}: id: already in {self.where}: use `ldn "
                                      "registry update`, or import with --replace")
            else:
                cur.execute(f"DELETE FROM {self.SCHEMA}.{TABLE} WHERE id = ANY(%s)", ([a.id for a in activities],))
            cur.executemany(f"INSERT INTO {self.SCHEMA}.{TABLE} (footprint, {names}) VALUES ({marks})",
                            [(shapely.to_wkb(a.footprint) if a.footprint is not None else None, *_row(a).values())
                             for a in activities])
            return len(activities)

        return self._write(work)

    def remove(self, ids: Sequence[str]) -> int:
        def work(cur: Any) -> int:
            for ident in ids:
                cur.execute(f"DELETE FROM {self.SCHEMA}.{TABLE} WHERE id = %s", (ident,))
                if cur.rowcount == 0:
                    raise RegistryError(f"no activity {ident!r} in {self.where}: nothing removed "
                                        "(`ldn registry list` shows the ids)")
            return len(ids)

        return self._write(work)

    def close(self) -> None:
        self.conn.close()


# --- exchange files ------------------------------------------------------------------------------------------------

class FileRegistry(Registry):
    """A GeoJSON or CSV file of activities read as a registry (every record validated); writes are refused."""

    def __init__(self, path: str | Path, *, crs: str | None = None) -> None:
        self.path = Path(path)
        self.where = f"activities file {self.path}"
        self.activities = read_activities(self.path, crs=crs)

    def _read(self, ident: str | None) -> list[Activity]:
        return sorted((a for a in self.activities if ident is None or a.id == ident), key=lambda a: a.id)

    def _refuse(self) -> RegistryError:
        return RegistryError(f"{self.where} is an exchange file, not a registry: import it into one "
                             f"(`ldn registry import {self.path} --registry my-registry.gpkg`)")

    def add(self, activities: Sequence[Activity], *, replace: bool = False) -> int:
        raise self._refuse()

    def remove(self, ids: Sequence[str]) -> int:
        raise self._refuse()


def open_registry(spec: str | Path | None = None, *, create: bool = True, wait_s: float = 30.0) -> Registry:
    """The registry ``spec`` names: a PostgreSQL DSN (PostGIS), a ``.gpkg`` file (created on first write), or a
    GeoJSON / CSV file (read only). None: ``$LDN_REGISTRY``, else ``outputs/registry.gpkg``."""
    spec = spec if spec is not None else os.environ.get("LDN_REGISTRY") or DEFAULT_REGISTRY
    if is_dsn(spec):
        return PostgisRegistry(str(spec))
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        return GeoPackageRegistry(path, create=create, wait_s=wait_s)
    if suffix in (".geojson", ".json", ".csv"):
        return FileRegistry(path)
    raise ConfigError(f"registry {spec} is neither a .gpkg file, a GeoJSON/CSV file nor a postgresql:// DSN: "
                      "pass one of those")


def registry_label(spec: str | Path, registry: Registry) -> str:
    """How a report names the registry it used: a file by its name, not its folder (the same file gives the same
    report on any machine), a database by its DSN with the password hidden."""
    if is_dsn(spec):
        return registry.where
    path = Path(spec)
    name = f"catalogs/{path.name}" if path.resolve() == SAMPLE_ACTIVITIES.resolve() else path.name
    return registry.where.replace(str(path), name)


def _crs_member(doc: dict[str, Any]) -> str | None:
    crs = doc.get("crs")
    if isinstance(crs, dict):
        name = (crs.get("properties") or {}).get("name")
        return str(name) if name else None
    return None


def read_activities(path: str | Path, *, crs: str | None = None) -> list[Activity]:
    """Every activity of a GeoJSON FeatureCollection or a CSV file (footprint as ``wkt``, or ``lon`` and ``lat``),
    validated; the first bad record is a one-line ``ConfigError`` naming it and its field. ``crs`` is the
    footprints' CRS (default: the GeoJSON's ``crs`` member, else lon/lat)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"activities file {path} does not exist: pass an existing GeoJSON or CSV file") from None
    except (IsADirectoryError, UnicodeDecodeError) as err:
        raise ConfigError(f"activities file {path} cannot be read as text ({type(err).__name__}): pass a UTF-8 "
                          "GeoJSON or CSV file") from None
    if path.suffix.lower() == ".csv":
        return _read_csv(text, path, crs)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"activities file {path} is not valid JSON (line {err.lineno}): fix the syntax") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ConfigError(f"activities file {path} is not a GeoJSON FeatureCollection: export one from your GIS")
    crs = crs or _crs_member(doc)
    out = []
    for n, feature in enumerate(doc["features"], start=1):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise ConfigError(f"activities file {path}: feature {n} has no properties object")
        record = {**feature["properties"], "footprint": feature.get("geometry")}
        out.append(parse_activity(record, where=f"feature {n} of {path.name}", crs=crs))
    return out


def _read_csv(text: str, path: Path, crs: str | None) -> list[Activity]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise ConfigError(f"activities file {path} has no header row with an `id` column: export with a header")
    out = []
    for n, row in enumerate(reader, start=2):
        if None in row:
            raise ConfigError(f"activities file {path}: line {n} has more cells than the header")
        record: dict[str, Any] = dict(row)
        wkt = record.pop("wkt", None)
        if wkt and wkt.strip():
            record["footprint"] = wkt
            if (record.get("lon") or "").strip() or (record.get("lat") or "").strip():
                raise ConfigError(f"activities file {path}: line {n} has both wkt and lon/lat: keep one")
        for key in ("lon", "lat"):
            if key in record and not (record[key] or "").strip():
                record.pop(key)
        out.append(parse_activity(record, where=f"line {n} of {path.name}", crs=crs))
    return out


def _json_record(a: Activity) -> dict[str, Any]:
    d = a.model_dump(mode="json")
    d.pop("footprint")
    d["organisations"] = list(a.organisations)
    return d


def write_activities(activities: Iterable[Activity], path: str | Path, *, lonlat: bool = False) -> int:
    """Write activities to a GeoJSON FeatureCollection or a CSV file (by the suffix), atomically: footprints in
    lon/lat with full precision, so reading the file back gives the same activities. CSV footprints are WKT, or
    ``lon``/``lat`` columns with ``lonlat`` (points only). Returns the count."""
    path = Path(path)
    items = list(activities)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".geojson", ".json"):
        doc = {"type": "FeatureCollection", "ldn:registry_schema": SCHEMA_VERSION, "features": [
            {"type": "Feature", "id": a.id, "properties": _json_record(a),
             "geometry": shapely.geometry.mapping(a.footprint) if a.footprint is not None else None}
            for a in items]}
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif suffix == ".csv":
        geometry = ["lon", "lat"] if lonlat else ["wkt"]
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *geometry])
            writer.writeheader()
            for a in items:
                row = _row(a)
                if lonlat:
                    if a.footprint is not None and a.footprint.geom_type != "Point":
                        tmp.unlink()
                        raise ConfigError(f"activity {a.id!r}: footprint: is a {a.footprint.geom_type}, not a point: "
                                          "export the CSV with WKT (without --lonlat) or as GeoJSON")
                    row.update(lon=repr(a.footprint.x) if a.footprint is not None else "",
                               lat=repr(a.footprint.y) if a.footprint is not None else "")
                else:
                    row["wkt"] = shapely.to_wkt(a.footprint, rounding_precision=-1) if a.footprint is not None else ""
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    else:
        raise ConfigError(f"cannot export to {path}: name a .geojson or .csv file")
    tmp.replace(path)
    return len(items)


def registry_fingerprint(activities: Sequence[Activity]) -> str:
    """A hash of the activities' content, for cache keys: it changes whenever a record does."""
    canonical = json.dumps([a.model_dump(mode="json") for a in sorted(activities, key=lambda a: a.id)], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
