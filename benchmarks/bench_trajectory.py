"""Benchmark: trajectory + state kernels against per-pixel pymannkendall and scipy loops.

Run on demand (not part of the test suite):

    python benchmarks/bench_trajectory.py [--size 2000] [--years 16] [--sample 2000]

Prints pixels per second for our numba kernels (all cores via Dask threads, and per core), and for
pymannkendall.original_test and scipy.stats.kendalltau + theilslopes looped over a random sample of
pixels (extrapolated), and the speed-up per core. The target is >= 200x pymannkendall per core.
"""
from __future__ import annotations

import argparse
import os
import time

import dask
import numpy as np
import pymannkendall as mk
import xarray as xr
from scipy import stats

from tasks.kernels.trend import mann_kendall_sen
from tasks.science.state import state
from tasks.science.trajectory import trajectory


def _cube(size: int, years: int, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    trend = rng.normal(0, 20, (size, size)).astype("float32")
    base = rng.integers(1000, 6000, (size, size)).astype("float32")
    t = np.arange(years, dtype="float32")[:, None, None]
    values = base[None] + trend[None] * t + rng.normal(0, 150, (years, size, size)).astype("float32")
    values = np.round(values).astype("int16")
    values[rng.random(values.shape) < 0.03] = -32768
    return xr.DataArray(values, dims=("year", "y", "x"), coords={"year": np.arange(2001, 2001 + years)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2000, help="edge of the square cube in pixels")
    ap.add_argument("--years", type=int, default=16)
    ap.add_argument("--sample", type=int, default=2000, help="pixels looped with the reference libraries")
    ap.add_argument("--chunk", type=int, default=500)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    annual = _cube(args.size, args.years).chunk({"year": -1, "y": args.chunk, "x": args.chunk})
    pixels = args.size * args.size
    first, last = int(annual.year[0]), int(annual.year[-1])
    mann_kendall_sen(np.zeros((2, args.years)))  # compile outside the timing

    with dask.config.set(scheduler="threads", num_workers=cores):
        t0 = time.perf_counter()
        traj = trajectory(annual, min_years=min(10, args.years))
        st = state(annual, baseline=(first, last - 3), target=(last - 2, last))
        dask.compute(traj["trajectory"], traj["sen_slope"], st["state"])
        ours = time.perf_counter() - t0
    ours_rate = pixels / ours

    # reference libraries, looped per pixel over a random sample, extrapolated
    rng = np.random.default_rng(1)
    flat = annual.values.reshape(args.years, -1).astype("float64")
    idx = rng.choice(flat.shape[1], args.sample, replace=False)
    series = [flat[:, i][flat[:, i] != -32768] / 10000 for i in idx]
    t0 = time.perf_counter()
    for y in series:
        mk.original_test(y)
        mk.sens_slope(y)
    pmk = time.perf_counter() - t0
    t0 = time.perf_counter()
    for y in series:
        x = np.arange(y.size)
        stats.kendalltau(x, y)
        stats.theilslopes(y, x)
    sp = time.perf_counter() - t0
    pmk_rate, sp_rate = args.sample / pmk, args.sample / sp

    print(f"cube {args.size} x {args.size} x {args.years} years ({pixels:,} pixels), {cores} cores, chunks {args.chunk}")
    print(f"ours (trajectory + Sen + state, numba, {cores} threads): {ours:8.2f} s  {ours_rate:14,.0f} px/s  "
          f"{ours_rate / cores:14,.0f} px/s/core")
    print(f"pymannkendall original_test + sens_slope (1 core):     {pixels / pmk_rate:8.0f} s  {pmk_rate:14,.0f} px/s (extrapolated)")
    print(f"scipy kendalltau + theilslopes (1 core):               {pixels / sp_rate:8.0f} s  {sp_rate:14,.0f} px/s (extrapolated)")
    print(f"speed-up per core: {ours_rate / cores / pmk_rate:,.0f}x pymannkendall, {ours_rate / cores / sp_rate:,.0f}x scipy")


if __name__ == "__main__":
    main()
