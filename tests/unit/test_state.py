"""State: every branch of both methods by hand, and against numpy.percentile on random data."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.science.state import state
from tests.helpers import exact_te_state

YEARS = np.arange(2001, 2016)
BL, TG = (2001, 2012), (2013, 2015)


def _annual(rows: list[list[float]], *, stored: bool = True) -> xr.DataArray:
    """(year, x) annual NDVI given as NDVI floats (NaN: a missing year), stored as the published int16
    NDVI x 10000 layers are (nodata -32768), or kept as floats with ``stored=False``."""
    values = np.array(rows, float).T
    if stored:
        values = np.where(np.isnan(values), NODATA, np.round(values * 10000)).astype("int16")
    return xr.DataArray(values, dims=("year", "x"), coords={"year": YEARS[: len(rows[0])]})


BASE = [0.20, 0.22, 0.21, 0.23, 0.24, 0.20, 0.22, 0.21, 0.23, 0.22, 0.21, 0.22]
# deciles of BASE + [0.198, 0.242] (hand-worked, linear interpolation over 14 values):
# p10 .200  p20 .206  p30 .210  p40 .212  p50 .220  p60 .220  p70 .221  p80 .230  p90 .237  p100 .242
# baseline mean 0.2175 -> class 5 (> p40, not > p50)


@pytest.mark.parametrize(("target", "cls_tg", "change", "three"), [
    ([0.10, 0.11, 0.12], 1, -4, -1),        # below p10 -> class 1
    ([0.200, np.nan, np.nan], 1, -4, -1),   # exactly p10 (one valid target year) -> class 1 (<= p10)
    ([0.205, 0.205, 0.205], 2, -3, -1),     # > p10, <= p20
    ([0.2115, 0.2115, 0.2115], 4, 0, 0),    # class 4: change -1 -> 3-class 0; and |diff| 0.006 <= 0.01 -> 0
    ([0.236, 0.236, 0.236], 9, 4, 1),       # > p80, <= p90
    ([0.30, 0.30, 0.30], 10, 5, 1),         # above p100 -> capped at 10
])
def test_trends_earth_hand_worked(target: list[float], cls_tg: int, change: int, three: int) -> None:
    ds = state(_annual([BASE + target]), baseline=BL, target=TG)
    assert ds["class_baseline"].values.tolist() == [5]
    assert ds["class_target"].values.tolist() == [cls_tg]
    assert ds["change"].values.tolist() == [change]
    assert ds["state"].values.tolist() == [three]
    assert ds["mean_baseline"].values[0] == pytest.approx(0.2175)


def test_trends_earth_dead_band_forces_zero_change() -> None:
    # means 0.2175 vs 0.2275: classes 5 vs 8 (change +3) but |diff| = 0.01 <= 0.01 -> change 0
    ds = state(_annual([BASE + [0.2275] * 3]), baseline=BL, target=TG)
    assert ds["class_target"].values.tolist() == [8]
    assert ds["change"].values.tolist() == [0] and ds["state"].values.tolist() == [0]


def test_three_class_boundaries() -> None:
    # a wider baseline (BASE stretched x10 around 0.2): deciles .200 .260 .300 .320 .400 .400 .410 .500 .570 .620,
    # baseline mean 0.375 -> class 5
    wide = [0.2 + (v - 0.2) * 10 for v in BASE]
    rows = [wide + [t] * 3 for t in (0.28, 0.31, 0.405)]  # classes 3, 4, 7 -> change -2, -1, +2
    ds = state(_annual(rows), baseline=BL, target=TG)
    assert ds["class_baseline"].values.tolist() == [5, 5, 5]
    assert ds["change"].values.tolist() == [-2, -1, 2]
    assert ds["state"].values.tolist() == [-1, 0, 1]
    # the same class changes with means within 0.01 NDVI are forced to 0
    ds = state(_annual([BASE + [0.208] * 3, BASE + [0.2205] * 3]), baseline=BL, target=TG)
    assert ds["class_target"].values.tolist() == [3, 7]
    assert ds["change"].values.tolist() == [0, 0] and ds["state"].values.tolist() == [0, 0]


def test_thin_pixels_are_nodata() -> None:
    few = [np.nan] * 10 + [0.2, 0.2]
    no_target = BASE + [np.nan] * 3
    ds = state(_annual([few + [0.2] * 3, no_target]), baseline=BL, target=TG)
    assert ds["state"].values.tolist() == [NODATA, NODATA]
    assert ds["class_baseline"].values.tolist() == [NODATA, NODATA]


def test_trends_earth_against_exact_rationals_and_numpy_percentile() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(0.3, 0.05, size=(2000, 15)).round(4)
    values[rng.random(values.shape) < 0.05] = np.nan
    values[:50, :12] = values[:50, :1]                       # constant baselines: every decile ties the mean
    values[50:100, 12:] = values[50:100, 12:13]
    ds = state(_annual(values.tolist()), baseline=BL, target=TG)
    stored = np.round(values * 10000)
    floats_agree = 0
    for i, row in enumerate(stored):
        bl = [int(v) for v in row[:12] if not np.isnan(v)]
        tg = [int(v) for v in row[12:] if not np.isnan(v)]
        if len(bl) < 3 or len(tg) < 1:
            assert ds["state"].values[i] == NODATA
            continue
        got = (ds["class_baseline"].values[i], ds["class_target"].values[i], ds["change"].values[i])
        assert got == exact_te_state(bl, tg), i
        # numpy.percentile on floats agrees wherever no mean lies on a decile or the dead band's edge
        b, t = np.array(bl) / 1e4, np.array(tg) / 1e4
        dec = np.percentile(np.concatenate([b, [b.min() - 0.05 * np.ptp(b), b.max() + 0.05 * np.ptp(b)]]),
                            np.arange(10, 101, 10))
        if min(np.abs(dec - b.mean()).min(), np.abs(dec - t.mean()).min(), abs(abs(b.mean() - t.mean()) - 0.01)) > 1e-9:
            cls = [1 if v <= dec[0] else min(max(k + 1 for k in range(1, 11) if v > dec[k - 1]), 10)
                   for v in (b.mean(), t.mean())]
            assert tuple(got[:2]) == tuple(cls)
            floats_agree += 1
    assert floats_agree > 1500


@pytest.mark.parametrize(("values", "baseline", "target", "expected"), [
    # issue 14's cases: a target mean exactly 0.01 below the baseline's (baseline 5198, 5000, 5198, 5000 -> 5099,
    # target 4999): change 0, state 0 (float noise made it -3 / -1)
    ([5198, 5000, 5198, 5000, 4999, 4999, 4999], (2001, 2004), (2005, 2007), (0, 0)),
    # a constant series 2113 over a 12-year baseline: its mean equals every decile, so it is class 1 (<= p10);
    # float noise made the baseline class 10
    ([2113] * 15, (2001, 2012), (2013, 2015), (0, 0)),
])
def test_trends_earth_exact_at_the_thresholds(values: list[int], baseline: tuple[int, int], target: tuple[int, int],
                                              expected: tuple[int, int]) -> None:
    annual = xr.DataArray(np.array(values, "int16")[:, None], dims=("year", "x"),
                          coords={"year": np.arange(2001, 2001 + len(values))})
    ds = state(annual, baseline=baseline, target=target)
    assert (int(ds["change"].item()), int(ds["state"].item())) == expected
    if values[0] == 2113:
        assert int(ds["class_baseline"].item()) == 1 and int(ds["class_target"].item()) == 1


def test_gpg_v2_z_and_classes() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(0.3, 0.02, 12)
    mu, sd = base.mean(), base.std(ddof=1)
    targets = [mu + f * sd / np.sqrt(3) for f in (-2.5, -1.96, -1.5, -1.28, 0.0, 1.28, 1.5, 1.96, 2.5)]
    rows = [list(base) + [t] * 3 for t in targets]
    ds = state(_annual(rows, stored=False), baseline=BL, target=TG, method="gpg_v2")
    np.testing.assert_allclose(ds["z"].values, [-2.5, -1.96, -1.5, -1.28, 0.0, 1.28, 1.5, 1.96, 2.5], atol=1e-9)
    # at exactly +-1.96 / +-1.28 floating point decides; check the unambiguous ones
    assert ds["classes"].values[[0, 2, 4, 6, 8]].tolist() == [-2, -1, 0, 1, 2]
    assert ds["state"].values[[0, 2, 4, 6, 8]].tolist() == [-1, 0, 0, 0, 1]


def test_gpg_v2_constant_baseline() -> None:
    ds = state(_annual([[0.25] * 12 + [0.25] * 3, [0.25] * 12 + [0.5] * 3], stored=False), baseline=BL, target=TG,
               method="gpg_v2")
    assert ds["z"].values[0] == 0.0 and np.isinf(ds["z"].values[1])
    assert ds["state"].values.tolist() == [0, 1]


def test_int16_input_and_laziness() -> None:
    rng = np.random.default_rng(2)
    raw = (rng.normal(0.3, 0.03, size=(15, 8, 6)) * 10000).round().astype("int16")
    raw[:, 0, 0] = NODATA
    annual = xr.DataArray(raw, dims=("year", "y", "x"), coords={"year": YEARS})
    eager = state(annual, baseline=BL, target=TG)
    lazy = state(annual.chunk({"year": -1, "y": 4, "x": 3}), baseline=BL, target=TG)
    xr.testing.assert_allclose(eager, lazy.compute())
    assert eager["state"].values[0, 0] == NODATA
    assert eager.attrs["baseline"] == [2001, 2012] and eager.attrs["target"] == [2013, 2015]


@pytest.mark.parametrize(("bl", "tg", "match"), [
    ((2001, 2012), (2013, 2017), r"needs annual NDVI for \[2016, 2017\]"),
    ((2012, 2001), (2013, 2015), "reversed"),
    ((2001, 2014), (2013, 2015), "must come after the baseline"),
])
def test_bad_windows(bl: tuple, tg: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        state(_annual([BASE + [0.2] * 3]), baseline=bl, target=tg)


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="unknown state method"):
        state(_annual([BASE + [0.2] * 3]), baseline=BL, target=TG, method="x")  # type: ignore[arg-type]


def test_gpg_v2_z_exactly_at_a_level_is_decided_exactly() -> None:
    # baseline 925, 925, 625, 1025 (x 1e-4 NDVI), target mean 1071: z = 1.96 exactly (found by a rational search),
    # so the class is +1 (|z| <= 1.96), and one more unit on the target mean makes it +2
    rows = np.array([[925, 925, 625, 1025, 1071, 1071, 1071], [925, 925, 625, 1025, 1071, 1071, 1072]], "int16").T
    annual = xr.DataArray(rows, dims=("year", "x"), coords={"year": np.arange(2001, 2008)})
    ds = state(annual, baseline=(2001, 2004), target=(2005, 2007), method="gpg_v2")
    assert ds["classes"].values.tolist() == [1, 2]
    assert ds["state"].values.tolist() == [0, 1]
