"""Faults while publishing to object storage (``ldn run --out s3://...``), injected by a proxy in front of a real S3
API on 127.0.0.1 (moto's server): a store that refuses a write midway, a credential that expires, another run that
switches the root catalog between this run's read and write, a missing bucket. Each leaves the previously published
version the published one and readable, says one line, and a rerun completes."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.io.outputs.layers import open_layer
from tasks.io.runtime.object_store import root_document
from tests.integration import conftest as integration
from tests.integration.conftest import S3_BUCKET as BUCKET
from tests.integration.test_publish_object_store import URL, listed, root_of, run_to
from tests.reliability.s3_faults import Faults, S3FaultProxy

pytestmark = pytest.mark.reliability

s3 = integration.s3  # the integration tests' fixtures: moto's server with a bucket, a private copy of the sample
sample_copy = integration.sample_copy

ROOT_KEY = f"/{BUCKET}/layers/catalog.json"


@pytest.fixture
def store(s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, S3FaultProxy]]:
    """The bucket behind the fault-injecting proxy (AWS_ENDPOINT_URL points at the proxy; no retries, so an injected
    error is the one the run sees), and the test's folder as the working directory: the run's local folder
    (outputs/stores/s3/<bucket>/layers) goes there."""
    proxy = S3FaultProxy(os.environ["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    type(s3).clear_instance_cache()
    monkeypatch.chdir(tmp_path)
    try:
        yield s3, proxy
    finally:
        proxy.close()


@pytest.mark.parametrize("fault", ["refused", "expired"])
def test_a_publish_that_fails_midway_leaves_the_previous_version_published(
    fault: str, store: tuple[Any, S3FaultProxy], sample_copy: Path, prefect_harness: None,
) -> None:
    fs, proxy = store
    first = run_to(sample_copy)
    assert first.exit_code == 0, first.stderr
    (published,) = listed(fs)

    # the second run: a refusing store answers its version's 6th upload with an error (and lets it clean up); an
    # expired credential refuses every write after the 5th (its probe, its claim, 2 uploads), the clean-up too
    if fault == "refused":
        proxy.faults = Faults(match=lambda path: "/layers/versions/" in path, after=5, status=500)
    else:
        proxy.faults = Faults(match=lambda path: True, after=5, status=403, methods=("PUT", "POST", "DELETE"))
    second = run_to(sample_copy)
    assert second.exit_code != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"publishing to {URL}: could not upload" in lines[0] and "the previously published version is unchanged" \
        in lines[0], lines[0]
    assert ("internal error" if fault == "refused" else "token has expired") in lines[0], "the store's own words"
    assert listed(fs) == [published], "the root still names only the previous version"
    assert open_layer("ndvi-annual", year=2002, root=URL, raw=True).shape, "and it reads"

    proxy.faults = Faults()  # the store works again (or the credential is renewed)
    left = CliRunner().invoke(app, ["layers", "versions", "--incomplete", "--catalog", URL])
    assert left.exit_code == 0, left.stderr
    if fault == "refused":  # the run removed its partial version itself
        assert "0 incomplete version(s)" in left.stdout
    else:  # it could not: the partial version is listed, claimed, and removed on request
        assert "1 incomplete version(s)" in left.stdout and "(claimed" in left.stdout
        kept = CliRunner().invoke(app, ["layers", "versions", "--incomplete", "--remove", "--catalog", URL])
        assert "0 removed" in kept.stdout
        gone = CliRunner().invoke(app, ["layers", "versions", "--incomplete", "--remove", "--force", "--catalog", URL])
        assert gone.exit_code == 0 and "1 removed" in gone.stdout, gone.stdout
    assert set(fs.ls(f"{BUCKET}/layers/versions", refresh=True)) == {f"{BUCKET}/layers/versions/{published}"}

    rerun = run_to(sample_copy)
    assert rerun.exit_code == 0, rerun.stderr
    assert len(listed(fs)) == 2 and published in listed(fs)


def test_another_run_switching_the_root_first_keeps_both_versions(
    store: tuple[Any, S3FaultProxy], sample_copy: Path, prefect_harness: None, s3: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fs, proxy = store
    first = run_to(sample_copy)
    assert first.exit_code == 0, first.stderr
    (published,) = listed(fs)
    other = "20991231T235959Z"

    def another_run_switches() -> None:  # straight to moto's server, between this run's read of the root and its write
        import s3fs

        upstream = s3fs.S3FileSystem(client_kwargs={"endpoint_url": f"http://{proxy.upstream.netloc}"},
                                     skip_instance_cache=True)
        upstream.pipe_file(f"{BUCKET}/layers/catalog.json",
                           (json.dumps(root_document([published, other]), indent=2) + "\n").encode())

    proxy.faults = Faults(match=lambda path: path == ROOT_KEY, before_put=another_run_switches)
    with caplog.at_level("INFO"):
        second = run_to(sample_copy)
    assert second.exit_code == 0, second.stderr
    names = listed(fs)
    assert len(names) == 3 and published in names and other in names, "neither run's version is lost"
    assert root_of(fs)["ldn:latest"] == other
    assert any("switched" in r.getMessage() and "first" in r.getMessage() for r in caplog.records)


def test_a_missing_bucket_fails_in_one_line_before_any_work(
    store: tuple[Any, S3FaultProxy], sample_copy: Path, tmp_path: Path, prefect_harness: None,
) -> None:
    result = run_to(sample_copy, out="s3://no-such-bucket/layers")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "publishing to s3://no-such-bucket/layers: could not write to it" in lines[0], result.stderr
    assert "bucket does not exist" in lines[0]
    assert not (tmp_path / "outputs").exists(), "nothing is written before the store is known to take the version"




def test_a_multipart_upload_refused_midway_is_aborted_and_one_line(store: tuple[Any, S3FaultProxy],
                                                                   tmp_path: Path) -> None:
    """A COG of at least two of s3fs's parts (2 x 50 MiB) goes up in parts; the store refuses the second part: one line, no object at
    the key and no multipart upload left open in the bucket (s3fs aborts it), so nothing half-written is billed or
    read."""
    import numpy as np

    from tasks.errors import PublishError
    from tasks.io.runtime.object_store import upload_version
    from tasks.model import Version

    fs, proxy = store
    folder = tmp_path / "version"
    (folder / "lpd").mkdir(parents=True)
    big = folder / "lpd" / "lpd-big.tif"
    big.write_bytes(np.random.default_rng(1).integers(0, 256, 100 * 2**20 + 4096, dtype=np.uint8).tobytes())
    (folder / "catalog.json").write_text("{}")
    proxy.faults = Faults(match=lambda path: re.search(r"[?&]partNumber=2(&|$)", path) is not None, after=0,
                          status=500, query=True)
    with pytest.raises(PublishError) as said:
        upload_version(URL, folder, Version("20260101T000000Z"))
    assert "\n" not in str(said.value) and "could not upload lpd/lpd-big.tif of version 20260101T000000Z" in str(
        said.value) and "internal error" in str(said.value), str(said.value)
    assert proxy.faults.refused, "the part was refused by the store, not skipped"
    proxy.faults = Faults()
    fs.invalidate_cache()
    assert not fs.exists(f"{BUCKET}/layers/versions/20260101T000000Z/lpd/lpd-big.tif")
    assert not fs.exists(f"{BUCKET}/layers/versions/20260101T000000Z/catalog.json")
    assert fs.call_s3("list_multipart_uploads", Bucket=BUCKET).get("Uploads", []) == []
