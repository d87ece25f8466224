"""FAO-WOCAT LPD (method notes 2.6): every step by hand, the 36 combinations, a rational reference, planted cases."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import xarray as xr

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.science.fao_wocat import fao_wocat
from tasks.science.trajectory import te_critical_s

YEARS = np.arange(2008, 2024)  # report_2's 16-year window


def _annual(rows: list[list[int]]) -> xr.DataArray:
    values = np.array(rows, "int16").T
    return xr.DataArray(values, dims=("year", "x"), coords={"year": YEARS[: values.shape[0]]})


def _max(values: list[int], n_years: int = 16) -> xr.DataArray:
    return xr.DataArray(np.array([values] * n_years, "int16"), dims=("year", "x"), coords={"year": YEARS[:n_years]})


def _reference(series: list[int | None], window_max: int | None, *, interval: int = 3, use_mtid: bool = True,
               min_years: int = 10) -> tuple[int, ...] | None:
    """Steps 1-7 as the method notes write them, in Fractions: (lpd, trend, mtid, steadiness, biomass, emerging, k)."""
    pairs = [(i, v) for i, v in enumerate(series) if v is not None]
    vals = [v for _, v in pairs]
    n = len(vals)
    if n < max(min_years, 2 * interval, 4):
        return None
    s = sum((vals[j] > vals[i]) - (vals[j] < vals[i]) for i in range(n) for j in range(i + 1, n))
    xs = [i for i, _ in pairs]
    xm, ym = Fraction(sum(xs), n), Fraction(sum(vals), n)
    slope = sum((x - xm) * (y - ym) for x, y in pairs) / sum((x - xm) ** 2 for x in xs)
    sig = abs(s) >= te_critical_s(n)[1]
    a = 1 if sig and slope < 0 else (3 if sig and slope > 0 else 2)
    # the first and last `interval` calendar years, averaged over their valid ones (method notes 2.6, step 4)
    firsts = [v for v in series[:interval] if v is not None]
    lasts = [v for v in series[-interval:] if v is not None]
    if not firsts or not lasts:
        return None
    last_mean = Fraction(sum(lasts), len(lasts))
    m = sum(last_mean - v for v in vals)
    mtid = 1 if m <= 0 else 2
    if use_mtid:
        st = {(1, 1): 1, (1, 2): 2, (2, 1): 2, (2, 2): 3, (3, 1): 3, (3, 2): 4}[(a, mtid)]
    else:
        st = 1 if a == 1 else (4 if a == 3 else (2 if s < 0 else 3))
    first_mean = Fraction(sum(firsts), len(firsts))
    b = 1 if first_mean <= 4000 else (2 if first_mean <= 7000 else 3)
    srt = sorted(vals)

    def decile(k: int) -> Fraction:
        pos = Fraction(k * (n - 1), 10)
        f = int(pos)
        return srt[f] + (pos - f) * (srt[min(f + 1, n - 1)] - srt[f])

    def cls(v: Fraction) -> int:
        return 1 + sum(v > decile(k) for k in range(1, 10))

    d = cls(last_mean) - cls(first_mean)
    c = 1 if d <= -2 else (3 if d >= 2 else 2)
    k = 9 * (st - 1) + 3 * (c - 1) + b
    lpd = 1 if k <= 8 else 2 if k <= 14 else 3 if k <= 21 else 4 if k <= 30 else 5
    if window_max is not None and window_max <= 2500:
        lpd = 4
    return lpd, a, mtid, st, b, c, k


def _run(rows: list[list[int]], maxima: list[int] | None = None, **kw: object) -> xr.Dataset:
    return fao_wocat(_annual(rows), _max(maxima, len(rows[0])) if maxima is not None else None, **kw)


STEADINESS_TABLE = np.array([[1, 2], [2, 3], [3, 4]], dtype=np.int64)
"""Steadiness 1-4 indexed by [trend class A - 1, MTID code - 1] (method notes 2.6, step 3)."""


def lpd_from_combination(k: np.ndarray) -> np.ndarray:
    """LPD 1-5 from the combination k = 9 (steadiness - 1) + 3 (emerging - 1) + biomass in 1..36 (step 6)."""
    return np.select([k <= 8, k <= 14, k <= 21, k <= 30], [1, 2, 3, 4], default=5)


def test_the_36_combinations_map_to_the_five_classes() -> None:
    seen = {}
    for st in range(1, 5):
        for c in range(1, 4):
            for b in range(1, 4):
                k = 9 * (st - 1) + 3 * (c - 1) + b
                assert k not in seen
                seen[k] = (st, c, b)
    assert sorted(seen) == list(range(1, 37))
    expected = [1] * 8 + [2] * 6 + [3] * 7 + [4] * 9 + [5] * 6  # k 1-8, 9-14, 15-21, 22-30, 31-36
    assert lpd_from_combination(np.arange(1, 37)).tolist() == expected


@pytest.mark.parametrize("seed", range(3))
def test_the_kernel_follows_the_notes_tables(seed: int) -> None:
    """On random series (trends, noise, ties), the kernel's steadiness is the notes' table of (trend, MTID), its
    combination is 9 (steadiness - 1) + 3 (emerging - 1) + biomass, and its LPD the notes' class of that
    combination (no desert mask: no maximum given)."""
    rng = np.random.default_rng(seed)
    slopes = rng.choice([-300, -40, 0, 40, 300], 400)
    rows = (rng.integers(1000, 9000, 400)[:, None] + slopes[:, None] * np.arange(16)
            + rng.integers(-400, 400, (400, 16)) // 100 * 100).clip(-2000, 10000)
    out = _run(rows.tolist())
    got = {name: out[name].values.astype("int64") for name in ("lpd", "trend", "mtid", "steadiness", "biomass",
                                                                  "emerging", "combination")}
    assert set(np.unique(got["trend"])) == {1, 2, 3}  # every branch of the table is visited
    assert (got["steadiness"] == STEADINESS_TABLE[got["trend"] - 1, got["mtid"] - 1]).all()
    assert (got["combination"] == 9 * (got["steadiness"] - 1) + 3 * (got["emerging"] - 1) + got["biomass"]).all()
    assert (got["lpd"] == lpd_from_combination(got["combination"])).all()


def test_hand_worked_decline_greening_and_flat() -> None:
    decline = [6000 - 150 * t for t in range(16)]     # S = -120 >= S95(16) = 36: A = 1; recent years low: MTID 1
    greening = [3000 + 150 * t for t in range(16)]    # A = 3, MTID 2 -> steadiness 4; first mean 3150 -> low
    flat = [5000, 5010] * 8                           # S = 8 < 36: A = 2; last 3 mean 5006.7 > 5005: M > 0
    ds = _run([decline, greening, flat], use_mtid=True)
    # decline: steadiness 1, biomass (5850) medium 2, emerging 10 -> 1: C 1; k = 2 -> LPD 1
    # greening: steadiness 4, biomass 1, emerging 1 -> 10: C 3; k = 27 + 6 + 1 = 34 -> LPD 5
    # flat: steadiness 3 (A 2, MTID 2), biomass 2 (5003.3); deciles p10-p40 5000, p50 5005, p60-p90 5010:
    # first mean 5003.3 -> class 5, last mean 5006.7 -> class 6, d = 1: C 2; k = 18 + 3 + 2 = 23 -> LPD 4
    assert ds["trend"].values.tolist() == [1, 3, 2]
    assert ds["mtid"].values.tolist() == [1, 2, 2]
    assert ds["steadiness"].values.tolist() == [1, 4, 3]
    assert ds["biomass"].values.tolist() == [2, 1, 2]
    assert ds["emerging"].values.tolist() == [1, 3, 2]
    assert ds["combination"].values.tolist() == [2, 34, 23]
    assert ds["lpd"].values.tolist() == [1, 5, 4]


def test_steadiness_without_mtid_uses_the_sign_of_s() -> None:
    up_noise = [5000, 5010, 5000, 5010, 5000, 5010, 5000, 5010, 5000, 5010, 5000, 5010, 5000, 5010, 5000, 5010]
    down_noise = up_noise[::-1]
    ds = _run([up_noise, down_noise], use_mtid=False)
    assert ds["trend"].values.tolist() == [2, 2]
    assert ds["steadiness"].values.tolist() == [3, 2]  # S > 0 -> 3, S < 0 -> 2


def test_mtid_exactly_zero_is_code_1_and_biomass_exactly_at_a_threshold() -> None:
    constant = [4000] * 16     # M = 0 -> MTID 1; first mean exactly 0.4 -> low (<= 0.4)
    at_high = [7000] * 16      # exactly 0.7 -> medium
    ds = _run([constant, at_high])
    assert ds["mtid"].values.tolist() == [1, 1]
    assert ds["biomass"].values.tolist() == [1, 2]


def test_desert_mask_holds_the_gobi_at_stable() -> None:
    decline = [2400 - 60 * t for t in range(16)]  # a declining pixel whose composites never exceed 0.25 NDVI
    ds = _run([decline, decline], maxima=[2500, 2501])
    assert ds["lpd"].values.tolist() == [4, 1]
    assert ds.attrs["desert_mask"].startswith("applied")
    assert _run([decline]).attrs["desert_mask"].startswith("not applied")


def test_too_few_years_is_nodata() -> None:
    series = [5000 + t for t in range(16)]
    series_gaps = list(series)
    for i in range(7):
        series_gaps[i] = NODATA
    ds = _run([series, series_gaps])
    assert ds["lpd"].values.tolist()[1] == NODATA and ds["steadiness"].values.tolist()[1] == NODATA
    assert ds["lpd"].values.tolist()[0] != NODATA


def test_the_first_and_last_years_are_calendar_years_not_the_first_valid_ones() -> None:
    # 2001 missing: the first 3 years are 2001-2003, averaged over 2002 and 2003 (4000: low biomass), not the first
    # three valid years 2002-2004 (mean 5666.7: medium), which reach into the window
    series = [NODATA, 4000, 4000, 9000] + [5000] * 12
    ds = _run([series])
    assert int(ds["biomass"].values[0]) == 1
    assert tuple(int(ds[k].values[0]) for k in ("lpd", "trend", "mtid", "steadiness", "biomass", "emerging",
                                                 "combination")) == _reference([None, *series[1:]], None)
    # none of the last 3 years valid: no mean to class, nodata (13 valid years are otherwise enough)
    ends_missing = [5000 + 10 * t for t in range(13)] + [NODATA] * 3
    assert int(_run([ends_missing])["lpd"].values[0]) == NODATA
    assert _reference([*ends_missing[:13], None, None, None], None) is None


def test_kernel_equals_the_rational_reference_on_random_series() -> None:
    rng = np.random.default_rng(26)
    rows, maxima = [], []
    for _ in range(1500):
        trend = rng.choice([-200, -80, 0, 0, 80, 200])
        base = rng.integers(1000, 8500)
        series = base + trend * np.arange(16) + rng.integers(-300, 301, 16) * rng.integers(0, 2)
        series = np.clip(series, -2000, 10000)
        if rng.random() < 0.2:
            series = np.round(series, -2)  # ties
        gaps = rng.random(16) < 0.08
        series = np.where(gaps, NODATA, series)
        rows.append(series.astype(int).tolist())
        maxima.append(int(rng.choice([2000, 2500, 2600, 9000])))
    ds = fao_wocat(_annual(rows), xr.DataArray(np.array([maxima] * 16, "int16"), dims=("year", "x"),
                                               coords={"year": YEARS}))
    names = ("lpd", "trend", "mtid", "steadiness", "biomass", "emerging", "combination")
    got = np.stack([ds[k].values for k in names], axis=1)
    combos = set()
    for row, top, out in zip(rows, maxima, got):
        ref = _reference([v if v != NODATA else None for v in row], top)
        if ref is None:
            assert (out == NODATA).all()
            continue
        assert tuple(int(v) for v in out) == ref, (row, top)
        combos.add(ref[-1])
    assert len(combos) >= 15  # the random cases reach many of the 36 combinations


def test_lazy_equals_eager_and_parameters_are_recorded() -> None:
    rng = np.random.default_rng(3)
    cube = xr.DataArray(rng.integers(1000, 8000, (16, 6, 5)).astype("int16"), dims=("year", "y", "x"),
                        coords={"year": YEARS})
    eager = fao_wocat(cube)
    lazy = fao_wocat(cube.chunk({"year": -1, "y": 3, "x": 2}))
    xr.testing.assert_identical(eager, lazy.compute())
    assert eager.attrs["interval_years"] == 3 and eager.attrs["biomass_thresholds_ndvi"] == [0.4, 0.7]
    assert eager["steadiness"].attrs["classes"][4] == "strong positive"


@pytest.mark.parametrize(("kw", "match"), [
    ({"interval": 9}, "interval 9 needs"),
    ({"biomass_thresholds": (0.7, 0.4)}, "must rise"),
    ({"desert_max_ndvi": 2.0}, "outside"),
    ({"min_years": 20}, "min_years 20 exceeds"),
])
def test_bad_parameters(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _run([[5000] * 16], **kw)
