"""Benchmark: a real-sized MODIS tile through the real flow, for a sizing that is not an upper bound.

Run on demand (not part of the test suite), from the repository root:

    python benchmarks/bench_tile.py [--size 2400] [--workers 1 8 32] [--keep]

1. **A tile-year of annual NDVI.** Generates the sample region at ``--size`` pixels on a side for one
   year (23 MOD13Q1-shaped composites of NDVI + pixel reliability, the sample's own model; about
   300 MB of DEFLATE COGs at 2400 px, under ``outputs/bench-tile``) and runs the real
   ``refresh-indicators`` flow on it (no cache): scene reads over HTTP from the local file server,
   the default local Dask cluster, tile x year tasks and the mosaic. Reports wall time per stage,
   bytes downloaded (GDAL's network statistics) and the process's peak memory.
2. **A tile-period of productivity.** Writes 16 annual NDVI layers of the same size and times
   trajectory, state, performance and LPD on them, as one productivity tile task computes them
   (both passes: unit histograms, then every asset written as a GeoTIFF).

It then scales both to North-East Asia (350 M px of land, 2001-2024, three reporting periods). The
per-period stages that read a handful of layers (land cover and SOC, SDG 15.3.1, status) are not
part of it. At 4800 px the sample generator's smooth SOC and soil fields (Gaussian filters over the
whole window) take longer to generate than the benchmark runs; ``--size 2400`` (a quarter tile)
generates in about 3 minutes.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

NE_ASIA_PX = 350e6
"""Pixels of the default zones' land at 231.66 m (``bench_refresh.py`` computes it from the zones)."""
YEARS = 24
"""2001-2024."""
PERIODS, PERIOD_YEARS = 3, 16
"""Reporting periods and the years of annual NDVI in each productivity window (catalogs/periods.yaml: baseline
2001-2015, report_1 2004-2019, report_2 2008-2023; the baseline's 15 counted as 16)."""


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def tile_year(size: int, root: Path) -> dict[str, float]:
    """Generate one year of composites at ``size`` px and run the real flow on it; stage seconds, bytes, memory."""
    from flows.refresh import RefreshRun, refresh_indicators
    from tasks.sample_data import generate_sample, load_sample_region

    region = load_sample_region(size_px=size, ndvi_years=(2024, 2024), aqua_years=None,
                                land_cover_years=(2024, 2024), name="bench-tile")
    started = time.monotonic()
    generate_sample(root, region=region, progress=lambda m: print(f"  {m}", flush=True))
    print(f"  sample ready in {time.monotonic() - started:.0f} s")
    ndvi_bytes = sum(p.stat().st_size for p in (root / "modis-13Q1-061" / "data").rglob("*.tif"))
    log = _Log()
    logging.getLogger("prefect").addHandler(log)
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        refresh_indicators(RefreshRun(sample_dir=root, out=Path(out) / "catalog", years=(2024, 2024), use_cache=False))
        total = time.monotonic() - started
    stages = {m.group(1): float(m.group(2)) for line in log.lines
              if (m := re.match(r"(.+): \d+ of \d+ tasks done in ([\d.]+) s", line))}
    http = next((float(m.group(1)) * 1e6 for line in log.lines if (m := re.search(r"([\d.]+) MB read over HTTP", line))),
                float("nan"))
    return {"pixels": float(size * size), "files_bytes": float(ndvi_bytes), "http_bytes": http, "total_s": total,
            "tiles_s": stages.get("annual NDVI tiles", float("nan")),
            "mosaic_s": stages.get("annual NDVI mosaics", float("nan")), "peak_gib": _peak_gib()}


def tile_period(size: int, years: int, root: Path) -> dict[str, float]:
    """Time both productivity passes of one tile-period on ``years`` annual layers of ``size`` px."""
    import rasterio
    import xarray as xr
    from odc.geo.geobox import GeoBox

    from flows.refresh import dask_client
    from tasks.config import Period, RunConfig
    from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
    from tasks.load import open_annual_layers
    from tasks.performance import UnitHistograms, UnitPercentiles, land_units, window_mean
    from tasks.productivity import productivity_layers, write_tile_layers

    geobox = GeoBox.from_bbox((0, 0, size * MODIS_PIXEL_SIZE, size * MODIS_PIXEL_SIZE), MODIS_SINUSOIDAL_WKT,
                              resolution=MODIS_PIXEL_SIZE)
    rng = np.random.default_rng(0)
    base = rng.uniform(1500, 4500, (size, size)).astype("float32")
    trend = rng.normal(0, 30, (size, size)).astype("float32")
    paths = {}
    root.mkdir(parents=True, exist_ok=True)
    for i in range(years):
        year = 2001 + i
        values = np.round(base + trend * i + rng.normal(0, 150, (size, size))).astype("int16")
        values[:, :size // 20] = NODATA  # a strip of sea
        paths[year] = root / f"annual-{year}.tif"
        with rasterio.open(paths[year], "w", driver="GTiff", width=size, height=size, count=1, dtype="int16",
                           crs=MODIS_SINUSOIDAL_WKT, transform=geobox.affine, nodata=NODATA, tiled=True,
                           blockxsize=512, blockysize=512, compress="DEFLATE") as dst:
            dst.write(values, 1)
    lc_codes = rng.choice(np.array([10, 30, 130, 150, 200], "uint8"), (size // 480 + 1, size // 480 + 1))
    land_cover = xr.DataArray(np.kron(lc_codes, np.ones((480, 480), "uint8"))[:size, :size], dims=("y", "x"))
    first, last = 2001, 2001 + years - 1
    mid = first + years // 2
    period = Period(productivity=(first, last), state_baseline=(first, mid - 1), state_target=(mid, last),
                    land_cover=(first, last))
    cfg = RunConfig(native_bounds=tuple(geobox.boundingbox), years=(first, last),
                    productivity={"min_years": min(10, years)})
    timings = {}
    with dask_client(None):
        cube = open_annual_layers({y: str(p) for y, p in paths.items()}, chunk=cfg.chunk, window=geobox)
        lc = land_cover.chunk(cfg.chunk).assign_coords(y=cube.y, x=cube.x)
        started = time.monotonic()
        unit, fallback = land_units(lc)
        hist = UnitHistograms.of(unit, fallback, window_mean(cube, window=(first, last)), None, crossed=False)
        table = UnitPercentiles.of(hist, percentile=90.0, min_unit_pixels=100)
        timings["histograms_s"] = time.monotonic() - started
        started = time.monotonic()
        layers = productivity_layers(cube, lc, period, cfg, percentiles=table)
        write_tile_layers(layers, root / "layers", geobox)  # as the productivity tile task writes them
        timings["layers_s"] = time.monotonic() - started
    timings["peak_gib"] = _peak_gib()
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2400, help="tile edge in pixels (2400: a quarter MODIS tile)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--keep", action="store_true", help="keep the generated tile under outputs/bench-tile")
    args = ap.parse_args()

    import tasks  # noqa: F401

    logging.getLogger("distributed").setLevel(logging.WARNING)  # the cluster's start and stop, twice per part
    root = Path("outputs/bench-tile")
    try:
        print(f"1. one tile-year at {args.size} x {args.size} px")
        ty = tile_year(args.size, root / "sample")
        print(f"   {ty['files_bytes'] / 1e6:,.0f} MB of composites, {ty['http_bytes'] / 1e6:,.0f} MB read over HTTP; "
              f"tile tasks {ty['tiles_s']:.1f} s, mosaic {ty['mosaic_s']:.1f} s, end to end {ty['total_s']:.1f} s; "
              f"peak memory {ty['peak_gib']:.1f} GiB")
        print(f"2. one tile-period of {PERIOD_YEARS} years at {args.size} x {args.size} px")
        tp = tile_period(args.size, PERIOD_YEARS, root / "period")
        print(f"   histograms {tp['histograms_s']:.1f} s, every layer {tp['layers_s']:.1f} s; "
              f"peak memory {tp['peak_gib']:.1f} GiB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    tiles = NE_ASIA_PX / ty["pixels"]
    ingest_h = tiles * YEARS * (ty["tiles_s"] + ty["mosaic_s"]) / 3600
    period_h = tiles * PERIODS * (tp["histograms_s"] + tp["layers_s"]) / 3600
    print(f"North-East Asia: {tiles:,.1f} tiles of this size x {YEARS} years; "
          f"{ty['http_bytes'] * tiles * YEARS / 1e12:,.2f} TB downloaded")
    for n in args.workers:
        print(f"  on {n:>3} worker(s) like this machine: ingest {ingest_h / n:,.1f} h + productivity "
              f"{period_h / n:,.1f} h = {(ingest_h + period_h) / n:,.1f} h")


if __name__ == "__main__":
    main()
