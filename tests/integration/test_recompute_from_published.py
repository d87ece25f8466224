"""The method notes' promise (section 1, 2.5): anyone recomputing trajectory, state, performance and the LPD
from the published int16 annual layers gets the published class on every pixel of the sample region.

Two recomputations: with our own functions on the whole area at once (the run computed tile by tile),
and with independent references written here: Mann-Kendall S from pair signs and the OLS slope as an
exact integer ratio in numpy int64, the state classes in Python ``Fraction``s on a sample of pixels, and
the performance ratio as integers against the published unit percentile.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
import xarray as xr

from tasks.config import load_periods
from tasks.constants import NODATA
from tasks.science.lpd import lpd
from tasks.science.state import state
from tasks.science.trajectory import te_critical_s, trajectory
from tests.helpers import catalog_items, exact_te_state, read_asset

pytestmark = pytest.mark.integration

PERIODS = ("baseline", "report_1", "report_2")


def _find(items: dict[str, pystac.Item], indicator: str, *, year: int | None = None,
          period: str | None = None) -> pystac.Item:
    return next(i for i in items.values() if i.properties["ldn:indicator"] == indicator
                and (year is None or i.properties["ldn:year"] == year)
                and (period is None or i.properties["ldn:period"] == period))


def _annual(items: dict[str, pystac.Item], years: tuple[int, int]) -> xr.DataArray:
    stack = [read_asset(_find(items, "ndvi-annual", year=y)) for y in range(years[0], years[1] + 1)]
    return xr.DataArray(np.stack(stack), dims=("year", "y", "x"), coords={"year": list(range(years[0], years[1] + 1))})


def _layer(items: dict[str, pystac.Item], indicator: str, period: str, key: str = "data") -> np.ndarray:
    return read_asset(_find(items, indicator, period=period), key)


def _reference_trends_earth_classes(cube: np.ndarray) -> np.ndarray:
    """Trajectory classes -3..+3 from the int16 cube in integer arithmetic only (no numba, no floats)."""
    n_years, h, w = cube.shape
    valid = cube != NODATA
    y = cube.astype(np.int64)
    s = np.zeros((h, w), np.int64)
    for i in range(n_years - 1):
        for j in range(i + 1, n_years):
            both = valid[i] & valid[j]
            s += np.where(both, np.sign(y[j] - y[i]), 0)
    t = np.arange(n_years, dtype=np.int64)[:, None, None]
    n = valid.sum(0).astype(np.int64)
    sx, sy = (t * valid).sum(0), np.where(valid, y, 0).sum(0)
    sxy, sxx = np.where(valid, t * y, 0).sum(0), (t * t * valid).sum(0)
    num, den = n * sxy - sx * sy, n * sxx - sx * sx  # OLS slope = num / den, exactly
    out = np.full((h, w), NODATA, np.int16)
    for count in np.unique(n[n >= 10]):
        s90, s95, s99, _ = te_critical_s(int(count))
        a = np.abs(s)
        level = np.where(a >= s99, 3, np.where(a >= s95, 2, np.where(a >= s90, 1, 0)))
        cls = np.sign(num) * level
        cls = np.where((a <= s90) | (np.abs(num) <= 10 * den), 0, cls)  # |slope| <= 10 x 1e-4 NDVI/yr
        out = np.where(n == count, cls, out)
    return out


@pytest.mark.parametrize("period", PERIODS)
def test_recomputing_from_the_published_annual_layers_gives_every_published_class(
        full_run: tuple[Path, Path], period: str) -> None:
    _, root = full_run
    items = catalog_items(root)
    windows = load_periods().periods[period]
    annual = _annual(items, windows.productivity)

    # trajectory: our kernel on the whole area, and the integer reference
    traj = trajectory(annual)
    published_classes = _layer(items, "trajectory", period, "classes")
    np.testing.assert_array_equal(traj["classes"].values, published_classes)
    np.testing.assert_array_equal(traj["trajectory"].values, _layer(items, "trajectory", period))
    np.testing.assert_array_equal(_reference_trends_earth_classes(annual.values), published_classes)

    # state: our kernel on the whole area, and Fractions on a sample of pixels
    st = state(annual, baseline=windows.state_baseline, target=windows.state_target)
    for key in ("class_baseline", "class_target", "change"):
        np.testing.assert_array_equal(st[key].values, _layer(items, "state", period, key))
    np.testing.assert_array_equal(st["state"].values, _layer(items, "state", period))
    change = _layer(items, "state", period, "change")
    cb, ct = _layer(items, "state", period, "class_baseline"), _layer(items, "state", period, "class_target")
    years = annual["year"].values
    is_bl = (years >= windows.state_baseline[0]) & (years <= windows.state_baseline[1])
    is_tg = (years >= windows.state_target[0]) & (years <= windows.state_target[1])
    rng = np.random.default_rng(15)
    h, w = change.shape
    for r, c in zip(rng.integers(0, h, 3000), rng.integers(0, w, 3000)):
        series = annual.values[:, r, c]
        bl = [int(v) for v in series[is_bl] if v != NODATA]
        tg = [int(v) for v in series[is_tg] if v != NODATA]
        if len(bl) < 3 or not tg:
            assert change[r, c] == NODATA
            continue
        assert (cb[r, c], ct[r, c], change[r, c]) == exact_te_state(bl, tg)

    # performance: mean as sum / count of the published years against the published unit percentile, in integers
    perf = _layer(items, "performance", period)
    p90 = _layer(items, "performance", period, "unit_percentile").astype(np.float64)
    p90_tenths = np.rint(np.nan_to_num(p90) * 1e5).astype(np.int64)  # 90th percentile: a multiple of 0.1 x 1e-4
    valid = annual.values != NODATA
    total = np.where(valid, annual.values.astype(np.int64), 0).sum(0)
    count = valid.sum(0)
    defined = np.isfinite(p90) & (p90_tenths > 0) & (count > 0)
    expected = np.where(defined, np.where(total * 20 <= count * p90_tenths, -1, 0), NODATA)  # mean <= p90 / 2
    np.testing.assert_array_equal(expected, perf)

    # LPD from the published 3-class maps (performance undefined where the unit percentile is <= 0)
    no_ratio = np.isfinite(p90) & (p90_tenths <= 0) & (count > 0)
    as_da = [xr.DataArray(a, dims=("y", "x")) for a in
             (_layer(items, "trajectory", period), _layer(items, "state", period), perf, no_ratio)]
    recomputed = lpd(*as_da[:3], no_ratio=as_da[3]).values
    np.testing.assert_array_equal(recomputed, _layer(items, "lpd", period))


@pytest.mark.parametrize("period", ["report_1", "report_2"])
def test_the_ldn_balance_is_recomputed_from_the_published_status_and_land_cover(
        full_run: tuple[Path, Path], period: str) -> None:
    """Gains (status 6-7), losses (1-2) and the land types (the baseline's initial land cover) on every pixel, and
    the zone tables' gains and losses added over the zones against pixel counts times the sinusoidal grid's equal
    pixel area (method notes section 6)."""
    _, root = full_run
    items = catalog_items(root)
    status = _layer(items, "status", period)
    expected = np.select([np.isin(status, [6, 7]), np.isin(status, [1, 2]), np.isin(status, [3, 4, 5])], [1, -1, 0],
                         NODATA)
    balance = _find(items, "ldn-balance", period=period)
    np.testing.assert_array_equal(read_asset(balance), expected)
    initial = _layer(items, "land-cover", "baseline", "initial")
    np.testing.assert_array_equal(read_asset(balance, "land_type"), np.where((initial >= 1) & (initial <= 7), initial,
                                                                             NODATA))
    sdg = _find(items, "sdg-15-3-1", period=period)
    summary = pd.read_csv(sdg.assets["ldn_balance_summary_csv"].get_absolute_href())
    with rasterio.open(balance.assets["data"].get_absolute_href()) as src:
        pixel_km2 = abs(src.transform.a * src.transform.e) / 1e6  # MODIS sinusoidal: equal-area pixels
    assert summary["gains_km2"].sum() == pytest.approx((expected == 1).sum() * pixel_km2, rel=1e-4)
    assert summary["losses_km2"].sum() == pytest.approx((expected == -1).sum() * pixel_km2, rel=1e-4)
    assert (summary["net_balance_achieved"] == (summary["gains_km2"] >= summary["losses_km2"])).all()
