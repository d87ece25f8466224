"""Scene bytes: checked against ``file:checksum`` before use, and keyed in the cache by what identifies them.

The files are served by the project's own file server on 127.0.0.1 (as the sample's are), so the
checks run over real HTTP with Range support, ``Last-Modified`` and ``Content-Length``.
"""
from __future__ import annotations

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
from tasks.io.sources.integrity import asset_identity, parse_multihash, scene_fingerprints, verify_checksums

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
