"""Source configs: the production entries as published, the real STAC fixtures, and bad files."""
from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest
from pyproj import CRS

from tasks.config import PRODUCTION_SOURCES, SAMPLE_SOURCES, RunConfig, load_sources
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError
from tasks.io.sources.search import item_year
from tests.helpers import realdata


def test_production_modis_entry_is_as_published() -> None:
    src = load_sources(PRODUCTION_SOURCES).get("modis-13q1")
    assert src.stac.api == "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert src.stac.collection == "modis-13Q1-061"
    assert src.stac.signing == "planetary-computer"
    assert src.stac.properties == {"platform": "terra"}
    ndvi, qa = src.assets["ndvi"], src.assets["qa"]
    assert (ndvi.key, ndvi.dtype, ndvi.scale, ndvi.nodata, ndvi.valid_range) == (
        "250m_16_days_NDVI", "int16", 0.0001, -3000, (-2000, 10000))
    assert qa.key == "250m_16_days_pixel_reliability"
    assert src.qa.valid_values == [0, 1]
    assert CRS.from_user_input(src.crs) == CRS.from_wkt(MODIS_SINUSOIDAL_WKT)
    assert CRS.from_user_input(src.crs).to_epsg() is None
    assert src.resolution == MODIS_PIXEL_SIZE


def test_production_land_cover_and_soc_entries() -> None:
    cat = load_sources(PRODUCTION_SOURCES)
    lc = cat.get("esa-cci-lc")
    assert (lc.stac.collection, lc.assets["lccs_class"].dtype, lc.assets["lccs_class"].nodata, lc.years) == (
        "esa-cci-lc", "uint8", 0, (1992, 2020))
    soc = cat.get("soilgrids-soc")
    assert soc.stac is None and soc.file is not None  # SoilGrids is on no public STAC API


def test_sample_sources_mirror_production_asset_specs() -> None:
    prod, sample = load_sources(PRODUCTION_SOURCES), load_sources(SAMPLE_SOURCES)
    for name in ("modis-13q1", "esa-cci-lc"):
        assert sample.get(name).assets == prod.get(name).assets
        assert sample.get(name).stac.collection == prod.get(name).stac.collection


@pytest.mark.realdata
@pytest.mark.parametrize("item_id", ["MOD13Q1.A2022017.h12v11.061", "MYD13Q1.A2022009.h09v06.061"])
def test_modis_config_round_trips_real_stac_items(item_id: str) -> None:
    folder = realdata("stac_fixtures", "stactools-modis", "modis-061", "modis-13Q1-061", item_id)
    raw = json.loads((folder / f"{item_id}.json").read_text())
    item = pystac.Item.from_dict(raw)
    src = load_sources(PRODUCTION_SOURCES).get("modis-13q1")
    for spec in src.assets.values():
        asset = item.assets[spec.key]
        band = asset.extra_fields["raster:bands"][0]
        assert band["data_type"] == spec.dtype
        assert band.get("scale", 1.0) == spec.scale
    assert CRS.from_wkt(item.properties["proj:wkt2"]) == CRS.from_user_input(src.crs)
    assert raw["properties"]["proj:epsg"] is None  # no EPSG code: the WKT is the CRS
    assert item.properties["proj:transform"][0] == pytest.approx(src.resolution, rel=1e-12)
    assert item.datetime is None
    start = item.common_metadata.start_datetime
    end = item.common_metadata.end_datetime
    assert (end - start).days == 15  # a 16-day composite
    assert item_year(item) == 2022 == start.year
    assert item.properties["platform"] in ("terra", "aqua")
    # the platform filter keeps exactly the Terra items
    keep = all(item.properties.get(k) == v for k, v in src.stac.properties.items())
    assert keep == item_id.startswith("MOD")


@pytest.mark.realdata
def test_land_cover_config_round_trips_real_stac_item() -> None:
    folder = realdata("stac_fixtures", "stactools-esa-cci-lc", "esa-cci-lc")
    item_file = next(folder.glob("*/*.json"))
    item = pystac.Item.from_file(str(item_file))
    spec = load_sources(PRODUCTION_SOURCES).get("esa-cci-lc").assets["lccs_class"]
    band = item.assets[spec.key].extra_fields["raster:bands"][0]
    assert (band["data_type"], band["nodata"]) == (spec.dtype, spec.nodata)
    assert item_year(item) == 2018
    collection = json.loads((folder / "collection.json").read_text())
    assert collection["id"] == "esa-cci-lc"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


GOOD = PRODUCTION_SOURCES.read_text()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sources: [1, 2", r"not valid YAML at line \d+: fix the syntax"),
        ("- just\n- a list\n", r"must be a YAML mapping, not list"),
        (GOOD.replace("scale: 0.0001", "scale: tiny"), r"modis-13q1\.assets\.ndvi\.scale: Input should be a valid number"),
        (GOOD.replace("dtype: int16", "dtype: int12", 1), r"assets\.ndvi\.dtype: Input should be"),
        (GOOD.replace("valid_range: [-2000, 10000]", "valid_range: [10000, -2000]"), r"reversed; write it as \[min, max\]"),
        (GOOD.replace("    qa:\n      asset: qa", "    qa:\n      asset: quality"), r"qa\.asset 'quality' is not one of the assets"),
        (GOOD.replace("      collection: modis-13Q1-061", "      collection: modis-13Q1-061\n      colection: typo"),
         r"colection: unknown field \(a typo\?\)"),
        (GOOD.replace("api: https://planetarycomputer", "api: ftp://planetarycomputer", 1), r"is not an http\(s\) URL"),
        (GOOD.replace("    file: soilgrids_ocs_0-30cm_mean.tif\n", ""), r"give exactly one of `stac`"),
    ],
)
def test_invalid_sources_file_is_one_clear_line(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_sources(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message


def test_missing_sources_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist: pass an existing YAML file"):
        load_sources(tmp_path / "nope.yaml")


def test_unknown_source_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no source named 'modis'; the file defines \['esa-cci-lc', 'ipcc-climate-zones', 'modis-13q1'"):
        load_sources(PRODUCTION_SOURCES).get("modis")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bbox": (112, 43, 112, 44)}, "distinct longitudes"),
        ({"bbox": (111, 44, 112, 43)}, "south 44 > north 43: write west,south,east,north"),
        ({"bbox": (112, 43, 111, 44)}, "would cross the antimeridian and span 359 degrees: swap them"),
        ({"bbox": (111, 43, 112, 44), "years": (2010, 2005)}, "reversed"),
        ({"bbox": (111, 43, 112, 44), "min_valid_composites": 0}, "greater than or equal to 1"),
        ({}, "give `bbox` \\(lon/lat\\) or `native_bounds`"),
        ({"native_bounds": (5, 0, 1, 1)}, "are empty"),
    ],
)
def test_invalid_run_config(kwargs: dict, match: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=match):
        RunConfig(**kwargs)


def test_a_run_file_with_the_former_area_key_says_what_to_rename(tmp_path: Path) -> None:
    """`region` is what --region takes and `region_id` what --region-id takes; a run file with the former names
    (`area:` for the region, `region:` for the id) fails in one line naming both renames."""
    from flows.options import RefreshRun, build_run

    run_file = tmp_path / "run.yaml"
    run_file.write_text("area: MNG\nregion: mongolia\n")
    with pytest.raises(ConfigError, match="`area` is now `region`.*`region` is now `region_id`") as err:
        build_run(RefreshRun(sources_file=PRODUCTION_SOURCES, config=run_file))
    assert "\n" not in str(err.value)
    cfg = RunConfig(native_bounds=(0, 0, 1, 1), region="MNG", region_id="mongolia")
    assert (cfg.region, cfg.region_id) == ("MNG", "mongolia")


def test_a_bad_targets_file_in_the_run_file_fails_before_any_work(tmp_path: Path) -> None:
    """`ldn_targets:` in a run file names the user's own targets; a broken one is one line at the start."""
    from flows.options import RefreshRun, build_run

    targets = tmp_path / "targets.yaml"
    targets.write_text("schema_version: 1\ntargets:\n  - {id: x, country: MNG, title: t, source: s, "
                       "indicator: degraded_share, unit: ha, baseline: {year: 2015, value: 1}, "
                       "target: {year: 2030, value: 0}}\n")
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"ldn_targets: {targets}\n")
    with pytest.raises(ConfigError, match="degraded_share is measured in percent, not 'ha'") as err:
        build_run(RefreshRun(config=run_file))
    assert "\n" not in str(err.value) and str(targets) in str(err.value)
