"""The activity registry in a GeoPackage: writes all or nothing, a file GDAL reads as a layer, two writers that
take turns, and 1,000 generated activities round-tripped through GeoJSON, CSV and the GeoPackage."""
from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
import shapely
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.errors import ConfigError, RegistryError
from tasks.io.sources.registry import (
    SAMPLE_ACTIVITIES,
    GeoPackageRegistry,
    open_registry,
    read_activities,
    write_activities,
)
from tests.activity_records import generated_activities


def test_a_thousand_activities_round_trip_through_geojson_csv_and_the_geopackage(tmp_path: Path) -> None:
    original = generated_activities(1000)
    with open_registry(tmp_path / "a.gpkg") as reg:
        assert reg.add(original) == 1000
        assert reg.list() == original
        write_activities(reg.list(), tmp_path / "a.geojson")
    from_json = read_activities(tmp_path / "a.geojson")
    write_activities(from_json, tmp_path / "a.csv")
    from_csv = read_activities(tmp_path / "a.csv")
    with open_registry(tmp_path / "b.gpkg") as reg:
        reg.add(from_csv)
        assert reg.list() == original  # every field, every footprint coordinate, exactly


def test_the_geopackage_is_a_layer_gdal_reads(tmp_path: Path) -> None:
    import pyogrio
    from pyogrio.raw import read

    acts = generated_activities(12)
    with open_registry(tmp_path / "r.gpkg") as reg:
        reg.add(acts)
    info = pyogrio.read_info(tmp_path / "r.gpkg", layer="activities")
    assert info["crs"] == "EPSG:4326" and info["features"] == 12 and info["geometry_name"] == "geom"
    _, _, wkb, fields = read(tmp_path / "r.gpkg", layer="activities")
    geoms = {i: g for i, g in zip(fields[0], shapely.from_wkb(wkb))}
    for a in acts:
        assert (geoms[a.id] is None) == (a.footprint is None)
        if a.footprint is not None:
            assert geoms[a.id].equals_exact(a.footprint, 0)


def test_writes_are_all_or_nothing(tmp_path: Path) -> None:
    acts = generated_activities(5)
    with open_registry(tmp_path / "r.gpkg") as reg:
        reg.add(acts[:2])
        with pytest.raises(ConfigError, match="'GEN-0001': id: already in registry"):
            reg.add(acts[2:] + [acts[1]])  # the duplicate is last: the first three must not stay
        assert [a.id for a in reg.list()] == ["GEN-0000", "GEN-0001"]
        with pytest.raises(ConfigError, match="appears twice"):
            reg.add([acts[3], acts[3]])
        with pytest.raises(RegistryError, match="no activity 'NOPE'"):
            reg.remove(["GEN-0000", "NOPE"])
        assert len(reg.list()) == 2
        with pytest.raises(ConfigError, match="end: .* is before start"):
            reg.update("GEN-0001", {"end": "1990-01-01"})
        assert reg.get("GEN-0001") == acts[1]
        assert reg.update("GEN-0001", {"status": "completed"}).status == "completed"


def _writer(path: str, first: int, count: int) -> None:
    from tests.activity_records import generated_activities

    acts = generated_activities(first + count)[first:]
    for a in acts:  # one transaction each: many chances to meet the other writer
        with GeoPackageRegistry(path, wait_s=60) as reg:
            reg.add([a])


def test_two_writers_take_turns_and_lose_no_record(tmp_path: Path) -> None:
    path = str(tmp_path / "r.gpkg")
    GeoPackageRegistry(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, first, 60)) for first in (0, 60)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with GeoPackageRegistry(path) as reg:
        assert [a.id for a in reg.list()] == [f"GEN-{i:04d}" for i in range(120)]


def test_a_writer_that_cannot_get_the_lock_fails_clearly_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.gpkg"
    GeoPackageRegistry(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with GeoPackageRegistry(path, wait_s=0.3) as reg:
            with pytest.raises(RegistryError, match=r"being written by another process .*\(nothing was changed\)"):
                reg.add(generated_activities(1))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with GeoPackageRegistry(path) as reg:
        assert reg.list() == []


def test_files_that_are_not_a_registry_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.gpkg"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(RegistryError, match="not a GeoPackage"):
        open_registry(other)
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(RegistryError, match="cannot be opened as a GeoPackage"):
        open_registry(garbage)
    newer = tmp_path / "newer.gpkg"
    GeoPackageRegistry(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(RegistryError, match="schema 99, newer"):
        open_registry(newer)
    with pytest.raises(RegistryError, match="exchange file, not a registry"):
        open_registry(SAMPLE_ACTIVITIES).add(generated_activities(1))
    with pytest.raises(ConfigError, match="neither a .gpkg"):
        open_registry(tmp_path / "r.shp")


def test_the_sample_registry_is_marked_fictitious() -> None:
    acts = read_activities(SAMPLE_ACTIVITIES)
    assert len(acts) >= 6 and all(a.name.startswith("FICTITIOUS SAMPLE DATA") for a in acts)
    assert all("(fictitious)" in org for a in acts for org in a.organisations)


def test_cli_round_trip_and_bad_input_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    reg = ["--registry", str(tmp_path / "r.gpkg")]
    ok = runner.invoke(app, ["registry", "import", str(SAMPLE_ACTIVITIES), *reg])
    assert ok.exit_code == 0, ok.stderr
    listed = runner.invoke(app, ["registry", "list", "--area", "restoration", "--from", "2016-01-01", *reg])
    assert listed.exit_code == 0 and "SAMPLE-02" in listed.stdout and "SAMPLE-01" not in listed.stdout
    added = runner.invoke(app, ["registry", "add", "--id", "NEW-1", "--name", "Training", "--org", "A", "--country",
                                "MNG", "--area", "capacity", "--status", "planned", "--start", "2026-03-01",
                                "--wkt", "POINT (500000 4840000)", "--crs", "EPSG:32649", *reg])
    assert added.exit_code == 0, added.stderr
    shown = runner.invoke(app, ["registry", "show", "NEW-1", *reg])
    assert "POINT (110.99999" in shown.stdout and "capacity and understanding" in shown.stdout
    bad_csv = tmp_path / "bad.csv"
    write_activities(generated_activities(3), tmp_path / "good.csv")
    lines = (tmp_path / "good.csv").read_text().splitlines()
    bad_csv.write_text("\n".join([lines[0], lines[1], lines[2].replace(",USD,", ",US Dollar,")]) + "\n")
    for args, words in (
        (["registry", "import", str(bad_csv)], "'GEN-0001' (line 3 of bad.csv): currency"),
        (["registry", "import", str(SAMPLE_ACTIVITIES)], "'SAMPLE-01': id: already in"),
        (["registry", "add", "--id", "X", "--name", "n", "--org", "o", "--country", "MNG", "--area", "trees",
          "--status", "planned", "--start", "2020-01-01"], "area:"),
        (["registry", "update", "NEW-1", "--end", "2020-01-01"], "end: 2020-01-01 is before start"),
        (["registry", "remove", "NEW-1", "NOPE"], "no activity 'NOPE'"),
        (["registry", "list", "--status", "done"], "unknown status 'done'"),
        (["registry", "export", str(tmp_path / "x.csv"), "--lonlat"], "is a Polygon, not a point"),
    ):
        result = runner.invoke(app, [*args, *reg])
        assert result.exit_code == EXIT_USER_ERROR, (args, result.stdout)
        assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
    missing = runner.invoke(app, ["registry", "add", "--id", "X", "--name", "n", "--country", "MNG", "--area",
                                  "capacity", "--status", "planned", "--start", "2020-01-01", *reg])
    assert missing.exit_code == 2 and "Missing option '--org'" in missing.stderr  # before any field's checks
    assert len(open_registry(tmp_path / "r.gpkg").list()) == 9  # nothing above changed the registry
    out = tmp_path / "mng.geojson"
    assert runner.invoke(app, ["registry", "export", str(out), "--country", "MNG", *reg]).exit_code == 0
    assert {a.country for a in read_activities(out)} == {"MNG"}
    unreachable = runner.invoke(app, ["registry", "list", "--registry", "postgresql://nobody@127.0.0.1:9/x"])
    assert unreachable.exit_code == EXIT_USER_ERROR and "cannot reach the registry database" in unreachable.stderr


def test_qgis_opens_the_registry_as_a_point_and_polygon_layer(tmp_path: Path) -> None:
    """What a NEAMSP member does with the file: drag it into QGIS. Its own API must read every record, in
    EPSG:4326, with the fields named."""
    import json
    import os
    import subprocess

    probe = ("import json, sys\nfrom qgis.core import QgsApplication, QgsVectorLayer\n"
             "app = QgsApplication([], False); app.initQgis()\n"
             "layer = QgsVectorLayer(sys.argv[1] + '|layername=activities', 'activities', 'ogr')\n"
             "feats = list(layer.getFeatures())\n"
             "print(json.dumps({'valid': layer.isValid(), 'crs': layer.crs().authid(), 'count': len(feats),"
             " 'fields': [f.name() for f in layer.fields()],"
             " 'types': sorted({f.geometry().type() for f in feats if f.hasGeometry()}),"
             " 'ids': sorted(f['id'] for f in feats)}))\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    if subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True, env=env).returncode != 0:
        pytest.skip("PyQGIS is not installed (Debian: apt-get install python3-qgis; tests/setup-system.sh does it as root)")
    acts = read_activities(SAMPLE_ACTIVITIES)
    with open_registry(tmp_path / "r.gpkg") as reg:
        reg.add(acts)
    done = subprocess.run(["/usr/bin/python3", "-c", probe, str(tmp_path / "r.gpkg")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["valid"] and seen["crs"] == "EPSG:4326" and seen["count"] == len(acts)
    assert {"id", "name", "organisations", "area", "status", "start", "end"} <= set(seen["fields"])
    assert seen["ids"] == sorted(a.id for a in acts) and len(seen["types"]) == 2  # points and polygons


def test_a_run_reads_its_registry_before_computing(tmp_path: Path) -> None:
    from tasks.config import RunConfig
    from tasks.constants import CATALOGS_DIR
    from tasks.io.sources.run import run_activities

    box = (111.5, 43.5, 112.0, 43.9)
    where, acts, sample = run_activities(RunConfig(bbox=box))  # the bundled sample sources: the fictitious registry
    assert sample and len(acts) == len(read_activities(SAMPLE_ACTIVITIES))
    assert where == "activities file catalogs/sample_activities.geojson"  # no folder: the same report anywhere
    assert run_activities(RunConfig(bbox=box, activities="none")) == (None, (), False)
    assert run_activities(RunConfig(bbox=box, sources_file=CATALOGS_DIR / "sources.yaml")) == (None, (), False)
    with open_registry(tmp_path / "r.gpkg") as reg:
        reg.add(generated_activities(3))
    where, acts, sample = run_activities(RunConfig(bbox=box, activities=str(tmp_path / "r.gpkg")))
    assert not sample and [a.id for a in acts] == ["GEN-0000", "GEN-0001", "GEN-0002"] and where == "registry r.gpkg"
    for spec, words in ((str(tmp_path / "none.gpkg"), "does not exist"), ("postgresql://x@127.0.0.1:9/db", "cannot reach"),
                        (str(tmp_path / "r.txt"), "neither a .gpkg")):
        with pytest.raises((RegistryError, ConfigError), match=words):
            run_activities(RunConfig(bbox=box, activities=spec))


def test_the_help_of_registry_add_marks_every_field_an_activity_needs_required() -> None:
    """An activity needs an id, name, organisation, country, area, status and start; the help says so."""
    import re

    shown = CliRunner().invoke(app, ["registry", "add", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).stdout
    required = set(re.findall(r"\*\s+(--[a-z-]+)", shown))
    assert required == {"--id", "--name", "--org", "--country", "--area", "--status", "--start"}, shown

