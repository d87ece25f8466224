"""The layer cache's two tiers with fsspec's local file system as the object store: what one machine
stores another fetches whole; an entry whose ``entry.json`` never arrived is a miss."""
from __future__ import annotations

import json
from pathlib import Path

from tasks.io.runtime.layer_cache import CacheDir, open_entry, store_entry


def _files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "src" / "tables").mkdir(parents=True)
    (tmp_path / "src" / "layer.tif").write_bytes(b"tif bytes")
    (tmp_path / "src" / "tables" / "summary.csv").write_text("a,b\n1,2\n")
    return {"layer.tif": tmp_path / "src" / "layer.tif", "tables/summary.csv": tmp_path / "src" / "tables" / "summary.csv"}


def test_an_entry_stored_on_one_machine_is_fetched_whole_on_another(tmp_path: Path) -> None:
    remote = f"file://{tmp_path / 'bucket'}/ndvi-tile"
    store_entry(CacheDir(tmp_path / "a", remote), "k1", _files(tmp_path), {"answer": 42})
    hit = open_entry(CacheDir(tmp_path / "b", remote), "k1")  # machine b: empty local tier
    assert hit is not None
    entry, meta = hit
    assert meta == {"answer": 42} and entry == tmp_path / "b" / "k1"
    assert (entry / "layer.tif").read_bytes() == b"tif bytes"
    assert (entry / "tables" / "summary.csv").read_text() == "a,b\n1,2\n"
    assert not list((tmp_path / "b").glob(".*.tmp")), "no temporary folder is left"


def test_a_half_uploaded_entry_is_a_miss(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket" / "ndvi-tile" / "k2"
    bucket.mkdir(parents=True)
    (bucket / "layer.tif").write_bytes(b"partial")  # the upload died before entry.json
    assert open_entry(CacheDir(tmp_path / "b", f"file://{tmp_path / 'bucket'}/ndvi-tile"), "k2") is None
    assert not (tmp_path / "b" / "k2").exists()


def test_a_local_hit_the_store_lacks_is_uploaded(tmp_path: Path) -> None:
    """Layers cached before a store was configured reach it on their next hit, so other machines get them."""
    local = tmp_path / "a"
    store_entry(CacheDir(local), "k3", _files(tmp_path), {"n": 1})  # no store yet
    remote = f"file://{tmp_path / 'bucket'}/ndvi-tile"
    hit = open_entry(CacheDir(local, remote), "k3")
    assert hit is not None and json.loads((hit[0] / "entry.json").read_text()) == {"n": 1}
    elsewhere = open_entry(CacheDir(tmp_path / "b", remote), "k3")
    assert elsewhere is not None and (elsewhere[0] / "tables" / "summary.csv").read_text() == "a,b\n1,2\n"


def test_a_file_fingerprint_follows_edits(tmp_path: Path) -> None:
    """Hashed once per (path, mtime, size), yet an edit (even of the same size) gives a new fingerprint."""
    import hashlib
    import os

    from tasks.io.sources.integrity import file_fingerprint

    f = tmp_path / "legend.yaml"
    f.write_text("a: 1\n")
    first = file_fingerprint(f)
    assert first == hashlib.sha256(b"a: 1\n").hexdigest() and file_fingerprint(f) == first
    f.write_text("a: 2\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))  # a coarse clock still moves
    assert file_fingerprint(f) == hashlib.sha256(b"a: 2\n").hexdigest()
    assert file_fingerprint(tmp_path / "gone.yaml") == "missing:gone.yaml"
