"""Values an intact file cannot hold stop the run, with or without ``file:checksum``: the checks of
``tasks.io.sources.integrity.implausible`` by hand, and the general loader (odc-stac) reading a damaged scene."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from tasks.config import SAMPLE_SOURCES, AssetSpec, load_sources
from tasks.errors import SceneReadError
from tasks.geo.grid import lonlat_bounds
from tasks.io.sources.integrity import check_plausible, implausible
from tasks.io.sources.load import load_cube

NDVI = AssetSpec(key="ndvi", dtype="int16", nodata=-3000, valid_range=(-2000, 10000), out_of_range="corrupt")
QA = AssetSpec(key="qa", dtype="int8", nodata=-1, codes=[-1, 0, 1, 2, 3])


def test_what_an_intact_mod13q1_file_can_hold() -> None:
    assert implausible(np.array([-3000, -2000, 0, 10000], dtype="int16"), NDVI) is None  # fill and both ends
    assert implausible(np.array([-3000, -2001, 10001, 5], dtype="int16"), NDVI) == (
        2, "values outside -2000..10000 and not the fill -3000")
    assert implausible(np.array([-1, 0, 1, 2, 3], dtype="int8"), QA) is None
    assert implausible(np.array([[4, -1], [-128, 0]], dtype="int8"), QA) == (2, "codes other than [-1, 0, 1, 2, 3]")
    lenient = NDVI.model_copy(update={"out_of_range": "nodata"})  # the default: outside the range is missing data
    assert implausible(np.array([-32768, 32767], dtype="int16"), lenient) is None


def test_corrupt_needs_a_range_and_codes_a_value() -> None:
    with pytest.raises(ValueError, match="out_of_range: corrupt needs a valid_range"):
        AssetSpec(key="x", dtype="int16", out_of_range="corrupt")
    with pytest.raises(ValueError):
        AssetSpec(key="x", dtype="int8", codes=[])


def test_the_message_names_the_scene_the_asset_and_the_fix() -> None:
    with pytest.raises(SceneReadError) as err:
        check_plausible(np.array([7], dtype="int8"), QA, scene="MOD13Q1.A2002065.h26v04.061",
                        href="https://host/a.tif?sig=secret")
    text = str(err.value)
    assert text.startswith("scene MOD13Q1.A2002065.h26v04.061: 1 of 1 pixels of qa read from https://host/a.tif hold")
    assert "secret" not in text and "Download it again" in text and "\n" not in text


def test_the_general_loader_stops_at_a_damaged_scene(tmp_path: Path) -> None:
    source = load_sources(SAMPLE_SOURCES).get("modis-13q1")
    crs, res = source.crs, source.resolution
    assert crs is not None and res is not None
    transform = from_origin(0.0, 8 * res, res, res)
    w, s, e, n = lonlat_bounds((0.0, 0.0, 8 * res, 8 * res), crs)
    footprint = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    items = []
    for k, (ndvi_value, qa_value) in enumerate([(5000, 0), (5000, 9)]):  # the second scene's QA holds code 9
        item = pystac.Item(f"scene-{k}", footprint, [w, s, e, n], datetime(2002, 1, 1 + 16 * k, tzinfo=timezone.utc), {})
        for name, value, dtype in (("ndvi", ndvi_value, "int16"), ("qa", qa_value, "int8")):
            spec = source.assets[name]
            path = tmp_path / f"{item.id}_{name}.tif"
            with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype=dtype, crs=crs,
                               transform=transform, nodata=spec.nodata) as dst:
                dst.write(np.full((1, 8, 8), value, dtype=dtype))
            asset = pystac.Asset(str(path), media_type=pystac.MediaType.GEOTIFF)
            asset.extra_fields.update({"proj:shape": [8, 8], "proj:transform": list(transform)[:6], "proj:wkt2": crs})
            item.add_asset(spec.key, asset)
        items.append(item)
    cube = load_cube(items, source, GeoBox((8, 8), transform, crs), chunk=8, verify=False)
    assert int(cube["ndvi"].max()) == 5000  # the NDVI of both scenes is plausible
    with pytest.raises(SceneReadError, match=r"^scene scene-1: 64 of 64 pixels of 250m_16_days_pixel_reliability"):
        cube["qa"].compute()
