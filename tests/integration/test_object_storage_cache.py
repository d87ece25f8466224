"""The layer cache in object storage: a run on another machine (an empty output folder) takes every
layer from an S3 API on 127.0.0.1 (moto's server) and reads no scene; a bad cache URL fails in one line."""
from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.integration.conftest import S3_BUCKET as BUCKET

pytestmark = pytest.mark.integration


def _latest_tifs(root: Path) -> dict[str, str]:
    version = root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in version.rglob("*.tif")}


def test_a_run_elsewhere_takes_every_layer_from_object_storage(
    s3: Any, sample_copy: Path, tmp_path: Path, prefect_harness: None, caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"s3://{BUCKET}/runs"
    args = ["run", "--sample-dir", str(sample_copy), "--years", "2001-2003", "--cache-url", url]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.stderr
    for kind in ("ndvi-tile", "ndvi-annual"):
        assert len(s3.glob(f"{BUCKET}/runs/{kind}/*/entry.json")) == 3, kind
    assert not s3.glob(f"{BUCKET}/runs/.ldn-probe-*"), "the write probe is removed"

    # another machine: nothing on its disk, and the scenes are unreadable there; the bucket has it all
    for tif in (sample_copy / "modis-13Q1-061" / "data").glob("MOD13Q1.A200[123]*/*.tif"):
        tif.write_bytes(b"")
    caplog.clear()
    with caplog.at_level("INFO"):
        second = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert second.exit_code == 0, second.stderr
    assert any("3 linked from the cache, 0 computed from 0 scenes (nothing new: no scene read)" in r.getMessage()
               for r in caplog.records)
    assert _latest_tifs(tmp_path / "b") == _latest_tifs(tmp_path / "a")
    local = tmp_path / "b" / ".cache"
    assert len(list((local / "ndvi-annual").glob("*/entry.json"))) == 3, "each year's layers fetched into the local tier"
    assert not list((local / "ndvi-tile").glob("*/entry.json")), "a year restored whole fetches none of its tile-years"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case, expected", [
    ("no-bucket", "could not write (FileNotFoundError: The specified bucket does not exist)"),
    ("unreachable", "could not write"),
    ("scheme", "cache_url scheme nope:// is unknown to fsspec"),
])
def test_a_bad_cache_url_fails_in_one_line_before_any_work(
    case: str, expected: str, s3: Any, monkeypatch: pytest.MonkeyPatch, sample_copy: Path, tmp_path: Path,
    prefect_harness: None,  # Prefect's logging set up first: not inside this CLI call's captured (then closed) stderr
) -> None:
    url = {"no-bucket": "s3://no-such-bucket/ldn", "unreachable": f"s3://{BUCKET}/ldn", "scheme": "nope://x"}[case]
    if case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        type(s3).clear_instance_cache()
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_copy), "--years", "2001-2003", "--out", str(out),
                                      "--cache-url", url])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    if case != "scheme":
        assert "check --cache-url" in lines[0]
    assert not out.exists(), "nothing is written before the cache is known to work"
