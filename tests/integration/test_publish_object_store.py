"""Publishing to object storage (``ldn run --out s3://bucket/prefix``) against a real S3 API on 127.0.0.1 (moto's
server): a version's objects equal the run's files byte for byte, the readers take them from there, and a large
file's multipart upload is checked by its ETag. The faults (a write refused midway, an expired credential, a missing
bucket, another run switching the root first) are in ``tests/reliability/test_publish_faults.py``."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.io.outputs.layers import open_layer
from tasks.io.runtime.object_store import root_document
from tests.integration.conftest import S3_BUCKET as BUCKET
from tests.integration.test_layer_styles import titiler_client

pytestmark = pytest.mark.integration

URL = f"s3://{BUCKET}/layers"


@pytest.fixture
def store(s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The bucket, with the test's folder as the working directory: the run's local folder
    (outputs/stores/s3/<bucket>/layers) goes there."""
    monkeypatch.chdir(tmp_path)
    yield s3


def run_to(sample: Path, out: str = URL, extra: list[str] | None = None) -> Any:
    """``ldn run`` of the small sample (2001-2003, no drought layers) publishing to ``out`` (with ``extra`` options)."""
    return CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--years", "2001-2003", "--precipitation",
                                    "none", "--out", out, *(extra or [])])


def root_of(fs: Any) -> dict[str, Any]:
    """The store's root catalog, read now."""
    fs.invalidate_cache()
    return json.loads(fs.cat_file(f"{BUCKET}/layers/catalog.json"))


def listed(fs: Any) -> list[str]:
    """The versions the store's root catalog names."""
    return [link["href"].split("/")[-2] for link in root_of(fs)["links"] if link["rel"] == "child"]


def test_a_run_publishes_its_version_to_object_storage_byte_for_byte(
    store: Any, sample_copy: Path, tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fs = store
    result = run_to(sample_copy)
    assert result.exit_code == 0, result.stderr
    assert f"published to:    {URL}/catalog.json" in result.stdout
    root = root_of(fs)
    version = root["ldn:latest"]
    assert listed(fs) == [version]
    assert root == root_document([version]), "the same root document a folder gets"
    local = tmp_path / "outputs" / "stores" / "s3" / BUCKET / "layers" / "versions" / version
    files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}
    objects = {p[len(f"{BUCKET}/layers/versions/{version}/"):] for p in fs.find(f"{BUCKET}/layers/versions/{version}")}
    assert objects == set(files) and len(files) > 20
    for name, path in files.items():
        assert fs.cat_file(f"{BUCKET}/layers/versions/{version}/{name}") == path.read_bytes(), name
    assert not fs.find(f"{BUCKET}/layers/.claims"), "the run's claim on the name is removed"

    # the readers take it from the store: `ldn layers`, a fetched copy byte for byte, open_layer
    layers = CliRunner().invoke(app, ["layers", "list", "--catalog", URL])
    assert layers.exit_code == 0 and f"version {version}" in layers.stdout, layers.stderr
    out = tmp_path / "ndvi.tif"
    got = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2002", "--catalog", URL, "--out", str(out)])
    assert got.exit_code == 0, got.stderr
    name = "ndvi-annual/ndvi-annual-sample-zamyn-uud-2002/ndvi-annual-sample-zamyn-uud-2002.tif"
    assert out.read_bytes() == files[name].read_bytes()
    remote = open_layer("ndvi-annual", year=2002, root=URL, raw=True)
    assert (remote.values == open_layer("ndvi-annual", year=2002, root=local.parent.parent, raw=True).values).all()
    versions = CliRunner().invoke(app, ["layers", "versions", "--incomplete", "--catalog", URL])
    assert versions.exit_code == 0 and "0 incomplete version(s)" in versions.stdout

    # titiler reads the COGs straight from the bucket (GDAL's /vsis3/, pointed at the same endpoint), no copy
    for key, value in {"AWS_S3_ENDPOINT": urlsplit(os.environ["AWS_ENDPOINT_URL"]).netloc, "AWS_HTTPS": "NO",
                       "AWS_VIRTUAL_HOSTING": "FALSE"}.items():
        monkeypatch.setenv(key, value)
    client = titiler_client()
    cog = f"{URL}/versions/{version}/{name}"
    info = client.get("/cog/info", params={"url": cog})
    assert info.status_code == 200, info.text
    assert (info.json()["height"], info.json()["width"]) == remote.shape[-2:]
    preview = client.get("/cog/preview.png", params={"url": cog, "max_size": 128, "rescale": "0,3000"})
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG"), preview.text


def test_a_multipart_upload_is_checked_by_its_etag(s3: Any, tmp_path: Path) -> None:
    """The check a large COG gets (uploaded in parts): S3's ETag of a multipart upload, computed from the local file,
    equals the store's; a part changed in the store does not."""
    import numpy as np

    from tasks.io.runtime.object_store import _md5_etag

    part = 5 * 2**20
    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2 * part + 12345, dtype=np.uint8).tobytes())
    s3.put_file(str(path), f"{BUCKET}/big.bin", chunksize=part)
    etag = s3.info(f"{BUCKET}/big.bin")["ETag"].strip('"')
    assert etag.endswith("-3") and etag == _md5_etag(path, part)
    data = bytearray(path.read_bytes())
    data[part + 1] ^= 1
    path.write_bytes(bytes(data))
    assert _md5_etag(path, part) != etag
