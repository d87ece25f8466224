"""Analyst retrieval: ldn layers list / get and open_layer on a catalog published by a real run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.io.outputs.layers import layer_items, open_layer

pytestmark = pytest.mark.integration


def test_list(published: Path) -> None:
    result = CliRunner().invoke(app, ["layers", "list", "--catalog", str(published)])
    assert result.exit_code == 0, result.stderr
    assert "ndvi-annual-sample-zamyn-uud-2002" in result.stdout and "6 layers, version" in result.stdout
    assert "ndvi-annual-max-sample-zamyn-uud-2002" in result.stdout  # the annual maximum beside each mean
    rows = layer_items(published)
    assert sorted(r["year"] for r in rows) == [2001, 2001, 2002, 2002, 2003, 2003]


def test_get_prints_the_path_or_writes_a_clipped_copy(published: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2002", "--catalog", str(published)])
    assert result.exit_code == 0 and result.stdout.strip().endswith("ndvi-annual-sample-zamyn-uud-2002.tif")
    out = tmp_path / "clip.tif"
    result = CliRunner().invoke(app, ["layers", "get", "ndvi-annual", "--year", "2002", "--catalog", str(published),
                                      "--bbox", "111.89,43.71,111.91,43.73", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    full = rioxarray.open_rasterio(open_layer("ndvi-annual", year=2002, root=published).encoding["source"])
    with rasterio.open(out) as clip:
        assert clip.nodata == NODATA and 0 < clip.width < 64 and 0 < clip.height < 64
        assert clip.crs == full.rio.crs
        window = full.sel(x=slice(clip.bounds.left, clip.bounds.right), y=slice(clip.bounds.top, clip.bounds.bottom))
        kept = clip.read(1) != NODATA  # pixels of the envelope outside the lon/lat box are nodata (test_remote_layers)
        assert kept.any()
        np.testing.assert_array_equal(clip.read(1)[kept], window.values[0][kept])
        structure = clip.tags(ns="IMAGE_STRUCTURE")  # the published layers' profile
        assert (structure["COMPRESSION"], structure.get("PREDICTOR"), clip.block_shapes[0]) == ("DEFLATE", "2", (512, 512))
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    assert not list(tmp_path.glob(".clip.tif*"))  # no scratch left beside it


@pytest.mark.parametrize(("args", "match"), [
    (["layers", "get", "lpd", "--year", "2002"], r"no layer 'lpd' in version .* it has \['ndvi-annual', 'ndvi-annual-max'\]"),
    (["layers", "get", "ndvi-annual", "--year", "1999"], r"has no layer for year 1999: choose one of \['2001', '2002', '2003'\]"),
    (["layers", "get", "ndvi-annual", "--year", "2002", "--bbox", "10,10,11,11", "--out", "x.tif"],
     r"holds no pixel of ndvi-annual-sample-zamyn-uud-2002"),
    (["layers", "list", "--version", "19990101T000000Z"], r"version '19990101T000000Z' is not in .* published versions: \['"),
])
def test_what_does_not_exist_lists_what_does(published: Path, args: list[str], match: str) -> None:
    import re

    result = CliRunner().invoke(app, [*args, "--catalog", str(published)])
    assert result.exit_code == EXIT_USER_ERROR
    assert re.search(match, result.stderr), result.stderr


def test_open_layer_in_python(published: Path) -> None:
    da = open_layer("ndvi-annual", year=2003, root=published)
    assert da.shape == (64, 64) and da.attrs["units"] == "NDVI" and da.attrs["scale"] == 0.0001
    assert da.rio.crs is not None and "classes" not in da.attrs
    with pytest.raises(ConfigError, match="no published catalog at"):
        open_layer("ndvi-annual", year=2003, root=published / "nowhere")


def test_list_filters_and_versions(published: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["layers", "list", "--catalog", str(published), "--bbox", "111.8,43.6,111.9,43.7"])
    assert result.exit_code == 0 and "6 layers" in result.stdout
    result = runner.invoke(app, ["layers", "list", "--catalog", str(published), "--bbox", "10,10,11,11"])
    assert result.exit_code == 0 and "0 layers, version 2" in result.stdout
    result = runner.invoke(app, ["layers", "list", "--catalog", str(published), "--indicator", "ndvi-annual"])
    assert result.exit_code == 0 and "3 layers" in result.stdout
    result = runner.invoke(app, ["layers", "list", "--catalog", str(published), "--indicator", "lpd"])
    assert result.exit_code == EXIT_USER_ERROR and "it has ['ndvi-annual', 'ndvi-annual-max']" in result.stderr
    result = runner.invoke(app, ["layers", "versions", "--catalog", str(published)])
    assert result.exit_code == 0 and result.stdout.strip().endswith("(latest)")
