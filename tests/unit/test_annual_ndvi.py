"""Annual NDVI integral: hand-worked cases, laziness, and the real MOD13Q1 16-day stack with gaps."""
from __future__ import annotations

import csv
from datetime import datetime

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from tasks.config import AssetSpec, QaRule
from tasks.constants import NODATA
from tasks.io.sources.search import modis_start_date
from tasks.science.annual_ndvi import annual_ndvi, valid_mask
from tests.helpers import realdata

MODIS_NDVI = AssetSpec(key="ndvi", dtype="int16", scale=0.0001, nodata=-3000, valid_range=(-2000, 10000))
GOOD_OR_MARGINAL = QaRule(asset="qa", valid_values=[0, 1])


def _cube(values: list[list[int]], qa: list[list[int]], dates: list[str]) -> tuple[xr.DataArray, xr.DataArray]:
    """(time, y=1, x=n) cubes from per-pixel lists (one list per time step)."""
    t = pd.to_datetime(dates)
    nd = xr.DataArray(np.array(values, "int16")[:, None, :], dims=("time", "y", "x"), coords={"time": t})
    q = xr.DataArray(np.array(qa, "int8")[:, None, :], dims=("time", "y", "x"), coords={"time": t})
    return nd, q


def test_hand_worked_masking_and_min_valid() -> None:
    # rows are composites, columns pixels
    # pixel 0: all good -> (1000 + 2000 + 3000 + 2000) / 4 = 2000
    # pixel 1: cloudy (3) 5000 and snow (2) 9000 dropped -> (2000 + 2000) / 2 = 2000
    # pixel 2: fill -3000 (QA -1) dropped, marginal (1) 3000 kept -> (1000 + 3000 + 2000) / 3 = 2000
    # pixel 3: 10001 and -2001 out of range, 5000 cloudy -> one valid value -> nodata with min_valid 2
    nd, q = _cube(
        [[1000, 5000, 1000, 10001], [2000, 2000, -3000, -2001], [3000, 9000, 3000, 4000], [2000, 2000, 2000, 5000]],
        [[0, 3, 0, 0], [0, 0, -1, 0], [0, 2, 1, 0], [0, 0, 0, 3]],
        ["2001-01-01", "2001-06-10", "2001-09-14", "2001-12-19"],
    )
    out = annual_ndvi(nd, q, ndvi_spec=MODIS_NDVI, qa_rule=GOOD_OR_MARGINAL, min_valid=2)
    assert out.dtype == np.int16
    assert out.dims == ("year", "y", "x")
    assert out.sel(year=2001).values.ravel().tolist() == [2000, 2000, 2000, NODATA]


def test_years_follow_composite_start_and_rounding_is_half_to_even() -> None:
    # 2001: (1000 + 1001) / 2 = 1000.5 -> 1000 (half to even); 2002: (1001 + 1002) / 2 = 1001.5 -> 1002
    nd, q = _cube([[1000], [1001], [1001], [1002]], [[0], [0], [0], [0]],
                  ["2001-01-01", "2001-12-19", "2002-01-01", "2002-12-19"])
    out = annual_ndvi(nd, q, ndvi_spec=MODIS_NDVI, qa_rule=GOOD_OR_MARGINAL, min_valid=1)
    assert out.year.values.tolist() == [2001, 2002]
    assert out.values.ravel().tolist() == [1000, 1002]


def test_all_masked_pixel_is_nodata_not_zero() -> None:
    nd, q = _cube([[5000], [5000]], [[3], [3]], ["2001-01-01", "2001-02-01"])
    out = annual_ndvi(nd, q, ndvi_spec=MODIS_NDVI, qa_rule=GOOD_OR_MARGINAL, min_valid=1)
    assert out.values.ravel().tolist() == [NODATA]


def test_valid_values_are_configurable() -> None:
    nd, q = _cube([[1000], [3000]], [[0], [1]], ["2001-01-01", "2001-02-01"])
    good_only = QaRule(asset="qa", valid_values=[0])
    out = annual_ndvi(nd, q, ndvi_spec=MODIS_NDVI, qa_rule=good_only, min_valid=1)
    assert out.values.ravel().tolist() == [1000]


def test_lazy_for_dask_and_equal_to_numpy(rng: np.random.Generator) -> None:
    t = pd.date_range("2001-01-01", periods=46, freq="16D")
    raw = rng.integers(-2500, 10000, size=(46, 40, 30)).astype("int16")
    raw[rng.random(raw.shape) < 0.05] = -3000
    qa = rng.choice(np.array([-1, 0, 1, 2, 3], "int8"), size=raw.shape, p=[0.02, 0.6, 0.2, 0.1, 0.08])
    nd = xr.DataArray(raw, dims=("time", "y", "x"), coords={"time": t})
    q = xr.DataArray(qa, dims=("time", "y", "x"), coords={"time": t})
    eager = annual_ndvi(nd, q, ndvi_spec=MODIS_NDVI, qa_rule=GOOD_OR_MARGINAL)
    with raise_if_dask_computes():
        lazy = annual_ndvi(nd.chunk({"time": 1, "y": 16, "x": 16}), q.chunk({"time": 1, "y": 16, "x": 16}),
                           ndvi_spec=MODIS_NDVI, qa_rule=GOOD_OR_MARGINAL)
    assert isinstance(lazy.data, da.Array)
    xr.testing.assert_identical(eager, lazy.compute())
    # and against a direct per-pixel computation
    years = t.year.values
    ok = np.isin(qa, [0, 1]) & (raw != -3000) & (raw >= -2000) & (raw <= 10000)
    for year in (2001, 2002):
        sel = years == year
        count = ok[sel].sum(axis=0)
        mean = np.where(ok[sel], raw[sel], 0).sum(axis=0, dtype="float64") / np.maximum(count, 1)
        expect = np.where(count >= 6, np.round(mean), NODATA).astype("int16")
        np.testing.assert_array_equal(eager.sel(year=year).values, expect)


def test_valid_mask_without_range_or_nodata() -> None:
    nd, q = _cube([[-5000], [20000]], [[0], [0]], ["2001-01-01", "2001-02-01"])
    spec = AssetSpec(key="x", dtype="int16")
    assert valid_mask(nd, q, ndvi_spec=spec, qa_rule=GOOD_OR_MARGINAL).values.ravel().tolist() == [True, True]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


class raise_if_dask_computes:  # noqa: N801 (xarray's helper has the same name)
    """Fail if dask computes anything inside the block (as xarray.tests.raise_if_dask_computes)."""

    def __enter__(self) -> None:
        import dask

        def _scheduler(dsk, keys, **kwargs):  # noqa: ANN001
            raise RuntimeError("dask computed while the result should have stayed lazy")

        self._ctx = dask.config.set(scheduler=_scheduler)
        self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


@pytest.mark.realdata
@pytest.mark.parametrize(("site", "prefix", "dates_csv"), [
    ("HN_slovenia", "slovenia", "Slovenia_dates.csv"),
    ("HS_aysen", "aysen", "Aysen_dates.csv"),
])
def test_real_mod13q1_stack_dates_gaps_and_annual_integral(site: str, prefix: str, dates_csv: str) -> None:
    """Real 16-day MOD13Q1 EVI (x 10000, float64, quality-masked pixels = -1.7e308) through the integral."""
    folder = realdata("modis_mod13q1_evi_16day_2000_2015", site)
    files = sorted(folder.glob(f"{prefix}.EVI.MOD13Q1.A*.tif"))
    dates = [modis_start_date(f.name) for f in files]
    # dates parsed from the MODIS names agree with the upstream index file, except for one row in
    # each file where the index itself is wrong (DOY 017 is 17 January, DOY 177 is 26 June)
    index = realdata("modis_mod13q1_evi_16day_2000_2015", dates_csv)
    with open(index) as f:
        listed = {row["Id"]: datetime.strptime(row["date"], "%d/%m/%Y").date() for row in csv.DictReader(f)}
    disagree = {
        ident for path, d in zip(files, dates)
        if listed[(ident := path.name.split(".", 2)[2].removesuffix(".tif"))] != d
    }
    assert disagree == {"HN_slovenia": {"MOD13Q1.A2015017"}, "HS_aysen": {"MOD13Q1.A2015177"}}[site]
    assert all((d.timetuple().tm_yday - 1) % 16 == 0 for d in dates)  # the 16-day MOD13Q1 grid
    stack = []
    for path in files:
        with rasterio.open(path) as src:
            stack.append(src.read(1))
            nodata = src.nodata
    raw = np.stack(stack)
    evi = AssetSpec(key="evi", dtype="float64", scale=0.0001, nodata=nodata, valid_range=(-2000, 10000))
    cube = xr.DataArray(raw, dims=("time", "y", "x"), coords={"time": pd.to_datetime(dates)})
    qa = xr.zeros_like(cube, dtype="int8")  # the files carry their QA as the nodata value
    out = annual_ndvi(cube, qa, ndvi_spec=evi, qa_rule=QaRule(asset="qa", valid_values=[0]), min_valid=6)
    assert 0.2 < np.mean(raw == nodata) < 0.4  # real cloud/snow gaps are present
    # reference: pandas groupby per pixel-year over the valid values
    frame = pd.DataFrame(raw.reshape(len(files), -1), index=pd.to_datetime(dates))
    frame = frame.where(frame != nodata)
    means, counts = frame.groupby(frame.index.year).mean(), frame.groupby(frame.index.year).count()
    expect = np.where(counts >= 6, np.round(means.to_numpy()), NODATA).reshape(-1, 8, 8)
    np.testing.assert_array_equal(out.values, expect.astype("int16"))
    assert out.year.values.tolist() == sorted(set(d.year for d in dates))
    # the min-valid rule on real gaps: at 18 composites, exactly the thinner pixel-years become nodata
    strict = annual_ndvi(cube, qa, ndvi_spec=evi, qa_rule=QaRule(asset="qa", valid_values=[0]), min_valid=18)
    thin = (counts.to_numpy() < 18).reshape(-1, 8, 8)
    assert thin.any() and not thin.all()
    np.testing.assert_array_equal(strict.values == NODATA, thin)
