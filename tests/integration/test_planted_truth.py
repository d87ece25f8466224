"""The bundled sample region, end to end: planted decline, greening, abrupt loss and stable land come out right."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from rio_cogeo.cogeo import cog_validate

from tasks.constants import NODATA
from tests.helpers import catalog_items, read_asset

pytestmark = pytest.mark.integration

PERIODS = ("baseline", "report_1", "report_2")
TABLE_MEDIA = ("text/csv", "application/vnd.apache.parquet",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.mark.parametrize("period", PERIODS)
def test_planted_truth_comes_out_in_the_lpd(full_run: tuple[Path, Path], period: str) -> None:
    sample, root = full_run
    with rasterio.open(sample / "truth.tif") as src:
        truth = src.read(1)
    lpd = read_asset(catalog_items(root)[f"lpd-sample-zamyn-uud-{period}"])
    assert lpd.shape == truth.shape

    def share(code: int, classes: tuple[int, ...]) -> float:
        return float(np.isin(lpd[truth == code], classes).mean())

    # rates this test guarantees (measured: 100 %, 100 %, 82-99 %, 95-97 %)
    assert share(1, (1, 2)) >= 0.95, "steady decline -> LPD 1-2"
    assert share(2, (5,)) >= 0.95, "greening -> LPD 5"
    assert share(3, (1, 2)) >= 0.75, "abrupt loss -> LPD 1-2"
    assert share(4, (3, 4)) >= 0.90, "stable control -> LPD 3-4"
    assert (lpd != NODATA).mean() > 0.99


def test_every_published_layer_is_a_valid_cog_with_a_valid_item(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    items = catalog_items(root)
    # 24 annual means and 24 annual maxima; per period trajectory, state, performance, LPD, land cover, SOC, SDG;
    # 2 status, 2 LDN balance; the drought of 25 years (2000-2024) and of each period's worst year; the people under
    # both, and on each period's SDG 15.3.1 classes
    assert len(items) == 2 * 24 + 7 * len(PERIODS) + 2 + 2 + 2 * (25 + len(PERIODS)) + len(PERIODS)
    validator = JsonSchemaSTACValidator()
    for item in items.values():
        validator.validate_core(item.to_dict(include_self_link=False, transform_hrefs=False),
                                pystac.STACObjectType.ITEM, "1.1.0", item.id)
        for asset in item.assets.values():
            if asset.media_type == pystac.MediaType.COG:
                assert cog_validate(asset.get_absolute_href())[0], asset.href
            elif asset.media_type == pystac.MediaType.PNG:
                assert asset.roles == ["overview"]
            elif asset.media_type == pystac.MediaType.HTML:
                assert "report" in asset.roles
            elif asset.roles == ["style"]:
                assert asset.media_type == "text/xml" and asset.href.endswith(".qml")
            else:
                assert asset.media_type in TABLE_MEDIA and "table" in asset.roles


def test_period_layers_record_method_windows_thresholds_and_comparison_region(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    items = catalog_items(root)
    traj = items["trajectory-sample-zamyn-uud-report_1"].properties
    assert traj["ldn:window"] == [2004, 2019] and traj["ldn:period"] == "report_1"
    assert traj["ldn:parameters"]["slope_dead_band_ndvi_per_year"] == 0.001
    assert "Trends.Earth table" in traj["ldn:parameters"]["critical_values"]
    state = items["state-sample-zamyn-uud-report_1"].properties["ldn:parameters"]
    assert state["baseline"] == [2004, 2016] and state["target"] == [2017, 2019] and state["dead_band_ndvi"] == 0.01
    perf = items["performance-sample-zamyn-uud-baseline"].properties["ldn:parameters"]
    assert perf["comparison_region"].startswith("the run's area") and perf["percentile"] == 90
    assert perf["ratio_threshold"] == 0.5 and perf["percentile_error_bound_ndvi"] == 5e-5
    lpd = items["lpd-sample-zamyn-uud-report_2"]
    classes = lpd.assets["data"].extra_fields["classification:classes"]
    assert [c["value"] for c in classes] == [1, 2, 3, 4, 5]
    assert classes[0]["description"] == "declining" and classes[0]["color_hint"] == "f23c46"
    sdg = lpd.assets["sdg"].extra_fields["classification:classes"]
    assert [c["value"] for c in sdg] == [-1, 0, 1]
    assert lpd.properties["start_datetime"] == "2008-01-01T00:00:00Z"


def test_slopes_are_continuous_float_layers_matching_the_truth(full_run: tuple[Path, Path]) -> None:
    sample, root = full_run
    with rasterio.open(sample / "truth.tif") as src:
        truth = src.read(1)
    item = catalog_items(root)["trajectory-sample-zamyn-uud-baseline"]
    sen = read_asset(item, "sen_slope")
    assert sen.dtype == np.float32
    assert np.nanmedian(sen[truth == 1]) < -0.001 < 0.001 < np.nanmedian(sen[truth == 2])
    assert abs(np.nanmedian(sen[truth == 4])) < 0.001
    meta = json.loads((sample / "truth.json").read_text())
    assert {p["kind"] for p in meta["patches"]} == {"decline", "greening", "abrupt_loss", "stable"}


def _share(layer: np.ndarray, truth: np.ndarray, code: int, values: tuple[int, ...]) -> float:
    return float(np.isin(layer[truth == code], values).mean())


def test_planted_land_cover_soc_sdg_and_status(full_run: tuple[Path, Path]) -> None:
    sample, root = full_run
    with rasterio.open(sample / "truth.tif") as src:
        truth = src.read(1)
    items = catalog_items(root)

    def layer(kind: str, period: str, key: str = "data") -> np.ndarray:
        return read_asset(items[f"{kind}-sample-zamyn-uud-{period}"], key)

    # conversions planted in catalogs/sample_region.yaml: greening 130 -> 61 (2010), abrupt loss 130 -> 190
    # (2012), decline 130 -> 200 (2016); rates measured: >= 98 % (edge pixels of the 300 m grid differ)
    assert _share(layer("land-cover", "baseline"), truth, 2, (1,)) >= 0.95      # grassland -> tree: improvement
    assert _share(layer("land-cover", "baseline"), truth, 3, (-1,)) >= 0.95     # grassland -> artificial
    assert _share(layer("land-cover", "report_1"), truth, 1, (-1,)) >= 0.95     # grassland -> bare (other land)
    assert _share(layer("soc", "baseline"), truth, 3, (-1,)) >= 0.95           # F = 0.1 for 4 years: -18 %
    assert _share(layer("soc", "report_1"), truth, 1, (-1,)) >= 0.95
    for period in PERIODS:
        sdg = layer("sdg-15-3-1", period)
        assert _share(sdg, truth, 1, (-1,)) >= 0.95 and _share(sdg, truth, 2, (1,)) >= 0.95
        assert _share(sdg, truth, 4, (0,)) >= 0.9
    for period in ("report_1", "report_2"):
        st = layer("status", period)
        assert _share(st, truth, 1, (1,)) >= 0.95   # persistent degradation
        assert _share(st, truth, 2, (7,)) >= 0.95   # persistent improvement
        assert _share(st, truth, 4, (4,)) >= 0.85   # stable
    # the transition table adds up to the valid area, in km2 from true (equal-area) pixel areas
    import pandas as pd

    item = items["land-cover-sample-zamyn-uud-baseline"]
    table = pd.read_csv(item.assets["transitions"].get_absolute_href())
    valid = int((layer("land-cover", "baseline", "transition") != NODATA).sum())
    assert table["area_km2"].sum() == pytest.approx(valid * 0.231656358263958**2, rel=1e-4)


def test_area_summary_tables_add_up_and_quicklooks_exist(full_run: tuple[Path, Path]) -> None:
    import pandas as pd

    _, root = full_run
    items = catalog_items(root)
    window_km2 = (259 * 0.231656358263958) ** 2
    for period in PERIODS:
        item = items[f"sdg-15-3-1-sample-zamyn-uud-{period}"]
        table = pd.read_csv(item.assets["summary"].get_absolute_href()).set_index("indicator")
        assert list(table.index) == ["sdg_15_3_1", "productivity", "land_cover", "soc"]
        parts = table[["degraded_km2", "stable_km2", "improved_km2"]].sum(axis=1)
        assert np.allclose(parts, table["valid_km2"], rtol=1e-9)
        assert np.allclose(table["valid_km2"] + table["nodata_km2"], table["land_km2"], rtol=1e-9)
        assert np.allclose(table["land_km2"] + table["water_km2"], window_km2, rtol=1e-6)
        assert np.allclose(table["total_km2"], window_km2, rtol=1e-6)
        assert np.allclose(table[["degraded_pct", "stable_pct", "improved_pct"]].sum(axis=1), 100)
    for item in items.values():
        png = item.assets["quicklook"]
        assert png.media_type == pystac.MediaType.PNG and "overview" in png.roles
        assert Path(png.get_absolute_href()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
