"""Productivity options end to end on the small sample: periods as data, methods, land units,
comparison region, and a precomputed LPD layer in place of the computed one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from affine import Affine
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tasks.constants import NODATA
from tests.helpers import SHORT_PERIODS

pytestmark = pytest.mark.integration



def _run(tmp_path: Path, sample_dir: Path, settings: dict, *extra: str) -> tuple[object, Path]:
    periods = tmp_path / "periods.yaml"
    periods.write_text(yaml.safe_dump(SHORT_PERIODS))
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump({"periods_file": str(periods), **settings}))
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2006",
                                      "--config", str(run_file), "--out", str(out), *extra])
    return result, out


def _items(root: Path) -> dict[str, pystac.Item]:
    return {i.id: i for i in pystac.Catalog.from_file(str(root / "catalog.json")).get_items(recursive=True)}


def test_a_new_period_from_data_with_gpg_v2_land_units_and_comparison_box(
    tmp_path: Path, sample_dir: Path, prefect_harness: None,
) -> None:
    box = [111.85, 43.65, 111.95, 43.75]
    settings = {"productivity": {"min_years": 4, "min_unit_pixels": 10, "land_unit_source": "soil-taxonomy",
                                 "comparison_bbox": box}}
    result, out = _run(tmp_path, sample_dir, settings, "--trajectory-method", "gpg_v2", "--state-method", "gpg_v2")
    assert result.exit_code == 0, (result.exception, result.stderr[-500:])
    items = _items(out)
    assert {f"{k}-sample-zamyn-uud-short" for k in ("trajectory", "state", "performance", "lpd")} <= set(items)
    traj = items["trajectory-sample-zamyn-uud-short"]
    assert traj.properties["ldn:method"] == "trajectory gpg_v2" and traj.properties["ldn:window"] == [2001, 2006]
    with rasterio.open(traj.assets["classes"].get_absolute_href()) as src:
        assert set(np.unique(src.read(1))) <= {-2, -1, 0, 1, 2, NODATA}
    assert items["state-sample-zamyn-uud-short"].properties["ldn:method"] == "state gpg_v2"
    perf = items["performance-sample-zamyn-uud-short"].properties
    assert perf["ldn:parameters"]["land_units"].endswith("x soil class")
    assert perf["ldn:parameters"]["comparison_region"] == f"lon/lat box {box}"
    assert any(s == "soil-taxonomy-sample" for s in perf["ldn:source_items"])


def test_precomputed_lpd_replaces_the_computed_one(tmp_path: Path, sample_dir: Path, prefect_harness: None) -> None:
    # a custom LPD product on a lon/lat grid over the sample: left half 10, right half 30, a nodata strip 0
    path = tmp_path / "custom_lpd.tif"
    data = np.full((200, 400), 10, "uint8")
    data[:, 200:] = 30
    data[:20] = 0
    with rasterio.open(path, "w", driver="GTiff", width=400, height=200, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(0.005, 0, 111.0, 0, -0.005, 44.2), nodata=0) as dst:
        dst.write(data, 1)
    settings = {"productivity": {"min_years": 4, "precomputed_lpd": {
        "name": "custom LPD v1", "path": str(path), "legend": {10: 1, 30: 5}}}}
    result, out = _run(tmp_path, sample_dir, settings)
    assert result.exit_code == 0, (result.exception, result.stderr[-500:])
    item = _items(out)["lpd-sample-zamyn-uud-short"]
    assert item.properties["ldn:method"] == "precomputed: custom LPD v1"
    with rasterio.open(item.assets["data"].get_absolute_href()) as src:
        values = set(np.unique(src.read(1)).tolist())
    assert values <= {1, 5, NODATA} and {1, 5} <= values
    with rasterio.open(item.assets["sdg"].get_absolute_href()) as src:
        assert set(np.unique(src.read(1)).tolist()) <= {-1, 1, NODATA}


@pytest.mark.parametrize(("settings", "extra", "match"), [
    ({"productivity": {"precomputed_lpd": {"name": "x", "path": "nope.tif", "legend": {1: 9}}}}, [],
     r"precomputed_lpd.legend: legend maps to \[9\]; LPD classes are 1..5"),
    ({"productivity": {"min_years": 4, "precomputed_lpd": {"name": "x", "path": "/nonexistent/lpd.tif", "legend": {1: 1}}}}, [],
     r"cannot read raster /nonexistent/lpd.tif"),
    ({}, ["--periods", "report_9"], r"unknown period\(s\) \['report_9'\]"),
    ({}, ["--trajectory-method", "sen"], r"productivity.trajectory_method: Input should be 'trends_earth' or 'gpg_v2'"),
    ({"productivity": {"land_unit_source": "esa-cci-lc"}}, [], r"has role 'land_cover', not 'land_units'"),
    ({"ldn_balance_land_types": "esa-cci-lc"}, [], r"source 'esa-cci-lc' .* has role 'land_cover', not 'land_units'"),
    ({"ldn_balance_land_types": "soil-taxonomyy"}, [], r"soil-taxonomyy"),
])
def test_bad_productivity_settings(tmp_path: Path, sample_dir: Path, prefect_harness: None,
                                   settings: dict, extra: list[str], match: str) -> None:
    import re

    result, out = _run(tmp_path, sample_dir, settings, *extra)
    assert result.exit_code == EXIT_USER_ERROR, (result.stdout, result.stderr, result.exception)
    line = result.stderr.strip().splitlines()
    assert len(line) == 1 and re.search(match, line[0]), result.stderr
    assert not (out / "versions").exists()


def test_recode_polygons_change_the_sdg_layer_and_its_metadata(tmp_path: Path, sample_dir: Path,
                                                                prefect_harness: None) -> None:
    import json as _json

    meta = _json.loads((sample_dir / "region.json").read_text())
    w, s, e, n = meta["bbox"]
    polygons = tmp_path / "recodes.geojson"
    polygons.write_text(_json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"reason": "whole window verified stable in the field", "periods": "short",
                       "degraded_to": 0, "improved_to": 0},
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]}))
    result, out = _run(tmp_path, sample_dir, {"productivity": {"min_years": 4}, "recode_polygons": str(polygons)})
    assert result.exit_code == 0, (result.exception, result.stderr[-500:])
    item = _items(out)["sdg-15-3-1-sample-zamyn-uud-short"]
    recodes = item.properties["ldn:parameters"]["recodes"]
    assert recodes[0]["reason"] == "whole window verified stable in the field" and recodes[0]["pixels_inside"] > 0
    with rasterio.open(item.assets["data"].get_absolute_href()) as src:
        assert set(np.unique(src.read(1)).tolist()) <= {0, NODATA}


def test_soc_layer_not_covering_the_area_is_a_clear_error(tmp_path: Path, sample_dir: Path, prefect_harness: None) -> None:
    from tasks.config import SAMPLE_SOURCES

    far = tmp_path / "soc_africa.tif"  # a real-looking SOC raster over Africa, nowhere near the sample
    with rasterio.open(far, "w", driver="GTiff", width=10, height=10, count=1, dtype="int16", crs="EPSG:4326",
                       transform=Affine(0.1, 0, 20.0, 0, -0.1, 5.0), nodata=-32768) as dst:
        dst.write(np.full((10, 10), 50, "int16"), 1)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SAMPLE_SOURCES.read_text().replace(
        "    stac: {api: sample, collection: soilgrids-soc-0-30cm}", f"    file: {far}"))
    result, out = _run(tmp_path, sample_dir, {"productivity": {"min_years": 4}, "sources_file": str(sources)})
    assert result.exit_code == EXIT_USER_ERROR, (result.exception, result.stderr)
    assert re.search(r"soc layer .*soc_africa.tif has no data over the run's grid: it does not cover the area",
                     result.stderr), result.stderr
    assert not (out / "versions").exists()


def test_land_units_not_covering_the_area_is_a_clear_error(tmp_path: Path, sample_dir: Path,
                                                           prefect_harness: None) -> None:
    """Each tile may lie where the land-unit layer has no data; the period fails, in one line, only when no tile
    has any (the check runs on the merged histograms)."""
    from tasks.config import SAMPLE_SOURCES

    far = tmp_path / "soil_africa.tif"
    with rasterio.open(far, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(0.1, 0, 20.0, 0, -0.1, 5.0), nodata=0) as dst:
        dst.write(np.full((10, 10), 2, "uint8"), 1)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SAMPLE_SOURCES.read_text().replace(
        "    stac: {api: sample, collection: soil-taxonomy}", f"    file: {far}"))
    result, out = _run(tmp_path, sample_dir, {"productivity": {"min_years": 4, "land_unit_source": "soil-taxonomy"},
                                              "sources_file": str(sources)}, "--tile-size", "200")
    assert result.exit_code == EXIT_USER_ERROR, (result.exception, result.stderr)
    line = result.stderr.strip().splitlines()
    assert len(line) == 1 and re.search(r"land_units source 'soil-taxonomy' has no data over the run's area", line[0])
    assert not (out / "versions").exists()


def test_land_cover_window_ends_at_the_last_available_year(tmp_path: Path, sample_dir: Path,
                                                           prefect_harness: None) -> None:
    periods = {"periods": {"short": {**SHORT_PERIODS["periods"]["short"], "land_cover": [2001, 2009]}}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(periods))
    result, out = _run(tmp_path, sample_dir, {"productivity": {"min_years": 4}, "periods_file": str(path)})
    assert result.exit_code == 0, (result.exception, result.stderr[-500:])
    item = _items(out)["land-cover-sample-zamyn-uud-short"]
    assert item.properties["ldn:window"] == [2001, 2006]  # the small sample's land cover ends in 2006
    assert item.properties["ldn:parameters"]["years"] == [2001, 2006]


def test_a_failed_tile_keeps_the_tiles_done_and_a_rerun_resumes_from_them(
    tmp_path: Path, sample_dir: Path, prefect_harness: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """Productivity runs per tile x period: when the southern tiles fail (fault injection: their part of a
    precomputed LPD file is truncated away), the northern tiles' results stay cached, and the rerun
    computes only the tiles that failed, then joins the period and drops the tiles' entries."""
    from rasterio.shutil import copy as copy_raster

    from flows.ldn_yearly import ldn_yearly
    from tasks.errors import SceneReadError
    from tasks.io.runtime.local_stac import serve_collections
    from tests.integration.conftest import sample_config

    meta = _json_region(sample_dir)
    w, s, e, n = meta["bbox"]
    data_path, vrt = tmp_path / "lpd.tif", tmp_path / "lpd.vrt"  # the VRT's text (the run's key) never changes
    with rasterio.open(data_path, "w", driver="GTiff", width=128, height=128, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=Affine((e - w) / 128, 0, w, 0, -(n - s) / 128, n), nodata=0, tiled=True,
                       blockxsize=16, blockysize=16) as dst:
        dst.write(np.full((128, 128), 10, "uint8"), 1)
    good = data_path.read_bytes()
    with rasterio.open(data_path) as src:
        copy_raster(src, vrt, driver="VRT")
    periods = tmp_path / "periods.yaml"
    periods.write_text(yaml.safe_dump(SHORT_PERIODS))
    out = tmp_path / "catalog"
    with serve_collections(sample_dir) as stac:
        cfg = sample_config(sample_dir, stac.api_url, out, years=(2001, 2006), tile_size=200, periods_file=periods,
                            productivity={"min_years": 4, "precomputed_lpd": {
                                "name": "LPD", "path": str(vrt), "legend": {10: 1}}})
        with open(data_path, "r+b") as f:  # the last rows of blocks (the south) are gone
            f.truncate(len(good) - 16 * 16 * 8 * 3)
        with pytest.raises(SceneReadError, match=r"^productivity tile h\w+ of period short: an input could not be "
                           r"read \(.*lpd.tif.*\); check or repair .* the tiles already done are kept$") as err:
            ldn_yearly(cfg)
        assert "\n" not in str(err.value)
        cache = out / ".cache"
        assert len(list((cache / "productivity-trend").iterdir())) == 4  # pass 1 does not read the LPD
        kept = len(list((cache / "productivity-tile").iterdir()))
        assert 0 < kept < 4
        data_path.write_bytes(good)  # repaired
        caplog.clear()
        with caplog.at_level("INFO"):
            ldn_yearly(cfg)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "trend tiles: 4 of 4 tile-periods linked from the cache" in text
    assert f"4 tile-periods: {kept} linked from the cache, {4 - kept} computed" in text
    assert not [p for p in (cache / "productivity-tile").iterdir() if not p.name.startswith(".")]
    assert not [p for p in (cache / "productivity-trend").iterdir() if not p.name.startswith(".")]
    item = _items(out)["lpd-sample-zamyn-uud-short"]
    with rasterio.open(item.assets["data"].get_absolute_href()) as src:
        assert set(np.unique(src.read(1)).tolist()) == {1}  # every tile, north and south, joined


def _json_region(sample_dir: Path) -> dict:
    import json

    return json.loads((sample_dir / "region.json").read_text())


TWO = {"periods": {"baseline": {"productivity": [2001, 2004], "state_baseline": [2001, 2003],
                                "state_target": [2004, 2004], "land_cover": [2001, 2004]},
                   "recent": {"productivity": [2003, 2006], "state_baseline": [2003, 2005],
                              "state_target": [2006, 2006], "land_cover": [2003, 2006]}}}


def _read(item: pystac.Item, key: str = "data") -> np.ndarray:
    with rasterio.open(item.assets[key].get_absolute_href()) as src:
        return src.read(1)


def test_the_ldn_balance_crosses_land_units_or_takes_the_users_land_types(
    tmp_path: Path, sample_dir: Path, prefect_harness: None,
) -> None:
    """UNCCD method notes section 6: with performance land units the land type is unit x 10 + the baseline's
    initial land cover; with `ldn_balance_land_types` the user's codes; a rerun with only that changed recomputes
    the balance alone (the other layers are linked from the cache)."""
    periods = tmp_path / "periods.yaml"
    periods.write_text(yaml.safe_dump(TWO))
    out = tmp_path / "catalog"

    def run(**extra: object) -> dict[str, pystac.Item]:
        run_file = tmp_path / "run.yaml"
        run_file.write_text(yaml.safe_dump({"periods_file": str(periods), "productivity": {
            "min_years": 4, "min_unit_pixels": 10, "land_unit_source": "soil-taxonomy"}, **extra}))
        result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2006",
                                          "--config", str(run_file), "--out", str(out)])
        assert result.exit_code == 0, (result.exception, result.stderr[-500:])
        latest = out / "versions" / json.loads((out / "catalog.json").read_text())["ldn:latest"]
        return _items(latest)  # the root lists every version: read the newest

    items = run()
    balance = items["ldn-balance-sample-zamyn-uud-recent"]
    types, initial = _read(balance, "land_type"), _read(items["land-cover-sample-zamyn-uud-baseline"], "initial")
    typed = types != NODATA
    assert typed.any() and (types[typed] // 10 >= 1).all() and (types[typed] // 10 <= 3).all()  # soil classes 1-3
    np.testing.assert_array_equal(types[typed] % 10, initial[typed])
    classes = {c["value"]: c["description"] for c in balance.assets["land_type"].extra_fields["classification:classes"]}
    assert set(np.unique(types[typed]).tolist()) <= set(classes)
    assert all(re.fullmatch(r"[a-z -]+ on unit [1-3]", name) for name in classes.values()), classes
    assert "x land units" in balance.properties["ldn:parameters"]["land_types"]

    items = run(ldn_balance_land_types="soil-taxonomy")
    balance = items["ldn-balance-sample-zamyn-uud-recent"]
    mine = _read(balance, "land_type")
    assert set(np.unique(mine[mine != NODATA]).tolist()) <= {1, 2, 3}
    np.testing.assert_array_equal(mine[typed], types[typed] // 10)  # the soil class itself
    assert balance.properties["ldn:parameters"]["land_types"] == "user land types: soil-taxonomy"
    entries = {kind: len(list((out / ".cache" / kind).glob("*/entry.json"))) for kind in ("status", "ldn-balance")}
    assert entries == {"status": 1, "ldn-balance": 2}, "the second run computed the LDN balance alone"
