"""Region summary areas (method notes section 6): total, water, land, nodata and class km2, summed
block by block; checked on a hand-worked case and against a plain numpy sum on random chunked maps."""
from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.constants import NODATA
from tasks.geo.areas import class_areas


def _da(values: np.ndarray, chunk: int | None = None) -> xr.DataArray:
    data = da.from_array(values, chunks=chunk) if chunk else values
    return xr.DataArray(data, dims=("y", "x"))


def test_hand_worked_rows_with_water() -> None:
    # rows of 1 km2 and 2 km2; the bottom-right pixel is water (it is stable in the map: not counted as land)
    sdg = np.array([[-1, 0], [1, 0]])
    water = np.array([[False, False], [False, True]])
    areas = np.array([[1.0], [2.0]])
    row = class_areas({"sdg_15_3_1": _da(sdg)}, areas, water=_da(water)).iloc[0]
    assert (row.degraded_km2, row.stable_km2, row.improved_km2) == (1.0, 1.0, 2.0)
    assert (row.total_km2, row.water_km2, row.land_km2, row.nodata_km2, row.valid_km2) == (6.0, 2.0, 4.0, 0.0, 4.0)
    assert row.degraded_pct == pytest.approx(25.0) and row.improved_pct == pytest.approx(50.0)


def test_nodata_is_land_without_a_class() -> None:
    soc = np.array([[NODATA, 0], [1, NODATA]])
    water = np.array([[False, False], [False, True]])  # water nodata is water, not missing land
    row = class_areas({"soc": _da(soc)}, np.ones((2, 1)), water=_da(water)).iloc[0]
    assert (row.nodata_km2, row.valid_km2, row.land_km2, row.water_km2) == (1.0, 2.0, 3.0, 1.0)
    assert row.nodata_pct_of_land == pytest.approx(100 / 3)


def test_no_water_mask_means_all_land() -> None:
    row = class_areas({"x": _da(np.array([[0, NODATA]]))}, np.ones((1, 1))).iloc[0]
    assert (row.land_km2, row.water_km2, row.nodata_km2) == (2.0, 0.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), chunk=st.integers(1, 17), seed=st.integers(0, 2**31 - 1))
def test_blocked_sums_match_numpy(rows: int, cols: int, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.choice([-1, 0, 1, NODATA, 5], size=(rows, cols)).astype("int16")  # 5: an unexpected code is nodata
    b = rng.choice([-1, 0, 1, NODATA], size=(rows, cols)).astype("int16")
    water = rng.random((rows, cols)) < 0.2
    areas = rng.uniform(0.01, 0.06, size=(rows, 1))
    table = class_areas({"a": _da(a, chunk), "b": _da(b)}, areas, water=_da(water, chunk)).set_index("indicator")
    w = np.broadcast_to(areas, a.shape)
    for name, v in (("a", a), ("b", b)):
        land = ~water
        row = table.loc[name]
        for c, key in ((-1, "degraded_km2"), (0, "stable_km2"), (1, "improved_km2")):
            assert row[key] == pytest.approx(w[land & (v == c)].sum(), abs=1e-12)
        assert row.water_km2 == pytest.approx(w[water].sum(), abs=1e-12)
        assert row.nodata_km2 == pytest.approx(w[land & ~np.isin(v, [-1, 0, 1])].sum(), abs=1e-12)
        assert row.total_km2 == pytest.approx(w.sum(), rel=1e-12)
        assert row.valid_km2 + row.nodata_km2 == pytest.approx(row.land_km2, rel=1e-12)
