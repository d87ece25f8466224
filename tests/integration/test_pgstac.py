"""A real search endpoint: the published catalog in pgstac (throwaway PostgreSQL + PostGIS cluster on
127.0.0.1), served by stac-fastapi-pgstac under uvicorn, searched with pystac-client."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tests.services import postgres_cluster, stac_fastapi, why_no_postgres

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(why_no_postgres() is not None, reason=str(why_no_postgres()))]


@pytest.fixture(scope="module")
def pgstac_api(full_run: tuple[Path, Path]) -> Iterator[tuple[str, str]]:
    """(DSN, API URL): the full sample run loaded with `ldn publish --pgstac` and served by stac-fastapi-pgstac."""
    _, root = full_run
    with postgres_cluster() as dsn:
        result = CliRunner().invoke(app, ["publish", "--pgstac", dsn, "--catalog", str(root)])
        assert result.exit_code == 0, result.stderr
        assert "loaded 16 collections and 132 items" in result.stdout
        port = int(dsn.rsplit(":", 1)[1].split("/")[0])
        with stac_fastapi(port) as url:
            yield dsn, url


def test_search_by_indicator_and_period(pgstac_api: tuple[str, str]) -> None:
    from pystac_client import Client

    client = Client.open(pgstac_api[1])
    assert {c.id for c in client.get_collections()} == {
        "ndvi-annual", "ndvi-annual-max", "trajectory", "state", "performance", "lpd", "land-cover", "soc", "sdg-15-3-1", "status",
        "ldn-balance", "drought", "drought-worst", "drought-exposure", "drought-exposure-worst", "sdg-population"}
    search = client.search(collections=["lpd"], filter={"op": "=", "args": [{"property": "ldn:period"}, "report_1"]},
                           filter_lang="cql2-json")
    assert [i.id for i in search.items()] == ["lpd-sample-zamyn-uud-report_1"]
    status = client.search(collections=["status"])
    assert sorted(i.properties["ldn:period"] for i in status.items()) == ["report_1", "report_2"]


def test_search_by_bbox_and_datetime(pgstac_api: tuple[str, str]) -> None:
    from pystac_client import Client

    client = Client.open(pgstac_api[1])
    inside = client.search(collections=["ndvi-annual"], bbox=[111.5, 43.6, 111.7, 43.8], datetime="2010-01-01/2011-12-31")
    assert sorted(i.id for i in inside.items()) == ["ndvi-annual-sample-zamyn-uud-2010", "ndvi-annual-sample-zamyn-uud-2011"]
    assert list(client.search(bbox=[10, 10, 11, 11]).items()) == []
    # periods are date ranges: 2018 falls in report_1 (2004-2019) and report_2 (2008-2023) of SDG 15.3.1
    sdg = client.search(collections=["sdg-15-3-1"], datetime="2018-06-01T00:00:00Z")
    assert sorted(i.properties["ldn:period"] for i in sdg.items()) == ["report_1", "report_2"]


def test_found_items_open_in_rioxarray_with_their_classes(pgstac_api: tuple[str, str]) -> None:
    import rioxarray
    from pystac_client import Client

    item = next(Client.open(pgstac_api[1]).search(collections=["sdg-15-3-1"], query={"ldn:period": {"eq": "baseline"}}).items())
    assert item.properties["ldn:version"]
    da = rioxarray.open_rasterio(item.assets["data"].href)
    assert da.rio.nodata == -32768 and da.shape[1:] == (259, 259)
    classes = {c["value"] for c in item.assets["data"].extra_fields["classification:classes"]}
    assert classes == {-1, 0, 1}


def test_publishing_again_is_idempotent(pgstac_api: tuple[str, str], full_run: tuple[Path, Path]) -> None:
    import psycopg

    dsn, _ = pgstac_api
    result = CliRunner().invoke(app, ["publish", "--pgstac", dsn, "--catalog", str(full_run[1])])
    assert result.exit_code == 0, result.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pgstac.items").fetchone()[0] == 132  # with the 28 drought and 31 people items


def test_an_unreachable_database_is_one_line(full_run: tuple[Path, Path]) -> None:
    from tests.services import free_port

    dsn = f"postgresql://ldn:secret@127.0.0.1:{free_port()}/stac"
    result = CliRunner().invoke(app, ["publish", "--pgstac", dsn, "--catalog", str(full_run[1])])
    assert result.exit_code == EXIT_USER_ERROR
    assert result.stderr.startswith("error: cannot connect to pgstac at postgresql://ldn:***@127.0.0.1:")
    assert "secret" not in result.stderr and result.stderr.count("\n") == 1


def test_the_readme_pgstac_snippet_runs(pgstac_api: tuple[str, str]) -> None:
    import subprocess
    import sys

    from tests.helpers import readme_snippet

    code = readme_snippet("pgstac").replace("http://127.0.0.1:8082", pgstac_api[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "lpd-sample-zamyn-uud-report_1" in out.stdout and "ndvi-annual-sample-zamyn-uud-2010" in out.stdout


def test_a_run_to_object_storage_loads_the_store_urls(s3: Any, sample_copy: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, prefect_harness: None) -> None:
    """`ldn run --out s3://... --pgstac`: the items in pgstac name the store's objects (s3:// URLs, which GDAL,
    rioxarray and titiler read with the same AWS_* settings), not the run's local copy; `ldn publish --catalog
    s3://...` loads the same again."""
    import psycopg

    from tests.integration.test_publish_object_store import URL, listed, run_to

    monkeypatch.chdir(tmp_path)  # the run's local copy goes here
    with postgres_cluster() as dsn:
        result = run_to(sample_copy, extra=["--pgstac", dsn])
        assert result.exit_code == 0, result.stderr
        (version,) = listed(s3)
        with psycopg.connect(dsn) as conn:
            hrefs = [row[0] for row in conn.execute("select content->'assets'->'data'->>'href' from pgstac.items")]
            versions = {row[0] for row in conn.execute("select content->'properties'->>'ldn:version' from pgstac.items")}
        assert len(hrefs) == 6 and versions == {version}
        assert all(h.startswith(f"{URL}/versions/{version}/") and s3.exists(h) for h in hrefs), hrefs
        again = CliRunner().invoke(app, ["publish", "--pgstac", dsn, "--catalog", URL])
        assert again.exit_code == 0 and "loaded 2 collections and 6 items" in again.stdout, again.stderr
