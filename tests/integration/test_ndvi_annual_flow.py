"""End to end: the real flow searched the local STAC API, read COGs over HTTP and published layers."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import rioxarray
from pyproj import CRS
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from rio_cogeo.cogeo import cog_validate

from flows.ldn_yearly import ldn_yearly
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tests.integration.conftest import sample_config

pytestmark = pytest.mark.integration


def _items(root: Path, indicator: str | None = "ndvi-annual") -> list[pystac.Item]:
    """The published items of ``indicator`` (the annual mean by default; None: every item), by id."""
    items = pystac.Catalog.from_file(str(root / "catalog.json")).get_items(recursive=True)
    return sorted((i for i in items if indicator is None or i.properties["ldn:indicator"] == indicator),
                  key=lambda i: i.id)


def test_one_layer_per_year_in_a_listed_version(published: Path) -> None:
    root = json.loads((published / "catalog.json").read_text())
    versions = [link for link in root["links"] if link["rel"] == "child"]
    latest = [link for link in root["links"] if link["rel"] == "latest-version"]
    assert len(versions) == 1 and latest[0]["href"] == versions[0]["href"]
    items = _items(published, None)
    assert [i.id for i in items] == sorted([f"ndvi-annual-sample-zamyn-uud-{y}" for y in (2001, 2002, 2003)]
                                           + [f"ndvi-annual-max-sample-zamyn-uud-{y}" for y in (2001, 2002, 2003)])
    assert not any((published / ".staging").iterdir())


def test_layers_are_valid_cogs(published: Path) -> None:
    for item in _items(published, None):
        valid, errors, _ = cog_validate(item.assets["data"].get_absolute_href())
        assert valid, errors


def test_items_validate_and_extension_fields_describe_the_files(published: Path) -> None:
    validator = JsonSchemaSTACValidator()
    for item in _items(published, None):
        d = item.to_dict(include_self_link=False, transform_hrefs=False)
        # core STAC 1.1 schema from pystac's bundled copy (no network in CI)
        validator.validate_core(d, pystac.STACObjectType.ITEM, "1.1.0", item.id)
        assert d["stac_version"] == "1.1.0"
        asset = item.assets["data"]
        path = Path(asset.get_absolute_href())
        data = path.read_bytes()
        assert asset.extra_fields["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
        assert asset.extra_fields["file:size"] == len(data)
        with rasterio.open(path) as src:
            assert d["properties"]["proj:shape"] == list(src.shape)
            assert d["properties"]["proj:transform"] == list(src.transform)[:6]
            assert CRS.from_wkt(d["properties"]["proj:wkt2"]) == CRS.from_wkt(MODIS_SINUSOIDAL_WKT)
            band = asset.extra_fields["raster:bands"][0]
            assert (band["nodata"], band["data_type"], band["scale"], band["unit"]) == (src.nodata, "int16", 0.0001, "NDVI")
        props = d["properties"]
        kind = "mean" if props["ldn:indicator"] == "ndvi-annual" else "maximum"
        assert props["ldn:method"].startswith(f"{kind} of valid 16-day composites")
        assert props["ldn:parameters"] == {"min_valid_composites": 6, "qa_valid_values": [0, 1]}
        year = props["ldn:year"]
        assert props["start_datetime"] == f"{year}-01-01T00:00:00Z" and props["end_datetime"] == f"{year}-12-31T23:59:59Z"
        assert len(props["ldn:source_items"]) == 23 and all(s.startswith("MOD13Q1.A") for s in props["ldn:source_items"])
    for collection in pystac.Catalog.from_file(str(published / "catalog.json")).get_all_collections():
        validator.validate_core(collection.to_dict(include_self_link=False), pystac.STACObjectType.COLLECTION,
                                "1.1.0", collection.id)


def _expected_annual(sample_dir: Path, year: int, min_valid: int = 6, *, maximum: bool = False) -> np.ndarray:
    """The annual integral (or ``maximum``) computed directly with numpy from the generated Terra scenes."""
    coll = sample_dir / "modis-13Q1-061"
    items = [json.loads(line) for line in (coll / "items.ndjson").read_text().splitlines()]
    items = [i for i in items if i["properties"]["platform"] == "terra" and i["properties"]["start_datetime"].startswith(str(year))]
    total = count = top = None
    for item in items:
        with rasterio.open(coll / item["assets"]["250m_16_days_NDVI"]["href"]) as src:
            nd = src.read(1).astype("float64")
        with rasterio.open(coll / item["assets"]["250m_16_days_pixel_reliability"]["href"]) as src:
            qa = src.read(1)
        ok = np.isin(qa, [0, 1]) & (nd != -3000) & (nd >= -2000) & (nd <= 10000)
        total = np.where(ok, nd, 0) if total is None else total + np.where(ok, nd, 0)
        count = ok.astype(int) if count is None else count + ok
        valid = np.where(ok, nd, -np.inf)
        top = valid if top is None else np.maximum(top, valid)
    if maximum:
        return np.where(count >= min_valid, top, NODATA).astype("int16")
    mean = total / np.maximum(count, 1)
    return np.where(count >= min_valid, np.round(mean), NODATA).astype("int16")


def test_layers_reopen_with_rioxarray_with_grid_nodata_and_exact_values(published: Path, sample_dir: Path) -> None:
    region = json.loads((sample_dir / "region.json").read_text())
    left, bottom, right, top = region["native_bounds"]
    for item in _items(published, None):
        da = rioxarray.open_rasterio(item.assets["data"].get_absolute_href()).squeeze("band", drop=True)
        assert CRS.from_user_input(da.rio.crs) == CRS.from_wkt(MODIS_SINUSOIDAL_WKT)
        t = da.rio.transform()
        assert (t.a, t.e, t.c, t.f) == (MODIS_PIXEL_SIZE, -MODIS_PIXEL_SIZE, left, top)
        assert da.rio.nodata == NODATA
        year = item.properties["ldn:year"]
        maximum = item.properties["ldn:indicator"] == "ndvi-annual-max"
        np.testing.assert_array_equal(da.values, _expected_annual(sample_dir, year, maximum=maximum))


def test_persistently_cloudy_pixels_are_nodata_where_too_few_composites(published: Path, sample_dir: Path) -> None:
    (item,) = [i for i in _items(published) if i.properties["ldn:year"] == 2002]  # the cloudy year of the small sample
    with rasterio.open(item.assets["data"].get_absolute_href()) as src:
        values = src.read(1)
    expected = _expected_annual(sample_dir, 2002)
    assert (expected == NODATA).sum() > 0
    np.testing.assert_array_equal(values == NODATA, expected == NODATA)


def test_rerunning_the_same_inputs_is_idempotent(published_copy: Path, sample_dir: Path, local_stac,
                                                 prefect_harness: None) -> None:
    """A second run publishes a new version whose items are byte-identical: same ids, same checksums."""
    time.sleep(1.1)  # versions are named by the second
    ldn_yearly(sample_config(sample_dir, local_stac.api_url, published_copy, precipitation_source="none"))  # as before
    first, second = sorted((published_copy / "versions").iterdir())
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file() and p.name != "catalog.json")
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file() and p.name != "catalog.json")
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
