"""FAO-WOCAT LPD end to end: the sample region's planted truth, recomputation from the published layers, and a
`--sources` run from the CLI with every intermediate published."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import SAMPLE_SOURCES
from tasks.constants import NODATA
from tasks.io.runtime.local_stac import LocalStac
from tasks.science.fao_wocat import fao_wocat
from tests.helpers import catalog_items, read_asset

pytestmark = pytest.mark.integration

INTERMEDIATES = ("trend", "mtid", "steadiness", "biomass", "emerging", "combination")


def _stack(items: dict[str, pystac.Item], indicator: str, years: range) -> np.ndarray:
    return np.stack([read_asset(items[f"{indicator}-sample-zamyn-uud-{y}"]) for y in years])


def test_planted_truth_and_the_desert_mask(fao_wocat_run: tuple[Path, Path]) -> None:
    sample, root = fao_wocat_run
    items = catalog_items(root)
    with rasterio.open(sample / "truth.tif") as src:
        truth = src.read(1)
    lpd = read_asset(items["lpd-sample-zamyn-uud-report_2"])
    window_max = _stack(items, "ndvi-annual-max", range(2008, 2024)).max(axis=0)
    desert = window_max <= 2500
    assert desert.sum() > 1000, "the planted decline reaches desert NDVI in 2008-2023"
    assert (lpd[desert] == 4).all(), "desert (window maximum <= 0.25 NDVI) stays stable"
    # measured: decline 100 % LPD 1 off the desert, greening 99.8 % LPD 5, abrupt loss 100 % LPD 1-2
    decline = (truth == 1) & ~desert
    assert np.isin(lpd[decline], (1, 2)).mean() >= 0.95, "steady decline -> LPD 1-2"
    assert (lpd[truth == 2] == 5).mean() >= 0.95, "greening -> LPD 5"
    assert np.isin(lpd[truth == 3], (1, 2)).mean() >= 0.90, "abrupt loss -> LPD 1-2"
    assert (lpd != NODATA).mean() > 0.99


def test_the_lpd_item_carries_method_parameters_and_intermediates(fao_wocat_run: tuple[Path, Path]) -> None:
    _, root = fao_wocat_run
    items = catalog_items(root)
    item = items["lpd-sample-zamyn-uud-report_2"]
    params = item.properties["ldn:parameters"]
    assert item.properties["ldn:method"] == "LPD: FAO-WOCAT (method notes 2.6)"
    assert params["productivity_method"] == "fao_wocat" and params["interval_years"] == 3
    assert params["biomass_thresholds_ndvi"] == [0.4, 0.7] and params["desert_max_ndvi"] == 0.25
    assert params["desert_mask"].startswith("applied")
    assert set(INTERMEDIATES) <= set(item.assets)
    classes = {c["value"] for c in item.assets["steadiness"].extra_fields["classification:classes"]}
    assert classes == {1, 2, 3, 4}
    report = Path(items["sdg-15-3-1-sample-zamyn-uud-report_2"].assets["report"].get_absolute_href()).read_text()
    assert "LPD: FAO-WOCAT (method notes 2.6)" in report
    # the annual maximum is published beside the mean, one item a year
    assert {f"ndvi-annual-max-sample-zamyn-uud-{y}" for y in range(2008, 2024)} <= set(items)


def test_recomputing_fao_wocat_from_the_published_annual_layers(fao_wocat_run: tuple[Path, Path]) -> None:
    _, root = fao_wocat_run
    items = catalog_items(root)
    years = range(2008, 2024)
    dims = ("year", "y", "x")
    annual = xr.DataArray(_stack(items, "ndvi-annual", years), dims=dims, coords={"year": list(years)})
    top = xr.DataArray(_stack(items, "ndvi-annual-max", years), dims=dims, coords={"year": list(years)})
    ds = fao_wocat(annual, top)
    item = items["lpd-sample-zamyn-uud-report_2"]
    np.testing.assert_array_equal(ds["lpd"].values, read_asset(item))
    for key in INTERMEDIATES:
        np.testing.assert_array_equal(ds[key].values, read_asset(item, key), err_msg=key)


def test_a_sources_run_with_fao_wocat(tmp_path: Path, local_stac: LocalStac, prefect_harness: None) -> None:
    periods = tmp_path / "periods.yaml"
    periods.write_text(yaml.safe_dump({"periods": {"short": {
        "productivity": [2001, 2006], "state_baseline": [2001, 2003], "state_target": [2004, 2006],
        "land_cover": [2001, 2006]}}}))
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump({"periods_file": str(periods),
                                        "productivity": {"min_years": 6, "fao_wocat": {"use_mtid": False}}}))
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, [
        "run", "--sources", str(SAMPLE_SOURCES), "--stac-api", local_stac.api_url, "--bbox", "111.88,43.70,111.92,43.74",
        "--years", "2001-2006", "--config", str(run_file), "--productivity-method", "fao_wocat", "--out", str(out)])
    assert result.exit_code == 0, (result.exception, result.stderr[-800:])
    items = catalog_items(out)
    item = items["lpd-custom-short"]
    assert item.properties["ldn:parameters"]["mtid"].startswith("not used")
    lpd = read_asset(item)
    assert set(np.unique(lpd).tolist()) <= {1, 2, 3, 4, 5, NODATA} and (lpd != NODATA).any()
    steadiness = read_asset(item, "steadiness")
    assert set(np.unique(steadiness[lpd != NODATA]).tolist()) <= {1, 2, 3, 4}
    sdg = read_asset(items["sdg-15-3-1-custom-short"])
    assert set(np.unique(sdg).tolist()) <= {-1, 0, 1, NODATA}
