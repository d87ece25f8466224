"""The bundled sample region: deterministic, shaped like production, with its planted truth."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import CRS

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.io.samples.sample_data import (
    composite_doys,
    generate_sample,
    load_sample_region,
    sample_grid,
    sample_is_complete,
)
from tests.helpers import realdata, small_region


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_generation_is_deterministic(tmp_path: Path, sample_dir: Path) -> None:
    again = generate_sample(tmp_path / "again", region=small_region())
    assert _digest(again) == _digest(sample_dir)


def test_existing_complete_sample_is_kept_and_interrupted_one_is_not(tmp_path: Path) -> None:
    region = small_region().model_copy(update={"size_px": 16})
    root = generate_sample(tmp_path / "s", region=region)
    stamp = (root / "COMPLETE").stat().st_mtime_ns
    generate_sample(root, region=region)
    assert (root / "COMPLETE").stat().st_mtime_ns == stamp
    assert not sample_is_complete(root, small_region())  # another definition is not this sample
    (root / "COMPLETE").unlink()  # as if a run had died half-way
    assert not sample_is_complete(root, region)
    assert not list(tmp_path.glob(".s.staging-*"))


def test_default_region_is_60_km_around_zamyn_uud_on_h26v04() -> None:
    region = load_sample_region()
    grid = sample_grid(region)
    assert (grid.tile_h, grid.tile_v) == (26, 4)
    assert grid.size * MODIS_PIXEL_SIZE == pytest.approx(60_000, rel=1e-3)
    w, s, e, n = grid.bbox
    assert w < 111.90 < e and s < 43.72 < n
    assert region.ndvi_years == (2001, 2024) and region.land_cover_years == (2000, 2024)


def test_composite_calendar() -> None:
    assert composite_doys(2001)[:3] == [1, 17, 33] and len(composite_doys(2001)) == 23
    assert composite_doys(2004, platform="aqua")[:2] == [9, 25] and len(composite_doys(2004, platform="aqua")) == 23


def _items(sample_dir: Path, collection: str) -> list[dict]:
    return [json.loads(line) for line in (sample_dir / collection / "items.ndjson").read_text().splitlines()]


def test_modis_items_have_the_production_shape(sample_dir: Path) -> None:
    items = _items(sample_dir, "modis-13Q1-061")
    terra = [i for i in items if i["properties"]["platform"] == "terra"]
    aqua = [i for i in items if i["properties"]["platform"] == "aqua"]
    assert len(terra) == 6 * 23 and len(aqua) == 23
    item = terra[0]
    assert item["id"] == "MOD13Q1.A2001001.h26v04.061"
    props = item["properties"]
    assert props["datetime"] is None and props["proj:epsg"] is None
    assert props["start_datetime"] == "2001-01-01T00:00:00Z" and props["end_datetime"] == "2001-01-16T23:59:59Z"
    assert CRS.from_wkt(props["proj:wkt2"]) == CRS.from_wkt(MODIS_SINUSOIDAL_WKT)
    assert props["proj:shape"] == [64, 64] and props["proj:transform"][0] == MODIS_PIXEL_SIZE
    ndvi = item["assets"]["250m_16_days_NDVI"]
    assert ndvi["raster:bands"] == [{"data_type": "int16", "spatial_resolution": 250, "unit": "NDVI", "scale": 0.0001}]
    assert item["assets"]["250m_16_days_pixel_reliability"]["raster:bands"][0]["data_type"] == "int8"


@pytest.mark.realdata
def test_modis_items_match_the_real_item_structure(sample_dir: Path) -> None:
    folder = realdata("stac_fixtures", "stactools-modis", "modis-061", "modis-13Q1-061")
    real = json.loads(next(folder.glob("MOD13Q1*/*.json")).read_text())
    ours = _items(sample_dir, "modis-13Q1-061")[0]
    assert set(ours) == set(real)
    assert set(ours["properties"]) == set(real["properties"])
    file_ext = "https://stac-extensions.github.io/file/v2.1.0/schema.json"  # the sample publishes checksums; real items do not
    assert ours["stac_extensions"] == [*real["stac_extensions"], file_ext]
    for key in ("250m_16_days_NDVI", "250m_16_days_pixel_reliability"):
        assert ours["assets"][key]["raster:bands"] == real["assets"][key]["raster:bands"]
        assert set(ours["assets"][key]) <= set(real["assets"][key]) | {"file:checksum", "file:size"}
    col_real = json.loads((folder / "collection.json").read_text())
    col_ours = json.loads((sample_dir / "modis-13Q1-061" / "collection.json").read_text())
    assert col_ours["id"] == col_real["id"]
    for key in ("250m_16_days_NDVI", "250m_16_days_pixel_reliability"):
        assert col_ours["item_assets"][key]["raster:bands"] == col_real["item_assets"][key]["raster:bands"]


@pytest.mark.realdata
def test_land_cover_items_match_the_real_item_structure(sample_dir: Path) -> None:
    folder = realdata("stac_fixtures", "stactools-esa-cci-lc", "esa-cci-lc")
    real = json.loads(next(folder.glob("*/*.json")).read_text())
    ours = _items(sample_dir, "esa-cci-lc")[-1]
    assert set(real["properties"]) <= set(ours["properties"])
    assert ours["assets"]["lccs_class"]["raster:bands"] == real["assets"]["lccs_class"]["raster:bands"]
    real_codes = {c["value"] for c in real["assets"]["lccs_class"]["classification:classes"]}
    our_codes = {c["value"] for c in ours["assets"]["lccs_class"]["classification:classes"]}
    assert our_codes == real_codes


def test_qa_cases_and_planted_land_cover_are_present(sample_dir: Path) -> None:
    items = {i["id"]: i for i in _items(sample_dir, "modis-13Q1-061")}
    seen = set()
    for item in items.values():
        with rasterio.open(sample_dir / "modis-13Q1-061" / item["assets"]["250m_16_days_pixel_reliability"]["href"]) as src:
            seen |= set(np.unique(src.read(1)).tolist())
    assert seen == {-1, 0, 1, 2, 3}
    fill = items["MOD13Q1.A2003161.h26v04.061"]["assets"]["250m_16_days_NDVI"]["href"]
    with rasterio.open(sample_dir / "modis-13Q1-061" / fill) as src:
        assert (src.read(1)[:8] == -3000).all() and src.nodata == -3000
    lc = {i["properties"]["start_datetime"][:4]: i for i in _items(sample_dir, "esa-cci-lc")}

    def read(year: str) -> np.ndarray:
        with rasterio.open(sample_dir / "esa-cci-lc" / lc[year]["assets"]["lccs_class"]["href"]) as src:
            return src.read(1)

    before, after = read("2001"), read("2002")
    changed = before != after
    assert changed.any() and set(before[changed]) == {130} and set(after[changed]) == {61}
    truth = json.loads((sample_dir / "truth.json").read_text())
    assert {p["kind"] for p in truth["patches"]} == {"decline", "greening", "stable"}
    assert all(p["pixels"] > 0 for p in truth["patches"])
