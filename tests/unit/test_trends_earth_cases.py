"""Cases from Trends.Earth's own unit tests, with their expected values, applied to our functions.

Source: ConservationInternational/trends.earth-algorithms (MIT), tests/test_gdal_land_deg_numba.py
(recode_traj, sdg_status_expanded, sdg_status_expanded_to_simple, prod5_to_prod3, calc_lc_trans),
tests/test_gee_stats.py (get_kendall_coef) and tests/test_gdal_util_numba.py (calc_cell_area). The
cases (inputs and expected outputs) are ported, not the code; where our conventions differ (transition
codes are initial x 10 + final here, TE's tests use a multiplier of 100; areas in km2, not m2) the
expected value is the same case in our convention.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tasks.constants import NODATA
from tasks.geo.areas import band_area_km2
from tasks.science.land_cover import transition_code
from tasks.science.lpd import lpd_3class
from tasks.science.sdg import status, status_3class
from tasks.science.trajectory import te_critical_s, trajectory_3class


def _da(rows: list[list[int]]) -> xr.DataArray:
    return xr.DataArray(np.array(rows, "int16"), dims=("y", "x"))


def test_trajectory_3class_recode() -> None:  # TestRecodeTraj
    assert trajectory_3class(_da([[-3, -2, -1, 0, 1, 2, 3]])).values.tolist() == [[-1, -1, 0, 0, 0, 1, 1]]
    got = trajectory_3class(_da([[-3, -2], [-1, 0], [1, 2], [3, NODATA]])).values.tolist()
    assert got == [[-1, -1], [0, 0], [0, 1], [1, NODATA]]
    assert trajectory_3class(_da([[NODATA, -2, NODATA]])).values.tolist() == [[NODATA, -1, NODATA]]


@pytest.mark.parametrize(("baseline", "period", "expected"), [  # TestSdgStatusExpanded, all nine pairs
    (-1, -1, 1), (0, -1, 2), (1, -1, 2), (-1, 0, 3), (0, 0, 4), (1, 0, 5), (-1, 1, 6), (0, 1, 6), (1, 1, 7),
])
def test_expanded_status_all_nine_pairs(baseline: int, period: int, expected: int) -> None:
    assert status(_da([[baseline]]), _da([[period]])).values.tolist() == [[expected]]


def test_expanded_status_basic_block() -> None:  # test_sdg_status_expanded_basic
    out = status(_da([[-1, 0, 1], [-1, 0, 1]]), _da([[-1, -1, -1], [0, 0, 0]])).values
    assert out[0, 0] == 1 and out[1, 0] == 3


def test_expanded_status_to_simple() -> None:  # TestSdgStatusExpandedToSimple
    assert status_3class(_da([[1, 2, 3, 4, 5, 6, 7]])).values.tolist() == [[-1, -1, -1, 0, 1, 1, 1]]
    assert status_3class(_da([[NODATA, 4, NODATA]])).values.tolist() == [[NODATA, 0, NODATA]]


def test_lpd_5_to_3() -> None:  # TestProd5ToProd3
    assert lpd_3class(_da([[1, 2, 3, 4, 5]])).values.tolist() == [[-1, -1, 0, 0, 1]]
    assert lpd_3class(_da([[NODATA, 3, NODATA]])).values.tolist() == [[NODATA, 0, NODATA]]


def test_land_cover_transition_codes_and_nodata() -> None:  # TestCalcLcTrans (multiplier 10 here)
    out = transition_code(_da([[1, 2], [3, 4]]), _da([[1, 3], [2, 4]])).values.tolist()
    assert out == [[11, 23], [32, 44]]
    assert transition_code(_da([[NODATA, 1]]), _da([[1, NODATA]])).values.tolist() == [[NODATA, NODATA]]


def test_kendall_critical_values() -> None:  # TestGetKendallCoef
    s90, s95, s99, origin = te_critical_s(4)
    assert (s90, s95, s99) == (4, 4, 6) and origin == "trends_earth_table"
    assert te_critical_s(5)[1] != te_critical_s(4)[1]
    assert te_critical_s(10)[1] > te_critical_s(4)[1]
    c90, c95, c99, _ = te_critical_s(10)
    assert c90 <= c95 <= c99
    assert all(isinstance(v, int) and v > 0 for v in te_critical_s(50)[:3])


def test_cell_areas() -> None:  # TestCellArea (km2 here, m2 in TE)
    one_degree = float(band_area_km2(np.array(0.0), np.array(1.0), 1.0))
    assert 0 < one_degree < 15000
    assert float(band_area_km2(np.array(0.0), np.array(1.0), 0.0)) == 0.0        # zero width
    assert float(band_area_km2(np.array(0.0), np.array(0.0), 1.0)) == 0.0        # zero height
    assert float(band_area_km2(np.array(1.0), np.array(0.0), 1.0)) == one_degree  # swapped latitudes
    equator = float(band_area_km2(np.array(-0.5), np.array(0.5), 1.0))
    polar = float(band_area_km2(np.array(89.0), np.array(89.5), 1.0))
    assert equator > polar
