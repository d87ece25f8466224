"""Published layers open styled with no glue: a QGIS style beside every COG (checked with QGIS's own API where
PyQGIS is installed), the STAC render extension drawn by titiler's app in-process, named CRS, JSON metadata, the
true footprint, and collections that describe their assets."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely.geometry

from tasks.constants import MODIS_SINUSOIDAL_NAME
from tasks.io.outputs.styles import NODATA_COLOUR

pytestmark = pytest.mark.integration

PROBE = Path(__file__).resolve().parents[2] / "docs" / "qgis_probe.py"
QGIS_PYTHONS = ("/usr/bin/python3",)
"""Where Debian's python3-qgis lives (tests/setup-system.sh installs it when it can)."""


def _latest(root: Path) -> Path:
    return root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]


def _items(version: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(version.glob("*/*/*.json"))]


def _item(version: Path, item_id: str) -> Path:
    return next(version.glob(f"*/{item_id}/{item_id}.json"))


def test_every_cog_has_a_style_a_render_and_a_named_crs(full_run: tuple[Path, Path]) -> None:
    version = _latest(full_run[1])
    items = _items(version)
    # and the drought layers (25 years 2000-2024, 3 periods' worst years) and the people under drought and on degraded
    # land (the same 25 + 3, and 3 periods)
    assert len(items) == 73 + 25 + 3 + 25 + 3 + 3
    cogs = 0
    for item in items:
        folder = _item(version, item["id"]).parent
        rasters = {k: a for k, a in item["assets"].items() if a["type"].startswith("image/tiff")
                   and "visual" not in a["roles"]}
        assert set(item["properties"]["renders"]) == set(rasters), item["id"]
        assert "https://stac-extensions.github.io/render/v2.0.0/schema.json" in item["stac_extensions"]
        for key, asset in rasters.items():
            style = item["assets"][f"{key}_style"]
            assert style["roles"] == ["style"] and (folder / style["href"]).is_file()
            assert Path(style["href"]).stem == Path(asset["href"]).stem, "QGIS looks for <name>.qml"
            render = item["properties"]["renders"][key]
            assert render["assets"] == [key]
            if "classification:classes" in asset:
                codes = {str(c["value"]) for c in asset["classification:classes"]}
                drawn = set(re.findall(r"b1==(-?\d+),", render["expression"].split(";")[0]))
                assert drawn == codes and "colormap" not in render, (item["id"], drawn, codes)
                assert all(f'#{c["color_hint"]}'.lower() in (folder / style["href"]).read_text()
                           for c in asset["classification:classes"])
            else:
                assert "rescale" in render and "colormap_name" in render
            with rasterio.open(folder / asset["href"]) as src:
                named = 'GEOGCS["WGS 84"' if item["id"].startswith("drought") else f'PROJCS["{MODIS_SINUSOIDAL_NAME}"'
                assert src.crs.to_wkt().startswith(named)  # the drought layers: on the precipitation's grid
                for value in src.tags().values():
                    if value[:1] in "[{":
                        json.loads(value)  # JSON, not a Python repr
            cogs += 1
    # the LDN balance: data and land_type, two reporting periods; drought: class, SPI x 1000 and SPI per year, class,
    # SPI x 1000 and year per period; people (total, female, male) under each year's drought and each period's worst
    # year, and on each period's SDG 15.3.1 classes (total)
    assert cogs == 137 + 25 * 3 + 3 * 3 + (25 + 3) * 3 + 3


def test_item_geometry_is_the_grids_outline_not_its_envelope(full_run: tuple[Path, Path]) -> None:
    item = json.loads(_item(_latest(full_run[1]), "lpd-sample-zamyn-uud-baseline").read_text())
    outline = shapely.geometry.shape(item["geometry"])
    envelope = shapely.box(*item["bbox"])
    assert outline.is_valid and envelope.buffer(1e-6).contains(outline)
    assert outline.area < 0.9 * envelope.area, "a sinusoidal window is a skewed quadrilateral in lon/lat"
    west, south, east, north = item["bbox"]
    assert not outline.contains(shapely.Point(west + 0.01, north - 0.01)), "the envelope's corner holds no data"


def test_collections_describe_their_assets(full_run: tuple[Path, Path]) -> None:
    version = _latest(full_run[1])
    lpd = json.loads((version / "lpd" / "collection.json").read_text())
    assert set(lpd["item_assets"]) >= {"data", "data_style", "sdg", "quicklook"}
    assert lpd["item_assets"]["data"]["classification:classes"][0]["value"] == 1
    assert "href" not in lpd["item_assets"]["data"] and "statistics" not in lpd["item_assets"]["data"]["raster:bands"][0]
    assert lpd["summaries"]["ldn:period"] == ["baseline", "report_1", "report_2"]
    assert {"SDG 15.3.1", "lpd"} <= set(lpd["keywords"])
    assert [p["name"] for p in lpd["providers"]][0] == "ldn-pipeline" and "expression" in lpd["renders"]["data"]
    ndvi = json.loads((version / "ndvi-annual" / "collection.json").read_text())
    assert ndvi["summaries"]["ldn:year"] == {"minimum": 2001, "maximum": 2024}


def titiler_client() -> Any:
    """titiler's COG and STAC routers (with its render and WMTS extensions) in-process, as titiler.application has them."""
    pytest.importorskip("titiler.core", reason="titiler.core is not installed (pip install -e '.[test]')")
    pytest.importorskip("titiler.extensions", reason="titiler.extensions is not installed (pip install -e '.[test]')")
    from fastapi import FastAPI
    from rio_tiler.io import STACReader
    from starlette.testclient import TestClient
    from titiler.core.factory import MultiBaseTilerFactory, TilerFactory
    from titiler.extensions import stacRenderExtension, wmtsExtension

    app = FastAPI()
    stac = MultiBaseTilerFactory(reader=STACReader, router_prefix="/stac",
                                 extensions=[stacRenderExtension(), wmtsExtension()],
                                 get_renders=lambda src: src.item.properties.get("renders", {}))  # as titiler.application
    app.include_router(stac.router, prefix="/stac")
    cog = TilerFactory(router_prefix="/cog")
    app.include_router(cog.router, prefix="/cog")
    return TestClient(app)


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """A render's params as titiler's query string takes them."""
    out = {}
    for key, value in params.items():
        if key == "title":
            continue
        if key == "colormap":
            value = json.dumps(value)
        elif key == "rescale":
            value = [",".join(str(v) for v in pair) for pair in value]
        out[key] = value
    return out


@pytest.mark.parametrize(("item_id", "expected"), [
    ("sdg-15-3-1-sample-zamyn-uud-report_1", {(155, 39, 121), (255, 255, 224), (0, 101, 0)}),
    ("lpd-sample-zamyn-uud-baseline", {(242, 60, 70), (255, 174, 76), (255, 255, 115), (217, 217, 217), (38, 115, 0)}),
    ("ndvi-annual-sample-zamyn-uud-2010", None),
])
def test_titiler_draws_the_published_renders(full_run: tuple[Path, Path], item_id: str, expected: set | None) -> None:
    from PIL import Image

    client = titiler_client()
    item = str(_item(_latest(full_run[1]), item_id))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listed = client.get("/stac/renders", params={"url": item})
        assert listed.status_code == 200, listed.text
        renders = listed.json()["renders"]
        assert renders["data"]["valid"], renders["data"]
        preview = client.get("/stac/preview.png", params={"url": item, "max_size": 256,
                                                          **_query(renders["data"]["params"])})
    assert preview.status_code == 200, preview.text
    rgba = np.asarray(Image.open(io.BytesIO(preview.content)).convert("RGBA")).reshape(-1, 4)
    opaque = {tuple(int(v) for v in p[:3]) for p in rgba if p[3] == 255}
    if expected is not None:
        assert opaque <= expected and len(opaque) >= 3, opaque
    else:  # NDVI: greens, light at desert NDVI, never grey
        assert all(g >= r and g >= b for r, g, b in opaque) and len(opaque) > 10
    _every_link_works(client, renders["data"]["links"], expected)


def _every_link_works(client: Any, links: list[dict[str, Any]], expected: set | None) -> None:
    """Every link titiler's ``/stac/renders`` gives answers 200, as a client follows it (issue 34 item 1: the class
    maps' TileJSON and WMTS links answered 500): the render itself, the TileJSON and a tile of it over the layer's
    middle (in the classes' colours), and the WMTS capabilities."""
    import math
    from urllib.parse import urlsplit

    from PIL import Image

    def get(href: str) -> Any:
        parts = urlsplit(href.replace("%7BtileMatrixSetId%7D", "WebMercatorQuad").replace("{tileMatrixSetId}",
                                                                                           "WebMercatorQuad"))
        answer = client.get(f"{parts.path}?{parts.query}")
        assert answer.status_code == 200, (href, answer.status_code, answer.text[:300])
        return answer

    titles = [link.get("title", link["rel"]) for link in links]
    assert any("tilejson" in t for t in titles) and any("WMTS" in t for t in titles), titles
    for link in links:
        answer = get(link["href"])
        if "tilejson" not in link.get("title", ""):
            continue
        tilejson = answer.json()
        west, south, east, north = tilejson["bounds"]
        z = 10
        x = int(((west + east) / 2 + 180) / 360 * 2**z)
        y = int((1 - math.asinh(math.tan(math.radians((south + north) / 2))) / math.pi) / 2 * 2**z)
        tile = get(tilejson["tiles"][0].replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)))
        pixels = np.asarray(Image.open(io.BytesIO(tile.content)).convert("RGBA")).reshape(-1, 4)
        drawn = {tuple(int(v) for v in p[:3]) for p in pixels if p[3] == 255}
        assert drawn and (expected is None or drawn <= expected), drawn


def _qgis_python() -> str:
    for python in QGIS_PYTHONS:
        if shutil.which(python) and subprocess.run([python, "-c", "import qgis.core"], capture_output=True,
                                                   env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).returncode == 0:
            return python
    pytest.skip("PyQGIS is not installed (Debian: apt-get install python3-qgis; tests/setup-system.sh does it as root)")


def test_qgis_opens_the_layers_styled(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    python = _qgis_python()
    version = _latest(full_run[1])
    layers = [_item(version, i).with_suffix(".tif") for i in
              ("lpd-sample-zamyn-uud-baseline", "sdg-15-3-1-sample-zamyn-uud-report_1", "ndvi-annual-sample-zamyn-uud-2010")]
    layers.append(layers[1].with_name(layers[1].stem + "_visual.tif"))
    png = tmp_path / "qgis.png"
    done = subprocess.run([python, str(PROBE), *map(str, layers), "--png", str(png)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                                            "XDG_RUNTIME_DIR": str(tmp_path / "xdg")})
    assert done.returncode == 0, done.stderr[-2000:]
    lpd, sdg, ndvi, picture = (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    assert picture["classes"] == [[1, "#9b2779", "-1: degraded"], [2, "#ffffe0", "0: stable"], [3, "#006500", "1: improved"]]
    assert lpd["renderer"] == "paletted" and lpd["crs"] == MODIS_SINUSOIDAL_NAME
    assert [c[:2] for c in lpd["classes"]] == [[1, "#f23c46"], [2, "#ffae4c"], [3, "#ffff73"], [4, "#d9d9d9"], [5, "#267300"]]
    assert lpd["classes"][0][2] == "1: declining" and lpd["nodata_colour"] == f"#{NODATA_COLOUR}"
    assert [c[0] for c in sdg["classes"]] == [-1, 0, 1] and sdg["renderer"] == "paletted"
    shown = json.loads((version / "ndvi-annual" / "collection.json").read_text())["ldn:display_range"]
    assert shown["percentiles"] == [2, 98] and 0 < shown["ndvi"][0] < shown["ndvi"][1] < 0.8  # the arid sample's own
    assert ndvi["renderer"] == "singlebandpseudocolor" and ndvi["range"] == pytest.approx(shown["ndvi"], abs=1e-5)
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(png).convert("RGB")).reshape(-1, 3)
    colours = {tuple(int(v) for v in p) for p in image}
    assert {(242, 60, 70), (38, 115, 0)} <= colours, "QGIS drew the LPD classes in their colours"


def test_every_class_map_has_a_paletted_picture_gdal_colours_on_open(full_run: tuple[Path, Path]) -> None:
    """The ``<key>_visual`` COG: uint8 with a GeoTIFF colour table and category names, the same pixels as the class
    map through ``visual_values`` (nodata 0), for the tools that read only the file (GDAL, titiler's /cog)."""
    version = _latest(full_run[1])
    seen = 0
    for item in _items(version):
        folder = _item(version, item["id"]).parent
        for key, asset in item["assets"].items():
            if "classification:classes" not in asset or "visual" in asset["roles"]:
                continue
            visual = item["assets"][f"{key}_visual"]
            assert visual["roles"] == ["visual"] and visual["raster:bands"][0]["data_type"] == "uint8"
            values = {c["value"]: v["value"] for c, v in zip(asset["classification:classes"],
                                                              visual["classification:classes"])}
            with rasterio.open(folder / asset["href"]) as data, rasterio.open(folder / visual["href"]) as pic:
                codes, shown = data.read(1), pic.read(1)
                assert pic.nodata == 0 and pic.crs == data.crs and pic.transform == data.transform
                expected = np.zeros_like(shown)
                for code, value in values.items():
                    expected[codes == code] = value
                np.testing.assert_array_equal(shown, expected)
                table = pic.colormap(1)
                for c, v in zip(asset["classification:classes"], visual["classification:classes"]):
                    assert "#%02x%02x%02x" % table[v["value"]][:3] == f"#{c['color_hint']}".lower()
            names = (folder / (visual["href"] + ".aux.xml")).read_text()
            assert all(f"{c['value']}: {c['description']}" in names for c in asset["classification:classes"])
            seen += 1
    assert seen == 47 + 25 + 3  # with each year's and each period's drought classes


def test_every_file_ldn_layers_get_writes_opens_styled_like_the_published_layer(
    full_run: tuple[Path, Path], tmp_path: Path,
) -> None:
    """A download keeps its styling: the QGIS style beside a class map or a picture, and a picture's colour table
    (in the file, a clip too) and category names (``.aux.xml``), equal to the published ones."""
    from typer.testing import CliRunner

    from flows.cli import app

    root = full_run[1]
    item_id = next(i["id"] for i in _items(_latest(root)) if i["properties"].get("ldn:indicator") == "lpd")
    folder = _item(_latest(root), item_id).parent
    period = json.loads((folder / f"{item_id}.json").read_text())["properties"]["ldn:period"]
    box = "111.7,43.5,112.2,43.9"
    cases = {"data.tif": ["--asset", "data"], "visual.tif": ["--asset", "data_visual"],
             "visual_clip.tif": ["--asset", "data_visual", "--bbox", box], "data_clip.tif": ["--bbox", box]}
    for name, args in cases.items():
        out = tmp_path / name
        result = CliRunner().invoke(app, ["layers", "get", "lpd", "--period", period, *args, "--catalog", str(root),
                                          "--out", str(out)])
        assert result.exit_code == 0, result.stderr
        visual = "visual" in name
        published = folder / (f"{item_id}_visual.tif" if visual else f"{item_id}.tif")
        assert out.with_suffix(".qml").read_bytes() == published.with_suffix(".qml").read_bytes(), name
        if visual:
            assert Path(f"{out}.aux.xml").read_bytes() == Path(f"{published}.aux.xml").read_bytes(), name
            with rasterio.open(out) as got, rasterio.open(published) as want:
                assert got.colormap(1) == want.colormap(1), name
        else:
            assert not Path(f"{out}.aux.xml").exists(), name
    assert not list(tmp_path.glob(".*")), "no partial or scratch file is left"


def test_titiler_cog_preview_of_a_picture_uses_its_colour_table(full_run: tuple[Path, Path]) -> None:
    from PIL import Image

    client = titiler_client()
    tif = _item(_latest(full_run[1]), "sdg-15-3-1-sample-zamyn-uud-report_1").with_name(
        "sdg-15-3-1-sample-zamyn-uud-report_1_visual.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preview = client.get("/cog/preview.png", params={"url": str(tif), "max_size": 256})  # no parameters at all
    assert preview.status_code == 200, preview.text
    rgba = np.asarray(Image.open(io.BytesIO(preview.content)).convert("RGBA")).reshape(-1, 4)
    opaque = {tuple(int(v) for v in p[:3]) for p in rgba if p[3] == 255}
    assert opaque == {(155, 39, 121), (255, 255, 224), (0, 101, 0)}, opaque
