"""Retrieval from anywhere: ``ldn layers`` and ``open_layer`` on a published catalog served over HTTP (the
project's range-capable file server on 127.0.0.1) and in S3 (moto's server on 127.0.0.1), layers cut to the
requested lon/lat box, NDVI in physical units, and one-line errors for a bad URL or a bad box."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.io.outputs.layers import layer_items, open_layer
from tasks.io.runtime.local_stac import free_port, start_file_server, stop_process
from tests.integration.conftest import S3_BUCKET

pytestmark = pytest.mark.integration

BOX = (111.85, 43.70, 111.95, 43.76)
"""A lon/lat box inside the small sample (its sinusoidal grid makes the box a curved quadrilateral)."""


@pytest.fixture
def served(published: Path) -> Iterator[str]:
    """The published folder on the project's own file server (HTTP range requests, as a bucket website has)."""
    proc, url = start_file_server(published)
    try:
        yield url
    finally:
        stop_process(proc)


def _lonlat_centres(da: Any) -> tuple[np.ndarray, np.ndarray]:
    xx, yy = np.meshgrid(da.x.values, da.y.values)
    return Transformer.from_crs(da.rio.crs, "EPSG:4326", always_xy=True).transform(xx, yy)


@pytest.mark.parametrize("form", ["{url}/catalog.json", "{url}", "{url}/"])
def test_ldn_layers_reads_a_catalog_over_http(served: str, published: Path, tmp_path: Path, form: str) -> None:
    catalog = form.format(url=served)
    result = CliRunner().invoke(app, ["layers", "list", "--catalog", catalog])
    assert result.exit_code == 0, result.stderr
    assert "6 layers, version" in result.stdout and "ndvi-annual-sample-zamyn-uud-2002" in result.stdout
    assert [r["id"] for r in layer_items(catalog)] == [r["id"] for r in layer_items(published)]
    out = tmp_path / "copy.tif"
    result = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2002", "--catalog", catalog, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    local = open_layer("ndvi-annual", year=2002, root=published, raw=True).encoding["source"]
    assert out.read_bytes() == Path(local).read_bytes(), "the copy is the published COG, byte for byte"
    assert out.with_suffix(".qml").read_bytes() == Path(local).with_suffix(".qml").read_bytes(), "its style too"
    assert not list(tmp_path.glob(".*.part")), "no partial file is left"


def test_open_layer_over_http_equals_the_local_layer(served: str, published: Path) -> None:
    for kwargs in ({"indicator": "ndvi-annual", "year": 2003}, {"indicator": "ndvi-annual-max", "year": 2001}):
        remote = open_layer(**kwargs, root=f"{served}/catalog.json", bbox=BOX)
        local = open_layer(**kwargs, root=published, bbox=BOX)
        np.testing.assert_array_equal(remote.values, local.values)
        assert remote.encoding["source"].startswith(served)


def test_open_layer_from_s3(s3: Any, published: Path, tmp_path: Path) -> None:
    s3.put(str(published), f"{S3_BUCKET}/published", recursive=True)
    url = f"s3://{S3_BUCKET}/published/catalog.json"
    assert [r["id"] for r in layer_items(url)] == [r["id"] for r in layer_items(published)]
    remote = open_layer("ndvi-annual", year=2002, root=url, raw=True)
    local = open_layer("ndvi-annual", year=2002, root=published, raw=True)
    np.testing.assert_array_equal(remote.values, local.values)
    out = tmp_path / "s3-clip.tif"
    result = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2002", "--catalog", url,
                                      "--bbox", ",".join(map(str, BOX)), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    with rasterio.open(out) as clip:
        assert 0 < clip.width < 64 and (clip.read(1) != NODATA).any()


def test_a_box_keeps_only_the_pixels_inside_it(published: Path, tmp_path: Path) -> None:
    """The sinusoidal envelope of a lon/lat box is wider than the box: pixels whose centre is outside are nodata."""
    full = open_layer("ndvi-annual", year=2003, root=published, raw=True)
    clip = open_layer("ndvi-annual", year=2003, root=published, raw=True, bbox=BOX)
    lon, lat = _lonlat_centres(clip)
    inside = (lon >= BOX[0]) & (lon <= BOX[2]) & (lat >= BOX[1]) & (lat <= BOX[3])
    assert inside.any() and (~inside).any(), "the envelope is wider than the box (the test means something)"
    values = clip.values
    assert (values[~inside] == NODATA).all()
    window = full.sel(x=clip.x, y=clip.y).values
    np.testing.assert_array_equal(values[inside], window[inside])
    out = tmp_path / "clip.tif"
    result = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2003", "--catalog", str(published),
                                      "--bbox", ",".join(map(str, BOX)), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    with rasterio.open(out) as written:
        np.testing.assert_array_equal(written.read(1), values)
        assert written.nodata == NODATA and written.crs == full.rio.crs


def test_ndvi_comes_scaled_and_masked_unless_asked_raw(published: Path) -> None:
    raw = open_layer("ndvi-annual", year=2003, root=published, raw=True)
    ndvi = open_layer("ndvi-annual", year=2003, root=published)
    assert raw.dtype == np.int16 and ndvi.dtype == np.float32 and ndvi.attrs["scaled"]
    valid = raw.values != NODATA
    np.testing.assert_array_equal(np.isnan(ndvi.values), ~valid)
    np.testing.assert_allclose(ndvi.values[valid], raw.values[valid] * np.float32(1e-4), rtol=1e-6)
    assert -1 <= np.nanmin(ndvi.values) and np.nanmax(ndvi.values) <= 1 and np.isnan(ndvi.rio.nodata)
    lpd = open_layer("ndvi-annual", year=2003, root=published, raw=True, masked=True)
    assert lpd.dtype == np.float32 and np.isnan(lpd.values).sum() == (~valid).sum()


def test_a_catalog_that_is_not_there_is_one_line(served: str, published: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/catalog.json"
    for url, expected in ((closed, "cannot be read"), (f"{served}/nowhere/catalog.json", "no published catalog at")):
        result = CliRunner().invoke(app, ["layers", "list", "--catalog", url])
        assert result.exit_code == EXIT_USER_ERROR
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and url in lines[0], result.stderr
    with pytest.raises(ConfigError, match="not a STAC catalog"):
        layer_items(f"{served}/versions/{layer_items(published)[0]['version']}/ndvi-annual/"
                    f"{layer_items(published)[0]['id']}/{layer_items(published)[0]['id']}.json")


@pytest.mark.parametrize(("box", "expected"), [
    ("111.9,43.75,112.0,43.7", "south 43.75 > north 43.7"),
    ("112,43.7,111.9,43.75", "west 112 > east 111.9"),
    ("111.9,43.7,112", "is not four numbers"),
])
def test_a_bad_box_is_one_line(published: Path, box: str, expected: str, tmp_path: Path) -> None:
    for args in (["layers", "get", "ndvi-annual", "--year", "2003", "--out", str(tmp_path / "x.tif")], ["layers", "list"]):
        result = CliRunner().invoke(app, [*args, "--catalog", str(published), "--bbox", box])
        if args[1] == "list" and "west" in expected:
            continue  # listing takes a box across the antimeridian; only a cut needs one box
        assert result.exit_code == EXIT_USER_ERROR, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize(("url", "words"), [
    ("s3://bucket/published/catalog.json", "error: reading s3:// URLs needs s3fs: pip install 'ldn-pipeline[s3]'"),
    ("foo://bucket/catalog.json", "error: foo://bucket/catalog.json: the scheme foo:// is unknown to fsspec"),
])
def test_an_object_store_catalog_without_its_driver_is_one_line_with_the_install_command(url: str, words: str) -> None:
    """A README example (`--catalog s3://...`) on an install without s3fs: one line naming what to install, exit 2
    (it was a 93-line traceback). s3fs is hidden from a fresh process, as on a default install."""
    import subprocess
    import sys

    script = ("import sys; sys.modules['s3fs'] = None\n"
              "from flows.cli import app\n"
              f"sys.argv = ['ldn', 'layers', 'list', '--catalog', {url!r}]\n"
              "app()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_USER_ERROR, done.stderr
    assert done.stderr.startswith(words) and done.stderr.count("\n") == 1, done.stderr
