"""SO3-2 people under drought, SO3-3 vulnerability and SO2-3 people on degraded land through the real flow on the
bundled sample (UNCCD method notes 3-5): the town's people are in the planted drought's class, the totals agree with
an independent count of the population files, the tables recompute from the published layers, and the workbooks
carry Trends.Earth's sheets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import rasterio
from rasterio.warp import transform as warp_transform

from tests.helpers import catalog_items, read_asset

pytestmark = pytest.mark.integration

REGION = "sample-zamyn-uud"
PERIODS = {"baseline": 2015, "report_1": 2019, "report_2": 2020}  # the population year each period reads


def _table(item, name: str = "people") -> pd.DataFrame:  # noqa: ANN001
    return pd.read_csv(item.assets[name].get_absolute_href())


def test_every_year_and_period_has_its_people_items(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    items = catalog_items(root)
    for year in range(2000, 2025):
        item = items[f"drought-exposure-{REGION}-{year}"]
        assert {"data", "female", "male", "people", "vulnerability"} <= set(item.assets)
        assert item.properties["ldn:parameters"]["population_year"] == min(max(year, 2000), 2020)
    for period in PERIODS:
        assert {"data", "female", "male", "people"} <= set(items[f"drought-exposure-worst-{REGION}-{period}"].assets)
        item = items[f"sdg-population-{REGION}-{period}"]
        assert {"data", "people"} <= set(item.assets) and "female" not in item.assets  # by sex: in the table
        assert item.properties["ldn:parameters"]["population_year"] == PERIODS[period]


def test_the_towns_people_are_in_the_planted_drought(full_run: tuple[Path, Path]) -> None:
    sample, root = full_run
    truth = json.loads((sample / "truth.json").read_text())
    year = truth["precipitation"]["drought"]["year"]
    town = truth["population"]["totals"][str(year)]["town"]
    row = _table(catalog_items(root)[f"drought-exposure-{REGION}-{year}"]).set_index("zone_id").loc["all"]
    assert row["severe_total"] + row["extreme_total"] >= 0.9 * town, "the town lies inside the planted drought"
    wet = _table(catalog_items(root)[f"drought-exposure-{REGION}-2021"]).set_index("zone_id").loc["all"]
    assert wet["non_drought_total"] == wet["total_population"] - wet["nodata_total"], "no one under drought when wet"


def _independent_total(sample: Path, year: int, grid_item) -> float:  # noqa: ANN001
    """People of the population files inside the analysis grid: each cell's count times the share of 40 x 40 points
    of it that fall in the grid (no code of the pipeline involved)."""
    with rasterio.open(grid_item.assets["data"].get_absolute_href()) as src:
        crs, transform, (h, w) = src.crs, src.transform, src.shape
    total = 0.0
    for band in ("female", "male"):
        with rasterio.open(next((sample / "sample-population" / "data" / str(year)).glob(f"*_{band}.tif"))) as src:
            counts, cells = src.read(1).astype("float64"), src.transform
    n = 40
    rows, cols = np.meshgrid(np.arange(counts.shape[0] * n), np.arange(counts.shape[1] * n), indexing="ij")
    lon, lat = cells * ((cols + 0.5) / n, (rows + 0.5) / n)
    x, y = warp_transform("EPSG:4326", crs, lon.ravel(), lat.ravel())
    c, r = ~transform * (np.asarray(x), np.asarray(y))
    inside = ((c >= 0) & (c < w) & (r >= 0) & (r < h)).reshape(rows.shape)
    share = inside.reshape(counts.shape[0], n, counts.shape[1], n).mean(axis=(1, 3))
    for band in ("female", "male"):
        with rasterio.open(next((sample / "sample-population" / "data" / str(year)).glob(f"*_{band}.tif"))) as src:
            total += float((src.read(1).astype("float64") * share).sum())
    return total


@pytest.mark.parametrize("period", list(PERIODS))
def test_so2_3_adds_up_to_an_independent_count_of_the_population(full_run: tuple[Path, Path], period: str) -> None:
    sample, root = full_run
    item = catalog_items(root)[f"sdg-population-{REGION}-{period}"]
    rows = _table(item).set_index("zone_id")
    every = rows.loc["all"]
    parts = sum(every[f"{c}_total"] for c in ("improved", "stable", "degraded", "no_data"))
    assert abs(parts - every["total_population"]) <= 2  # each rounded on its own
    assert abs(every["female_population"] + every["male_population"] - every["total_population"]) <= 1
    assert every["total_population"] == pytest.approx(_independent_total(sample, PERIODS[period], item), rel=2e-3)
    zones = rows.drop(index="all")
    assert abs(zones["total_population"].sum() - every["total_population"]) <= len(zones)


@pytest.mark.parametrize("period", list(PERIODS))
def test_so2_3_recomputes_from_the_published_layers(full_run: tuple[Path, Path], period: str) -> None:
    _, root = full_run
    items = catalog_items(root)
    people = read_asset(items[f"sdg-population-{REGION}-{period}"]).astype("float64")
    sdg = read_asset(items[f"sdg-15-3-1-{REGION}-{period}"])
    every = _table(items[f"sdg-population-{REGION}-{period}"]).set_index("zone_id").loc["all"]
    assert (people[sdg == -1] <= 0).all() and (people[sdg == 1] >= 0).all()
    assert abs(-people[sdg == -1].sum() - every["degraded_total"]) <= 1
    assert abs(people[sdg == 1].sum() - every["improved_total"]) <= 1
    assert abs(np.nansum(np.abs(people)) - (every["total_population"] - every["water_total"])) <= 2


@pytest.mark.parametrize("period", list(PERIODS))
def test_the_worst_year_exposure_layer_holds_the_tables_people(full_run: tuple[Path, Path], period: str) -> None:
    _, root = full_run
    item = catalog_items(root)[f"drought-exposure-worst-{REGION}-{period}"]
    people = read_asset(item).astype("float64")
    worst = read_asset(catalog_items(root)[f"drought-worst-{REGION}-{period}"])
    every = _table(item).set_index("zone_id").loc["all"]
    assert abs(np.nansum(np.abs(people)) - every["total_population"]) <= 2
    drought = (worst >= 1) & (worst <= 4)
    assert (people[drought & np.isfinite(people)] <= 0).all()
    under = sum(every[f"{c}_total"] for c in ("mild", "moderate", "severe", "extreme"))
    assert abs(-np.nansum(people[drought]) - under) <= 4


def test_vulnerability_means_lie_in_the_index_range_and_weigh_by_people(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    rows = _table(catalog_items(root)[f"drought-exposure-{REGION}-2017"], "vulnerability")
    for column in ("area_weighted_mean", "total_weighted_mean", "female_weighted_mean", "male_weighted_mean"):
        assert rows[column].between(0.3, 0.7).all(), column
    assert (rows["total_weighted_mean"] != rows["area_weighted_mean"]).all()


def test_the_workbooks_carry_trends_earths_people_sheets(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    report = next(root.glob("versions/*/report"))
    book = openpyxl.load_workbook(next(report.glob("*_drought.xlsx")))
    assert {"Pop under drought (total)", "Drought Vulnerability Index"} <= set(book.sheetnames)
    header = [c.value for c in book["Pop under drought (total)"][2]]
    assert header[:5] == ["Year", "Population year", "Total population", "Mild drought: Population",
                          "Mild drought: % of total"]
    assert [c.value for c in book["Drought Vulnerability Index"][2]][:4] == [
        "Year", "Mean value over total population", "Mean value over male population",
        "Mean value over female population"]
    sheet = openpyxl.load_workbook(next(report.glob("*_report_2_unccd.xlsx")))["Population"]
    assert [c.value for c in sheet[2]][:5] == [None, "Land Area (sq km)", "Percent of total land area", "Population",
                                              "Percent of total population"]
    assert [sheet.cell(row=r, column=1).value for r in range(3, 7)] == [
        "Improved land", "Stable land", "Degraded land", "No data land"]


@pytest.fixture(scope="module")
def trends_earth_run(tmp_path_factory: pytest.TempPathFactory, full_run: tuple[Path, Path]) -> Path:
    """The full run again with Trends.Earth's people rules (``people: {rule: trends_earth}``), into a catalog of its
    own and from the full run's cache: only the people items are recomputed (their keys name the rule)."""
    from flows.ldn_yearly import ldn_yearly
    from tasks.io.runtime.local_stac import serve_collections
    from tests.integration.conftest import sample_config

    sample, root = full_run
    out = tmp_path_factory.mktemp("trends-earth-people") / "catalog"
    with serve_collections(sample) as stac:
        ldn_yearly(sample_config(sample, stac.api_url, out, years=(2001, 2024), cache_dir=root / ".cache",
                                 people={"rule": "trends_earth"}))
    return out


@pytest.mark.parametrize("period", list(PERIODS))
def test_trends_earths_so2_3_sums_whole_persons_per_pixel(full_run: tuple[Path, Path], trends_earth_run: Path,
                                                           period: str) -> None:
    """Method notes 7.4: each pixel's people rounded before any sum. The published layer holds whole persons, and the
    table is the sum of that layer; the method notes' own total (rounded once, at the end) differs by the fractions
    the pixels lost."""
    items = catalog_items(trends_earth_run)
    item = items[f"sdg-population-{REGION}-{period}"]
    assert item.properties["ldn:parameters"]["people_rule"] == "trends_earth"
    assert "parity mode" in item.properties["ldn:method"]
    people = read_asset(item).astype("float64")
    counted = people[np.isfinite(people)]
    assert (counted == np.round(counted)).all(), "whole persons per pixel"
    every = _table(item).set_index("zone_id").loc["all"]
    assert np.abs(counted).sum() == every["total_population"] - every["water_total"]
    assert -people[read_asset(items[f"sdg-15-3-1-{REGION}-{period}"]) == -1].sum() == every["degraded_total"]
    exact = _table(catalog_items(full_run[1])[f"sdg-population-{REGION}-{period}"]).set_index("zone_id").loc["all"]
    assert every["total_population"] != exact["total_population"]  # the herders' fractions of a person are lost
    assert abs(every["total_population"] - exact["total_population"]) < 0.5 * people.size


def test_trends_earths_drought_tables_and_vulnerability_follow_its_rules(full_run: tuple[Path, Path],
                                                                         trends_earth_run: Path) -> None:
    items, exact_items = catalog_items(trends_earth_run), catalog_items(full_run[1])
    item = items[f"drought-exposure-{REGION}-2017"]
    assert item.properties["ldn:parameters"]["people_rule"] == "trends_earth"
    rows = _table(item).set_index("zone_id")
    assert (rows["total_population"] == rows["female_population"] + rows["male_population"]).all()  # sums of integers
    ours = _table(exact_items[f"drought-exposure-{REGION}-2017"], "vulnerability").set_index("zone_id")
    theirs = _table(item, "vulnerability").set_index("zone_id")
    assert theirs["area_weighted_mean"].tolist() == ours["area_weighted_mean"].tolist()
    assert theirs["total_weighted_mean"].between(3, 7).all()  # the index (0.3-0.7 here) x 10, as Trends.Earth has it
    assert theirs[["female_weighted_mean", "male_weighted_mean"]].isna().all().all()  # its sheet leaves them empty
    assert "people_rule" not in exact_items[f"drought-exposure-{REGION}-2017"].properties["ldn:parameters"]
    report = next(trends_earth_run.glob("versions/*/report"))
    about = openpyxl.load_workbook(next(report.glob("*_drought.xlsx")))["about"]
    assert ["people rule", "trends_earth"] in [[c.value for c in row][:2] for row in about.iter_rows()]
