"""Property tests: the trend kernel against pymannkendall/scipy and its invariants, on generated series."""
from __future__ import annotations

import numpy as np
import pymannkendall as mk
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from tasks.kernels.trend import mann_kendall_sen

values = st.integers(-2000, 10000).map(float) | st.just(np.nan)
series = arrays(np.float64, st.integers(4, 30), elements=values)


@settings(max_examples=400, deadline=None)
@given(series)
def test_matches_references(y: np.ndarray) -> None:
    s, var, z, p, sen, ols, n = mann_kendall_sen(y, min_count=4)
    ok = ~np.isnan(y)
    assert n == ok.sum()
    if ok.sum() < 4:
        assert np.isnan(s)
        return
    ref = mk.original_test(y[ok])
    assert s == ref.s
    np.testing.assert_allclose(var, ref.var_s, rtol=1e-12)
    np.testing.assert_allclose(z, ref.z, rtol=1e-9, atol=1e-12)
    x = np.flatnonzero(ok).astype(float)
    np.testing.assert_allclose(sen, stats.theilslopes(y[ok], x)[0], rtol=1e-9, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(series, st.floats(0.1, 100), st.floats(-1000, 1000))
def test_invariant_to_positive_affine_maps(y: np.ndarray, a: float, b: float) -> None:
    """S, var and z depend only on order; slopes scale by a."""
    s1, v1, z1, _, sen1, ols1, _ = mann_kendall_sen(y)
    s2, v2, z2, _, sen2, ols2, _ = mann_kendall_sen(a * y + b)
    np.testing.assert_array_equal(np.isnan(s1), np.isnan(s2))
    if not np.isnan(s1):
        assert s1 == s2 and v1 == v2 and z1 == z2
        np.testing.assert_allclose(sen2, a * sen1, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ols2, a * ols1, rtol=1e-7, atol=1e-7)


@settings(max_examples=200, deadline=None)
@given(series)
def test_reversing_time_flips_the_sign(y: np.ndarray) -> None:
    s1, _, z1, p1, sen1, _, _ = mann_kendall_sen(y)
    s2, _, z2, p2, sen2, _, _ = mann_kendall_sen(y[::-1].copy())
    if not np.isnan(s1):
        assert s1 == -s2 and z1 == -z2 and p1 == p2
        np.testing.assert_allclose(sen1, -sen2, atol=1e-12)
