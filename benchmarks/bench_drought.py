"""Benchmark: the SO3-1 drought stage's cost on a realistic precipitation grid, against its physical floor.

Run on demand (not part of the test suite):

    python benchmarks/bench_drought.py [--cells 120] [--months 408] [--chunk 128]

Writes ``--months`` monthly precipitation COGs (1991 on) of ``--cells`` x ``--cells`` cells at 1/24 degree (4.6 km:
120 x 120 cells is about a quarter MODIS tile's extent; North-East Asia's box is about 2400 x 1400 cells, so its
cost is this one's times cells), then times in one run, on every core (Dask threads):

- the floor: decoding every monthly scene once;
- the fit alone: ``spi_december`` (climate-indices' gamma per cell and month) on the decoded cube;
- the stage's science as the run does it: the scenes read through odc-stac onto the grid (``load_cube``, checksums
  checked), the SPI, SPI x 1000 and the drought classes of every year;

and prints each as seconds, cells per second, the stage over the floor and over the fit, and the process's peak
memory once the stage has run (it runs first; at ``--cells 512 --chunk 512`` that is one block of the real stage). The run's drought
stage adds to this one pass over the analysis grid for the tables (``cell_areas``, the size of the NDVI grid) and
the writing of two small COGs per year: ``bench_refresh.py``'s full-extent rehearsal counts those with the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pystac
import rasterio
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from tasks.config import AssetSpec, Source, StacSpec
from tasks.io.samples.sample_climate import PrecipitationModel, monthly_totals
from tasks.io.samples.sample_data import file_fields, write_cog
from tasks.io.sources.load import load_cube
from tasks.science.drought import drought_class, spi_december, spi_x1000

RES = 1 / 24


def _scenes(folder: Path, cells: int, months: int) -> list[pystac.Item]:
    model = PrecipitationModel(years=(1991, 1991 + months // 12 - 1), resolution_deg=RES, annual_mm=(80, 600),
                               month_share=[1 / 12] * 12, year_cv=0.25, month_shape=4.0, cell_sd=0.2,
                               dry_months=[1, 2, 12], dry_month_prob=0.3)
    y, x = np.mgrid[0:cells, 0:cells] / max(cells - 1, 1)
    transform = Affine(RES, 0, 100.0, 0, -RES, 45.0)
    bbox = [100.0, 45.0 - cells * RES, 100.0 + cells * RES, 45.0]
    footprint = {"type": "Polygon", "coordinates": [[[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]],
                                                     [bbox[0], bbox[3]], [bbox[0], bbox[1]]]]}
    items = []
    for year, month, total in monthly_totals(model, (x + y) / 2, np.zeros((cells, cells), bool), seed=1):
        path = folder / f"ppt-{year}-{month:02d}.tif"
        write_cog(path, total, crs="EPSG:4326", transform=transform, nodata=-9999)
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        item = pystac.Item(f"ppt-{year}-{month:02d}", footprint, bbox, start,
                           {"proj:epsg": 4326, "proj:shape": [cells, cells], "proj:transform": list(transform)[:6]})
        item.add_asset("ppt", pystac.Asset(str(path), media_type=pystac.MediaType.COG,
                                           extra_fields=file_fields(path)))
        items.append(item)
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=120, help="edge of the square precipitation grid in cells")
    ap.add_argument("--months", type=int, default=408, help="monthly scenes from January 1991 (408: 1991-2024)")
    ap.add_argument("--chunk", type=int, default=128, help="cells per block edge (the stage's DROUGHT_CHUNK)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    cells = args.cells * args.cells
    source = Source(role="precipitation", stac=StacSpec(api="sample", collection="bench"), crs="EPSG:4326",
                    resolution=RES, assets={"precipitation": AssetSpec(key="ppt", dtype="float32", nodata=-9999)})
    grid = GeoBox((args.cells, args.cells), Affine(RES, 0, 100.0, 0, -RES, 45.0), "EPSG:4326")
    with tempfile.TemporaryDirectory() as tmp, dask.config.set(scheduler="threads", num_workers=cores):
        items = _scenes(Path(tmp), args.cells, args.months)
        times = pd.date_range("1991-01-01", periods=args.months, freq="MS")

        t0 = time.perf_counter()
        raw = load_cube(items, source, grid, chunk=args.chunk)["precipitation"].assign_coords(time=times)
        months = raw.astype("float32").where(raw != -9999)  # as the run reads them (float32; the fit casts its parts)
        spi = spi_december(months).astype("float32").compute()
        dask.compute(drought_class(spi_x1000(spi)))
        stage = time.perf_counter() - t0
        stage_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # measured first: its own peak

        t0 = time.perf_counter()
        decoded = dask.compute(*[dask.delayed(_read)(it.assets["ppt"].href) for it in items])
        floor = time.perf_counter() - t0

        cube = xr.DataArray(np.stack(decoded).astype("float64"), dims=("time", "y", "x"), coords={"time": times})
        t0 = time.perf_counter()
        spi_december(cube.chunk({"time": -1, "y": args.chunk, "x": args.chunk})).compute()
        fit = time.perf_counter() - t0

    print(json.dumps({"cells": cells, "months": args.months, "cores": cores, "floor_s": round(floor, 2),
                      "fit_s": round(fit, 2), "stage_s": round(stage, 2),
                      "cells_per_s_stage": round(cells / stage), "stage_over_floor": round(stage / floor, 1),
                      "stage_over_fit": round(stage / fit, 2),
                      "stage_peak_rss_gib": round(stage_peak, 2)}, indent=1))


def _read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


if __name__ == "__main__":
    main()
