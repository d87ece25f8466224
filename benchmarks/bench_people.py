"""Benchmark: the people stage's pass (SO3-2, SO3-3, SO2-3) on a realistic grid, against its physical floor.

Run on demand (not part of the test suite):

    python benchmarks/bench_people.py [--km 300] [--years 5] [--droughts 25]

Writes a 30 arc-second population (female and male, ``--years`` years) over a ``--km`` square around 43.7 N, 112 E
(300 km: about a quarter MODIS tile's extent; North-East Asia is about 180 times that area), the analysis grid's
SDG 15.3.1 layer and water map on the MODIS sinusoidal 231.66 m grid, and ``--droughts`` years of drought classes on
a 1/24 degree grid, then times in one run:

- the floor: decoding the population files, the SDG layer and the water map once, on every core;
- the regrid alone: every year's people moved onto the analysis grid block by block (``PeopleReader``);
- the pass as the run makes it (``people_pass``): every drought year's and one period's SO2-3 table with the zones'
  exact coverage, the vulnerability means weighted by each year's people.

It prints seconds, analysis pixels per second and the pass over the floor. The stage adds to this the writing of the
small exposure COGs and of the SO2-3 layers (a float32 COG per group and period, the size of the analysis grid);
``bench_refresh.py``'s full-extent rehearsal counts those with the rest of the run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import dask
import numpy as np
import rasterio
import shapely
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from tasks.config import AssetSpec, Source
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.io.outputs.people_tables import DroughtPeople, SdgPeople, people_pass
from tasks.io.samples.sample_data import write_cog
from tasks.io.sources.population import PeopleReader, PopulationYears
from tasks.io.sources.zones import Zone

CENTRE = (112.0, 43.7)


NE_ASIA_CELLS = (73.0, 78.0, 190.0, 35.0)
"""West, north, east, south of the precipitation grid a North-East Asia run reads (past 180 degrees: Chukotka)."""


def _inputs(folder: Path, km: float, years: int,
            whole_region: bool) -> tuple[PopulationYears, GeoBox, str, str, GeoBox, np.ndarray]:
    rng = np.random.default_rng(3)
    res = 1 / 120
    half_lat = km / 2 / 111.2
    half_lon = half_lat / math.cos(math.radians(CENTRE[1]))
    width, height = int(2 * half_lon / res), int(2 * half_lat / res)
    transform = Affine(res, 0, CENTRE[0] - half_lon, 0, -res, CENTRE[1] + half_lat)
    hrefs, ids = {}, {}
    for k in range(years):
        year = 2000 + 5 * k
        people = rng.gamma(0.3, 6.0, size=(height, width)).astype("float32")
        hrefs[year] = {}
        for band in ("female", "male"):
            path = folder / f"pop-{year}-{band}.tif"
            write_cog(path, people * (0.51 if band == "female" else 0.49), crs="EPSG:4326", transform=transform,
                      nodata=-99999)
            hrefs[year][band] = str(path)
        ids[year] = f"pop-{year}"
    cx, cy = Transformer.from_crs("EPSG:4326", MODIS_SINUSOIDAL_WKT, always_xy=True).transform(*CENTRE)
    side = int(km * 1000 / MODIS_PIXEL_SIZE)
    grid = GeoBox((side, side), Affine(MODIS_PIXEL_SIZE, 0, cx - side * MODIS_PIXEL_SIZE / 2, 0, -MODIS_PIXEL_SIZE,
                                       cy + side * MODIS_PIXEL_SIZE / 2), MODIS_SINUSOIDAL_WKT)
    sdg, water = folder / "sdg.tif", folder / "water.tif"
    write_cog(sdg, rng.choice(np.array([-1, 0, 1], "int16"), size=(side, side), p=[0.1, 0.8, 0.1]),
              crs=MODIS_SINUSOIDAL_WKT, transform=grid.affine, nodata=-32768)
    write_cog(water, np.where(rng.random((side, side)) < 0.02, 7, 2).astype("int16"), crs=MODIS_SINUSOIDAL_WKT,
              transform=grid.affine, nodata=-32768)
    coarse = 1 / 24
    if whole_region:  # the run's precipitation grid covers the region, not only this area
        west, north, east, south = NE_ASIA_CELLS
        cells = GeoBox((round((north - south) / coarse), round((east - west) / coarse)),
                       Affine(coarse, 0, west, 0, -coarse, north), "EPSG:4326")
    else:
        cells = GeoBox((int(height * res / coarse) + 2, int(width * res / coarse) + 2),
                       Affine(coarse, 0, transform.c - coarse, 0, -coarse, transform.f + coarse), "EPSG:4326")
    codes = rng.integers(0, 5, size=int(cells.shape[0]) * int(cells.shape[1]))
    return PopulationYears("bench", hrefs, ids, True), grid, str(sdg), str(water), cells, codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--km", type=float, default=300.0, help="edge of the square area in km")
    ap.add_argument("--years", type=int, default=5, help="population years (every fifth from 2000)")
    ap.add_argument("--droughts", type=int, default=25, help="drought years tabled")
    ap.add_argument("--cells", choices=("area", "region"), default="region",
                    help="the 1/24 degree drought grid over the area only, or over North-East Asia as a run has it")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    source = Source(role="population", file=Path("bench.tif"), assets={
        "female": AssetSpec(key="female", dtype="float32"), "male": AssetSpec(key="male", dtype="float32")})
    with tempfile.TemporaryDirectory() as tmp, dask.config.set(scheduler="threads", num_workers=cores):
        years, grid, sdg, water, cells, codes = _inputs(Path(tmp), args.km, args.years, args.cells == "region")
        pixels = int(grid.shape[0]) * int(grid.shape[1])
        files = [h for bands in years.hrefs.values() for h in bands.values()] + [sdg, water]

        t0 = time.perf_counter()
        dask.compute(*[dask.delayed(_read)(p) for p in files])
        floor = time.perf_counter() - t0

        reader = PeopleReader(years, source, grid)
        t0 = time.perf_counter()
        for r in range(0, int(grid.shape[0]), 1024):
            for c in range(0, int(grid.shape[1]), 1024):
                block = (r, c, min(1024, int(grid.shape[0]) - r), min(1024, int(grid.shape[1]) - c))
                for year in years.hrefs:
                    reader.block(year, block)
        regrid = time.perf_counter() - t0

        box = grid.boundingbox
        lonlat = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
        ring = [lonlat.transform(x, y) for x, y in ((box.left, box.bottom), (box.right, box.bottom),
                                                    (box.right, box.top), (box.left, box.top))]
        west = shapely.Polygon(ring).intersection(shapely.box(-180, -90, CENTRE[0], 90))
        east = shapely.Polygon(ring).intersection(shapely.box(CENTRE[0], -90, 180, 90))
        zones = (Zone("W", "west", west), Zone("E", "east", east))
        used = sorted(years.hrefs)
        droughts = [DroughtPeople(codes, np.full(codes.size, used[k % len(used)]), 0) for k in range(args.droughts)]
        t0 = time.perf_counter()
        people_pass(grid, zones, PeopleReader(years, source, grid), region=None, cells=cells, droughts=droughts,
                    sdgs=[SdgPeople(sdg, 0, used[-1])], water=[water])
        full = time.perf_counter() - t0
    print(json.dumps({"pixels": pixels, "coarse_cells": int(cells.shape[0]) * int(cells.shape[1]),
                      "population_years": args.years, "drought_years": args.droughts,
                      "cores": cores, "floor_s": round(floor, 2), "regrid_s": round(regrid, 2),
                      "pass_s": round(full, 2), "pixels_per_s_pass": round(pixels / full),
                      "regrid_over_floor": round(regrid / floor, 1), "pass_over_floor": round(full / floor, 1)},
                     indent=1))


def _read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


if __name__ == "__main__":
    main()
