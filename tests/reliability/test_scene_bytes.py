"""Scene bytes: checked against ``file:checksum`` before use, and keyed in the cache by what identifies them.

The files are served by the project's own file server on 127.0.0.1 (as the sample's are), so the
checks run over real HTTP with Range support, ``Last-Modified`` and ``Content-Length``.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pystac
import pytest

from tasks.config import Source
from tasks.errors import SceneReadError, TransientReadError
from tasks.io.runtime.local_stac import free_port, start_file_server, stop_process
from tasks.io.sources.integrity import (
    asset_identity,
    parse_multihash,
    scene_fingerprints,
    server_digests,
    server_md5,
    verify_checksums,
)
from tests.reliability.faulty_stac import blob_server, url

pytestmark = pytest.mark.reliability

SOURCE = Source.model_validate({
    "role": "ndvi", "stac": {"api": "http://unused", "collection": "c"},
    "assets": {"ndvi": {"key": "ndvi", "dtype": "int16"}, "qa": {"key": "qa", "dtype": "int8"}},
    "qa": {"asset": "qa", "valid_values": [0, 1]},
})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder and the URL of the project's file server serving it on 127.0.0.1."""
    root = tmp_path / "files"
    root.mkdir()
    proc, url = start_file_server(root)
    try:
        yield root, url
    finally:
        stop_process(proc)


def _multihash(data: bytes) -> str:
    return "1220" + hashlib.sha256(data).hexdigest()


def _item(item_id: str, hrefs: dict[str, str], checksums: dict[str, str] | None = None) -> dict:
    checksums = checksums or {}
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "geometry": None, "links": [],
        "properties": {"datetime": "2020-01-01T00:00:00Z", "updated": "2025-01-15T00:00:00Z"},
        "assets": {k: {"href": h, **({"file:checksum": checksums[k]} if k in checksums else {})}
                   for k, h in hrefs.items()},
    }


def _write(root: Path, name: str, data: bytes) -> str:
    (root / name).write_bytes(data)
    return name


def test_multihash_codes_parse_and_bad_ones_are_named() -> None:
    assert parse_multihash(_multihash(b"x")) == ("sha256", hashlib.sha256(b"x").digest())
    assert parse_multihash("d50110" + hashlib.md5(b"x").hexdigest()) == ("md5", hashlib.md5(b"x").digest())
    assert parse_multihash("1340" + hashlib.sha512(b"x").hexdigest())[0] == "sha512"
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_multihash("zz")
    with pytest.raises(ValueError, match="function 0x99"):
        parse_multihash("99012000")
    with pytest.raises(ValueError, match="holds 3 digest bytes, not 32"):
        parse_multihash("1220abcdef")


def test_good_bytes_pass_and_one_corrupt_byte_is_one_line(served: tuple[Path, str]) -> None:
    root, url = served
    good = os.urandom(3 << 20)  # three read blocks
    items = []
    for i in range(3):
        ndvi, qa = _write(root, f"s{i}_ndvi.tif", good + bytes([i])), _write(root, f"s{i}_qa.tif", bytes([i]) * 100)
        items.append(pystac.Item.from_dict(_item(f"scene-{i}", {"ndvi": f"{url}/{ndvi}", "qa": f"{url}/{qa}"}, {
            "ndvi": _multihash(good + bytes([i])), "qa": _multihash(bytes([i]) * 100)})))
    assert verify_checksums(items, SOURCE) == 3 * (len(good) + 1 + 100)

    middle = bytearray((root / "s1_ndvi.tif").read_bytes())
    middle[len(middle) // 2: len(middle) // 2 + 256] = os.urandom(256)  # the issue's damage: same size
    (root / "s1_ndvi.tif").write_bytes(bytes(middle))
    with pytest.raises(SceneReadError) as err:
        verify_checksums(items, SOURCE)
    text = str(err.value)
    assert not isinstance(err.value, TransientReadError)
    assert "\n" not in text and text.startswith("scene 'scene-1' is truncated or corrupt (its 3145729 bytes do not match")
    assert f"{url}/s1_ndvi.tif; re-download or repair it at the source" in text

    off = Source.model_validate({**SOURCE.model_dump(), "verify_checksums": False})
    assert verify_checksums(items, off) == 0


def test_a_missing_file_is_named_and_a_dead_server_is_transient(served: tuple[Path, str]) -> None:
    root, url = served
    item = pystac.Item.from_dict(_item("gone", {"ndvi": f"{url}/nothing.tif"}, {"ndvi": _multihash(b"")}))
    with pytest.raises(SceneReadError, match=r"^scene 'gone' is missing \(HTTP 404\): http://127.0.0.1:\d+/nothing.tif; "):
        verify_checksums([item], SOURCE)
    dead = pystac.Item.from_dict(_item("far", {"ndvi": f"http://127.0.0.1:{free_port()}/x.tif"}, {"ndvi": _multihash(b"")}))
    with pytest.raises(TransientReadError, match=r"^scene 'far' could not be read \(.*Connection refused\): http:.*; this looks transient: rerun$"):
        verify_checksums([dead], SOURCE)


def test_fingerprints_follow_the_bytes_without_checksums(served: tuple[Path, str], tmp_path: Path) -> None:
    """No ``file:checksum``: an HTTP asset is keyed on size and Last-Modified, a local one on its content."""
    root, url = served
    _write(root, "a.tif", b"first version")
    local = tmp_path / "b.tif"
    local.write_bytes(b"local bytes")
    doc = _item("s", {"ndvi": f"{url}/a.tif", "qa": str(local)})
    before = scene_fingerprints([doc], SOURCE)
    assert before == scene_fingerprints([doc], SOURCE), "stable while nothing changes"
    assert before[0]["assets"]["ndvi"].startswith("size=13;") and "modified=" in before[0]["assets"]["ndvi"]
    assert before[0]["assets"]["qa"] == hashlib.sha256(b"local bytes").hexdigest()

    (root / "a.tif").write_bytes(b"first versioN")  # repaired or corrupted in place: same size, id and updated
    os.utime(root / "a.tif", (time.time() + 5, time.time() + 5))
    local.write_bytes(b"local byteZ")
    after = scene_fingerprints([doc], SOURCE)
    assert after[0]["assets"]["ndvi"] != before[0]["assets"]["ndvi"]
    assert after[0]["assets"]["qa"] != before[0]["assets"]["qa"]

    with_sums = _item("s", {"ndvi": f"{url}/a.tif", "qa": str(local)}, {"ndvi": "1220ab", "qa": "1220cd"})
    assert scene_fingerprints([with_sums], SOURCE)[0]["assets"] == {"ndvi": "1220ab", "qa": "1220cd"}, \
        "a published checksum is the identity: no request"

    (root / "a.tif").unlink()
    with pytest.raises(SceneReadError, match=r"^scene 's' is missing \(HTTP 404\)"):
        scene_fingerprints([doc], SOURCE)


def test_the_identity_of_a_server_that_refuses_head(tmp_path: Path) -> None:
    """A server answering 405 to HEAD is asked with a one-byte ranged GET instead."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NoHead(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 (stdlib name)
            self.send_response(405)
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            assert self.headers["Range"] == "bytes=0-0"
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-0/4242")
            self.send_header("ETag", '"v7"')
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"x")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoHead)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert asset_identity(f"http://127.0.0.1:{server.server_port}/x.tif") == 'size=4242;etag="v7"'
    finally:
        server.shutdown()


def test_a_scene_server_that_never_answers_times_out_retried_then_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections accepted, nothing ever sent: each request gives up after $LDN_HTTP_TIMEOUT, is tried
    HTTP_ATTEMPTS times with 1 s and 2 s between, then the task's error says transient (so Prefect retries it)."""
    from tasks.io.sources.integrity import HTTP_ATTEMPTS
    from tests.reliability.faulty_stac import silent_api

    monkeypatch.setenv("LDN_HTTP_TIMEOUT", "0.5")
    with silent_api() as url:
        item = pystac.Item.from_dict(_item("hung", {"ndvi": f"{url}/x.tif"}, {"ndvi": _multihash(b"")}))
        started = time.monotonic()
        with pytest.raises(TransientReadError, match=r"^scene 'hung' could not be read \(.*timed out.*\): .*"
                                                      r"this looks transient: rerun$"):
            verify_checksums([item], SOURCE)
        took = time.monotonic() - started
        assert HTTP_ATTEMPTS * 0.5 + 3 <= took < 15, took
        with pytest.raises(TransientReadError, match=r"^scene 's' could not be read"):
            scene_fingerprints([_item("s", {"ndvi": f"{url}/y.tif"})], SOURCE)


def test_a_blob_stores_content_md5_checks_items_without_checksums(tmp_path: Path) -> None:
    """Issue 33, item 1: the production items carry no ``file:checksum``; a blob store states each object's MD5
    (``Content-MD5``), and the bytes downloaded are compared with it, one HEAD per asset when the caller has not
    asked."""
    root = tmp_path / "blobs"
    root.mkdir()
    good = os.urandom(2 << 20)
    _write(root, "s_ndvi.tif", good)
    _write(root, "s_qa.tif", b"\x00" * 100)
    with blob_server(root) as server:
        item = pystac.Item.from_dict(_item("scene-1", {"ndvi": f"{url(server)}/s_ndvi.tif", "qa": f"{url(server)}/s_qa.tif"}))
        assert verify_checksums([item], SOURCE) == len(good) + 100

        damaged = bytearray(good)
        damaged[len(good) // 2: len(good) // 2 + 256] = os.urandom(256)  # the issue's damage; the store's MD5 stays
        (root / "s_ndvi.tif").write_bytes(bytes(damaged))
        with pytest.raises(SceneReadError) as err:
            verify_checksums([item], SOURCE)
    text = str(err.value)
    assert not isinstance(err.value, TransientReadError) and "\n" not in text
    assert text.startswith(f"scene 'scene-1' is truncated or corrupt (its {len(good)} bytes do not match the "
                           f"Content-MD5 its server states, md5 {hashlib.md5(good).hexdigest()[:12]}... expected")
    assert "--exclude-scene scene-1" in text


def test_the_tile_task_checks_the_md5_its_fingerprints_found_without_asking_again(tmp_path: Path) -> None:
    """The run's chain: ``scene_fingerprints`` (one HEAD per asset, for the cache key) carries the server's MD5,
    ``server_digests`` hands it to ``verify_checksums``, which then only downloads."""
    root = tmp_path / "blobs"
    root.mkdir()
    _write(root, "a.tif", b"intact bytes" * 1000)
    with blob_server(root) as server:
        doc = _item("s", {"ndvi": f"{url(server)}/a.tif"})
        prints = scene_fingerprints([doc], SOURCE)
        assert prints[0]["assets"]["ndvi"].endswith(f";md5={hashlib.md5(b'intact bytes' * 1000).hexdigest()}")
        digests = server_digests(prints)
        assert digests == {("s", "ndvi"): hashlib.md5(b"intact bytes" * 1000).digest()}
        before = server.requests
        assert verify_checksums([pystac.Item.from_dict(doc)], SOURCE, digests) == 12000
        assert server.requests == before + 1, "the download only: no second HEAD"

        (root / "a.tif").write_bytes(b"intact byteZ" * 1000)
        with pytest.raises(SceneReadError, match="do not match the Content-MD5 its server states"):
            verify_checksums([pystac.Item.from_dict(doc)], SOURCE, digests)
    assert verify_checksums([pystac.Item.from_dict(doc)], SOURCE, {}) == 0, "no checksum, no MD5 stated: nothing to check"


def test_which_headers_state_a_whole_objects_md5() -> None:
    md5 = hashlib.md5(b"x").digest()
    b64 = base64.b64encode(md5).decode()
    assert server_md5({"Content-MD5": b64}) == md5
    assert server_md5({"Content-MD5": b64}, ranged=True) is None, "a ranged answer's Content-MD5 is its range's"
    assert server_md5({"x-ms-blob-content-md5": b64}, ranged=True) == md5
    assert server_md5({"x-goog-hash": f"crc32c=n03x6A==, md5={b64}"}) == md5
    assert server_md5({"x-goog-hash": "crc32c=n03x6A=="}) is None
    assert server_md5({"Content-MD5": "not base64!"}) is None
    assert server_md5({"Content-MD5": base64.b64encode(b"short").decode()}) is None
    assert server_md5({"ETag": '"' + md5.hex() + '"'}) is None, "an S3 ETag is an MD5 only for some uploads"
