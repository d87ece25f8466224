"""Bad input: one clear line naming the problem and the fix, a non-zero exit, the catalog untouched."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.config import SAMPLE_SOURCES
from tasks.io.runtime.local_stac import LocalStac, free_port

pytestmark = pytest.mark.integration

INSIDE = "111.88,43.70,111.92,43.74"  # inside the small sample region


def _tree(root: Path) -> dict[str, str]:
    """Every published file and its hash; the layer cache (which keeps the years that succeeded) is not published."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.relative_to(root).parts[0] == ".cache"}


def _fails(args: list[str], catalog: Path, match: str) -> str:
    """Run `ldn ...`, expect a user error matching ``match`` and an untouched catalog; return the message."""
    before = _tree(catalog)
    result = CliRunner().invoke(app, [*args, "--out", str(catalog)])
    assert result.exit_code == EXIT_USER_ERROR, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert pytest.importorskip("re").search(match, lines[0]), lines[0]
    assert _tree(catalog) == before
    assert not any((catalog / ".staging").glob("*")), "a failed run leaves nothing in .staging"
    return lines[0]


def _api(local_stac: LocalStac, *extra: str) -> list[str]:
    return ["run", "--sources", str(SAMPLE_SOURCES), "--stac-api", local_stac.api_url, "--years", "2001-2002", *extra]


def test_unreachable_stac_api(published_copy: Path, prefect_harness: None) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    _fails(["run", "--sources", str(SAMPLE_SOURCES), "--stac-api", dead, "--bbox", INSIDE, "--years", "2001-2001"],
           published_copy, rf"cannot reach the STAC API at {dead} \(connection refused\): check the `api` URL")


class _Always500(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"internal error")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_api() -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with HTTP 500."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Always500)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_stac_api_answering_500(published_copy: Path, broken_api: str, prefect_harness: None) -> None:
    _fails(["run", "--sources", str(SAMPLE_SOURCES), "--stac-api", broken_api, "--bbox", INSIDE, "--years", "2001-2001"],
           published_copy, r"answered HTTP 500: check the `api` URL .* or retry later")


def test_empty_search(tmp_path: Path, published_copy: Path, local_stac: LocalStac, prefect_harness: None) -> None:
    """A source that declares no `years` (else years outside them fail before any work: tests/reliability)."""
    import yaml

    doc = yaml.safe_load(SAMPLE_SOURCES.read_text())
    for source in doc["sources"].values():
        source.pop("years", None)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(doc))
    args = ["run", "--sources", str(sources), "--stac-api", local_stac.api_url, "--bbox", INSIDE,
            "--years", "2030-2031"]
    _fails(args, published_copy, r"no items in 'modis-13Q1-061' with \{'platform': 'terra'\} .* 2030-2031 .* widen the years")


def test_bbox_outside_the_collection(published_copy: Path, local_stac: LocalStac, prefect_harness: None) -> None:
    _fails(_api(local_stac, "--bbox", "10,10,11,11"), published_copy,
           r"bbox \[10.0, 10.0, 11.0, 11.0\] does not intersect collection 'modis-13Q1-061'.*choose an area inside it")


def test_unknown_collection_lists_the_available_ones(tmp_path: Path, published_copy: Path, local_stac: LocalStac,
                                                     prefect_harness: None) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(SAMPLE_SOURCES.read_text().replace("collection: modis-13Q1-061", "collection: modis-13Q1-006"))
    _fails(["run", "--sources", str(sources), "--stac-api", local_stac.api_url, "--bbox", INSIDE],
           published_copy, r"collection 'modis-13Q1-006' is not on the STAC API .*'modis-13Q1-061'.*fix `collection`")


def test_invalid_source_config(tmp_path: Path, published_copy: Path, prefect_harness: None) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(SAMPLE_SOURCES.read_text().replace("scale: 0.0001", "scale: 0"))
    _fails(["run", "--sources", str(sources), "--bbox", INSIDE], published_copy,
           r"invalid configuration in .*sources.yaml: sources.modis-13q1.assets.ndvi.scale: scale must not be 0")


@pytest.mark.parametrize(("args", "match"), [
    (["run", "--years", "2005-2001"], r"years 2005-2001 are reversed"),
    (["run", "--years", "twenty"], r"--years 'twenty' is not YEAR or FIRST-LAST"),
    (["run", "--region", "XYZ"], r"unknown region 'XYZ': give NE-ASIA, a country code of zones.yaml \(CHN, MNG"),
    (["run", "--region", "JPN"], r"region Japan has no land in the run's area: choose a region that overlaps it"),
    (["run", "--region", "MNG", "--bbox", INSIDE], r"give --region or --bbox, not both"),
    (["run", "--region", "nowhere.gpkg"], r"region file nowhere.gpkg does not exist"),
    (["run", "--sources", str(SAMPLE_SOURCES), "--bbox", "1,2,3"], r"--bbox '1,2,3' is not four numbers"),
    (["run", "--sources", str(SAMPLE_SOURCES), "--bbox", INSIDE], r"only `ldn run` without --sources starts"),
    (["run", "--min-valid", "0", "--sources", str(SAMPLE_SOURCES), "--bbox", INSIDE], r"min_valid_composites: Input should be greater"),
])
def test_invalid_parameters(args: list[str], match: str, published_copy: Path, prefect_harness: None) -> None:
    _fails(args, published_copy, match)


def test_overlapping_custom_tiles(tmp_path: Path, published_copy: Path, prefect_harness: None) -> None:
    import json

    from tasks.constants import MODIS_PIXEL_SIZE as px
    from tasks.io.samples.sample_data import load_sample_region, sample_grid

    left, bottom, right, top = sample_grid(load_sample_region()).bounds
    run_file = tmp_path / "run.yaml"
    run_file.write_text(json.dumps({"tiles": [
        {"name": "west", "bounds": [left, bottom, left + 130 * px, top]},
        {"name": "east", "bounds": [left + 120 * px, bottom, right, top]}]}))
    _fails(["run", "--config", str(run_file)], published_copy,
           r"tiles west and east overlap by 10 x 259 pixels: custom tiles must not overlap")


def _ndvi_asset(sample: Path, item_id: str) -> Path:
    return sample / "modis-13Q1-061" / "data" / item_id / f"{item_id}_250m_16_days_NDVI.tif"


def test_missing_scene_404(sample_copy: Path, published_copy: Path, prefect_harness: None) -> None:
    _ndvi_asset(sample_copy, "MOD13Q1.A2001017.h26v04.061").unlink()
    _fails(["run", "--sample-dir", str(sample_copy), "--years", "2001-2002"], published_copy,
           r"scene 'MOD13Q1.A2001017.h26v04.061' is missing \(HTTP 404\): .*re-download or repair it")


def test_truncated_scene(sample_copy: Path, published_copy: Path, prefect_harness: None) -> None:
    path = _ndvi_asset(sample_copy, "MOD13Q1.A2002065.h26v04.061")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _fails(["run", "--sample-dir", str(sample_copy), "--years", "2001-2002"], published_copy,
           r"scene 'MOD13Q1.A2002065.h26v04.061' is truncated or corrupt.*: .*re-download or repair it")


def test_stale_staging_of_a_killed_run_is_cleared_and_versions_stay_readable(
    sample_dir: Path, published_copy: Path, prefect_harness: None,
) -> None:
    import pystac

    stale = published_copy / ".staging" / "20200101T000000Z-abcdef-999999999"  # no such process
    (stale / "ndvi-annual").mkdir(parents=True)
    (stale / "ndvi-annual" / "half-written.tif").write_bytes(b"II*\x00")
    first = _tree(published_copy / "versions")
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2001",
                                      "--out", str(published_copy)])
    assert result.exit_code == 0, result.stderr
    assert not stale.exists()
    assert {k: v for k, v in _tree(published_copy / "versions").items() if k in first} == first  # old version intact
    root = pystac.Catalog.from_file(str(published_copy / "catalog.json"))
    versions = list(root.get_children())
    assert len(versions) == 2
    for version in versions:
        assert list(version.get_items(recursive=True))
    # the year's mean, maximum and drought
    assert "published 4 layers" in result.stdout and "rioxarray.open_rasterio" in result.stdout


_KILLED_PUBLISH = r'''
import os, signal, sys
import numpy as np, xarray as xr, rioxarray  # noqa: F401
import tasks.io.outputs.catalog as publish
from tasks.io.outputs.items import write_item
from tasks.config import RunConfig
from tasks.io.sources.run import run_context

out, where = sys.argv[1], sys.argv[2]
cfg = RunConfig(native_bounds=(0.0, 0.0, 2000.0, 2000.0), region_id="killed", years=(2001, 2001), out_dir=out)
staging = publish.begin_version(cfg)
da = xr.DataArray(np.ones((8, 8), "int16"), dims=("y", "x"),
                  coords={"y": 1875.0 - 250.0 * np.arange(8), "x": 125.0 + 250.0 * np.arange(8)})
da = da.rio.write_crs("EPSG:6933")
da.attrs = {"long_name": "a layer", "_FillValue": -32768}
layer = write_item({"data": (da, False)}, staging.path, indicator="ndvi-annual", item_id="killed-2001", year=2001)
real = getattr(os, where)
def crash(*args, **kwargs):  # the power goes out at the switch
    os.kill(os.getpid(), signal.SIGKILL)
setattr(os, where, crash)
publish.publish_version(run_context(cfg), staging, [layer])
'''


@pytest.mark.parametrize("where", ["rename", "replace"])
def test_a_publish_killed_at_the_switch_leaves_the_previous_version_and_the_next_run_completes(
    sample_dir: Path, published_copy: Path, prefect_harness: None, tmp_path: Path, where: str,
) -> None:
    """A real process is killed (SIGKILL) as it moves the version into place (rename) or switches the root (replace)."""
    import json
    import subprocess
    import sys

    import pystac

    before = _tree(published_copy)
    latest = json.loads((published_copy / "catalog.json").read_text())["ldn:latest"]
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_PUBLISH)
    proc = subprocess.run([sys.executable, str(script), str(published_copy), where], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == -9, proc.stderr
    after = _tree(published_copy)
    assert all(after.get(name) == digest for name, digest in before.items()), "nothing published was touched"
    assert json.loads((published_copy / "catalog.json").read_text())["ldn:latest"] == latest, "readers still see the old latest"
    old = pystac.Catalog.from_file(str(published_copy / "catalog.json"))
    assert all(list(v.get_items(recursive=True)) for v in old.get_children())  # every listed version stays readable

    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2001",
                                      "--out", str(published_copy)])
    assert result.exit_code == 0, result.stderr
    assert not any((published_copy / ".staging").iterdir()), "the killed run's staging is cleared"
    root = json.loads((published_copy / "catalog.json").read_text())
    assert root["ldn:latest"] != latest
    for version in pystac.Catalog.from_file(str(published_copy / "catalog.json")).get_children():
        assert list(version.get_items(recursive=True))


def test_zones_that_miss_the_area_fail_before_any_computing(sample_dir: Path, published_copy: Path, tmp_path: Path) -> None:
    far = tmp_path / "far.geojson"
    far.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "far"}, '
                   '"geometry": {"type": "Polygon", "coordinates": [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]}}]}')
    _fails(["run", "--sample-dir", str(sample_dir), "--years", "2001-2001", "--zones", str(far)], published_copy,
           r"no zone overlaps the area \(lon 111\.\d\d\.\.112\.\d\d, lat 43\.\d\d\.\.43\.\d\d\): pass zones that cover it")


def test_a_newest_year_not_yet_complete_in_the_source_is_named_with_counts(sample_copy: Path, published_copy: Path) -> None:
    import json

    items = sample_copy / "modis-13Q1-061" / "items.ndjson"
    lines = items.read_text().splitlines()
    late_2003 = [line for line in lines if "2003-08" <= json.loads(line)["properties"]["start_datetime"] < "2004"]
    assert len([x for x in late_2003 if '"terra"' in x]) == 9
    items.write_text("\n".join(line for line in lines if line not in late_2003) + "\n")
    _fails(["run", "--sample-dir", str(sample_copy), "--years", "2001-2003"], published_copy,
           r"modis-13Q1-061 2003 composites not yet complete in the source: 14 of 23 found: run with --years 2001-2002")
