"""Benchmark: the people stage's pass (SO3-2, SO3-3, SO2-3) on a realistic grid, against its physical floor.

Run on demand (not part of the test suite):

    python benchmarks/bench_people.py [--km 300] [--years 5] [--droughts 28] [--periods 3]

Writes a 30 arc-second population (female and male, ``--years`` years) over a ``--km`` square around 43.7 N, 112 E
(300 km: about a quarter MODIS tile's extent; North-East Asia is about 180 times that area), each period's
SDG 15.3.1 layer and water map and a vulnerability index on the MODIS sinusoidal 231.66 m grid, and the drought
classes of ``--droughts`` tables on a 1/24 degree grid over North-East Asia, then times in one run:

- the floor: decoding the population files, the SDG layers, the water maps and the index once, on every core;
- the pass as the run makes it (``people_pass``): every drought table and every period's SO2-3 table with the
  zones' exact coverage, the vulnerability means weighted by each year's people, and the SO2-3 signed layers
  written block by block (``SignedLayers``).

It prints seconds, analysis pixels per second and the pass over the floor. ``bench_ingest.py`` runs ``measure`` at
two sizes to size a North-East Asia run's pass (fixed cost + per pixel); the rest of the stage (reading the drought
layers, checking the index, writing the items and their tables) it times in the full-extent rehearsal.
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
import rioxarray
import shapely
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from tasks.config import AssetSpec, Source
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.io.outputs.people_tables import GROUPS, DroughtPeople, SdgPeople, people_pass
from tasks.io.samples.sample_data import write_cog
from tasks.io.sources.population import PeopleReader, PopulationYears
from tasks.io.sources.zones import Zone
from tasks.stages.people import SignedLayers

CENTRE = (112.0, 43.7)


NE_ASIA_CELLS = (73.0, 78.0, 190.0, 35.0)
"""West, north, east, south of the precipitation grid a North-East Asia run reads (past 180 degrees: Chukotka)."""


def _inputs(folder: Path, km: float, years: int, whole_region: bool,
            periods: int) -> tuple[PopulationYears, GeoBox, list[str], list[str], str, GeoBox, np.ndarray]:
    rng = np.random.default_rng(3)
    res = 1 / 120
    half_lat = km / 2 / 111.2
    half_lon = half_lat / math.cos(math.radians(CENTRE[1]))
    width, height = int(2 * half_lon / res), int(2 * half_lat / res)
    transform = Affine(res, 0, CENTRE[0] - half_lon, 0, -res, CENTRE[1] + half_lat)
    hrefs: dict[int, dict[str, str]] = {}
    ids: dict[int, str] = {}
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
    sdgs, waters = [], []
    for k in range(periods):  # each reporting period's SDG 15.3.1 layer and water map (its final land cover)
        sdg, water = folder / f"sdg-{k}.tif", folder / f"water-{k}.tif"
        write_cog(sdg, rng.choice(np.array([-1, 0, 1], "int16"), size=(side, side), p=[0.1, 0.8, 0.1]),
                  crs=MODIS_SINUSOIDAL_WKT, transform=grid.affine, nodata=-32768)
        write_cog(water, np.where(rng.random((side, side)) < 0.02, 7, 2).astype("int16"), crs=MODIS_SINUSOIDAL_WKT,
                  transform=grid.affine, nodata=-32768)
        sdgs.append(str(sdg))
        waters.append(str(water))
    vulnerability = folder / "vulnerability.tif"
    write_cog(vulnerability, rng.random((side, side), dtype="float32"), crs=MODIS_SINUSOIDAL_WKT,
              transform=grid.affine, nodata=float("nan"))
    coarse = 1 / 24
    if whole_region:  # the run's precipitation grid covers the region, not only this area
        west, north, east, south = NE_ASIA_CELLS
        cells = GeoBox((round((north - south) / coarse), round((east - west) / coarse)),
                       Affine(coarse, 0, west, 0, -coarse, north), "EPSG:4326")
    else:
        cells = GeoBox((int(height * res / coarse) + 2, int(width * res / coarse) + 2),
                       Affine(coarse, 0, transform.c - coarse, 0, -coarse, transform.f + coarse), "EPSG:4326")
    codes = rng.integers(0, 5, size=int(cells.shape[0]) * int(cells.shape[1]))
    return (PopulationYears("bench", hrefs, ids, True), grid, sdgs, waters, str(vulnerability), cells, codes)


def measure(folder: Path, *, km: float = 300.0, years: int = 5, droughts: int = 28, periods: int = 3,
            whole_region: bool = True) -> dict[str, float]:
    """The pass as a run makes it on a ``km`` square of the analysis grid, timed against decoding its inputs once:
    ``droughts`` drought tables (a run's years and periods' worst years), ``periods`` SO2-3 tables with their signed
    layers written block by block and their water maps, and the vulnerability means weighted by every population
    year. Returns seconds and the grid's pixels (every one of them in a zone: the pass touches every block)."""
    cores = os.cpu_count() or 1
    source = Source(role="population", file=Path("bench.tif"), assets={
        "female": AssetSpec(key="female", dtype="float32"), "male": AssetSpec(key="male", dtype="float32")})
    with dask.config.set(scheduler="threads", num_workers=cores):
        pop, grid, sdg_paths, waters, vuln_path, cells, codes = _inputs(folder, km, years, whole_region, periods)
        pixels = int(grid.shape[0]) * int(grid.shape[1])
        files = [h for bands in pop.hrefs.values() for h in bands.values()] + sdg_paths + waters + [vuln_path]

        t0 = time.perf_counter()
        dask.compute(*[dask.delayed(_read)(p) for p in files])
        floor = time.perf_counter() - t0

        box = grid.boundingbox
        lonlat = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
        ring = [lonlat.transform(x, y) for x, y in ((box.left, box.bottom), (box.right, box.bottom),
                                                    (box.right, box.top), (box.left, box.top))]
        west = shapely.Polygon(ring).intersection(shapely.box(-180, -90, CENTRE[0], 90))
        east = shapely.Polygon(ring).intersection(shapely.box(CENTRE[0], -90, 180, 90))
        zones = (Zone("W", "west", west), Zone("E", "east", east))
        used = sorted(pop.hrefs)
        tables = [DroughtPeople(codes, np.full(codes.size, used[k % len(used)]), k % periods) for k in range(droughts)]
        sdgs = [SdgPeople(path, k, used[-1]) for k, path in enumerate(sdg_paths)]
        opened = rioxarray.open_rasterio(vuln_path, chunks={"x": 1024, "y": 1024})
        assert isinstance(opened, xr.DataArray)
        vulnerability = opened.squeeze("band", drop=True)
        scratch = folder / "signed"
        scratch.mkdir()
        signed = SignedLayers(grid, sdgs, GROUPS[:1], scratch)
        t0 = time.perf_counter()
        try:
            people_pass(grid, zones, PeopleReader(pop, source, grid), region=None, cells=cells, droughts=tables,
                        sdgs=sdgs, water=waters, vulnerability=vulnerability, vulnerability_years=used,
                        on_block=signed)
        finally:
            signed.close()
        full = time.perf_counter() - t0
    return {"pixels": pixels, "coarse_cells": int(cells.shape[0]) * int(cells.shape[1]), "population_years": years,
            "drought_tables": droughts, "sdg_tables": periods, "cores": cores, "floor_s": round(floor, 2),
            "pass_s": round(full, 2), "pixels_per_s_pass": round(pixels / full), "pass_over_floor": round(full / floor, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--km", type=float, default=300.0, help="edge of the square area in km")
    ap.add_argument("--years", type=int, default=5, help="population years (every fifth from 2000)")
    ap.add_argument("--droughts", type=int, default=28,
                    help="drought tables (a run of 2000-2024 and three periods: 25 years and 3 worst years, as the rehearsal)")
    ap.add_argument("--periods", type=int, default=3, help="reporting periods (SO2-3 tables, signed layers, water maps)")
    ap.add_argument("--cells", choices=("area", "region"), default="region",
                    help="the 1/24 degree drought grid over the area only, or over North-East Asia as a run has it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp), km=args.km, years=args.years, droughts=args.droughts, periods=args.periods,
                         whole_region=args.cells == "region")
    print(json.dumps(result, indent=1))


def _read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


if __name__ == "__main__":
    main()
