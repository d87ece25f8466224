"""Benchmark: the whole refresh on the bundled sample region, per stage, and a sizing for North-East Asia.

Run on demand (not part of the test suite), from the repository root:

    python benchmarks/bench_refresh.py [--workers 1 8 32]

Runs the real `refresh-indicators` flow (no cache) on the 60 km sample (259 x 259 px of 231.66 m,
2001-2024, three periods), reads each stage's wall time from the flow's own log lines, measures
the bytes of NDVI and QA composites it reads, and scales both to the land area of the default
zones (China, Mongolia, DPRK, Republic of Korea, Japan, the Russian Far East) at the same pixel size.
The scaling is linear in pixels and assumes each worker is as fast as this whole machine; the
sample's fixed costs (task start, one HTTP open per composite) make it an upper bound.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import time
from pathlib import Path

from pyproj import Geod

PIXEL_KM2 = 231.65635826395825 ** 2 / 1e6
STAGES = ("annual NDVI tiles", "annual NDVI mosaics", "trend tiles", "productivity tiles", "productivity",
          "land cover and SOC", "SDG 15.3.1", "status")
"""The flow's stage names, as its count lines (`tasks.io.progress.track_stage`) log them."""


class _StageTimes(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        m = re.match(r"(.+): \d+ of \d+ tasks done in ([\d.]+) s", record.getMessage())
        if m:
            self.seconds[m.group(1)] = float(m.group(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    args = ap.parse_args()

    from tasks.environment import set_environment_defaults

    set_environment_defaults()
    from flows.refresh import RefreshRun, refresh_indicators
    from tasks.io.sample_data import generate_sample
    from tasks.io.zones import default_zones

    sample = Path("outputs/sample-data")
    generate_sample(sample)
    meta = __import__("json").loads((sample / "region.json").read_text())
    left, bottom, right, top = meta["native_bounds"]
    pixels = round((right - left) / 231.65635826395825) * round((top - bottom) / 231.65635826395825)
    ndvi_bytes = sum(p.stat().st_size for p in (sample / "modis-13Q1-061" / "data").rglob("*.tif")
                     if ".A20" in p.name and "MYD" not in p.name)
    times = _StageTimes()
    logging.getLogger("prefect").addHandler(times)
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        refresh_indicators(RefreshRun(out=Path(out) / "catalog", use_cache=False))
        total = time.monotonic() - started

    geod = Geod(ellps="WGS84")
    land_km2 = sum(abs(geod.geometry_area_perimeter(z.geometry)[0]) for z in default_zones()) / 1e6
    region_pixels = land_km2 / PIXEL_KM2
    factor = region_pixels / pixels
    print(f"sample: {pixels:,} px, 2001-2024, {ndvi_bytes / 1e6:,.0f} MB of MOD13Q1 NDVI + QA read, "
          f"{total:.0f} s end to end on {os.cpu_count()} cores")
    for stage in STAGES:
        print(f"  {stage:<20} {times.seconds.get(stage, float('nan')):7.1f} s")
    print(f"North-East Asia (default zones): {land_km2:,.0f} km2 = {region_pixels / 1e6:,.0f} M px of 231.66 m "
          f"({factor:,.0f} x the sample); {ndvi_bytes * factor / 1e12:,.2f} TB of composites for 2001-2024")
    for n in args.workers:
        print(f"  on {n:>3} worker(s) like this machine: about {total * factor / n / 3600:,.1f} h")


if __name__ == "__main__":
    main()
