"""Layer styles: every class map of the project has a colour per code, nodata apart from all of them; the QGIS
style and the STAC render object say the same as the quick-look; COG metadata is JSON and the CRS has a name."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio.crs

from tasks.constants import (
    LAND_COVER_COLOURS,
    LPD_CLASSES,
    MODIS_SINUSOIDAL_NAME,
    MODIS_SINUSOIDAL_WKT,
    NODATA,
    STATUS_COLOURS,
    THREE_CLASSES,
)
from tasks.io.outputs.cog import named_crs
from tasks.io.outputs.items import geotiff_tags
from tasks.io.outputs.styles import NDVI_RAMP, NODATA_COLOUR, layer_style, qml, render, visual_values

CLASS_MAPS = {
    "lpd": {k: v[0] for k, v in LPD_CLASSES.items()},
    "3-class": {k: v[0] for k, v in THREE_CLASSES.items()},
    "land cover": {k: f"class {k}" for k in LAND_COVER_COLOURS},
    "status": {k: ("stable" if k == 4 else f"status {k}") for k in STATUS_COLOURS},
}


def _distance(a: str, b: str) -> int:
    return sum(abs(int(a[i:i + 2], 16) - int(b[i:i + 2], 16)) for i in (0, 2, 4))


@pytest.mark.parametrize("name", sorted(CLASS_MAPS))
def test_every_class_has_its_colour_and_nodata_stands_apart(name: str) -> None:
    classes = CLASS_MAPS[name]
    style = layer_style(title=name, classes=classes, units=None, scale=None, nodata=NODATA, minimum=None, maximum=None)
    assert sorted(style.classes) == sorted(classes)
    colours = [c for _, c in style.classes.values()]
    assert len(set(colours)) == len(colours), "two classes share a colour"
    assert min(_distance(c, NODATA_COLOUR) for c in colours) > 60, "nodata looks like a class"
    assert min(_distance(c, "ffffff") for c in colours) < 60 or name != "3-class", "stable is near white ..."
    assert _distance(NODATA_COLOUR, "ffffff") > 300, "... so nodata must not be white"


@pytest.mark.parametrize("name", sorted(CLASS_MAPS))
def test_qml_and_render_agree_on_every_code(name: str) -> None:
    classes = CLASS_MAPS[name]
    style = layer_style(title=name, classes=classes, units=None, scale=None, nodata=NODATA, minimum=None, maximum=None)
    root = ET.fromstring(qml(style))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "paletted" and renderer.get("nodataColor") == f"#{NODATA_COLOUR}"
    entries = {int(e.get("value")): (e.get("color"), e.get("label")) for e in renderer.iter("paletteEntry")}
    doc = render(style, "data")
    assert doc["assets"] == ["data"] and doc["nodata"] == NODATA and "colormap" not in doc
    assert doc["rescale"] == [[0, 255]] * 3
    channels = doc["expression"].split(";")
    for code, (label, colour) in style.classes.items():
        assert entries[code] == (f"#{colour}", f"{code}: {label}")
        b1 = np.array([code])  # the expression, evaluated as numexpr would: each channel the class's component
        drawn = [int(eval(c, {"where": np.where, "b1": b1})[0]) for c in channels]  # noqa: S307 (our own string)
        assert drawn == [int(colour[i:i + 2], 16) for i in (0, 2, 4)], (code, drawn)
    assert [int(eval(c, {"where": np.where, "b1": np.array([12345])})[0]) for c in channels] == [0, 0, 0]  # noqa: S307
    json.dumps(doc)  # what goes into the item


def test_ndvi_has_a_fixed_green_ramp_in_ndvi_and_in_stored_units() -> None:
    style = layer_style(title="NDVI", classes=None, units="NDVI", scale=0.0001, nodata=NODATA, minimum=812, maximum=2316)
    assert style.stops == NDVI_RAMP, "the same ramp every year, whatever the year's range"
    root = ET.fromstring(qml(style))
    shader = root.find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert shader is not None and float(shader.get("minimumValue")) == 0.0 and float(shader.get("maximumValue")) == 0.8
    doc = render(style, "data")
    assert doc["rescale"] == [[0.0, 8000.0]] and doc["colormap_name"] == "greens", "titiler rescales stored values"


def test_slopes_diverge_around_zero_and_other_layers_use_their_range() -> None:
    slope = layer_style(title="slope", classes=None, units="NDVI per year", scale=None, nodata=None, minimum=-0.004,
                        maximum=0.01, key="sen_slope")
    assert slope.stops[0][0] == -slope.stops[-1][0] == -0.01 and slope.colormap_name == "rdylgn"
    other = layer_style(title="p", classes=None, units=None, scale=None, nodata=None, minimum=0.0, maximum=1.0, key="p")
    assert (other.stops[0][0], other.stops[-1][0]) == (0.0, 1.0) and "nodata" not in render(other, "p")
    flat = layer_style(title="flat", classes=None, units=None, scale=None, nodata=None, minimum=3.0, maximum=3.0)
    assert flat.stops[-1][0] > flat.stops[0][0]


def test_geotiff_tags_are_json_and_the_modis_crs_has_a_name() -> None:
    tags = geotiff_tags({"classes": {1: "declining"}, "qa_valid_values": (0, 1), "long_name": "LPD", "n": 6})
    assert json.loads(tags["classes"]) == {"1": "declining"} and json.loads(tags["qa_valid_values"]) == [0, 1]
    assert tags["long_name"] == "LPD" and tags["n"] == 6
    modis = rasterio.crs.CRS.from_wkt(MODIS_SINUSOIDAL_WKT)
    named = named_crs(modis)
    assert named == modis and named.to_wkt().startswith(f'PROJCS["{MODIS_SINUSOIDAL_NAME}"')
    other = rasterio.crs.CRS.from_epsg(4326)
    assert named_crs(other) == other and named_crs(None) is None


@pytest.mark.parametrize(("name", "expected"), [
    ("lpd", {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}),  # codes that fit a palette keep their value
    ("3-class", {-1: 1, 0: 2, 1: 3}),  # negative codes: 1, 2, 3 in code order; 0 stays nodata
    ("status", {k: k for k in range(1, 8)}),
])
def test_visual_values(name: str, expected: dict[int, int]) -> None:
    style = layer_style(title=name, classes=CLASS_MAPS[name], units=None, scale=None, nodata=NODATA, minimum=None,
                        maximum=None)
    assert visual_values(style) == expected


def test_an_ndvi_collection_spans_its_own_percentiles_pooled_over_every_year(tmp_path) -> None:  # noqa: ANN001
    """Issue 34 item 14: an arid region's NDVI (0.07-0.26) drawn on a fixed 0-0.8 ramp is almost white. The ramp
    spans p2-p98 of every year's values pooled (the same for every year), decided on the stored integers: the
    first value whose share of the pooled pixels reaches each percentile, as a sort of the values gives it."""
    from affine import Affine

    from tasks.io.outputs.styles import ndvi_display_range
    from tasks.io.samples.sample_data import write_cog

    rng = np.random.default_rng(7)
    paths, pooled = [], []
    for year in range(3):
        values = rng.integers(500 + 100 * year, 2700, size=(40, 50)).astype("int16")
        values[rng.random(values.shape) < 0.1] = NODATA  # nodata is left out
        path = tmp_path / f"ndvi-{year}.tif"
        write_cog(path, values, crs="EPSG:4326", transform=Affine(0.01, 0, 100, 0, -0.01, 45), nodata=NODATA)
        paths.append(str(path))
        pooled.append(values[values != NODATA])
    ordered = np.sort(np.concatenate(pooled))
    n = ordered.size
    want = tuple(int(ordered[-(-n * p // 100) - 1]) for p in (2, 98))  # the ceil(n p / 100)-th smallest value
    assert ndvi_display_range(paths) == want
    style = layer_style(title="NDVI", classes=None, units="NDVI", scale=0.0001, nodata=NODATA, minimum=None,
                        maximum=None, display=(want[0] * 0.0001, want[1] * 0.0001))
    assert [c for _, c in style.stops] == [c for _, c in NDVI_RAMP]  # the same greens, spread over the range
    assert style.stops[0][0] == pytest.approx(want[0] * 0.0001) and style.stops[-1][0] == pytest.approx(want[1] * 0.0001)
    assert render(style, "data")["rescale"] == [[pytest.approx(want[0]), pytest.approx(want[1])]]
    shader = ET.fromstring(qml(style)).find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert shader is not None and float(shader.get("minimumValue")) == pytest.approx(want[0] * 0.0001, abs=1e-6)
    empty = tmp_path / "empty.tif"
    write_cog(empty, np.full((4, 4), NODATA, "int16"), crs="EPSG:4326", transform=Affine(0.01, 0, 100, 0, -0.01, 45),
              nodata=NODATA)
    assert ndvi_display_range([str(empty)]) is None
