"""Productivity performance (method notes 2.3): local NDVI against the best of similar land.

Each pixel's mean NDVI over the window is compared with the 90th percentile of that mean over its
**land unit** (land cover class of the window's first year, in the full ESA CCI legend, crossed
with a soil or ecoregion class where one is given) within the **comparison region** (default: the
whole run). Units with fewer than ``min_unit_pixels`` pixels fall back to the land-cover-only unit.
ratio = mean / p90; **-1 (degraded) where ratio <= 0.5**, else 0. Performance is never "improved".
Snow and ice (CCI 220) and land-cover nodata (0) have no unit: nodata.

Percentiles are exact for the published data and need no more memory than one histogram per unit:
window means of the int16 annual layers are quantized to 1e-4 NDVI (error <= 0.5e-4 NDVI, the
precision of the published layers) and counted per unit, block by block, in one Dask pass; the
percentile is then read off each unit's histogram with numpy's linear interpolation between ranks.
The comparison region is recorded in the output's metadata, because results depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from tasks.constants import NDVI_SCALE, NODATA
from tasks.errors import ConfigError
from tasks.kernels.histogram import add_unit_counts

__all__ = [
    "window_mean",
    "land_units",
    "unit_histograms",
    "percentile_from_histogram",
    "percentile_from_histogram_exact",
    "window_sum_count",
    "mean_of_sums",
    "exact_fraction",
    "UnitHistograms",
    "UnitPercentiles",
    "performance",
    "NO_UNIT_CLASSES",
    "HIST_MIN",
    "HIST_MAX",
]

NO_UNIT_CLASSES: tuple[int, ...] = (0, 220)
"""ESA CCI codes without a performance unit: nodata (0) and permanent snow and ice (220)."""

HIST_MIN, HIST_MAX = -2000, 10000
"""Range of quantized NDVI x 10000 values counted by the histograms (MOD13Q1's valid range)."""

_NBINS = HIST_MAX - HIST_MIN + 1


def _window(annual: xr.DataArray, window: tuple[int, int], dim: str) -> xr.DataArray:
    sel = annual.sel({dim: slice(window[0], window[1])})
    missing = sorted(set(range(window[0], window[1] + 1)) - set(int(y) for y in sel[dim].values))
    if missing:
        raise ConfigError(f"performance window {window[0]}-{window[1]} lacks annual NDVI for {missing}: widen the run's years")
    return sel


def window_sum_count(annual: xr.DataArray, *, window: tuple[int, int], dim: str = "year") -> tuple[xr.DataArray, xr.DataArray]:
    """Sum (int64, stored NDVI x 10000 units) and count of each pixel's valid years of int16 annual layers.

    The pair is the window mean as an exact fraction, on which the ratio threshold is decided.
    """
    sel = _window(annual, window, dim)
    valid = sel != NODATA
    return sel.where(valid, 0).sum(dim, dtype="int64"), valid.sum(dim)  # int16 in, exact int64 sums out


def window_mean(annual: xr.DataArray, *, window: tuple[int, int], dim: str = "year", min_years: int = 1) -> xr.DataArray:
    """Mean NDVI (NDVI units) of each pixel over the window's valid years; NaN below ``min_years``."""
    sel = _window(annual, window, dim)
    if np.issubdtype(sel.dtype, np.integer):  # average the raw integers, then scale once (exact ratios)
        return mean_of_sums(*window_sum_count(annual, window=window, dim=dim), min_years=min_years)
    values = sel.astype("float64")
    count = values.notnull().sum(dim)
    return values.mean(dim, skipna=True).where(count >= min_years)


def mean_of_sums(total: xr.DataArray, count: xr.DataArray, *, min_years: int = 1) -> xr.DataArray:
    """Mean NDVI (NDVI units) from ``window_sum_count``'s exact sum and count; NaN below ``min_years``."""
    return (total / count.where(count > 0) / NDVI_SCALE).where(count >= min_years)


def exact_fraction(value: float, what: str) -> Fraction:
    """``value`` as the decimal fraction it was written as (0.5 -> 1/2, 90 -> 90), for exact thresholds."""
    frac = Fraction(repr(float(value)))
    if frac.denominator > 10**6:
        raise ConfigError(f"{what} {value} has more than 6 decimals: give it with at most 6 so it is decided exactly")
    return frac


def land_units(land_cover: xr.DataArray, soil: xr.DataArray | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """(unit, fallback unit) ids: land cover x soil (soil * 1000 + land cover) and land cover alone; -1 = none."""
    lc = land_cover.astype("int32")
    no_unit = lc.isin(list(NO_UNIT_CLASSES))
    fallback = xr.where(no_unit, -1, lc).astype("int32")
    if soil is None:
        return fallback, fallback
    s = soil.astype("int32")
    unit = xr.where(no_unit | (s < 0), -1, s * 1000 + lc).astype("int32")
    return unit, fallback


def _block_hist(units: np.ndarray, values: np.ndarray, region: np.ndarray, unit_ids: np.ndarray) -> np.ndarray:
    q = np.round(values * NDVI_SCALE)
    ok = np.isfinite(q) & (units >= 0) & region
    ok &= (q >= HIST_MIN) & (q <= HIST_MAX)
    idx = np.searchsorted(unit_ids, units[ok])
    flat = idx * _NBINS + (q[ok].astype(np.int64) - HIST_MIN)
    hist = np.bincount(flat, minlength=unit_ids.size * _NBINS).astype(np.int64)
    return hist.reshape(1, 1, -1)


def unit_histograms(units: xr.DataArray, mean: xr.DataArray, region: xr.DataArray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit ids and their histograms of quantized mean NDVI (rows: units; columns: NDVI x 10000 - HIST_MIN).

    Two passes over the unit map (its distinct ids, then the counts) and one over the means, block by
    block; memory is one histogram per unit and block, never the whole area.
    """
    if region is None:
        region = xr.ones_like(units, dtype=bool)
    u = units.data if isinstance(units.data, da.Array) else da.from_array(units.values, chunks=units.shape)
    m = mean.data if isinstance(mean.data, da.Array) else da.from_array(mean.values, chunks=mean.shape)
    r = region.data if isinstance(region.data, da.Array) else da.from_array(region.values, chunks=region.shape)
    m = m.rechunk(u.chunks)
    r = r.rechunk(u.chunks)
    ids = da.unique(u).compute()
    ids = np.asarray(ids[ids >= 0], dtype=np.int64)
    if ids.size == 0:
        return ids, np.zeros((0, _NBINS), dtype=np.int64)
    blocks = da.map_blocks(
        _block_hist, u, m, r, unit_ids=ids, new_axis=2,
        chunks=(tuple(1 for _ in u.chunks[0]), tuple(1 for _ in u.chunks[1]), (ids.size * _NBINS,)),
        dtype=np.int64,
    )
    (hist,) = dask.compute(blocks.sum(axis=(0, 1)))
    return ids, hist.reshape(ids.size, _NBINS)


def percentile_from_histogram(hist: np.ndarray, q: float) -> np.ndarray:
    """Percentile ``q`` of each row's values (bins are NDVI x 10000 from HIST_MIN), in NDVI; NaN for empty rows.

    Equals ``numpy.percentile(values, q)`` (linear interpolation) of the quantized values.
    """
    hist = np.atleast_2d(hist)
    out = np.full(hist.shape[0], np.nan)
    cum = np.cumsum(hist, axis=1)
    for i in range(hist.shape[0]):
        n = cum[i, -1]
        if n == 0:
            continue
        pos = q / 100.0 * (n - 1)
        lo, frac = int(np.floor(pos)), pos - np.floor(pos)
        v_lo = np.searchsorted(cum[i], lo, side="right")
        v_hi = np.searchsorted(cum[i], min(lo + 1, n - 1), side="right")
        out[i] = (v_lo + frac * (v_hi - v_lo) + HIST_MIN) / NDVI_SCALE
    return out


def percentile_from_histogram_exact(hist: np.ndarray, q: float) -> tuple[np.ndarray, int]:
    """Percentile ``q`` of each row, exactly, as integers over one common denominator: (numerators, denominator).

    The value in stored units (NDVI x 10000) is ``numerators / denominator``; the linear interpolation
    weight between ranks is a fraction with denominator 100 x (q's denominator), so the percentile of
    integers is an integer over it. Empty rows give 0 (check the counts).
    """
    hist = np.atleast_2d(hist)
    fq = exact_fraction(q, "percentile")
    den = 100 * fq.denominator
    out = np.zeros(hist.shape[0], dtype=np.int64)
    cum = np.cumsum(hist, axis=1)
    for i in range(hist.shape[0]):
        n = int(cum[i, -1])
        if n == 0:
            continue
        lo, r = divmod(fq.numerator * (n - 1), den)  # rank q (n - 1) / 100 = lo + r / den
        v_lo = int(np.searchsorted(cum[i], lo, side="right"))
        v_hi = int(np.searchsorted(cum[i], min(lo + 1, n - 1), side="right"))
        out[i] = (v_lo + HIST_MIN) * den + r * (v_hi - v_lo)
    return out, den


@dataclass(frozen=True)
class UnitHistograms:
    """Counts of quantized window-mean NDVI per land unit and per land-cover-only fallback unit, over some pixels.

    Histograms of disjoint pixel sets (tiles) add up to the histogram of their union (``merge``), so
    each tile's pass is independent and the percentiles of the whole comparison region stay exact.
    """

    ids: np.ndarray
    hist: np.ndarray
    fb_ids: np.ndarray
    fb_hist: np.ndarray

    @classmethod
    def of(cls, unit: xr.DataArray, fallback: xr.DataArray, mean: xr.DataArray, region: xr.DataArray | None,
           *, crossed: bool) -> UnitHistograms:
        """The histograms of ``mean`` over ``unit`` and ``fallback`` (the same map when not ``crossed`` with soil)."""
        ids, hist = unit_histograms(unit, mean, region)
        fb_ids, fb_hist = unit_histograms(fallback, mean, region) if crossed else (ids, hist)
        return cls(ids, hist, fb_ids, fb_hist)

    @classmethod
    def of_sums(cls, unit: np.ndarray, fallback: np.ndarray, total: np.ndarray, count: np.ndarray,
                region: np.ndarray | None, *, crossed: bool) -> UnitHistograms:
        """``of`` for in-memory arrays (one window of a tile) with the mean as ``window_sum_count``'s exact sum and
        count: the same counts as ``of`` on ``mean_of_sums``; every unit present is listed, counted pixels or not."""
        def one(units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ids = np.unique(units)
            ids = ids[ids >= 0].astype(np.int64)
            hist = np.zeros((ids.size, _NBINS), dtype=np.int64)
            add_unit_counts(hist, ids, units, total, count, region, scale=NDVI_SCALE, lo=HIST_MIN, hi=HIST_MAX)
            return ids, hist

        ids, hist = one(unit)
        fb_ids, fb_hist = one(fallback) if crossed else (ids, hist)
        return cls(ids, hist, fb_ids, fb_hist)

    @staticmethod
    def _add(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.unique(np.concatenate([i for i, _ in parts] or [np.zeros(0, np.int64)])).astype(np.int64)
        total = np.zeros((ids.size, _NBINS), dtype=np.int64)
        for i, h in parts:
            if i.size:
                total[np.searchsorted(ids, i)] += h
        return ids, total

    @classmethod
    def merge(cls, parts: list[UnitHistograms]) -> UnitHistograms:
        """The histograms of the union of the parts' (disjoint) pixels."""
        ids, hist = cls._add([(p.ids, p.hist) for p in parts])
        fb_ids, fb_hist = cls._add([(p.fb_ids, p.fb_hist) for p in parts])
        return cls(ids, hist, fb_ids, fb_hist)

    def save(self, path: str | Path) -> None:
        """Write to a compressed ``.npz`` (rows of units that were seen only; most bins are empty)."""
        np.savez_compressed(path, ids=self.ids, hist=self.hist, fb_ids=self.fb_ids, fb_hist=self.fb_hist)

    @classmethod
    def load(cls, path: str | Path) -> UnitHistograms:
        """Read what ``save`` wrote."""
        with np.load(path) as f:
            return cls(f["ids"], f["hist"], f["fb_ids"], f["fb_hist"])


@dataclass(frozen=True)
class UnitPercentiles:
    """Each land unit's ``percentile`` of window-mean NDVI over the comparison region: what performance compares with.

    Units with fewer than ``min_unit_pixels`` pixels use their land-cover-only unit (``fb_ids``).
    """

    ids: np.ndarray
    p_unit: np.ndarray
    small: np.ndarray
    fb_ids: np.ndarray
    p_fb: np.ndarray
    p_unit_num: np.ndarray
    p_fb_num: np.ndarray
    denominator: int

    @classmethod
    def of(cls, h: UnitHistograms, *, percentile: float, min_unit_pixels: int) -> UnitPercentiles:
        """The percentiles read off merged histograms (exact for the quantized means)."""
        p_unit = percentile_from_histogram(h.hist, percentile) if h.ids.size else np.array([])
        p_fb = percentile_from_histogram(h.fb_hist, percentile) if h.fb_ids.size else np.array([])
        num_unit, den = percentile_from_histogram_exact(h.hist, percentile) if h.ids.size else (np.zeros(0, np.int64), 1)
        num_fb, den = percentile_from_histogram_exact(h.fb_hist, percentile) if h.fb_ids.size else (np.zeros(0, np.int64), den)
        return cls(h.ids, p_unit, h.hist.sum(axis=1) < min_unit_pixels, h.fb_ids, p_fb, num_unit, num_fb, den)

    def _lookup(self, u: np.ndarray, f: np.ndarray,
                tables: list[tuple[np.ndarray, np.ndarray, float | int]]) -> list[np.ndarray]:
        """For each (unit values, fallback values, fill) of ``tables``: the pixels' values, the units found once."""
        ids, fb_ids = self.ids, self.fb_ids
        outs = [np.full(u.shape, fill, dtype=unit_values.dtype if unit_values.size else fb_values.dtype)
                for unit_values, fb_values, fill in tables]
        found = np.zeros(u.shape, dtype=bool)
        if ids.size:
            i = np.clip(np.searchsorted(ids, u), 0, ids.size - 1)
            hit = (ids[i] == u) & (u >= 0)
            use = hit & ~self.small[i]
            at = i[use]
            for out, (unit_values, _, _) in zip(outs, tables):
                out[use] = unit_values[at]
            found |= use
        if fb_ids.size:
            j = np.clip(np.searchsorted(fb_ids, f), 0, fb_ids.size - 1)
            # the land-cover-only unit is the coarsest there is: used whatever its size
            fb_hit = (fb_ids[j] == f) & (f >= 0) & ~found & (u >= 0)
            at = j[fb_hit]
            for out, (_, fb_values, _) in zip(outs, tables):
                out[fb_hit] = fb_values[at]
        return outs

    def lookup(self, u: np.ndarray, f: np.ndarray) -> np.ndarray:
        """The percentile (NDVI) for pixels of unit ``u`` and fallback unit ``f``; NaN for pixels with no unit."""
        return self._lookup(u, f, [(self.p_unit, self.p_fb, np.nan)])[0]

    def lookup_exact(self, u: np.ndarray, f: np.ndarray) -> np.ndarray:
        """The percentile x ``denominator`` in stored units (int64) for the same pixels; 0 where there is no unit."""
        return self._lookup(u, f, [(self.p_unit_num, self.p_fb_num, 0)])[0]

    def lookup_both(self, u: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lookup`` and ``lookup_exact`` together, finding each pixel's unit once."""
        p, num = self._lookup(u, f, [(self.p_unit, self.p_fb, np.nan), (self.p_unit_num, self.p_fb_num, 0)])
        return p, num

    @property
    def nonpositive_units(self) -> int:
        """How many land units (and land-cover-only fallback units) have a percentile <= 0: no meaningful ratio there."""
        fallback = int((self.p_fb_num <= 0).sum())
        if np.array_equal(self.ids, self.fb_ids):  # not crossed with soil: the units are the fallback units
            return fallback
        return int(((self.p_unit_num <= 0) & ~self.small).sum()) + fallback


def _check_parameters(percentile: float, ratio_threshold: float) -> None:
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile {percentile} is outside (0, 100]: the method uses 90")
    if not 0 < ratio_threshold < 1:
        raise ConfigError(f"ratio threshold {ratio_threshold} is outside (0, 1): the method uses 0.5")


def performance(
    annual: xr.DataArray | None,
    land_cover: xr.DataArray,
    *,
    window: tuple[int, int],
    soil: xr.DataArray | None = None,
    percentile: float = 90.0,
    min_unit_pixels: int = 100,
    ratio_threshold: float = 0.5,
    region: xr.DataArray | None = None,
    region_name: str = "the whole run area",
    dim: str = "year",
    min_years: int = 1,
    percentiles: UnitPercentiles | None = None,
    sums: tuple[xr.DataArray, xr.DataArray] | None = None,
) -> xr.Dataset:
    """Performance of each pixel: window mean, its unit's percentile, the ratio and -1/0 (nodata -32768).

    ``land_cover`` is the CCI map of the window's first year on the same grid; ``region`` (bool, same
    grid) limits the pixels that set each unit's percentile and is described by ``region_name`` in
    the output's metadata. ``percentiles`` are the units' percentiles when they come from a larger
    area than ``annual`` covers (one tile of the run: ``UnitHistograms.merge`` of every tile's); by
    default they come from ``annual`` itself. ``sums`` are the window's exact sum and valid-year count of
    int16 layers (``window_sum_count``, int64) in place of ``annual`` (None then), when an earlier pass
    over the cube kept them: performance needs nothing else of it.
    """
    _check_parameters(percentile, ratio_threshold)
    if sums is None and annual is not None and np.issubdtype(annual.dtype, np.integer):
        sums = window_sum_count(annual, window=window, dim=dim)
    if sums is not None:
        mean = mean_of_sums(*sums, min_years=min_years)
    elif annual is not None:
        mean = window_mean(annual, window=window, dim=dim, min_years=min_years)
    else:
        raise ValueError("performance needs the annual layers or their window sums")
    unit, fallback = land_units(land_cover, soil)
    if percentiles is None:
        percentiles = UnitPercentiles.of(UnitHistograms.of(unit, fallback, mean, region, crossed=soil is not None),
                                         percentile=percentile, min_unit_pixels=min_unit_pixels)
    if sums is not None:  # the float percentile for the published layers, the exact one for the decision: one lookup
        p90, p_num = xr.apply_ufunc(percentiles.lookup_both, unit, fallback, dask="parallelized",
                                    output_core_dims=[[], []], output_dtypes=["float64", "int64"])
    else:
        p90 = xr.apply_ufunc(percentiles.lookup, unit, fallback, dask="parallelized", output_dtypes=["float64"])
    # a unit whose percentile is <= 0 (water, bare rock) has no meaningful ratio: performance is nodata there
    # (Trends.Earth divides two negatives; method notes 2.5), and ``no_ratio`` tells the LPD which pixels these are
    ratio = mean / p90.where(p90 > 0)
    no_ratio = mean.notnull() & (p90 <= 0)
    if sums is not None:
        # ratio <= t decided exactly: sum / count <= t x p, with p = num / den in stored units and t = a / b
        total, count = sums
        t = exact_fraction(ratio_threshold, "ratio threshold")
        degraded = total * (t.denominator * percentiles.denominator) <= count * p_num * t.numerator
        decided = "exactly: window sum x b x den <= count x a x p90 x den in integers (t = a / b)"
    else:
        degraded = ratio <= ratio_threshold
        decided = "in floating point (float input)"
    perf = xr.where(degraded, -1, 0).where(ratio.notnull(), NODATA).astype("int16")
    perf.attrs.update({"_FillValue": NODATA, "long_name": "productivity performance",
                       "classes": {-1: "degraded", 0: "not degraded"}})
    ds = xr.Dataset({"mean": mean, "unit_percentile": p90, "ratio": ratio, "performance": perf, "no_ratio": no_ratio})
    ds.attrs.update({
        "window": list(window), "percentile": percentile, "ratio_threshold": ratio_threshold,
        "min_unit_pixels": min_unit_pixels, "comparison_region": region_name,
        "land_units": "ESA CCI class of the window's first year" + (" x soil class" if soil is not None else ""),
        "units": int(percentiles.ids.size), "units_below_min_size": int(percentiles.small.sum()),
        "percentile_error_bound_ndvi": 0.5 / NDVI_SCALE,
        "ratio_threshold_decided": decided,
        "units_nonpositive_percentile": percentiles.nonpositive_units,
        "nonpositive_percentile": ("nodata: a land unit whose percentile is <= 0 (water, bare rock) has no meaningful "
                                   "ratio; the LPD there is still set where trajectory and state decide it alone"),
    })
    return ds
