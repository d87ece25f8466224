"""The README's copy-paste snippets for analysts run as written against a published catalog."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.io.runtime.local_stac import stop_process
from tests.helpers import readme_snippet
from tests.services import free_port

pytestmark = pytest.mark.integration


def test_the_static_catalog_snippet_runs(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "catalog").symlink_to(full_run[1])
    out = subprocess.run([sys.executable, "-c", readme_snippet("static")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "'value': -1" in out.stdout and "(1, 259, 259)" in out.stdout


@pytest.mark.filterwarnings("ignore::pystac_client.warnings.PystacClientWarning")  # a static catalog is no API
def test_the_catalog_served_over_http_is_walked_by_a_stac_client(full_run: tuple[Path, Path]) -> None:
    """What QGIS's STAC browser does with a static catalog URL: follow links over HTTP to items and COGs."""
    import time
    import urllib.request

    import rasterio
    from pystac_client import Client

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "-d", str(full_run[1]), "-b", "127.0.0.1", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/catalog.json"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        root = Client.open(url)
        latest = root.get_single_link("latest-version").resolve_stac_object().target
        items = list(latest.get_items(recursive=True))
        # 24 annual means, 24 annual maxima, 21 period items, 2 status, 2 LDN balance; 25 years' and 3 periods' drought
        assert len(items) == 73 + 25 + 3 + 25 + 3 + 3  # the drought layers, the people under drought and on land
        href = next(i for i in items if i.id == "lpd-sample-zamyn-uud-baseline").assets["data"].get_absolute_href()
        assert href.startswith(f"http://127.0.0.1:{port}/versions/")
        with rasterio.open(href) as src:  # read over HTTP, as QGIS would
            assert src.read(1, window=((0, 8), (0, 8))).min() >= 1
    finally:
        stop_process(server)
