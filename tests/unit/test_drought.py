"""SO3-1 drought hazard (UNCCD method notes, section 2): the SPI against an independent scipy reference on
precipitation-like series, Trends.Earth's drought_class cases, both class rules at their boundaries by hand, the
int16 rounding, each period's worst year, and the bad inputs that must stop a run in one line."""
from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import shapely
import xarray as xr

from tasks.config import load_periods
from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.io.outputs.drought_areas import CellAreas, drought_area_table
from tasks.io.sources.zones import Zone
from tasks.science.drought import drought_class, reporting_years, spi_december, spi_x1000, worst_year
from tests.helpers import spi_reference

FIRST, LAST = 1991, 2024  # the sample's precipitation record


def _monthly(values: np.ndarray, first: int = FIRST) -> xr.DataArray:
    """(time, y, x) monthly totals from January of ``first``."""
    time = pd.date_range(f"{first}-01-01", periods=values.shape[0], freq="MS")
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": time})


def _rainfall(rng: np.random.Generator, pixels: int, years: int = LAST - FIRST + 1) -> np.ndarray:
    """Gamma draws per month with dry months (about a third zero), a few all-dry years and a few missing months."""
    shape = rng.uniform(0.4, 2.0, pixels)
    scale = rng.uniform(2.0, 60.0, pixels)
    values = rng.gamma(shape, scale, (years * 12, pixels))
    values[rng.random(values.shape) < rng.uniform(0.1, 0.6, pixels)] = 0.0
    for p in rng.choice(pixels, pixels // 4, replace=False):  # a dry year inside the calibration period
        year = int(rng.integers(0, 30))
        values[year * 12:(year + 1) * 12, p] = 0.0
    gaps = rng.random(values.shape) < 0.002
    values[gaps] = np.nan
    return values


@pytest.mark.parametrize("seed", range(8))
def test_spi_equals_the_scipy_reference_on_precipitation_like_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = _rainfall(rng, 60)
    got = spi_december(_monthly(values.reshape(-1, 6, 10))).values.reshape(LAST - FIRST + 1, -1)
    for p in range(values.shape[1]):
        want = spi_reference(values[:, p], FIRST, (1991, 2020))
        np.testing.assert_array_equal(np.isnan(got[:, p]), np.isnan(want), err_msg=f"pixel {p}")
        np.testing.assert_allclose(got[:, p], want, rtol=0, atol=1e-6, err_msg=f"pixel {p}")
    s = spi_x1000(xr.DataArray(got)).values
    for rule in ("trends_earth", "gpg"):  # the same classes: a value 1e-6 away never crosses a boundary here
        ref = drought_class(spi_x1000(xr.DataArray(np.stack([spi_reference(values[:, p], FIRST, (1991, 2020))
                                                             for p in range(values.shape[1])], axis=1))), rule)
        np.testing.assert_array_equal(drought_class(xr.DataArray(s), rule).values, ref.values)


def test_a_missing_month_makes_its_year_nodata_and_nothing_else() -> None:
    values = np.random.default_rng(3).gamma(1.0, 30.0, ((LAST - FIRST + 1) * 12, 1, 1))
    values[(1996 - FIRST) * 12 + 3, 0, 0] = np.nan  # April 1996
    spi = spi_december(_monthly(values)).sel(y=0, x=0, drop=True)
    assert np.isnan(spi.sel(year=1996)) and int(spi.isnull().sum()) == 1
    assert np.isfinite(spi.sel(year=1995)) and np.isfinite(spi.sel(year=1997))


def test_a_pixel_without_rain_in_its_calibration_years_is_nodata_not_extreme_drought() -> None:
    values = np.zeros(((LAST - FIRST + 1) * 12, 1, 2))
    values[:, 0, 1] = np.random.default_rng(4).gamma(1.0, 30.0, values.shape[0])
    spi = spi_december(_monthly(values))
    assert spi[:, 0, 0].isnull().all() and spi[:, 0, 1].notnull().all()


def test_a_planted_severe_drought_year_is_severe_or_extreme_there_and_only_there() -> None:
    rng = np.random.default_rng(5)
    values = rng.gamma(2.0, 25.0, ((LAST - FIRST + 1) * 12, 2, 2))
    drought = (2017 - FIRST) * 12
    values[drought:drought + 12, 0, 0] *= 0.2  # a fifth of the usual rain in 2017
    classes = drought_class(spi_x1000(spi_december(_monthly(values))))
    assert int(classes.sel(year=2017)[0, 0]) >= 3
    assert int(classes.sel(year=2017)[1, 1]) < 3


def test_lazy_input_gives_the_same_values() -> None:
    values = _rainfall(np.random.default_rng(6), 48).reshape(-1, 6, 8)
    eager = spi_december(_monthly(values))
    lazy = spi_december(_monthly(values).chunk({"time": 60, "y": 3, "x": 4}))
    assert isinstance(lazy.data, da.Array)
    xr.testing.assert_identical(lazy.compute(), eager)


def test_a_block_is_fitted_in_parts_with_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit takes a block ``FIT_CELLS`` cells at a time (its memory is a dozen copies of what it is given): parts
    of 7 cells, with cells of no value between them, give the values of one call over the block, float for float."""
    import tasks.science.drought as drought

    values = _rainfall(np.random.default_rng(9), 40)
    values[:, [3, 17, 18]] = np.nan  # sea: never fitted
    whole = spi_december(_monthly(values.reshape(-1, 5, 8)))
    monkeypatch.setattr(drought, "FIT_CELLS", 7)
    parts = spi_december(_monthly(values.reshape(-1, 5, 8)))
    xr.testing.assert_identical(parts, whole)
    assert int(parts.isnull().all("year").sum()) == 3


# Trends.Earth's own cases for drought_class (ConservationInternational/trends.earth-algorithms,
# tests/test_gdal_drought_numba.py at 2ca4e41, TestDroughtClass and TestDroughtClassificationLogic): SPI x 1000 in,
# class out, boundaries in the milder class.
TE_CASES = [
    (1000, 0), (0, 0), (-500, 1), (-1000, 1), (-1250, 2), (-1500, 2), (-1750, 3), (-2000, 3), (-3000, 4),
    (1, 0), (-1, 1), (-999, 1), (-1001, 2), (-1499, 2), (-1501, 3), (-1999, 3), (-2001, 4),
    (30000, 0), (-30000, 4), (10000, 0), (-10000, 4), (500, 0), (-2500, 4), (-100, 1), (-900, 1),
    (NODATA, NODATA),
]


def test_trends_earth_drought_class_cases() -> None:
    s = xr.DataArray(np.array([v for v, _ in TE_CASES], "int16"))
    assert drought_class(s).values.tolist() == [c for _, c in TE_CASES]


@pytest.mark.parametrize(("s", "te", "gpg"), [
    (0, 0, 0), (-1, 1, 1), (-999, 1, 1), (-1000, 1, 2), (-1001, 2, 2), (-1500, 2, 3), (-1501, 3, 3),
    (-2000, 3, 4), (-2001, 4, 4), (-3090, 4, 4), (3090, 0, 0), (NODATA, NODATA, NODATA),
])
def test_both_rules_place_the_boundaries_as_the_notes_table_says(s: int, te: int, gpg: int) -> None:
    layer = xr.DataArray(np.array([s], "int16"))
    assert int(drought_class(layer, "trends_earth")[0]) == te and int(drought_class(layer, "gpg")[0]) == gpg


def test_the_class_map_states_its_codes_and_rule() -> None:
    out = drought_class(xr.DataArray(np.array([0], "int16")), "gpg")
    assert out.attrs["classes"] == {0: "non-drought", 1: "mild drought", 2: "moderate drought",
                                    3: "severe drought", 4: "extreme drought"}
    assert out.attrs["class_rule"] == "gpg" and out.dtype == np.int16
    with pytest.raises(ConfigError, match="'mckee' is not one of"):
        drought_class(out, "mckee")  # type: ignore[arg-type]


def test_spi_x1000_rounds_half_away_from_zero_and_keeps_nodata() -> None:
    spi = xr.DataArray(np.array([0.0625, -0.0625, 1.5, -1.5, 0.0004, -0.0004, 3.09, -3.09, np.nan]))
    assert spi_x1000(spi).values.tolist() == [63, -63, 1500, -1500, 0, 0, 3090, -3090, NODATA]


def test_the_worst_year_is_the_lowest_spi_and_the_earliest_on_a_tie() -> None:
    s = xr.DataArray(np.array([[-500, 200, -1600, -1600],
                               [NODATA, -300, NODATA, 100],
                               [NODATA, NODATA, NODATA, NODATA]], "int16"),
                     dims=("x", "year"), coords={"year": [2020, 2021, 2022, 2023]}).transpose("year", "x")
    worst = worst_year(s)
    assert worst.spi.values.tolist() == [-1600, -300, NODATA]
    assert worst.year.values.tolist() == [2022, 2021, NODATA]
    assert drought_class(worst.spi).values.tolist() == [3, 1, NODATA]


def test_a_record_that_misses_calibration_years_names_them_and_a_period_it_allows() -> None:
    values = np.ones(((LAST - 1995 + 1) * 12, 1, 1))
    with pytest.raises(ConfigError) as err:
        spi_december(_monthly(values, first=1995))
    message = str(err.value)
    assert "covers 1995-2024 but the SPI calibration period is 1991-2020: 1991-1994 missing" in message
    assert "set the calibration period to 1995-2020" in message and "\n" not in message
    with pytest.raises(ConfigError, match="within 1995-2024"):
        spi_december(_monthly(values, first=1995), calibration=(1961, 1990))


def test_a_record_that_is_not_whole_calendar_years_is_refused() -> None:
    time = pd.date_range("1991-03-01", periods=12 * 30, freq="MS")
    monthly = xr.DataArray(np.ones((len(time), 1, 1)), dims=("time", "y", "x"), coords={"time": time})
    with pytest.raises(ConfigError, match="whole calendar years .* from 1991-03"):
        spi_december(monthly)
    gap = _monthly(np.ones((34 * 12, 1, 1))).drop_isel(time=[40])
    with pytest.raises(ConfigError, match="consecutive monthly totals"):
        spi_december(gap)


def test_the_spi_leaves_the_root_logger_as_it_was() -> None:
    """climate-indices replaces the root logger's handlers and level when imported; a run's logging must not change
    (checked in a fresh process, where the library is imported for the first time)."""
    import subprocess
    import sys

    script = (
        "import logging, numpy as np, pandas as pd, xarray as xr\n"
        "from tasks.science.drought import spi_december\n"
        "root = logging.getLogger(); root.addHandler(logging.NullHandler()); root.setLevel(logging.ERROR)\n"
        "before = (list(root.handlers), root.level)\n"
        "t = pd.date_range('1991-01-01', periods=34 * 12, freq='MS')\n"
        "p = xr.DataArray(np.random.default_rng(7).gamma(1.0, 30.0, (34 * 12, 1, 1)), dims=('time', 'y', 'x'),"
        " coords={'time': t})\n"
        "spi_december(p).compute()\n"
        "import climate_indices\n"
        "assert (list(root.handlers), root.level) == before, (root.handlers, root.level)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "calculation_started" not in done.stdout + done.stderr  # its INFO lines stay quiet


def test_reporting_years_are_the_unccd_periods_whichever_periods_run() -> None:
    periods = load_periods().periods
    assert reporting_years(periods, periods) == {"baseline": (2000, 2015), "report_1": (2016, 2019),
                                                 "report_2": (2020, 2023)}
    assert reporting_years(periods, ["report_2"]) == {"report_2": (2020, 2023)}


def test_drought_area_table_by_hand() -> None:
    """Two zones over three coarse cells and the area off the coarse grid (the last column): cell 0 non-drought,
    cell 1 severe, cell 2 nodata; zone A has 1 km2 of water in cell 1."""
    zones = (Zone("A", "A", shapely.box(0, 0, 1, 1)), Zone("B", "B", shapely.box(1, 0, 2, 1)))
    areas = CellAreas(zones=zones, cells=3, total=np.array([[10.0, 4.0, 0.0, 1.0], [0.0, 2.0, 6.0, 0.0]]),
                      water=np.array([[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]))
    table = drought_area_table(np.array([0, 3, NODATA]), areas, water=0, where={"year": 2017}).set_index("zone_id")
    a, b, both = table.loc["A"], table.loc["B"], table.loc["all"]
    assert (a.total_km2, a.water_km2, a.land_km2) == (15.0, 1.0, 14.0)
    assert (a.non_drought_km2, a.severe_km2, a.nodata_km2) == (10.0, 4.0, 1.0)  # off the grid: nodata
    assert a.severe_pct_of_total == pytest.approx(100 * 4 / 15)
    assert (a.severe_land_km2, a.nodata_land_km2) == (3.0, 1.0)
    assert a.severe_pct_of_land == pytest.approx(100 * 3 / 13)  # land with data: water and nodata out
    assert a.nodata_pct_of_land == pytest.approx(100 / 14)
    assert (b.severe_km2, b.nodata_km2, b.non_drought_pct_of_land) == (2.0, 6.0, 0.0)
    assert both.total_km2 == 23.0 and both.severe_land_km2 == 5.0 and both.zone == "all zones"
    no_water = drought_area_table(np.array([0, 3, NODATA]), areas, water=None, where={"year": 2017})
    assert no_water.water_km2.tolist() == [0.0, 0.0, 0.0]


def test_trends_earth_parity_uses_three_years_of_each_block_and_lets_nodata_win() -> None:
    years = np.arange(2000, 2008)
    s = xr.DataArray(np.array([[-100, -200, -300, -2500, -400, -500, -600, -900],    # the 4th years are left out
                               [-100, NODATA, -300, -400, -50, -60, -70, -80]]),   # a nodata year wins
                     dims=("x", "year"), coords={"year": years})
    every = worst_year(s)
    parity = worst_year(s, rule="trends_earth")
    assert every.spi.values.tolist() == [-2500, -400] and every.year.values.tolist() == [2003, 2003]
    assert parity.spi.values.tolist() == [-600, NODATA] and parity.year.values.tolist() == [2006, NODATA]
    assert parity.spi.attrs["worst_year_rule"] == "trends_earth"
    with pytest.raises(ConfigError, match="worst-year rule"):
        worst_year(s, rule="te")  # type: ignore[arg-type]
