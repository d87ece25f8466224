"""Performance: exact histogram percentiles, hand-worked units, fallback, no-unit classes, region, laziness."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.science.performance import percentile_from_histogram, performance, unit_histograms

YEARS = [2001, 2002, 2003]


def _annual(ndvi_x10000: np.ndarray) -> xr.DataArray:
    """Three identical years of an int16 (y, x) NDVI x 10000 map."""
    a = np.repeat(np.asarray(ndvi_x10000, "int16")[None], 3, axis=0)
    return xr.DataArray(a, dims=("year", "y", "x"), coords={"year": YEARS})


def _lc(codes: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.asarray(codes, "uint8"), dims=("y", "x"))


def test_histogram_percentile_equals_numpy_percentile() -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 7, 100, 1001):
        values = rng.integers(-2000, 10001, size)
        hist = np.bincount(values + 2000, minlength=12001)[None]
        for q in (0, 10, 50, 90, 99.5, 100):
            assert percentile_from_histogram(hist, q)[0] == pytest.approx(np.percentile(values, q) / 10000, abs=1e-12)
    assert np.isnan(percentile_from_histogram(np.zeros((1, 12001), int), 90)[0])


def test_hand_worked_two_units() -> None:
    # grassland (130): NDVI 0.10..0.19 (10 px, p90 = 0.181), one pixel at 0.09 -> ratio 0.497 <= 0.5 -> degraded
    # trees (60): 0.50 x 9 and 0.20 -> p90 = 0.50, 0.20 / 0.50 = 0.4 -> degraded; ratio exactly 0.5 -> degraded
    ndvi = np.array([[1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 900],
                     [5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 2000, 2500]])
    lc = np.array([[130] * 11, [60] * 11])
    ds = performance(_annual(ndvi), _lc(lc), window=(2001, 2003), min_unit_pixels=1)
    p = ds["unit_percentile"].values
    assert p[0, 0] == pytest.approx(np.percentile(ndvi[0] / 10000, 90))
    assert p[1, 0] == pytest.approx(np.percentile(ndvi[1] / 10000, 90)) == pytest.approx(0.5)
    perf = ds["performance"].values
    assert perf[1, 9] == -1 and perf[1, 10] == -1 and perf[1, 0] == 0  # 0.4, 0.5 (inclusive), 1.0
    ratio_last = ndvi[0, 10] / 10000 / p[0, 0]
    assert perf[0, 10] == (-1 if ratio_last <= 0.5 else 0)
    assert set(np.unique(perf)) <= {-1, 0}
    assert ds.attrs["comparison_region"] == "the whole run area" and ds.attrs["percentile"] == 90


def test_snow_ice_and_missing_land_cover_have_no_unit() -> None:
    ds = performance(_annual(np.array([[3000, 3000, 3000]])), _lc(np.array([[220, 0, 130]])), window=(2001, 2003),
                     min_unit_pixels=1)
    assert ds["performance"].values.tolist() == [[NODATA, NODATA, 0]]


def test_nodata_years_and_all_nodata_pixels() -> None:
    annual = _annual(np.array([[3000, 3000]]))
    annual[:, 0, 0] = NODATA
    ds = performance(annual, _lc(np.array([[130, 130]])), window=(2001, 2003), min_unit_pixels=1)
    assert ds["performance"].values.tolist() == [[NODATA, 0]]


def test_small_soil_units_fall_back_to_land_cover_only() -> None:
    # 12 grassland pixels; soil 1 has 10 of them (>= min 5), soil 2 only 2 (< 5) -> they use the grassland unit
    ndvi = np.array([[2000] * 10 + [1000, 1000]])
    soil = xr.DataArray(np.array([[1] * 10 + [2, 2]]), dims=("y", "x"))
    ds = performance(_annual(ndvi), _lc(np.full((1, 12), 130)), soil=soil, window=(2001, 2003), min_unit_pixels=5)
    p = ds["unit_percentile"].values[0]
    assert p[0] == pytest.approx(0.2)                                   # own unit (soil 1)
    assert p[11] == pytest.approx(np.percentile(ndvi[0] / 10000, 90))   # fallback: all grassland
    assert ds.attrs["units_below_min_size"] == 1


def test_comparison_region_limits_the_percentile_and_is_recorded() -> None:
    ndvi = np.array([[1000, 1000, 8000, 8000]])
    region = xr.DataArray(np.array([[True, True, False, False]]), dims=("y", "x"))
    ds = performance(_annual(ndvi), _lc(np.full((1, 4), 130)), window=(2001, 2003), min_unit_pixels=1,
                     region=region, region_name="bbox 111,43,112,44")
    assert ds["unit_percentile"].values[0, 0] == pytest.approx(0.1)
    assert ds["performance"].values.tolist() == [[0, 0, 0, 0]]
    assert ds.attrs["comparison_region"] == "bbox 111,43,112,44"


def test_chunked_equals_in_memory_and_histograms_add_up() -> None:
    rng = np.random.default_rng(9)
    ndvi = rng.integers(500, 6000, (60, 50))
    lc = rng.choice([10, 60, 130, 200, 220], size=(60, 50))
    eager = performance(_annual(ndvi), _lc(lc), window=(2001, 2003), min_unit_pixels=20)
    lazy = performance(_annual(ndvi).chunk({"year": -1, "y": 16, "x": 16}), _lc(lc).chunk(16),
                       window=(2001, 2003), min_unit_pixels=20)
    xr.testing.assert_allclose(eager, lazy.compute())
    ids, hist = unit_histograms(_lc(lc).astype("int32").where(lambda a: a != 220, -1).chunk(13),
                                xr.DataArray(ndvi / 10000.0, dims=("y", "x")).chunk(13))
    assert ids.tolist() == [10, 60, 130, 200]
    assert hist.sum() == (lc != 220).sum()


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="percentile 0 is outside"):
        performance(_annual(np.ones((1, 1))), _lc(np.full((1, 1), 130)), window=(2001, 2003), percentile=0)
    with pytest.raises(ConfigError, match="lacks annual NDVI for \\[2004\\]"):
        performance(_annual(np.ones((1, 1))), _lc(np.full((1, 1), 130)), window=(2001, 2004))


def test_a_unit_with_no_valid_pixels_is_nodata_not_a_crash() -> None:
    # cropland (10) pixels are all nodata in every year: the unit has no histogram, so no percentile
    annual = _annual(np.array([[3000, 3000, 2000, 2000]]))
    annual[:, 0, 2:] = NODATA
    ds = performance(annual, _lc(np.array([[130, 130, 10, 10]])), window=(2001, 2003), min_unit_pixels=1)
    assert ds["performance"].values.tolist() == [[0, 0, NODATA, NODATA]]
    assert ds.attrs["units"] == 2 and ds.attrs["units_below_min_size"] == 1  # the empty one


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiles_merged_histograms_give_the_whole_areas_performance(seed: int, tmp_path) -> None:
    """Performance per tile with the merged unit percentiles equals performance over the whole area, bit for bit
    (random NDVI, land cover with a no-unit class, soil units crossed in, a comparison region, uneven tiles)."""
    from tasks.science.performance import UnitHistograms, UnitPercentiles, land_units, window_mean

    rng = np.random.default_rng(seed)
    h, w = 37, 53
    ndvi = rng.integers(-2000, 10001, (3, h, w)).astype("int16")
    ndvi[:, rng.random((h, w)) < 0.1] = NODATA
    annual = xr.DataArray(ndvi, dims=("year", "y", "x"), coords={"year": YEARS})
    lc = _lc(rng.choice([10, 30, 130, 220, 0], (h, w)))
    soil = xr.DataArray(rng.choice([-1, 0, 1, 2], (h, w), p=[0.1, 0.6, 0.27, 0.03]).astype("int32"), dims=("y", "x"))
    region = xr.DataArray(rng.random((h, w)) < 0.8, dims=("y", "x"))
    kw = dict(window=(2001, 2003), soil=soil, min_unit_pixels=40, region=region)
    whole = performance(annual, lc, **kw)
    cuts = [(slice(0, 10), slice(0, 30)), (slice(0, 10), slice(30, w)), (slice(10, h), slice(0, 7)),
            (slice(10, h), slice(7, w))]
    parts = []
    for ys, xs in cuts:
        unit, fb = land_units(lc[ys, xs], soil[ys, xs])
        part = UnitHistograms.of(unit, fb, window_mean(annual[:, ys, xs], window=(2001, 2003)), region[ys, xs],
                                 crossed=True)
        part.save(tmp_path / "part.npz")  # the way tiles hand them over
        parts.append(UnitHistograms.load(tmp_path / "part.npz"))
    table = UnitPercentiles.of(UnitHistograms.merge(parts), percentile=90.0, min_unit_pixels=40)
    assert table.small.any() and not table.small.all()  # both the unit and the fallback path are exercised
    for ys, xs in cuts:
        tile = performance(annual[:, ys, xs], lc[ys, xs], **{**kw, "soil": soil[ys, xs], "region": region[ys, xs]},
                           percentiles=table)
        for name in ("performance", "unit_percentile", "ratio"):
            np.testing.assert_array_equal(tile[name].values, whole[name][ys, xs].values, err_msg=name)
        assert tile.attrs["units"] == whole.attrs["units"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_window_arrays_histograms_merge_to_the_tiles(seed: int) -> None:
    """Pass 1 counts each written window's sums (``of_sums``): merged, they are the tile's histograms counted
    lazily (``of``), ids of units with no counted pixel included; and performance from the window sums is the
    performance of the annual layers, bit for bit."""
    from tasks.science.performance import UnitHistograms, land_units, window_mean, window_sum_count

    rng = np.random.default_rng(seed)
    h, w = 41, 29
    ndvi = rng.integers(-2000, 10001, (3, h, w)).astype("int16")
    ndvi[rng.random((3, h, w)) < 0.2] = NODATA  # 1 or 2 valid years too: means that end in .5 round half to even
    ndvi[:, :5, :5] = NODATA  # a corner with units but no valid year
    annual = xr.DataArray(ndvi, dims=("year", "y", "x"), coords={"year": YEARS})
    lc = _lc(rng.choice([10, 30, 130, 220, 0], (h, w)))
    soil = xr.DataArray(rng.choice([-1, 0, 1, 2], (h, w)).astype("int32"), dims=("y", "x"))
    region = xr.DataArray(rng.random((h, w)) < 0.7, dims=("y", "x"))
    unit, fb = land_units(lc, soil)
    for crossed, rg in ((True, region), (False, None)):
        u, f = (unit, fb) if crossed else (fb, fb)
        lazy = UnitHistograms.of(u, f, window_mean(annual, window=(2001, 2003)), rg, crossed=crossed)
        total, count = (a.values for a in window_sum_count(annual, window=(2001, 2003)))
        cuts = [(slice(0, 7), slice(0, w)), (slice(7, h), slice(0, 11)), (slice(7, h), slice(11, w))]
        merged = UnitHistograms.merge([UnitHistograms.of_sums(
            u.values[ys, xs], f.values[ys, xs], total[ys, xs].astype("int32"), count[ys, xs].astype("int16"),
            None if rg is None else rg.values[ys, xs], crossed=crossed) for ys, xs in cuts])
        for name in ("ids", "hist", "fb_ids", "fb_hist"):
            np.testing.assert_array_equal(getattr(merged, name), getattr(lazy, name), err_msg=name)
    kw = dict(window=(2001, 2003), soil=soil, min_unit_pixels=40, region=region)
    from_sums = performance(None, lc, sums=window_sum_count(annual, window=(2001, 2003)), **kw)
    xr.testing.assert_identical(from_sums, performance(annual, lc, **kw))


def test_ratio_threshold_is_decided_exactly() -> None:
    # one unit whose p90 of 10 px is exactly 0.3 NDVI (3000); window means over three years as stored integers:
    # 1500 (ratio exactly 0.5 -> degraded), 1501 (just above), and sum 4501 / 3 = 1500.33.. (above)
    from tasks.science.performance import percentile_from_histogram_exact

    hist = np.bincount(np.array([3000] * 10) + 2000, minlength=12001)[None]
    num, den = percentile_from_histogram_exact(hist, 90)
    assert num[0] == 3000 * den
    annual = _annual(np.array([[3000] * 10 + [1500, 1501, 1500]]))
    annual[2, 0, 12] = 1501  # 1500, 1500, 1501
    ds = performance(annual, _lc(np.full((1, 13), 130)), window=(2001, 2003), min_unit_pixels=1)
    assert ds["performance"].values[0, 10:].tolist() == [-1, 0, 0]
    assert "exactly" in ds.attrs["ratio_threshold_decided"]


def test_exact_percentile_matches_rationals() -> None:
    from fractions import Fraction

    from tasks.science.performance import percentile_from_histogram_exact

    rng = np.random.default_rng(7)
    for size in (1, 2, 3, 11, 57, 1000):
        values = np.sort(rng.integers(-2000, 10001, size))
        hist = np.bincount(values + 2000, minlength=12001)[None]
        for q in (10, 50, 90, 99.5, 100):
            num, den = percentile_from_histogram_exact(hist, q)
            pos = Fraction(str(q)) * (size - 1) / 100
            lo = int(pos)
            hi = min(lo + 1, size - 1)
            expect = values[lo] + (pos - lo) * (int(values[hi]) - int(values[lo]))
            assert Fraction(int(num[0]), den) == expect


def test_units_with_a_nonpositive_percentile_leave_performance_undefined_and_the_lpd_where_it_can() -> None:
    # water (210): NDVI below 0, its p90 is negative -> no meaningful ratio: performance nodata, flagged no_ratio
    from tasks.science.lpd import lpd

    ndvi = np.array([[-500, -400, -300, 3000, 2900, 1000]])
    ds = performance(_annual(ndvi), _lc(np.array([[210, 210, 210, 130, 130, 130]])), window=(2001, 2003),
                     min_unit_pixels=1)
    assert ds["performance"].values.tolist() == [[NODATA, NODATA, NODATA, 0, 0, -1]]
    assert ds["no_ratio"].values.tolist() == [[True, True, True, False, False, False]]
    assert ds.attrs["units_nonpositive_percentile"] == 1
    # trajectory / state per water pixel: T=-1 (LPD 1 whatever P), T=0 S=+1 (4), T=0 S=0 (needs P: nodata)
    t = xr.DataArray(np.array([[-1, 0, 0, 0, 0, 0]], "int16"), dims=("y", "x"))
    s = xr.DataArray(np.array([[0, 1, 0, 0, 0, 0]], "int16"), dims=("y", "x"))
    out = lpd(t, s, ds["performance"], no_ratio=ds["no_ratio"])
    assert out.values.tolist() == [[1, 4, NODATA, 4, 4, 3]]
    # without the flag, nodata performance is nodata LPD everywhere (the method's general rule)
    assert lpd(t, s, ds["performance"]).values.tolist() == [[NODATA, NODATA, NODATA, 4, 4, 3]]
