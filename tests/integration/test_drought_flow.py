"""SO3-1 drought hazard through the real flow on the bundled sample (UNCCD method notes section 2): the planted
drought comes out where it was planted, the published classes and worst years recompute from the published int16
SPI, the SPI agrees with an independent read of the monthly scenes, and the km2 tables add up to the SDG tables'."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from tasks.constants import DROUGHT_CLASSES, NODATA
from tasks.io.outputs.drought_areas import DROUGHT_AREA_COLUMNS
from tasks.science.drought import drought_class, spi_x1000
from tests.helpers import catalog_items, read_asset, spi_reference

pytestmark = pytest.mark.integration

REGION = "sample-zamyn-uud"
YEARS = range(2000, 2025)  # the run's years (2001-2024) and the baseline's 2000
PERIOD_YEARS = {"baseline": (2000, 2015), "report_1": (2016, 2019), "report_2": (2020, 2023)}


def _grid(path: str) -> tuple[rasterio.Affine, tuple[int, int]]:
    with rasterio.open(path) as src:
        return src.transform, src.shape


def test_every_year_and_period_has_a_drought_item_on_the_precipitation_grid(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    items = catalog_items(root)
    for year in YEARS:
        item = items[f"drought-{REGION}-{year}"]
        assert {"data", "spi_x1000", "spi", "areas"} <= set(item.assets)
        assert item.properties["proj:code"] == "EPSG:4326"
        assert item.properties["ldn:parameters"]["calibration"] == [1991, 2020]
        assert item.properties["ldn:source_collection"] == "sample-monthly-precipitation"
        classes = item.assets["data"].extra_fields["classification:classes"]
        assert [c["value"] for c in classes] == sorted(DROUGHT_CLASSES)
    for period, (first, last) in PERIOD_YEARS.items():
        item = items[f"drought-worst-{REGION}-{period}"]
        assert item.properties["ldn:window"] == [first, last]
        assert item.properties["ldn:source_items"] == [f"drought-{REGION}-{y}" for y in range(first, last + 1)]


def test_the_planted_drought_is_severe_or_extreme_where_planted_and_nowhere_else(full_run: tuple[Path, Path]) -> None:
    sample, root = full_run
    planted = json.loads((sample / "truth.json").read_text())["precipitation"]["drought"]
    item = catalog_items(root)[f"drought-{REGION}-{planted['year']}"]
    classes = read_asset(item)
    transform, _ = _grid(item.assets["data"].get_absolute_href())
    inside = np.zeros(classes.shape, bool)
    for lon, lat in planted["cell_centres"]:
        col, row = ~transform * (lon, lat)
        inside[int(row), int(col)] = True
    assert inside.sum() == planted["cells"]
    assert np.isin(classes[inside], (3, 4)).all(), "planted drought -> severe or extreme"
    assert (classes[~inside & (classes != NODATA)] == 0).all(), "the rest of that year is the climatology: no drought"
    wet = catalog_items(root)[f"drought-{REGION}-2021"]
    assert (read_asset(wet)[classes != NODATA] == 0).all(), "the planted wet year has no drought"


@pytest.mark.parametrize("year", [2000, 2017, 2021, 2024])
def test_classes_recompute_from_the_published_int16_spi(full_run: tuple[Path, Path], year: int) -> None:
    _, root = full_run
    item = catalog_items(root)[f"drought-{REGION}-{year}"]
    with rasterio.open(item.assets["spi_x1000"].get_absolute_href()) as src:
        scaled = src.read(1)
        assert src.scales[0] == pytest.approx(0.001) and src.nodata == NODATA
    with rasterio.open(item.assets["spi"].get_absolute_href()) as src:
        spi = src.read(1)
    published = read_asset(item)
    assert np.array_equal(drought_class(xr.DataArray(scaled)).values, published)
    valid = scaled != NODATA
    assert np.array_equal(valid, ~np.isnan(spi))
    assert np.abs(spi[valid].astype("float64") * 1000 - scaled[valid]).max() <= 0.5 + 1e-3


def test_the_spi_agrees_with_an_independent_read_of_the_monthly_scenes(full_run: tuple[Path, Path]) -> None:
    sample, root = full_run
    folder = sample / "sample-monthly-precipitation" / "data"
    months = []
    for year in range(1991, 2025):
        for month in range(1, 13):
            with rasterio.open(folder / str(year) / f"sample-ppt-{year}-{month:02d}.tif") as src:
                months.append(src.read(1).astype("float64"))
                source_transform = src.transform
    stack = np.stack(months)
    items = catalog_items(root)
    for year in (2000, 2017, 2023):
        item = items[f"drought-{REGION}-{year}"]
        with rasterio.open(item.assets["spi"].get_absolute_href()) as src:
            published, transform = src.read(1), src.transform
        col0, row0 = (round(v) for v in ~transform * (source_transform.c, source_transform.f))
        for row, col in [(0, 0), (5, 10), (7, 20), (13, 42), (3, 33)]:
            want = spi_reference(stack[:, row, col], 1991, (1991, 2020))[year - 1991]
            assert published[row0 + row, col0 + col] == pytest.approx(want, abs=2e-5), (year, row, col)
        outside = np.ones(published.shape, bool)
        outside[row0:row0 + stack.shape[1], col0:col0 + stack.shape[2]] = False
        assert np.isnan(published[outside]).all(), "cells beyond the source's extent are nodata"


@pytest.mark.parametrize("period", list(PERIOD_YEARS))
def test_the_worst_year_recomputes_from_the_published_years(full_run: tuple[Path, Path], period: str) -> None:
    _, root = full_run
    items = catalog_items(root)
    worst = items[f"drought-worst-{REGION}-{period}"]
    first, last = PERIOD_YEARS[period]
    stack = np.stack([read_asset(items[f"drought-{REGION}-{y}"], "spi_x1000") for y in range(first, last + 1)])
    masked = np.where(stack == NODATA, np.iinfo("int32").max, stack.astype("int32"))
    some = (stack != NODATA).any(axis=0)
    low = np.where(some, masked.min(axis=0), NODATA).astype("int16")
    assert some.any() and np.array_equal(read_asset(worst, "spi_x1000"), low)
    when = np.where(some, first + masked.argmin(axis=0), NODATA)  # the earliest year on a tie
    assert np.array_equal(read_asset(worst, "year"), when)
    assert np.array_equal(read_asset(worst), drought_class(xr.DataArray(low)).values)
    if period == "report_1":
        assert np.isin(read_asset(worst)[read_asset(worst, "year") == 2017], (3, 4)).all()


def _areas(item: object) -> pd.DataFrame:
    return pd.read_csv(item.assets["areas"].get_absolute_href())  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [f"drought-{REGION}-2017", f"drought-worst-{REGION}-report_2"])
def test_the_km2_tables_add_up_and_match_the_sdg_tables(full_run: tuple[Path, Path], name: str) -> None:
    _, root = full_run
    items = catalog_items(root)
    table = _areas(items[name])
    assert set(DROUGHT_AREA_COLUMNS) <= set(table.columns)
    names = ["non_drought", "mild", "moderate", "severe", "extreme", "nodata"]
    near = {"abs": 1e-5}  # the CSV holds 6 decimals
    for _, row in table.iterrows():
        assert sum(row[f"{n}_km2"] for n in names) == pytest.approx(row.total_km2, **near)
        assert sum(row[f"{n}_land_km2"] for n in names) == pytest.approx(row.land_km2, **near)
        assert sum(row[f"{n}_pct_of_total"] for n in names) == pytest.approx(100, **near)
        if row.land_km2 > row.nodata_land_km2:
            assert sum(row[f"{n}_pct_of_land"] for n in names[:-1]) == pytest.approx(100, **near)
    zones, everything = table[table.zone_id != "all"], table[table.zone_id == "all"].iloc[0]
    for column in ("total_km2", "water_km2", "severe_km2", "extreme_land_km2"):
        assert zones[column].sum() == pytest.approx(everything[column], **near)
    sdg = items[f"sdg-15-3-1-{REGION}-report_2"]
    zonal = pd.read_csv(sdg.assets["sdg_15_3_1_csv"].get_absolute_href()).drop_duplicates("zone_id")
    for _, zone in zonal.iterrows():
        mine = zones[zones.zone_id == zone.zone_id].iloc[0]
        assert mine.total_km2 == pytest.approx(zone.total_km2, **near)
        assert mine.water_km2 == pytest.approx(zone.water_km2, **near)


def test_spi_x1000_of_the_published_float_spi_is_the_published_int16(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    item = catalog_items(root)[f"drought-{REGION}-2014"]
    spi = read_asset(item, "spi").astype("float64")
    again = spi_x1000(xr.DataArray(spi)).values
    differ = again != read_asset(item, "spi_x1000")
    assert differ.mean() < 0.01  # float32 storage may move a value that sat within 5e-8 of a half-unit


def test_a_month_missing_inside_the_record_makes_its_year_nodata_and_is_reported(
        sample_copy: Path, tmp_path: Path, prefect_harness: None) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    items = sample_copy / "sample-monthly-precipitation" / "items.ndjson"
    lines = [line for line in items.read_text().splitlines() if '"sample-ppt-2002-07"' not in line]
    items.write_text("\n".join(lines) + "\n")  # the collection lacks July 2002
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_copy), "--years", "2001-2003", "--out", str(out)])
    assert result.exit_code == 0, result.stderr  # the run's log warns of it too ("1 month(s) missing ... never filled")
    found = catalog_items(out)
    gap = found[f"drought-{REGION}-2002"]
    assert gap.properties["ldn:parameters"]["missing_months"] == ["2002-07"]
    assert (read_asset(gap) == NODATA).all() and (read_asset(gap, "spi_x1000") == NODATA).all()
    for year in (2001, 2003):
        assert (read_asset(found[f"drought-{REGION}-{year}"]) != NODATA).any(), "the other years keep their SPI"


@pytest.mark.parametrize("args, message", [
    (["--spi-calibration", "1981-2010"], "covers 1991-2024 but the SPI calibration period is 1981-2010: 1981-1990 "
                                         "missing; set the calibration period to 1991-2010"),
    (["--spi-calibration", "2010-2012"], "needs at least 10"),
    (["--precipitation", "modis-13q1"], "has role 'ndvi', not 'precipitation'"),
])
def test_a_calibration_the_record_cannot_fit_stops_before_any_work(sample_dir: Path, tmp_path: Path,
                                                                    args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from flows.cli import EXIT_USER_ERROR, app

    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--out", str(out), *args])
    assert result.exit_code == EXIT_USER_ERROR and message in result.stderr, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
