"""The activity registry in PostGIS (a throwaway PostgreSQL + PostGIS cluster on 127.0.0.1): the same records as
the GeoPackage, 1,000 of them round-tripped between the two backends and the exchange files, writes all or
nothing, and the CLI against it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.errors import ConfigError
from tasks.io.sources.registry import (
    SAMPLE_ACTIVITIES,
    PostgisRegistry,
    open_registry,
    read_activities,
    write_activities,
)
from tests.activity_records import generated_activities
from tests.services import postgres_cluster, why_no_postgres

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(why_no_postgres() is not None, reason=str(why_no_postgres()))]


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def test_a_thousand_activities_round_trip_between_both_backends_and_files(dsn: str, tmp_path: Path) -> None:
    original = generated_activities(1000, seed=11)
    with open_registry(tmp_path / "a.gpkg") as gpkg:
        gpkg.add(original)
        write_activities(gpkg.list(), tmp_path / "a.csv")
    with open_registry(dsn) as pg:
        assert isinstance(pg, PostgisRegistry)
        pg.remove([a.id for a in pg.list()])
        assert pg.add(read_activities(tmp_path / "a.csv")) == 1000
        assert pg.list() == original
        write_activities(pg.list(), tmp_path / "b.geojson")
    with open_registry(tmp_path / "b.gpkg") as gpkg:
        gpkg.add(read_activities(tmp_path / "b.geojson"))
        assert gpkg.list() == original
    with open_registry(dsn) as pg:  # reopened: the schema is found, not made again
        assert len(pg.list()) == 1000
        row = pg.conn.execute("SELECT ST_SRID(footprint), GeometryType(footprint) FROM ldn_registry.activities "
                              "WHERE id = 'GEN-0001'").fetchone()
        assert row == (4326, "POLYGON")
        pg.remove([a.id for a in original])


def test_writes_are_all_or_nothing_in_postgis(dsn: str) -> None:
    acts = generated_activities(4, seed=3)
    with open_registry(dsn) as pg:
        pg.add(acts[:1])
        with pytest.raises(ConfigError, match="'GEN-0000': id: already in registry database"):
            pg.add(acts[1:] + acts[:1])
        assert [a.id for a in pg.list()] == ["GEN-0000"]
        pg.update("GEN-0000", {"status": "completed"})
        assert pg.get("GEN-0000").status == "completed"
        pg.remove(["GEN-0000"])


def test_cli_against_postgis(dsn: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["registry", "import", str(SAMPLE_ACTIVITIES), "--registry", dsn])
    assert result.exit_code == 0, result.stderr
    listed = runner.invoke(app, ["registry", "list", "--country", "MNG", "--registry", dsn])
    assert "SAMPLE-06" in listed.stdout and "SAMPLE-01" not in listed.stdout
    again = runner.invoke(app, ["registry", "import", str(SAMPLE_ACTIVITIES), "--registry", dsn])
    assert again.exit_code == EXIT_USER_ERROR and "already in registry database" in again.stderr
    out = tmp_path / "all.csv"
    assert runner.invoke(app, ["registry", "export", str(out), "--registry", dsn]).exit_code == 0
    assert read_activities(out) == sorted(read_activities(SAMPLE_ACTIVITIES), key=lambda a: a.id)
    runner.invoke(app, ["registry", "remove", *[a.id for a in read_activities(out)], "--registry", dsn])
