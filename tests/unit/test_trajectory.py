"""Trajectory: kernel against pymannkendall and scipy, exact null distribution, both class methods."""
from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pymannkendall as mk
import pytest
import rasterio
import xarray as xr
from scipy import stats

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.kernels.trend import mann_kendall_sen
from tasks.science.trajectory import (
    exact_critical_s,
    kendall_s_null,
    te_critical_s,
    trajectory,
    trajectory_3class,
    trajectory_classes,
    trend_statistics,
)
from tests.helpers import SHARED, realdata


def _series(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """Random series with trends, ties (rounded values) and gaps (NaN)."""
    t = np.arange(n)
    y = rng.normal(size=(rows, 1)) * 0.02 * t + rng.normal(size=(rows, n))
    y = np.round(y, 1)  # many ties
    y[rng.random(y.shape) < 0.1] = np.nan
    return y


@pytest.mark.parametrize("n_years", [10, 16, 24])
def test_kernel_matches_pymannkendall_and_scipy(n_years: int) -> None:
    rng = np.random.default_rng(n_years)
    y = _series(rng, 1500, n_years)
    s, var, z, p, sen, ols, n = mann_kendall_sen(y, min_count=4)
    for i, row in enumerate(y):
        ok = ~np.isnan(row)
        assert n[i] == ok.sum()
        if ok.sum() < 4:
            assert np.isnan(s[i]) and np.isnan(sen[i])
            continue
        ref = mk.original_test(row[ok])
        assert s[i] == ref.s
        assert var[i] == pytest.approx(ref.var_s, rel=1e-12)
        assert z[i] == pytest.approx(ref.z, rel=1e-9, abs=1e-12)
        assert p[i] == pytest.approx(ref.p, rel=1e-9, abs=1e-12)
        x = np.flatnonzero(ok).astype(float)  # gaps keep their year positions
        assert sen[i] == pytest.approx(stats.theilslopes(row[ok], x)[0], rel=1e-9, abs=1e-12)
        assert ols[i] == pytest.approx(stats.linregress(x, row[ok]).slope, rel=1e-9, abs=1e-12)
        tau = stats.kendalltau(x, row[ok])
        # S = tau_b * sqrt((n0 - n1) * n0) with no ties in x
        n0 = ok.sum() * (ok.sum() - 1) / 2
        ties_y = sum(c * (c - 1) / 2 for c in np.unique(row[ok], return_counts=True)[1])
        assert s[i] == pytest.approx(tau.statistic * math.sqrt(n0 * (n0 - ties_y)), abs=1e-6)


def test_kernel_edge_cases() -> None:
    rows = np.array([
        [np.nan] * 12,                       # all missing
        [5.0] * 12,                          # constant
        [np.nan] * 11 + [1.0],               # one valid
        [1.0, 2.0, np.inf, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],  # inf is treated as missing
    ])
    s, var, z, p, sen, ols, n = mann_kendall_sen(rows, min_count=4)
    assert np.isnan(s[0]) and n[0] == 0
    assert (s[1], z[1], p[1], sen[1], ols[1]) == (0.0, 0.0, 1.0, 0.0, 0.0)
    assert var[1] == 0.0  # all tied
    assert np.isnan(s[2]) and n[2] == 1
    assert n[3] == 11 and s[3] == 55 and sen[3] == 1.0


def test_kernel_in_threads_equals_serial() -> None:
    rng = np.random.default_rng(7)
    chunks = [_series(rng, 400, 16) for _ in range(8)]
    serial = [mann_kendall_sen(c) for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(mann_kendall_sen, chunks))
    for a, b in zip(serial, threaded):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8])
def test_exact_null_distribution_against_enumeration(n: int) -> None:
    counts: dict[int, int] = {}
    for perm in itertools.permutations(range(n)):
        s = sum(np.sign(perm[j] - perm[i]) for i in range(n) for j in range(i + 1, n))
        counts[int(s)] = counts.get(int(s), 0) + 1
    values, probs = kendall_s_null(n)
    total = math.factorial(n)
    assert dict(zip(values.tolist(), (probs * total).round().astype(int).tolist())) == counts


def test_exact_critical_values_and_true_size_of_te_levels() -> None:
    # exact one-tailed 0.10/0.05/0.01 quantiles quoted in the method notes
    assert [exact_critical_s(15, a) for a in (0.10, 0.05, 0.01)] == [29, 35, 49]
    assert [exact_critical_s(16, a) for a in (0.10, 0.05, 0.01)] == [30, 38, 52]
    # Trends.Earth's table is not those quantiles: its "95%" at n = 15 has a one-tailed size of ~0.057
    s90, s95, s99, origin = te_critical_s(15)
    assert (s90, s95, s99, origin) == (27, 33, 50, "trends_earth_table")
    values, probs = kendall_s_null(15)
    assert probs[values >= s95].sum() == pytest.approx(0.0571, abs=5e-4)
    z = (s95 - 1) / math.sqrt(15 * 14 * 35 / 18)
    assert z == pytest.approx(1.58, abs=0.01)
    # gpg_v2's normal approximation against the exact small-n p-value
    p_exact = probs[values >= 35].sum()
    p_normal = stats.norm.sf((35 - 1) / math.sqrt(15 * 14 * 35 / 18))
    assert p_exact == pytest.approx(p_normal, abs=0.005)


def test_te_table_is_the_shared_method_table() -> None:
    shared = SHARED / "method" / "te_kendall_critical_s.csv"
    if not shared.exists():
        pytest.skip(f"{shared} is absent (team-internal ../shared); the copy in catalogs/ is used")
    from tasks.science.trajectory import TE_TABLE_FILE

    ours = [r for r in TE_TABLE_FILE.read_text().splitlines() if not r.startswith("#")]
    assert ours == shared.read_text().splitlines()


def test_te_beyond_table_uses_exact_quantiles_and_too_short_is_an_error() -> None:
    assert te_critical_s(60)[3] == "exact_quantiles"
    assert te_critical_s(60)[:3] == tuple(exact_critical_s(60, a) for a in (0.10, 0.05, 0.01))
    with pytest.raises(ConfigError, match="at least 4 valid years"):
        te_critical_s(3)


def _stats(s: list[float], n: list[int], slope: list[float], var_s: list[float] | None = None) -> xr.Dataset:
    dims = ("x",)
    return xr.Dataset({
        "s": (dims, np.array(s, float)), "n": (dims, np.array(n)), "ols_slope": (dims, np.array(slope, float)),
        "var_s": (dims, np.array(var_s if var_s is not None else [1.0] * len(s), float)),
    })


def test_trends_earth_classes_hand_worked_n15() -> None:
    # n = 15: S90/S95/S99 = 27/33/50; inclusive >=, then 0 where |S| <= S90 or |slope| <= 0.001
    s = [27, 28, 33, 49, 50, -28, -33, -50, 60, 60, 60, np.nan]
    slope = [0.01, 0.01, 0.01, 0.01, 0.01, -0.01, -0.01, -0.01, 0.001, -0.0011, 0.0, 0.01]
    out = trajectory_classes(_stats(s, [15] * 12, slope)).values.tolist()
    assert out == [0, 1, 2, 2, 3, -1, -2, -3, 0, -3, 0, NODATA]


def test_trends_earth_sign_comes_from_ols_slope() -> None:
    out = trajectory_classes(_stats([40], [15], [-0.01])).values.tolist()
    assert out == [-2]


def test_gpg_v2_classes_at_the_boundaries() -> None:
    # var(S) = 10000, so z = (S - sign S) / 100: -2.5, -1.96, -1.5, -1.28, 0, 1.28, 1.5, 1.96, 2.5, nodata
    s = [-251, -197, -151, -129, 0, 129, 151, 197, 251, np.nan]
    out = trajectory_classes(_stats(s, [15] * 10, [0] * 10, [10000.0] * 10), method="gpg_v2").values.tolist()
    assert out == [-2, -1, -1, 0, 0, 0, 1, 1, 2, NODATA]


def test_three_class_recode() -> None:
    cls = xr.DataArray(np.array([-3, -2, -1, 0, 1, 2, 3, NODATA], "int16"))
    assert trajectory_3class(cls).values.tolist() == [-1, -1, 0, 0, 0, 1, 1, NODATA]


def test_unknown_method_and_short_windows_are_errors() -> None:
    with pytest.raises(ConfigError, match="unknown trajectory method 'te'"):
        trajectory_classes(_stats([1], [15], [1]), method="te")  # type: ignore[arg-type]
    short = xr.DataArray(np.zeros((3, 2, 2), "int16"), dims=("year", "y", "x"), coords={"year": [2001, 2002, 2003]})
    with pytest.raises(ConfigError, match="has 3 years; it needs at least 4"):
        trajectory(short)
    with pytest.raises(ConfigError, match="min_years 10 exceeds the 5 years"):
        trajectory(xr.concat([short, short[:2]], "year").assign_coords(year=range(2001, 2006)))


def test_trajectory_on_int16_annual_layers_handles_nodata_and_is_lazy() -> None:
    rng = np.random.default_rng(3)
    years = np.arange(2001, 2016)
    trend = np.linspace(0, 1, 6 * 5).reshape(6, 5) * 0.01  # NDVI per year
    base = 2000 + (trend[None] * 10000 * (years - 2001)[:, None, None]) + rng.normal(0, 30, (15, 6, 5))
    annual = xr.DataArray(base.round().astype("int16"), dims=("year", "y", "x"), coords={"year": years})
    annual[:, 0, 0] = NODATA                 # all-nodata pixel
    annual[3:9, 1, 1] = NODATA               # too few valid years (9 < 10)
    eager = trajectory(annual)
    lazy = trajectory(annual.chunk({"year": -1, "y": 3, "x": 2}))
    xr.testing.assert_allclose(eager, lazy.compute())
    assert eager["classes"].values[0, 0] == NODATA and eager["trajectory"].values[1, 1] == NODATA
    assert np.isnan(eager["sen_slope"].values[0, 0])
    # slopes are in NDVI per year, from the int16 x 10000 values
    assert eager["ols_slope"].values[5, 4] == pytest.approx(0.01, abs=0.002)
    assert eager["trajectory"].values[5, 4] == 1
    assert eager.attrs["window"] == [2001, 2015] and eager.attrs["method"] == "trends_earth"


@pytest.mark.realdata
def test_sen_slope_matches_rtrend_on_real_modis_lai() -> None:
    folder = realdata("ne_asia_modis_lai_2001_2020")
    with rasterio.open(folder / "MOD15A2_LAI_China_G050_2001-2020.tif") as src:
        lai = src.read().astype("float64")  # (20 years, 80, 140), band i = year 2000 + i
    with rasterio.open(folder / "LAI_trend_rtrend_slope_mk.tif") as src:
        ref_slope, ref_p = src.read(1).astype("float64"), src.read(2).astype("float64")
    cube = xr.DataArray(lai, dims=("year", "y", "x"), coords={"year": np.arange(2001, 2021)})
    st = trend_statistics(cube, min_years=3)
    np.testing.assert_allclose(st["sen_slope"].values, ref_slope, rtol=0, atol=1e-6)
    # our p is the plain Mann-Kendall p: equal to pymannkendall's original_test on real pixels
    rng = np.random.default_rng(0)
    for r, c in zip(rng.integers(0, 80, 200), rng.integers(0, 140, 200)):
        assert st["p"].values[r, c] == pytest.approx(mk.original_test(lai[:, r, c]).p, rel=1e-9, abs=1e-12)
    # rtrend's band 2 adds the Hamed & Rao autocorrelation correction, which moves many p-values:
    # only a loose agreement on "p < 0.05" is expected (measured here: 75 %)
    ok = np.isfinite(ref_p)
    agree = ((st["p"].values < 0.05) == (ref_p < 0.05))[ok].mean()
    assert agree > 0.7


def _annual_int(rows: list[list[int]]) -> xr.DataArray:
    values = np.array(rows, "int16").T
    return xr.DataArray(values, dims=("year", "x"), coords={"year": np.arange(2001, 2001 + values.shape[0])})


def test_slope_exactly_at_the_dead_band_is_stable() -> None:
    # issue 14: 3131, 3141, 3151, 3161 rises by exactly 0.001 NDVI/yr: |slope| <= 0.001 is class 0 (float noise
    # made it +3); one more unit on the last year lifts the slope above the band
    ds = trajectory(_annual_int([[3131, 3141, 3151, 3161], [3131, 3141, 3151, 3162]]), min_years=4)
    assert ds["classes"].values.tolist() == [0, 3]
    assert ds["ols_slope_stored"].values[0] == 10.0


def test_trends_earth_classes_against_rational_reference() -> None:
    # slopes on a lattice around the dead band: y = a + b t + small symmetric wiggles, so many OLS slopes are
    # exactly +-10 stored units per year; the class must follow the exact rational slope
    rng = np.random.default_rng(14)
    n = 16
    t = np.arange(n)
    rows = []
    for _ in range(3000):
        b = int(rng.choice([-11, -10, -9, 9, 10, 11]))
        wiggle = rng.integers(-3, 4, n // 2)
        noise = np.concatenate([wiggle, wiggle[::-1]])  # symmetric about the centre: adds nothing to the slope
        rows.append((3000 + b * t + noise * rng.integers(0, 2)).tolist())
    ds = trajectory(_annual_int(rows), min_years=n)
    s90 = te_critical_s(n)[0]
    for row, s, cls in zip(rows, ds["s"].values, ds["classes"].values):
        x = list(range(n))
        num = n * sum(i * y for i, y in zip(x, row)) - sum(x) * sum(row)
        den = n * sum(i * i for i in x) - sum(x) ** 2
        slope = Fraction(num, den)
        if abs(slope) <= 10 or abs(s) <= s90:
            assert cls == 0
        else:
            assert np.sign(cls) == np.sign(slope) and cls != 0
