"""GDAL's network statistics: the bytes a read really downloads, from a range-serving HTTP server on 127.0.0.1."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tasks.io.runtime._fileserver import QuietRangeHandler
from tasks.io.runtime.netstats import cluster_network_bytes, network_bytes


@pytest.fixture
def served(tmp_path: Path):
    path = tmp_path / "scene.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=1024, height=1024, count=1, dtype="int16", tiled=True,
                       blockxsize=256, blockysize=256, crs="EPSG:4326", transform=from_origin(0, 10, 0.01, 0.01)) as dst:
        dst.write(rng.integers(0, 10000, (1024, 1024)).astype("int16"), 1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietRangeHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/scene.tif", path.stat().st_size
    finally:
        server.shutdown()


def test_a_window_read_counts_its_bytes_and_not_the_whole_file(served: tuple[str, int]) -> None:
    url, size = served
    before = network_bytes()
    assert before is not None, "GDAL's network statistics are off: tasks sets CPL_VSIL_NETWORK_STATS_ENABLED at import"
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url) as src:
        src.read(1, window=((0, 256), (0, 256)))  # one 128 KiB block of 2 MiB
    window = network_bytes() - before
    assert 256 * 256 * 2 <= window < size / 4
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url + "?whole") as src:
        src.read(1)
    assert network_bytes() - before - window >= size - 64 * 1024  # everything, but for what the header read held
    assert cluster_network_bytes() == network_bytes()  # no Dask client: this process alone
