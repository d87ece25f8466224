"""SOC model by hand, the +-10 % rule at its edges, one out all out (27 + nodata) and status (9 pairs)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.science.sdg import STATUS_CLASSES, one_out_all_out, status, status_3class
from tasks.science.soc import factor_table, load_soc_model, soc_change, soc_series
from tests.helpers import realdata

MODEL = load_soc_model()


def _lc(series: list[list[int]], years: list[int]) -> xr.DataArray:
    return xr.DataArray(np.array(series, "int16").T, dims=("year", "x"), coords={"year": years})


def test_hand_worked_two_successive_conversions() -> None:
    # zone 4 (cool temperate dry): f = 0.8. Stock 100 t C/ha in 2000.
    # 2000->2001 grassland -> cropland: F = f = 0.8, delta = (100 - 80) / 20 = 1.0 -> 99
    # 2002: 98, 2003: 97 (same delta)
    # 2003->2004 cropland -> tree-covered: F = 1/f = 1.25, delta = (97 - 121.25) / 20 = -1.2125 -> 98.2125
    # 2005: 99.425 (only the last transition counts)
    lc = np.array([2, 3, 3, 3, 1, 1])[:, None]
    series = soc_series(lc, np.array([100.0]), np.array([4]), factor_table(MODEL))
    np.testing.assert_allclose(series[:, 0], [100, 99, 98, 97, 98.2125, 99.425])


def test_change_runs_twenty_years_then_stops() -> None:
    lc = np.array([2] + [3] * 25)[:, None]
    series = soc_series(lc, np.array([50.0]), np.array([4]), factor_table(MODEL))[:, 0]
    np.testing.assert_allclose(series[20], 40.0)  # 50 * 0.8 after 20 steps
    np.testing.assert_allclose(series[21:], 40.0)


def test_single_f_and_undefined_zone() -> None:
    lc = np.array([[2, 2], [3, 3]])
    s = soc_series(lc, np.array([100.0, 100.0]), np.array([0, 4]), factor_table(MODEL))
    assert np.isnan(s[1, 0]) and s[1, 1] == 99.0  # zone 0 has no f
    s = soc_series(lc, np.array([100.0, 100.0]), np.array([0, 4]), factor_table(MODEL, single_f=0.5))
    np.testing.assert_allclose(s[1], [97.5, 97.5])


def _stock_by_hand(lc: list[int], soc0: float, zone: int, table: np.ndarray, years: int = 20) -> list[float]:
    """One pixel's stock year by year, read straight off the method notes (section 4): a conversion sets
    delta = (SOC - SOC x F) / 20 from the stock of that year, applied for 20 years; a later one replaces it."""
    zone = zone if 0 <= zone < 13 else 0  # a code outside the zones is "no zone": NaN unless one f for the run
    valid = all(1 <= c <= 7 for c in lc) and np.isfinite(soc0) and np.isfinite(table[zone, 1, 1])
    if not valid:
        return [np.nan] * len(lc)
    soc, delta, since, out = soc0, 0.0, years, [soc0]
    for before, after in itertools.pairwise(lc):
        if before != after:
            delta, since = (soc - soc * table[zone, before, after]) / years, 0
        if since < years:
            soc = soc - delta
        since += 1
        out.append(soc)
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_stock_series_matches_the_method_pixel_by_pixel(data: st.DataObject) -> None:
    n_years = data.draw(st.integers(1, 30))
    n_px = data.draw(st.integers(1, 12))
    lc = np.array(data.draw(st.lists(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 3]), min_size=n_px,
                                              max_size=n_px), min_size=n_years, max_size=n_years)), "int16")
    soc0 = np.array(data.draw(st.lists(st.one_of(st.floats(0, 400), st.just(np.nan)), min_size=n_px, max_size=n_px)))
    zone = np.array(data.draw(st.lists(st.integers(-1, 14), min_size=n_px, max_size=n_px)))
    table = factor_table(MODEL, single_f=data.draw(st.one_of(st.none(), st.floats(0.3, 1.5))))
    got = soc_series(lc, soc0, zone, table)
    for p in range(n_px):  # the same float operations in the same order: equal, not only close
        np.testing.assert_array_equal(got[:, p], _stock_by_hand(lc[:, p].tolist(), soc0[p], zone[p], table))
    keep = data.draw(st.lists(st.integers(-n_years, n_years - 1), max_size=4))
    np.testing.assert_array_equal(soc_series(lc, soc0, zone, table, keep=keep), got[keep])


@pytest.mark.parametrize(("last", "expected"), [(90.0, -1), (90.01, 0), (109.99, 0), (110.0, 1)])
def test_percent_change_edges(last: float, expected: int) -> None:
    # urban -> other land has F = 1 (no change), so drive the stock through a custom single-f model:
    # grassland -> cropland with f chosen so that after 20 years the stock is exactly `last`
    f = last / 100.0
    years = list(range(2000, 2021))
    lc = _lc([[2] + [3] * 20], years)
    ds = soc_change(lc, xr.DataArray([100.0], dims="x"), xr.DataArray([4], dims="x"), MODEL, single_f=f)
    assert float(ds["percent_change"][0]) == pytest.approx((last - 100.0), abs=1e-9)
    assert ds["soc"].values.tolist() == [expected]


def test_exact_ten_percent_boundaries_use_inclusive_rule() -> None:
    first = xr.DataArray([100.0, 100.0, 100.0, 100.0], dims="x")
    # a single conversion over exactly 20 years gives last = 100 * F; use F = 0.9 and 1.1 exactly via single f
    lc = _lc([[2] + [3] * 20, [3] + [2] * 20, [2] * 21, [2] * 21], list(range(2000, 2021)))
    ds = soc_change(lc, first, xr.DataArray([4, 4, 4, 4], dims="x"), MODEL, single_f=0.9)
    # grassland->cropland: 100 * 0.9 = 90 (-10.0 % -> -1); cropland->grassland: 100 / 0.9 = 111.1 (+1)
    assert ds["soc"].values.tolist()[:2] == [-1, 1]


def test_zero_baseline_water_and_nodata() -> None:
    years = [2000, 2001]
    lc = _lc([[2, 2], [7, 7], [2, 7], [NODATA, 2], [2, 2]], years)
    first = xr.DataArray([0.0, 50.0, 50.0, 50.0, np.nan], dims="x")
    ds = soc_change(lc, first, xr.DataArray([4] * 5, dims="x"), MODEL)
    assert ds["soc"].values.tolist() == [NODATA] * 5


def test_a_missing_land_cover_year_is_an_error() -> None:
    lc = _lc([[2, 2, 2]], [2000, 2001, 2003])
    with pytest.raises(ConfigError, match=r"needs land cover for every year of 2000-2003; missing \[2002\]"):
        soc_change(lc, xr.DataArray([50.0], dims="x"), xr.DataArray([4], dims="x"), MODEL)


def _oneout(p: int, lc: int, soc: int) -> int:
    """The method notes' rule, case by case."""
    if NODATA in (p, lc, soc):
        return NODATA
    if lc == -1 or soc == -1:
        return -1
    if p == 0 and (lc == 1 or soc == 1):
        return 1
    return p


def test_one_out_all_out_all_27_combinations_and_nodata() -> None:
    combos = list(itertools.product((-1, 0, 1, NODATA), repeat=3))
    p, lc, soc = (xr.DataArray(np.array(c, "int16"), dims="x") for c in zip(*combos))
    out = one_out_all_out(p, lc, soc).values.tolist()
    assert out == [_oneout(*c) for c in combos]
    assert sum(NODATA not in c for c in combos) == 27
    # spot checks typed out
    cases = {(1, -1, 0): -1, (1, 0, 0): 1, (0, 1, 0): 1, (0, 0, 1): 1, (-1, 1, 1): -1, (0, 0, 0): 0}
    p, lc, soc = (xr.DataArray(np.array(c, "int16"), dims="x") for c in zip(*cases))
    assert one_out_all_out(p, lc, soc).values.tolist() == list(cases.values())


def test_status_all_9_pairs() -> None:
    pairs = {(-1, -1): 1, (-1, 0): 3, (-1, 1): 6, (0, -1): 2, (0, 0): 4, (0, 1): 6, (1, -1): 2, (1, 0): 5, (1, 1): 7}
    b, q = (xr.DataArray(np.array(c, "int16"), dims="x") for c in zip(*pairs))
    s7 = status(b, q)
    assert s7.values.tolist() == list(pairs.values())
    assert status_3class(s7).values.tolist() == [-1, -1, 1, -1, 0, 1, -1, 1, 1]
    assert set(STATUS_CLASSES) == set(range(1, 8))
    nod = xr.DataArray(np.array([NODATA, 0], "int16"), dims="x")
    assert status(nod, xr.DataArray(np.array([0, NODATA], "int16"), dims="x")).values.tolist() == [NODATA, NODATA]


@pytest.mark.realdata
def test_real_soc_stocks_and_climate_zones_on_a_grid_that_is_not_exactly_one_twelfth() -> None:
    """WHRC SOC 1990 -> 2010 (pixel 0.0833333 deg) with the IPCC zones (exactly 1/12) reprojected onto it."""
    from odc.geo.geobox import GeoBox

    from tasks.io.sources.load import read_onto_grid

    soc_dir = realdata("soc_whrc_soil_carbon_debt_10km")
    zones_path = realdata("trends_earth_fixtures", "ipcc_climate_zones.tif")
    window = rasterio.windows.Window(3300, 420, 600, 500)  # 95E-145E, 55N-13N: Mongolia, China, Koreas, Japan
    stocks = []
    for year in (1990, 2010):
        with rasterio.open(soc_dir / f"SOCS_0_30cm_year_{year}AD_10km.tif") as src:
            data = src.read(1, window=window).astype("float64")
            data[data == src.nodata] = np.nan
            stocks.append(data)
            transform, crs = src.window_transform(window), src.crs
    assert transform.a != 1 / 12 and transform.a == pytest.approx(1 / 12, rel=1e-5)
    geobox = GeoBox(stocks[0].shape, transform, crs.to_wkt())
    zones = read_onto_grid(str(zones_path), geobox)
    assert zones.shape == stocks[0].shape
    land = np.isfinite(stocks[0])
    zone_values = zones.values[land]
    assert np.isin(zone_values, list(range(1, 13))).mean() > 0.97  # land pixels get a climate zone
    # percent change and classes on the real stocks, against a direct computation
    first, last = stocks
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (last - first) / first * 100
        expect = np.where(np.isfinite(pct) & (first > 0), np.where(pct <= -10, -1, np.where(pct >= 10, 1, 0)), NODATA)
    from tasks.science.soc import classify_change

    got = classify_change(xr.DataArray(first, dims=("y", "x")), xr.DataArray(last, dims=("y", "x")),
                          threshold=MODEL.threshold_percent)
    np.testing.assert_array_equal(got["soc"].values, expect)
    assert (expect == -1).any() and (expect == 0).any()


@pytest.mark.parametrize(("before", "after", "year", "percent"), [
    (2, 3, 2008, -13.13),   # grassland -> cropland in 2008, tropical moist f = 0.48: -2.6 t/yr; 79.2 -> 68.8
    (2, 6, 2009, -26.28),   # grassland -> other land (bare) in 2009, F = 0.1: -4.5 t/yr; 68.5 -> 50.5
    (3, 1, 2010, 16.35),    # cropland -> tree-covered in 2010, F = 1/f: +5.42 t/yr; 132.5 -> 154.2
])
def test_a_conversion_before_the_period_keeps_moving_the_stock_inside_it(before: int, after: int, year: int,
                                                                           percent: float) -> None:
    # issue 14's cases: the model starts at the stock's year (2000) for every period, so report_1 (2015-2019)
    # sees a conversion made in 2008-2010 that is still within its 20 years (restarting in 2015 gave 0 %)
    years = list(range(2000, 2020))
    lc = _lc([[before if y < year else after for y in years]], years)
    ds = soc_change(lc, xr.DataArray([100.0], dims="x"), xr.DataArray([11], dims="x"), MODEL, first_year=2015)
    assert float(ds["percent_change"][0]) == pytest.approx(percent, abs=0.01)
    assert ds["soc"].values.tolist() == [-1 if percent < 0 else 1]
    assert ds.attrs["years"] == [2015, 2019] and ds.attrs["model_years"] == [2000, 2019]
    assert MODEL.stock_year == 2000


def test_first_year_outside_the_series_is_an_error() -> None:
    lc = _lc([[2, 2, 2]], [2000, 2001, 2002])
    with pytest.raises(ConfigError, match="first land cover year 1999 is outside the SOC series 2000-2002"):
        soc_change(lc, xr.DataArray([50.0], dims="x"), xr.DataArray([4], dims="x"), MODEL, first_year=1999)
