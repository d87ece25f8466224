"""LPD: all 18 (T, S, P) combinations against the method notes' table, nodata, 3 classes, precomputed layers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.science.lpd import lpd, lpd_3class, recode_lpd


def expected(t: int, s: int, p: int) -> int:
    """The method notes' table, row by row."""
    if t == -1:
        return 1
    if t == 0:
        if s == -1:
            return 1 if p == -1 else 2
        if s == 0:
            return 3 if p == -1 else 4
        return 4
    if s == -1:
        return 2 if p == -1 else 5
    return 5


COMBOS = list(itertools.product((-1, 0, 1), (-1, 0, 1), (-1, 0)))


def _da(v: list[int]) -> xr.DataArray:
    return xr.DataArray(np.array(v, "int16"), dims=("x",))


def test_all_18_combinations() -> None:
    assert len(COMBOS) == 18
    t, s, p = (list(c) for c in zip(*COMBOS))
    out = lpd(_da(t), _da(s), _da(p)).values.tolist()
    assert out == [expected(*c) for c in COMBOS]


def test_spot_rows_of_the_table() -> None:
    # (T, S, P) -> LPD, typed out from the method notes
    cases = {(0, -1, -1): 1, (0, -1, 0): 2, (0, 0, -1): 3, (0, 0, 0): 4, (0, 1, -1): 4,
             (1, -1, -1): 2, (1, -1, 0): 5, (1, 1, -1): 5, (-1, 1, 0): 1}
    t, s, p = (list(c) for c in zip(*cases))
    assert lpd(_da(t), _da(s), _da(p)).values.tolist() == list(cases.values())


@pytest.mark.parametrize("which", [0, 1, 2])
def test_nodata_in_any_input_gives_nodata(which: int) -> None:
    args = [[0, 1], [0, 1], [0, 0]]
    args[which][0] = NODATA
    out = lpd(*(_da(a) for a in args)).values.tolist()
    assert out[0] == NODATA and out[1] != NODATA


def test_performance_never_improved_is_rejected_as_nodata() -> None:
    assert lpd(_da([0]), _da([0]), _da([1])).values.tolist() == [NODATA]


def test_three_classes() -> None:
    assert lpd_3class(_da([1, 2, 3, 4, 5, NODATA, 0])).values.tolist() == [-1, -1, 0, 0, 1, NODATA, NODATA]


def test_lazy_equals_eager() -> None:
    rng = np.random.default_rng(1)
    t, s = (xr.DataArray(rng.integers(-1, 2, (20, 30)).astype("int16"), dims=("y", "x")) for _ in range(2))
    p = xr.DataArray(rng.integers(-1, 1, (20, 30)).astype("int16"), dims=("y", "x"))
    eager = lpd(t, s, p)
    lazy = lpd(t.chunk(7), s.chunk(7), p.chunk(7))
    xr.testing.assert_identical(eager, lazy.compute())


def test_precomputed_layer_through_its_legend() -> None:
    jrc = xr.DataArray(np.array([1, 2, 3, 4, 5, 0], "uint8"), dims=("x",))
    out = recode_lpd(jrc, {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}, source="JRC LPD", nodata=0)
    assert out.values.tolist() == [1, 2, 3, 4, 5, NODATA]
    custom = xr.DataArray(np.array([10, 20, 30], "int16"), dims=("x",))
    assert recode_lpd(custom, {10: 5, 20: 4, 30: 1}, source="custom").values.tolist() == [5, 4, 1]


def test_precomputed_layer_with_unmapped_values_or_bad_legend() -> None:
    layer = xr.DataArray(np.array([1, 2, 7], "uint8"), dims=("x",))
    with pytest.raises(ConfigError, match=r"holds values \[7\] that its legend does not map"):
        recode_lpd(layer, {1: 1, 2: 2}, source="custom.tif")
    with pytest.raises(ConfigError, match=r"maps to \[6\], not LPD codes 1..5"):
        recode_lpd(layer, {1: 6}, source="custom.tif")
