"""A STAC API that hangs, pages in a circle or answers junk: one clear line, in bounded time, never a hang."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.config import Source
from tasks.errors import StacBadPaging, StacUnreachable
from tasks.io.sources.search import open_api, search_items
from tests.reliability.faulty_stac import BBOX, COLLECTION, faulty_stac, silent_api, url

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
SOURCE = Source.model_validate({
    "role": "ndvi", "stac": {"api": "http://unused", "collection": COLLECTION},
    "assets": {"ndvi": {"key": "250m_16_days_NDVI", "dtype": "int16"},
               "qa": {"key": "250m_16_days_pixel_reliability", "dtype": "int8"}},
    "qa": {"asset": "qa", "valid_values": [0, 1]},
})


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("LDN_STAC_TIMEOUT", "1")
    return 1.0


def test_a_silent_api_times_out_in_one_line(short_timeout: float) -> None:
    """pystac-client's Client.open resets the IO's timeout; the timeout given is really applied."""
    with silent_api() as api:
        started = time.monotonic()
        with pytest.raises(StacUnreachable) as err:
            open_api(api)
        took = time.monotonic() - started
    assert took < 20, f"gave up after {took:.0f} s"
    assert "\n" not in str(err.value) and str(err.value).startswith(f"cannot reach the STAC API at {api}")


def test_a_next_link_to_its_own_page_stops(short_timeout: float) -> None:
    with faulty_stac("loop") as server:
        client = open_api(url(server))
        with pytest.raises(StacBadPaging) as err:
            search_items(client, SOURCE, bbox=tuple(BBOX), years=(2020, 2020))
        assert server.requests < 10
    assert "\n" not in str(err.value) and "pages without end" in str(err.value) and "already gave" in str(err.value)


def test_endless_pages_stop(short_timeout: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tasks.io.sources.search.STAC_MAX_PAGES", 20)
    with faulty_stac("endless") as server:
        client = open_api(url(server))
        with pytest.raises(StacBadPaging, match="gave 20 pages and still has a `next` link"):
            search_items(client, SOURCE, bbox=tuple(BBOX), years=(2020, 2020))


def test_pages_that_are_not_json_are_one_line(short_timeout: float) -> None:
    with faulty_stac("bad-json-search") as server:
        client = open_api(url(server))
        with pytest.raises(StacUnreachable) as err:
            search_items(client, SOURCE, bbox=tuple(BBOX), years=(2020, 2020))
    assert "\n" not in str(err.value) and "is not JSON" in str(err.value)


def test_a_wellbehaved_api_still_pages(short_timeout: float) -> None:
    with faulty_stac("ok") as server:
        items = search_items(open_api(url(server)), SOURCE, bbox=tuple(BBOX), years=(2020, 2020))
    assert len(items) == 1


def _ldn_run(api: str, out: Path, **env: str) -> tuple[subprocess.CompletedProcess, float, list[str]]:
    """`ldn run` of the production-shaped sample sources against ``api``: the process, its seconds, its error lines
    (beside Prefect's log lines)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--sources", "catalogs/sample_sources.yaml",
                           "--stac-api", api, "--region", "MNG", "--years", "2020-2021", "--out", str(out)],
                          cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - started, [line for line in done.stderr.splitlines() if line.startswith("error: ")]


def test_ldn_run_against_a_silent_api_ends_in_one_line(tmp_path: Path) -> None:
    """The whole CLI: exit 2 and one line, in bounded time, and nothing published."""
    with silent_api() as api:
        done, took, errors = _ldn_run(api, tmp_path / "catalog", LDN_STAC_TIMEOUT="1")
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot reach the STAC API at {api} (timed out)"), \
        done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "catalog" / "catalog.json").exists()
    assert took < 240


def test_a_few_seconds_of_500_are_retried(short_timeout: float) -> None:
    with faulty_stac("flaky") as server:
        items = search_items(open_api(url(server)), SOURCE, bbox=tuple(BBOX), years=(2020, 2020))
    assert len(items) == 1 and server.searches == 3


@pytest.mark.parametrize(("mode", "where"), [
    ("500-search", "search"), ("html-root", "open"), ("next-404", "search"), ("next-refused", "search"),
    ("next-junk", "search"),
])
def test_an_api_failing_mid_run_is_one_line(short_timeout: float, mode: str, where: str) -> None:
    """What already held (the issue): 500 from mid-run, an HTML page, a `next` link that 404s, is refused or is
    no URL: a one-line error of the pipeline's own, in bounded time."""
    from tasks.errors import LdnError

    with faulty_stac(mode) as server:  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(LdnError) as err:
            client = open_api(url(server))
            assert where == "search"
            search_items(client, SOURCE, bbox=tuple(BBOX), years=(2020, 2020))
        took = time.monotonic() - started
    text = str(err.value)
    assert text and "\n" not in text, text
    assert took < 60, took


def test_a_stac_api_answering_a_byte_at_a_time_is_cut_at_its_deadline(
        short_timeout: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a fault battery: an API sending one byte a second kept a run reading for ever (the read timeout
    bounds the wait between two bytes, not a request). Each request has a whole-request deadline
    (LDN_STAC_DEADLINE) and the message names the server."""
    from tests.reliability.faulty_stac import drip_server

    monkeypatch.setenv("LDN_STAC_DEADLINE", "2")
    with drip_server(interval=0.1) as api:  # each byte well within the 1 s read timeout
        started = time.monotonic()
        with pytest.raises(StacUnreachable) as err:
            open_api(api)
        took = time.monotonic() - started
    assert took < 15, f"gave up after {took:.0f} s"
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"the STAC API at {api} did not finish one request within 2 s")
    assert "LDN_STAC_DEADLINE" in message


def test_a_scene_server_answering_a_byte_at_a_time_is_cut_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requests made for scenes (a checksum download, the HEAD that identifies a file without one) have a
    whole-request deadline too (LDN_HTTP_DEADLINE); such a failure is transient (the tile task retries it)."""
    from tasks.io.sources.integrity import asset_identity, checksum_of, open_href
    from tests.reliability.faulty_stac import drip_server

    monkeypatch.setenv("LDN_HTTP_DEADLINE", "2")
    monkeypatch.setenv("LDN_HTTP_TIMEOUT", "1")
    monkeypatch.setattr("tasks.io.sources.integrity.HTTP_ATTEMPTS", 1)
    with drip_server(body=b"\0" * 4000, interval=0.05, content_type="image/tiff") as server:
        href = f"{server}/scene.tif"
        for attempt in (lambda: checksum_of(href, "sha256"), lambda: asset_identity(href)):
            started = time.monotonic()
            with pytest.raises(Exception) as err:
                attempt()
            assert time.monotonic() - started < 15
            assert getattr(err.value, "transient", None) is True, err.value
            assert f"the server {server} did not finish one request within 2 s" in str(err.value), err.value
        with pytest.raises(OSError, match="did not finish one request within 2 s"):
            with open_href(href) as f:
                f.read()


def test_ldn_run_against_an_api_answering_a_byte_at_a_time_ends_in_one_line(tmp_path: Path) -> None:
    """The whole CLI against the dripping API: exit 2 and one line naming the server, in bounded time (it was
    still reading after 300 s), nothing published."""
    from tests.reliability.faulty_stac import drip_server

    with drip_server(interval=0.1) as api:
        done, took, errors = _ldn_run(api, tmp_path / "catalog", LDN_STAC_TIMEOUT="1", LDN_STAC_DEADLINE="2")
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"error: the STAC API at {api} did not finish one request "
                                                     "within 2 s"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not (tmp_path / "catalog" / "catalog.json").exists()
    assert took < 120
