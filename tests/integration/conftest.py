"""Integration fixtures: a published catalog from a real flow run against the local STAC API."""
from __future__ import annotations

import json
import logging
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.config import SAMPLE_SOURCES, RunConfig
from tasks.io.runtime.local_stac import LocalStac, serve_collections
from tasks.io.samples.sample_data import generate_sample, load_sample_region

pytestmark = pytest.mark.integration

S3_BUCKET = "ldn-cache"
"""The bucket the ``s3`` fixture creates."""


def sample_config(sample_dir: Path, api_url: str, out_dir: Path, **overrides: object) -> RunConfig:
    """The run configuration `ldn run` builds for a sample region folder."""
    meta = json.loads((sample_dir / "region.json").read_text())
    values = dict(
        sources_file=SAMPLE_SOURCES, stac_api=api_url, native_bounds=tuple(meta["native_bounds"]),
        region_id=meta["name"], years=(2001, 2003), out_dir=out_dir,
    )
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, local_stac: LocalStac,
              prefect_harness: None) -> Path:
    """Root of a catalog published by one real run of the flow on the small sample (2001-2003): its annual NDVI
    layers only (no period fits three years; no drought layers, which ``full_run`` has)."""
    from flows.ldn_yearly import ldn_yearly

    out = tmp_path_factory.mktemp("published") / "catalog"
    ldn_yearly(sample_config(sample_dir, local_stac.api_url, out, precipitation_source="none"))
    return out


@pytest.fixture(scope="session")
def full_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample region (60 km, 2001-2024), generated once for the session."""
    return generate_sample(tmp_path_factory.mktemp("full-sample") / "sample-data", region=load_sample_region())


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory, full_sample: Path, prefect_harness: None) -> tuple[Path, Path]:
    """The default sample region (60 km, 2001-2024) through the whole flow: (sample folder, catalog root)."""
    from flows.ldn_yearly import ldn_yearly

    base = tmp_path_factory.mktemp("full")
    with serve_collections(full_sample) as stac:
        ldn_yearly(sample_config(full_sample, stac.api_url, base / "catalog", years=(2001, 2024)))
    return full_sample, base / "catalog"


@pytest.fixture(scope="session")
def fao_wocat_run(tmp_path_factory: pytest.TempPathFactory, full_sample: Path, prefect_harness: None) -> tuple[Path, Path]:
    """The default sample region's report_2 (2008-2023, where the decline reaches desert NDVI) with the FAO-WOCAT
    LPD: (sample folder, catalog root)."""
    from flows.ldn_yearly import ldn_yearly

    base = tmp_path_factory.mktemp("fao-wocat")
    with serve_collections(full_sample) as stac:
        ldn_yearly(sample_config(full_sample, stac.api_url, base / "catalog", years=(2008, 2023),
                                 productivity={"method": "fao_wocat"}))
    return full_sample, base / "catalog"


@pytest.fixture
def published_copy(tmp_path: Path, published: Path) -> Path:
    """A private copy of the published catalog that a test may try (and fail) to publish into."""
    copy = tmp_path / "catalog"
    shutil.copytree(published, copy, ignore=shutil.ignore_patterns(".cache"))  # its scenes may be damaged on purpose
    return copy


@pytest.fixture
def sample_copy(tmp_path: Path, sample_dir: Path) -> Path:
    """A private copy of the sample region that a test may damage."""
    copy = tmp_path / "sample-data"
    shutil.copytree(sample_dir, copy)
    return copy


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 API (moto's server) on 127.0.0.1 with an empty bucket ``S3_BUCKET``; AWS_* point at it."""
    s3fs = pytest.importorskip("s3fs", reason="S3 tests need s3fs (pip install -e '.[test]')")
    moto_server = pytest.importorskip("moto.server", reason="S3 tests need moto[server] (pip install -e '.[test]')")
    # moto's server logs each request through werkzeug at INFO, and werkzeug turns its logger to INFO when the root
    # logger has no handler yet (a first S3 test with no run before it): the lines then reach Prefect's console
    # handler in later tests, inside the one-line error a CLI test reads. Its requests are not the tests' business.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"))  # no state left
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir(S3_BUCKET)
    try:
        yield fs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
