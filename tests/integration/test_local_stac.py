"""The local STAC API and the range file server answer like remote ones."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from pystac_client import Client

from tasks.errors import ConfigError
from tasks.io.runtime.local_stac import LocalStac, serve_collections

pytestmark = pytest.mark.integration


def test_api_lists_the_sample_collections(local_stac: LocalStac) -> None:
    client = Client.open(local_stac.api_url)
    assert {c.id for c in client.get_collections()} == {
        "modis-13Q1-061", "esa-cci-lc", "soilgrids-soc-0-30cm", "ipcc-climate-zones", "soil-taxonomy",
        "sample-monthly-precipitation", "sample-population", "sample-drought-vulnerability"}
    assert local_stac.api_url.startswith("http://127.0.0.1:")


def test_search_by_collection_bbox_datetime_and_assets_are_http(local_stac: LocalStac) -> None:
    client = Client.open(local_stac.api_url)
    items = list(client.search(collections=["modis-13Q1-061"], datetime="2002-03-01/2002-03-31").items())
    # composites whose 16-day interval overlaps March: A2002049 runs 18 February to 5 March
    assert sorted(i.id for i in items) == [
        "MOD13Q1.A2002049.h26v04.061", "MOD13Q1.A2002065.h26v04.061", "MOD13Q1.A2002081.h26v04.061"]
    href = items[0].assets["250m_16_days_NDVI"].href
    assert href.startswith(local_stac.files_url + "/modis-13Q1-061/data/")
    empty = list(client.search(collections=["modis-13Q1-061"], bbox=[0, 0, 1, 1]).items())
    assert empty == []


def test_file_server_answers_range_requests(local_stac: LocalStac) -> None:
    client = Client.open(local_stac.api_url)
    item = next(client.search(collections=["esa-cci-lc"], max_items=1).items())
    req = urllib.request.Request(item.assets["lccs_class"].href, headers={"Range": "bytes=0-15"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 206
        assert len(resp.read()) == 16


def test_servers_stop_on_exit_and_on_error(sample_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with serve_collections(sample_dir) as stac:
            url = stac.api_url
            raise RuntimeError("boom")
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/collections", timeout=2)


def test_folder_without_collections_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no STAC collections .* run `ldn sample-data`"):
        with serve_collections(tmp_path):
            pass


def test_a_port_taken_before_rustac_binds_it_is_replaced(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once lost a run to `Address already in use`: the port found free was taken before `rustac serve` bound it.
    Fault injection: the first port offered is held by another socket; the API comes up on the next one."""
    import socket

    import tasks.io.runtime.local_stac as local_stac

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    offered = [held.getsockname()[1]]
    real = local_stac.free_port
    monkeypatch.setattr(local_stac, "free_port", lambda: offered.pop() if offered else real())
    try:
        with serve_collections(sample_dir) as stac:
            assert not offered
            assert not stac.api_url.endswith(f":{held.getsockname()[1]}")
            assert Client.open(stac.api_url).get_collection("esa-cci-lc").id == "esa-cci-lc"
    finally:
        held.close()
