"""Benchmark: the ingest and the productivity of one tile against their physical floors, in one run.

Run on demand (never part of the test suite), from the repository root:

    python benchmarks/bench_ingest.py [--size 2400] [--runs 3] [--scheduler default] [--keep]

1. **Input.** One year of MOD13Q1-shaped composites (23 x NDVI + pixel reliability) on a window of the
   MODIS grid that is exactly a quarter of tile h26v04 (``--size 2400``; 4800 for the whole tile), with
   landscape texture, clouds in blobs and horizontal-differencing COGs, so the files compress like
   real imagery (the ratio is printed), not like noise; and 16 annual NDVI layers of the same window
   for the productivity. Kept under ``outputs/bench-ingest/<size>/`` with ``--keep`` (generation takes
   a few minutes at 2400 px).
2. **Floors, measured in the same run.** Decoding every composite once (both assets, 2 threads), from
   local disk and through the project's own file server over HTTP (GDAL ``/vsicurl/``); a plain numpy
   annual mean of the decoded arrays; the trajectory and state kernels alone on the in-memory
   16-year cube (2 threads); the tile-period's published COGs encoded once more from raw copies
   (what publishing them costs at least while every published byte stays the same).
3. **The pipeline.** The real ``refresh-indicators`` flow on the tile-year (no cache, one tile: the
   annual NDVI tile task and the mosaic), and one tile-period of productivity (both passes, every
   layer written), on the scheduler chosen (``--scheduler``: the default, ``threads`` or a ``local``
   Dask cluster).

Each measurement runs ``--runs`` times, interleaved, each in a fresh process (so peak memory is its
own); the table gives the minimum and the median. It prints the ratios the targets are stated in
(tile-year / (HTTP decode + numpy mean), tile-period / kernels) and the tile-period / (kernels + encoding), peak
RSS, bytes read over HTTP, Dask task counts, the machine's load, and scales the medians to North-East Asia.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

NE_ASIA_PX = 350e6
"""Pixels of the default zones' land at 231.66 m (``bench_refresh.py`` computes it from the zones)."""
YEARS = 24
"""2001-2024."""
PERIODS, PERIOD_YEARS = 3, 16
"""Reporting periods and the years of annual NDVI in each productivity window (catalogs/periods.yaml)."""
YEAR = 2024
"""The benchmark's tile-year."""
TILE_H, TILE_V = 26, 4
"""h26v04: the sample region's MODIS tile (Zamyn-Uud)."""
THREADS = 2
"""Threads of the floors: the cores of the machine the targets are stated for."""

TEXTURE = {"noise_sd": 0.001, "texture_sd": 0.03, "cloud_blob_px": 12.0}
"""The sample model's knobs for composites that compress like imagery (NDVI about 0.8 of raw, reliability about
0.06), instead of the sample's per-pixel noise (about 1.0 and 0.25)."""


def _peak_gib() -> float:
    """This process's peak resident memory. ``VmHWM`` (Linux), not ``ru_maxrss``: that survives ``execve``, so a part
    started by a parent that just generated the input in memory would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 2**20
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _region(size: int) -> Any:
    """The sample region moved onto the north-west ``size`` x ``size`` corner of tile h26v04, one year, textured."""
    from pyproj import Transformer

    from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
    from tasks.geo.tiles import MODIS_TILE_PX
    from tasks.io.samples.sample_data import load_sample_region

    x0, y0 = MODIS_GRID_ORIGIN
    col = TILE_H * MODIS_TILE_PX + size // 2  # sample_grid puts the window's left edge size // 2 pixels west of this
    row = TILE_V * MODIS_TILE_PX + size // 2
    x, y = x0 + (col + 0.5) * MODIS_PIXEL_SIZE, y0 - (row + 0.5) * MODIS_PIXEL_SIZE
    lon, lat = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True).transform(x, y)
    base = load_sample_region()
    return load_sample_region(size_px=size, center_lonlat=(lon, lat), ndvi_years=(YEAR, YEAR), aqua_years=None,
                              land_cover_years=(YEAR, YEAR), name=f"bench-ingest-{size}", cog_predictor=2,
                              ndvi=base.ndvi.model_copy(update=TEXTURE))


def _composites(root: Path) -> list[tuple[str, str]]:
    """(NDVI, reliability) file paths relative to ``root`` of every composite."""
    items = [json.loads(line) for line in (root / "modis-13Q1-061" / "items.ndjson").read_text().splitlines() if line]
    return [(f"modis-13Q1-061/{it['assets']['250m_16_days_NDVI']['href']}",
             f"modis-13Q1-061/{it['assets']['250m_16_days_pixel_reliability']['href']}") for it in items]


def prepare(size: int, root: Path) -> dict[str, float]:
    """Generate the tile-year's composites and the period's 16 annual layers (kept when complete)."""
    import rasterio

    from tasks.constants import NODATA
    from tasks.io.samples.sample_data import generate_sample, sample_grid

    region = _region(size)
    started = time.monotonic()
    generate_sample(root / "sample", region=region, progress=lambda m: print(f"  {m}", flush=True))
    files = [root / "sample" / p for pair in _composites(root / "sample") for p in pair]
    stored = sum(f.stat().st_size for f in files)
    raw = sum(size * size * (2 if "NDVI" in f.name else 1) for f in files)
    annual = root / "annual"
    grid = sample_grid(region)
    if not (annual / "COMPLETE").is_file():
        annual.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        from scipy.ndimage import gaussian_filter

        def field(sigma: float) -> np.ndarray:
            f = gaussian_filter(rng.normal(size=(size, size)), sigma=sigma)
            return f / f.std()

        base, trend = 2500 + 800 * field(24), 30 * field(12)
        for i in range(PERIOD_YEARS):
            values = np.round(base + trend * i + rng.normal(0, 40, (size, size))).astype("int16")
            values[:, : size // 20] = NODATA  # a strip of sea
            with rasterio.open(annual / f"annual-{2001 + i}.tif", "w", driver="COG", width=size, height=size,
                               count=1, dtype="int16", crs=grid_crs(), transform=grid.transform, nodata=NODATA,
                               COMPRESS="DEFLATE", PREDICTOR="2", BLOCKSIZE="512") as dst:
                dst.write(values, 1)
        (annual / "COMPLETE").write_text("16 years\n")
    return {"generate_s": time.monotonic() - started, "files_bytes": float(stored), "raw_bytes": float(raw),
            "ratio": stored / raw}


def grid_crs() -> str:
    from tasks.constants import MODIS_SINUSOIDAL_WKT

    return MODIS_SINUSOIDAL_WKT


# --------------------------------------------------------------------------------------------------------
# The parts, each run in its own process (``--part``); each prints one JSON line.
# --------------------------------------------------------------------------------------------------------
def _decode(paths: list[str], env: dict[str, Any]) -> list[np.ndarray]:
    import rasterio

    def read(path: str) -> np.ndarray:
        with rasterio.Env(**env), rasterio.open(path) as src:
            return src.read(1)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(read, paths))


def mean_and_max(ndvi: list[np.ndarray], qa: list[np.ndarray], *, rows: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The floor's arithmetic: the annual mean and maximum of decoded composites (good or marginal, not fill; at
    least 6 valid) in plain numpy, blocks of ``rows`` rows spread over ``THREADS`` threads (numpy releases the GIL),
    so the floor uses every core as the pipeline does."""
    height, width = ndvi[0].shape
    mean = np.empty((height, width), "int16")
    top = np.empty((height, width), "int16")

    def fold(r0: int) -> None:
        r1 = min(r0 + rows, height)
        total = np.zeros((r1 - r0, width), np.int32)
        count = np.zeros((r1 - r0, width), np.int16)
        best = np.full((r1 - r0, width), -32768, np.int16)
        for values, rel in zip(ndvi, qa):
            v, q = values[r0:r1], rel[r0:r1]
            ok = (q <= 1) & (q >= 0) & (v != -3000)
            total += np.where(ok, v, 0)
            count += ok
            np.maximum(best, np.where(ok, v, -32768), out=best)
        enough = count >= 6
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[r0:r1] = np.where(enough, np.round(total / count), -32768)
        top[r0:r1] = np.where(enough, best, -32768)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fold, range(0, height, rows)))
    return mean, top


def part_floor_local(root: Path) -> dict[str, float]:
    """Decode every composite once from local disk (2 threads), then the numpy annual mean and maximum of the arrays
    on every core."""
    pairs = _composites(root / "sample")
    paths = [str(root / "sample" / p) for pair in pairs for p in pair]
    started = time.monotonic()
    arrays = _decode(paths, {})
    decode = time.monotonic() - started
    started = time.monotonic()
    mean, top = mean_and_max(arrays[0::2], arrays[1::2])
    assert mean.shape == top.shape == arrays[0].shape
    return {"decode_local_s": decode, "numpy_mean_max_s": time.monotonic() - started}


def part_floor_http(root: Path) -> dict[str, float]:
    """Decode every composite once through the project's file server over HTTP (GDAL /vsicurl/, 2 threads)."""
    from tasks.io.runtime.local_stac import serve_collections
    from tasks.io.runtime.netstats import network_bytes
    from tasks.io.sources.load import READ_SETTINGS

    pairs = _composites(root / "sample")
    with serve_collections(root / "sample") as stac:
        urls = [f"/vsicurl/{stac.files_url}/{p}" for pair in pairs for p in pair]
        before = network_bytes() or 0
        started = time.monotonic()
        _decode(urls, READ_SETTINGS)
        seconds = time.monotonic() - started
        pulled = (network_bytes() or 0) - before
    return {"decode_http_s": seconds, "http_bytes": float(pulled)}


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class _TaskCount:
    """Dask tasks run by the local schedulers (threads, sync) while installed; a distributed cluster is not seen."""

    def __init__(self) -> None:
        from dask.callbacks import Callback

        self.n = 0
        outer = self

        class Count(Callback):
            def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
                outer.n += 1

        self.callback = Count()


class _Stopwatch:
    """Seconds spent in one function of a module (any thread), timed by wrapping it: instrumentation, not a stand-in."""

    def __init__(self, module: Any, name: str) -> None:
        import functools
        import threading

        self.seconds = 0.0
        self.spans: list[tuple[float, float]] = []
        lock, inner = threading.Lock(), getattr(module, name)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                with lock:
                    self.seconds += ended - started
                    self.spans.append((started, ended))

        setattr(module, name, timed)
        self.restore = lambda: setattr(module, name, inner)


def _address(scheduler: str) -> str | None:
    return {"default": None, "threads": "threads", "local": "local"}[scheduler]


def part_tile_year(root: Path, size: int, scheduler: str) -> dict[str, float]:
    """The real refresh flow on the tile-year: the annual NDVI tile task and the mosaic, no cache."""
    import matplotlib.pyplot  # noqa: F401  (imported once per run by its first quick-look: not a tile-year's cost)

    import tasks.io.outputs.items
    from flows.options import RefreshRun
    from flows.refresh import refresh_indicators

    logging.getLogger("distributed").setLevel(logging.WARNING)
    log = _Log()
    logging.getLogger("prefect").addHandler(log)
    count = _TaskCount()
    maps = _Stopwatch(tasks.io.outputs.items, "quicklook_png")  # a year's maps: drawn once per layer, not per tile
    with tempfile.TemporaryDirectory() as out, count.callback:
        started = time.monotonic()
        refresh_indicators(RefreshRun(sample_dir=root / "sample", out_dir=Path(out) / "catalog", years=(YEAR, YEAR),
                                      use_cache=False, tile_size=size), dask_address=_address(scheduler))
        total = time.monotonic() - started
    stages = {m.group(1): float(m.group(2)) for line in log.lines
              if (m := re.match(r"(.+): \d+ of \d+ tasks done in ([\d.]+) s", line))}
    http = next((float(m.group(1)) * 1e6 for line in log.lines if (m := re.search(r"([\d.]+) MB read over HTTP", line))),
                float("nan"))
    return {"tile_s": stages.get("annual NDVI tiles", float("nan")), "mosaic_s": stages.get("annual NDVI mosaics", float("nan")),
            "flow_s": total, "tile_year_http_bytes": http, "tile_year_tasks": float(count.n),
            "tile_year_checked_bytes": next((float(m.group(1)) * 1e6 for line in log.lines if (m := re.search(
                r"([\d.]+) MB of files checked against their file:checksum", line))), 0.0),
            "maps_s": maps.seconds, "tile_year_peak_gib": _peak_gib()}


def _period_inputs(root: Path, size: int) -> tuple[Any, Any, Any, Any]:
    import xarray as xr
    from odc.geo.geobox import GeoBox

    from tasks.config import Period, RunConfig
    from tasks.io.samples.sample_data import sample_grid

    grid = sample_grid(_region(size))
    geobox = GeoBox((size, size), grid.transform, grid_crs())
    rng = np.random.default_rng(1)
    lc_codes = rng.choice(np.array([10, 30, 130, 150, 200], "uint8"), (size // 480 + 1, size // 480 + 1))
    land_cover = xr.DataArray(np.kron(lc_codes, np.ones((480, 480), "uint8"))[:size, :size], dims=("y", "x"))
    first, last = 2001, 2001 + PERIOD_YEARS - 1
    mid = first + PERIOD_YEARS // 2
    period = Period(productivity=(first, last), state_baseline=(first, mid - 1), state_target=(mid, last),
                    land_cover=(first, last))
    cfg = RunConfig(native_bounds=tuple(geobox.boundingbox), years=(first, last), productivity={"min_years": 10})
    return geobox, land_cover, period, cfg


def part_kernels(root: Path, size: int) -> dict[str, float]:
    """The trajectory and state kernels alone on the 16-year cube in memory, rows split over 2 threads."""
    import rasterio

    from tasks.constants import NDVI_SCALE, NODATA
    from tasks.kernels.state import te_state
    from tasks.kernels.trend import mann_kendall_sen
    from tasks.science.state import STATE_DEAD_BAND

    stack = []
    for i in range(PERIOD_YEARS):
        with rasterio.open(root / "annual" / f"annual-{2001 + i}.tif") as src:
            stack.append(src.read(1))
    cube = np.stack(stack, axis=-1)  # int16 as stored, each pixel's years contiguous: the kernels' best case
    is_bl = np.arange(PERIOD_YEARS) < PERIOD_YEARS // 2
    halves = np.array_split(cube, THREADS, axis=0)

    def run(part: np.ndarray) -> None:
        mann_kendall_sen(part, min_count=10, nodata=NODATA)
        te_state(part, is_bl, ~is_bl, dead_band=STATE_DEAD_BAND * NDVI_SCALE, nodata=NODATA)

    run(cube[:2, :2])  # compile outside the clock
    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, halves))
    return {"kernels_s": time.monotonic() - started}


def part_tile_period(root: Path, size: int, scheduler: str) -> dict[str, float]:
    """One tile-period of productivity as the pipeline's two passes compute it: pass 1 (trajectory, state and the
    window sums written from one read of the cube, unit histograms from the sums), then pass 2 (performance and
    LPD from what pass 1 wrote)."""
    import tasks.io.outputs.items
    from flows.cluster import dask_client
    from tasks.io.outputs.items import join_period_tiles
    from tasks.io.sources.load import open_annual_layers
    from tasks.model import ProductivityTile
    from tasks.science.performance import UnitHistograms, UnitPercentiles
    from tasks.stages.productivity import TrendTile, write_lpd_tile, write_trend_tile

    logging.getLogger("distributed").setLevel(logging.WARNING)
    geobox, land_cover, period, cfg = _period_inputs(root, size)
    paths = {2001 + i: str(root / "annual" / f"annual-{2001 + i}.tif") for i in range(PERIOD_YEARS)}
    out: dict[str, float] = {}
    count = _TaskCount()
    with dask_client(_address(scheduler)), count.callback, tempfile.TemporaryDirectory() as scratch:
        cube = open_annual_layers(paths, chunk=cfg.chunk, window=geobox)
        lc = land_cover.chunk(cfg.chunk).assign_coords(y=cube.y, x=cube.x)
        started = time.monotonic()
        layout, _, inherited = write_trend_tile(cube, lc, period, cfg, Path(scratch) / "pass1", geobox)
        trend = TrendTile("bench", "tile", str(Path(scratch) / "pass1"), layout, inherited, from_cache=False)
        table = UnitPercentiles.of(UnitHistograms.load(trend.histograms), percentile=90.0, min_unit_pixels=100)
        out["pass1_s"] = time.monotonic() - started
        started = time.monotonic()
        layout, _ = write_lpd_tile(trend, lc, period, cfg, table, Path(scratch) / "pass2", geobox)
        out["pass2_s"] = time.monotonic() - started
        # the period join: the tile's assets joined into the published trajectory, state, performance and LPD items
        # (COGs with overviews, statistics, quick-look maps), as productivity_task does for a period's tiles
        tile = ProductivityTile("bench", "tile", str(Path(scratch) / "pass2"), layout, [], 0, False)
        maps = _Stopwatch(tasks.io.outputs.items, "quicklook_png")  # one map per period layer, any size: apart
        started = time.monotonic()
        written = join_period_tiles([tile], geobox, Path(scratch) / "staging", region_id="bench", name="bench",
                                    period=period, sources=[], chunk=cfg.chunk, area=None)
        out["join_s"] = time.monotonic() - started
        out["join_maps_s"] = maps.seconds
        out["cog_encode_s"] = _encode_again([a for layer in written for a in layer.assets], Path(scratch) / "again")
    out["tile_period_tasks"] = float(count.n)
    out["tile_period_peak_gib"] = _peak_gib()
    return out


def _encode_again(assets: list[Any], folder: Path) -> float:
    """Seconds to encode the published COGs of ``assets`` once more from uncompressed tiled copies of their pixels
    and tags (made outside the clock), as ``write_item`` encodes them: what publishing a tile-period's layers costs
    at least while every published byte stays the same (DEFLATE as ``COG_PROFILE``, overviews)."""
    import rasterio

    from tasks.io.outputs.cog import cog_from_tiled

    folder.mkdir()
    copies = []
    for i, asset in enumerate(assets):
        with rasterio.open(asset.path) as src:
            profile = {**src.profile, "driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512}
            for key in ("compress", "predictor", "interleave"):
                profile.pop(key, None)
            copy = folder / f"{i}.tif"
            with rasterio.open(copy, "w", **profile) as dst:
                dst.write(src.read())
                dst.update_tags(**src.tags())
        copies.append((copy, asset.categorical))
    started = time.monotonic()
    for copy, categorical in copies:
        cog_from_tiled(copy, copy.with_suffix(".cog.tif"), categorical=categorical)
    return time.monotonic() - started


REST_STAGES = {"land cover and SOC": ("tasks.stages.land_degradation", "_land_cover_on_grid", "_land_soc"),
               "SDG 15.3.1": ("tasks.stages.land_degradation", "_sdg"),
               "status": ("tasks.stages.land_degradation", "_status"),
               "LDN balance": ("tasks.stages.land_degradation", "_ldn_balance"),
               "drought hazard (SO3-1)": ("tasks.stages.drought", "_write_years", "_write_period"),
               "people (SO3-2, SO3-3, SO2-3)": ("tasks.stages.people", "_compute"),
               "zonal tables, workbooks and report": ("tasks.stages.report", "_report"),
               "publishing the version": ("tasks.stages.publish", "publish_version")}  # where the task looks it up
"""The stages the tile parts do not measure, timed in the full-extent rehearsal by wrapping the functions each
stage's tasks run (each task computes on every core through Dask), each counted by its share of the wall time
(``stage_shares``); land cover and SOC: the land cover warped onto the grid once per run, then each period's
items."""


UNCCD_STAGES = ("drought hazard (SO3-1)", "people (SO3-2, SO3-3, SO2-3)")
"""The stages of the UNCCD report beyond SDG 15.3.1, whose cost issue 35 bounds (<= 10 % added to the run)."""


PEOPLE = "people (SO3-2, SO3-3, SO2-3)"
ANNUAL_STAGES = ("annual NDVI tiles", "annual NDVI mosaics")
"""The flow's annual NDVI stages (their count lines' names), which the tile-year part sizes."""
MEASURED_APART = {PEOPLE: ("tasks.stages.people", "people_pass")}
"""Work inside a stage that the rehearsal cannot size: its seconds are cut out of the stage's in the rehearsal and
measured on a realistic grid instead (``part_people_pass``). The people pass warps the population onto the analysis
grid: the rehearsal's grid is 8 to 16 times coarser than the real one and its population 6 times coarser than a 30
arc-second one, and GDAL's cost per pixel differs between the two (about 3 to 5 us per pixel per thread against 1.2
to 1.9 measured on real resolutions), so its per-pixel fit would size the pass 3 times too large."""

PEOPLE_KM = (300.0, 600.0)
"""The squares the people pass is measured on (``bench_people.py``): two sizes separate its fixed cost (the drought
tables' cells over the whole region's precipitation grid) from its cost per pixel."""


OVERLAPPING = {"productivity tiles and join": ("tasks.stages.productivity", "write_trend_tile", "write_lpd_tile",
                                               "join_period_tiles")}
"""Work that runs beside the stages above in a real run (the flow submits each period's land cover and SOC task
while the productivity tiles run): timed only to share the seconds they overlap (``stage_shares``), since the
tile parts measure it on their own."""


def stage_shares(spans: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Each stage's share of the wall time: every moment is split evenly among the stages running then (a stage
    runs while any of its calls does), so concurrent stages are not counted twice and the shares add up to the time
    something ran. A stage's summed call time would count the seconds it lost to a concurrent one as its own, and
    count its own calls running side by side (three periods at once) three times."""
    edges = sorted({t for calls in spans.values() for span in calls for t in span})
    shares = dict.fromkeys(spans, 0.0)
    for start, end in itertools.pairwise(edges):
        running = [k for k, calls in spans.items() if any(a <= start and end <= b for a, b in calls)]
        for k in running:
            shares[k] += (end - start) / len(running)
    return shares


def without(spans: list[tuple[float, float]], cut: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The moments of ``spans`` outside every span of ``cut``."""
    out = []
    for start, end in spans:
        pieces = [(start, end)]
        for a, b in cut:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, a)), (max(lo, b), hi)) if p[1] > p[0]]
        out += pieces
    return out


def part_people_pass(root: Path, km: float) -> dict[str, float]:
    """The people stage's pass as a run makes it on a ``km`` square of the real analysis grid, with a 30 arc-second
    population and the drought tables of a whole run over the region's precipitation grid (``bench_people.py``)."""
    import bench_people

    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        return bench_people.measure(Path(tmp), km=km)


def part_rehearsal(root: Path, step: int) -> dict[str, float]:
    """The real flow on the full-extent rehearsal of North-East Asia at every ``step``-th pixel: a cold run to the
    year before the last (nothing in its cache), then next year's refresh into the same catalog and cache. Every
    stage's seconds in both and the rehearsal's pixels of region, to count per pixel the stages the tile parts leave
    out, in a whole run and in a refresh."""
    import importlib

    from flows.options import RefreshRun, build_run
    from flows.refresh import refresh_indicators
    from tasks.io.runtime.plan import tile_plans
    from tasks.io.samples.rehearsal import generate_rehearsal

    logging.getLogger("distributed").setLevel(logging.WARNING)
    inputs = generate_rehearsal(root / f"rehearsal-{step}", step=step)
    params = RefreshRun(sample_dir=inputs)
    checked = build_run(params)
    last = checked.cfg.years[1]
    region_px = sum(t.region_px for t in tile_plans(checked))
    result: dict[str, float] = {"region_px": float(region_px)}
    with tempfile.TemporaryDirectory() as out:
        for prefix, years in (("", (2001, last - 1)), ("refresh:", (2001, last))):
            log = _Log()
            logging.getLogger("prefect").addHandler(log)
            watches = {stage: [_Stopwatch(importlib.import_module(module), name) for name in names]
                       for stage, (module, *names) in {**REST_STAGES, **OVERLAPPING}.items()}
            apart = {stage: [_Stopwatch(importlib.import_module(module), name) for name in names]
                     for stage, (module, *names) in MEASURED_APART.items()}
            started = time.monotonic()
            refresh_indicators(params.model_copy(update={"out_dir": Path(out) / "catalog", "years": years}))
            result[f"{prefix}total_s"] = time.monotonic() - started
            logging.getLogger("prefect").removeHandler(log)
            for ws in [*watches.values(), *apart.values()]:
                for w in ws:
                    w.restore()
            result.update({f"{prefix}stage:{m.group(1)}": float(m.group(2)) for line in log.lines
                           if (m := re.match(r"(.+): \d+ of \d+ tasks done in ([\d.]+) s", line))})
            spans = {k: [span for w in ws for span in w.spans] for k, ws in watches.items()}
            for k, ws in apart.items():  # measured on a realistic grid instead (part_people_pass)
                cut = [span for w in ws for span in w.spans]
                spans[k] = without(spans[k], cut)
                result[f"{prefix}apart:{k}"] = sum(b - a for a, b in cut)
            shares = stage_shares(spans)
            result.update({f"{prefix}rest:{k}": shares[k] for k in REST_STAGES})
            result.update({f"{prefix}calls:{k}": sum(w.seconds for w in ws) for k, ws in watches.items()})
    return result


PARTS: dict[str, Callable[..., dict[str, float]]] = {
    "floor-local": part_floor_local, "floor-http": part_floor_http, "tile-year": part_tile_year,
    "kernels": part_kernels, "tile-period": part_tile_period, "rehearsal": part_rehearsal,
    "people-pass": part_people_pass}


def _run_part(name: str, root: Path, size: int, scheduler: str, step: int = 16, km: float = 300.0) -> dict[str, float]:
    """One part in a fresh Python process (its own peak memory, no warm caches of another part)."""
    cmd = [sys.executable, __file__, "--part", name, "--root", str(root), "--size", str(size), "--scheduler", scheduler,
           "--step", str(step), "--km", str(km)]
    # output to files, not pipes, and the part in a session of its own that is killed afterwards: a part that dies
    # (a crash in a native library) leaves Prefect's server behind, and a server holding a pipe would hang the bench
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=Path(__file__).resolve().parent.parent,
                                start_new_session=True)
        code = proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        sys.exit(f"benchmark part {name} failed (exit {code}):\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _fmt(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2400, help="tile edge in pixels (2400: a quarter MODIS tile, 4800: whole)")
    ap.add_argument("--runs", type=int, default=3, help="runs of every measurement (min and median reported)")
    ap.add_argument("--scheduler", choices=("default", "threads", "local"), default="default",
                    help="the pipeline's Dask scheduler: the run's default, the threaded one, or a local cluster")
    ap.add_argument("--keep", action="store_true", help="keep the generated input under outputs/bench-ingest")
    ap.add_argument("--workers", type=int, nargs="+", default=[8, 32],
                    help="also divide North-East Asia's hours by this many machines like this one (a bound; bench_scaling.py "
                         "models what limits it)")
    ap.add_argument("--rehearsal-steps", type=int, nargs="*", default=[16, 8],
                    help="run the full-extent rehearsal of North-East Asia at these steps (every Nth MODIS pixel) to "
                         "count the stages the tile parts leave out; two steps separate fixed from per-pixel costs")
    ap.add_argument("--write-rates", action="store_true",
                    help="write the measured rates to catalogs/benchmark_rates.yaml (what `ldn run --plan` sizes with)")
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--step", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--km", type=float, default=300.0, help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from tasks.environment import set_environment_defaults

    set_environment_defaults()  # GDAL settings and network statistics, as in a run

    if args.part:
        fn = PARTS[args.part]
        kwargs = {"size": args.size, "scheduler": args.scheduler, "step": args.step, "km": args.km}
        wanted = {k: v for k, v in kwargs.items() if k in fn.__code__.co_varnames[:fn.__code__.co_argcount]}
        print(json.dumps(fn(args.root, **wanted)))
        return

    root = Path("outputs/bench-ingest") / str(args.size)
    load = os.getloadavg()
    print(f"input: {args.size} x {args.size} px (h{TILE_H:02d}v{TILE_V:02d}, north-west corner), {YEAR}; "
          f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    prep = prepare(args.size, root)
    print(f"  composites: {prep['files_bytes'] / 1e6:,.0f} MB of COGs, {prep['ratio']:.2f} of their raw "
          f"{prep['raw_bytes'] / 1e6:,.0f} MB (ready in {prep['generate_s']:.0f} s)")
    results: dict[str, list[float]] = {}
    rehearsals: dict[int, dict[str, float]] = {}
    passes: dict[float, list[dict[str, float]]] = {}
    try:
        for run in range(args.runs):
            for name in ("floor-local", "floor-http", "tile-year", "kernels", "tile-period"):
                for key, value in _run_part(name, root, args.size, args.scheduler).items():
                    results.setdefault(key, []).append(value)
            print(f"  run {run + 1} of {args.runs} done", flush=True)
        for step in args.rehearsal_steps:  # once each: a whole run of the region, minutes
            rehearsals[step] = _run_part("rehearsal", root.parent, args.size, args.scheduler, step=step)
            print(f"  rehearsal at every {step}th pixel done ({rehearsals[step]['total_s']:.0f} s)", flush=True)
        if args.rehearsal_steps:  # what the rehearsal cuts out of the people stage, on a realistic grid
            for _ in range(args.runs):
                for km in PEOPLE_KM:
                    passes.setdefault(km, []).append(_run_part("people-pass", root.parent, args.size, args.scheduler,
                                                               km=km))
            print("  people pass on a realistic grid done", flush=True)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
            for step in args.rehearsal_steps:
                shutil.rmtree(root.parent / f"rehearsal-{step}", ignore_errors=True)
    summarise(args, prep, results, rehearsals, load, passes)


def _ne_asia_run() -> Any:
    """The run context of North-East Asia on the production grid (what ``ldn run --plan`` sizes)."""
    from tasks.config import PRODUCTION_SOURCES, RunConfig, load_sources
    from tasks.io.sources.region import ALL_NE_ASIA, region_grid, resolve_region
    from tasks.io.sources.run import run_context

    source = load_sources(PRODUCTION_SOURCES).get("modis-13q1")
    assert source.crs is not None and source.resolution is not None
    grid = region_grid(resolve_region(ALL_NE_ASIA), crs=source.crs, resolution=source.resolution, origin=source.grid_origin)
    return run_context(RunConfig(sources_file=PRODUCTION_SOURCES, region=ALL_NE_ASIA, region_id="ne-asia",
                                 tiles=grid.tiles, native_bounds=grid.native_bounds, bbox=grid.bbox, activities="none"))


def ne_asia_windows() -> tuple[float, float, int]:
    """(pixels the ingest reads per composite, pixels of region, tiles) of North-East Asia on the production grid:
    every window of every tile that touches the region is read whole (``tasks.io.runtime.plan``)."""
    from tasks.io.runtime.plan import tile_plans

    plans = tile_plans(_ne_asia_run())
    return float(sum(t.px_read for t in plans)), float(sum(t.region_px for t in plans)), len(plans)


def ne_asia_pass_px() -> float:
    """Pixels the people pass warps in a North-East Asia run on the production grid: every block of the pass
    (``zonal.BLOCK``) that a default zone within the region touches is warped whole."""
    import shapely

    from tasks.geo.grid import grid_crs
    from tasks.io.outputs.report import load_zones
    from tasks.io.outputs.zonal import BLOCK, region_on_grid
    from tasks.io.sources.zones import zones_on_grid

    run = _ne_asia_run()
    cfg = run.cfg
    crs, transform, shape = grid_crs(run.grid), run.grid.affine, (int(run.grid.shape[0]), int(run.grid.shape[1]))
    region = run.area_polygons.geometry if run.area_polygons is not None else None
    parts = shapely.union_all([g for _, g in zones_on_grid(load_zones(cfg.zones, cfg.zone_field), crs, transform, shape,
                                                          within=region_on_grid(region, crs, transform, shape))])
    grid_rows, grid_cols = np.meshgrid(np.arange(0, shape[0], BLOCK), np.arange(0, shape[1], BLOCK), indexing="ij")
    rows, cols = grid_rows.ravel(), grid_cols.ravel()
    h, w = np.minimum(BLOCK, shape[0] - rows), np.minimum(BLOCK, shape[1] - cols)
    x0, y0 = transform * (cols, rows)  # type: ignore[operator]  # affine maps arrays element-wise
    x1, y1 = transform * (cols + w, rows + h)  # type: ignore[operator]
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    shapely.prepare(parts)
    touched = shapely.intersects(parts, boxes)  # block_coverage's test, without its exact coverage per block
    return float((h * w)[touched].sum())


def _line(points: list[tuple[float, float]], px: float) -> float:
    """Seconds at ``px`` on the line through two (pixels, seconds) points (the slope kept >= 0), or in proportion to
    one point's pixels (an upper bound)."""
    if len(points) == 1:
        return points[0][1] * px / points[0][0]
    (x0, y0), (x1, y1) = sorted(points)[0], sorted(points)[-1]
    slope = max((y1 - y0) / (x1 - x0), 0.0)
    return max(y1 + slope * (px - x1), 0.0)


def _pass_at(passes: dict[float, list[dict[str, float]]], px: float) -> float:
    """The people pass's seconds at ``px`` pixels warped, from the medians measured on the realistic grid."""
    return _line([(runs[0]["pixels"], statistics.median(r["pass_s"] for r in runs)) for runs in passes.values()], px)


def _rest_at(rehearsals: dict[int, dict[str, float]], key: str, region_px: float) -> float:
    """A stage's seconds at ``region_px`` pixels of region: the line through the rehearsals' (pixels, seconds) when
    two were run (fixed cost + per pixel; the slope kept >= 0), else proportional to the pixels (an upper bound)."""
    return _line([(r["region_px"], r.get(key, 0.0)) for r in rehearsals.values()], region_px)


def refresh_sizing(new_tiles_s: float, rehearsals: dict[int, dict[str, float]],
                   passes: dict[float, list[dict[str, float]]], pass_px: float, region_px: float) -> dict[str, float]:
    """Next year's refresh of North-East Asia, part by part (seconds): the new year's tile-years with their mosaics and
    maps (``new_tiles_s``, from the tile-year part), every other stage as the rehearsals' refresh ran it (the new
    year's drought and people, the tables, report and publishing; every period linked from the cache until a
    reporting period begins), the people pass, and the rest of the refresh's wall time (the restores, Prefect, the
    flows' own work), each fitted through the rehearsals like the whole run's stages."""
    parts = {"new tile-years, their mosaics and maps": new_tiles_s}
    if not rehearsals:
        return parts
    parts.update({stage: _rest_at(rehearsals, f"refresh:rest:{stage}", region_px) for stage in REST_STAGES})
    if passes:  # the pass warps every population pixel onto the grid whatever the tables it sums, so a refresh's one
        # new year costs most of a whole run's pass (every 16th pixel: 9.8 s for 1 table, 13.3 s for 30): the run's
        # pass on the realistic grid, scaled by the two passes' ratio in the finest rehearsal
        finest = rehearsals[min(rehearsals)]
        ratio = finest.get(f"refresh:apart:{PEOPLE}", 0.0) / max(finest.get(f"apart:{PEOPLE}", 0.0), 1e-9)
        parts["the people pass"] = _pass_at(passes, pass_px) * min(1.0, ratio)
    counted = (*(f"refresh:rest:{st}" for st in REST_STAGES), f"refresh:apart:{PEOPLE}",
               *(f"refresh:stage:{st}" for st in ANNUAL_STAGES))
    other = {k: {"region_px": v["region_px"], "other": max(0.0, v["refresh:total_s"] - sum(v.get(c, 0.0) for c in counted))}
             for k, v in rehearsals.items()}
    parts["the rest (restores, Prefect, the flows' own work)"] = _rest_at(other, "other", region_px)
    return parts


def summarise(args: argparse.Namespace, prep: dict[str, float], r: dict[str, list[float]],
              rehearsals: dict[int, dict[str, float]], load: tuple[float, float, float],
              passes: dict[float, list[dict[str, float]]]) -> None:
    """Print the table, the ratios against the honest floors and the sizing of North-East Asia with every stage."""
    med = statistics.median
    load_after = os.getloadavg()
    tile_year = [a + b for a, b in zip(r["tile_s"], r["mosaic_s"])]
    per_tile = [y - m for y, m in zip(tile_year, r["maps_s"])]  # what grows with the pixels: all but the maps
    floor = [a + b for a, b in zip(r["decode_http_s"], r["numpy_mean_max_s"])]
    period_join = [j - m for j, m in zip(r["join_s"], r["join_maps_s"])]
    tile_period = [a + b + c for a, b, c in zip(r["pass1_s"], r["pass2_s"], period_join)]
    period_floor = [k + e for k, e in zip(r["kernels_s"], r["cog_encode_s"])]
    print(f"\n{'seconds (' + args.scheduler + ' scheduler)':<66} {'min':>7} {'median':>7}")
    for label, values in (
        ("decode every composite once, local disk, 2 threads", r["decode_local_s"]),
        ("the same through the file server over HTTP (/vsicurl/)", r["decode_http_s"]),
        ("numpy annual mean and maximum of the decoded arrays, 2 threads", r["numpy_mean_max_s"]),
        ("floor of a tile-year: HTTP decode + mean and maximum", floor),
        ("pipeline tile-year: annual NDVI tile task", r["tile_s"]),
        ("pipeline tile-year: mosaic (both layers)", r["mosaic_s"]),
        ("  of which the two quick-look maps (once per layer)", r["maps_s"]),
        ("pipeline tile-year without the maps", per_tile),
        ("trajectory + state kernels alone, 16 years, 2 threads", r["kernels_s"]),
        ("pipeline tile-period: pass 1 (trajectory, state, sums, histograms)", r["pass1_s"]),
        ("pipeline tile-period: pass 2 (performance and LPD)", r["pass2_s"]),
        ("pipeline tile-period: the period join (4 items published)", r["join_s"]),
        ("  of which the quick-look maps (once per layer)", r["join_maps_s"]),
        ("pipeline tile-period with its join, without the maps", tile_period),
        ("its published COGs encoded once more from raw copies, 2 threads", r["cog_encode_s"]),
        ("floor of a tile-period that publishes: kernels + that encoding", period_floor),
    ):
        print(f"{label:<66} {_fmt(values)}")
    ratio_year = med(per_tile) / med(floor)
    ratio_period = med(tile_period) / med(r["kernels_s"])
    print(f"\nratios of medians: tile-year / floor = {ratio_year:.2f}x (target <= 1.5), tile-period with its join / "
          f"kernels = {ratio_period:.2f}x (target <= 1.5)")
    print(f"  the kernels and encoding the published COGs alone are {med(period_floor) / med(r['kernels_s']):.2f}x the "
          f"kernels; the tile-period with its join is {med(tile_period) / med(period_floor):.2f}x that floor")
    print(f"peak RSS: tile-year {max(r['tile_year_peak_gib']):.2f} GiB, tile-period {max(r['tile_period_peak_gib']):.2f} GiB "
          "(target <= 1.5)")
    print(f"Dask tasks (local schedulers only): tile-year {med(r['tile_year_tasks']):.0f}, "
          f"tile-period {med(r['tile_period_tasks']):.0f}")
    print(f"bytes over HTTP: decode floor {med(r['http_bytes']) / 1e6:,.0f} MB, pipeline tile-year "
          f"{med(r['tile_year_http_bytes']) / 1e6:,.0f} MB read by GDAL + {med(r['tile_year_checked_bytes']) / 1e6:,.0f} MB "
          f"read again to check file:checksum (files {prep['files_bytes'] / 1e6:,.0f} MB)")
    print(f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after: {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f}")

    px_read, region_px, n_tiles = ne_asia_windows()
    tile_px = args.size * args.size
    maps = med(r["maps_s"]) / 2  # one map
    stages = {  # seconds on one machine like this
        "annual NDVI tiles and mosaics": px_read / tile_px * YEARS * med(per_tile),
        "annual NDVI maps (2 a year)": 2 * YEARS * maps,
        "productivity tiles and joins": px_read / tile_px * PERIODS * med(tile_period),
        "productivity maps (4 a period)": 4 * PERIODS * maps,
    }
    floor_s = px_read / tile_px * (YEARS * med(floor) + PERIODS * med(r["kernels_s"]))
    for stage in REST_STAGES:
        if rehearsals:
            stages[stage] = _rest_at(rehearsals, f"rest:{stage}", region_px)
    pass_px = ne_asia_pass_px() if passes else 0.0
    if passes:
        stages[PEOPLE] += _pass_at(passes, pass_px)
    print(f"\nNorth-East Asia on the production grid: {n_tiles} tiles, {region_px / 1e6:,.1f} M px of region; the "
          f"ingest reads {px_read / 1e6:,.1f} M px per composite ({px_read / region_px:.2f}x the region: windows that "
          f"touch it are read whole), {YEARS} years, {PERIODS} periods of {PERIOD_YEARS} years")
    if rehearsals:
        sizes = ", ".join(f"every {k}th pixel: {v['region_px'] / 1e6:.2f} M px of region in {v['total_s']:.0f} s"
                          for k, v in sorted(rehearsals.items(), reverse=True))
        print(f"  the stages the tile parts leave out, from the full-extent rehearsal ({sizes}), "
              + ("fixed cost + per pixel from the two" if len(rehearsals) > 1 else "proportional to the pixels"))
        for key, value in sorted(next(iter(rehearsals.values())).items()):
            if key.startswith("stage:"):
                print(f"    rehearsal stage {key[6:]}: " + ", ".join(f"{rehearsals[k][key]:.1f} s" for k in sorted(rehearsals, reverse=True)
                                                                   if key in rehearsals[k]))
        print("    the people pass, cut out of the rehearsal's people stage: " + ", ".join(
            f"{rehearsals[k].get('apart:' + PEOPLE, 0.0):.1f} s" for k in sorted(rehearsals, reverse=True)))
    if passes:
        print(f"  the people pass on a realistic grid (bench_people.py; {passes[PEOPLE_KM[0]][0]['drought_tables']:.0f} "
              f"drought and {passes[PEOPLE_KM[0]][0]['sdg_tables']:.0f} SO2-3 tables, 30 arc-second population): "
              + ", ".join(f"{km:.0f} km square {runs[0]['pixels'] / 1e6:.2f} M px in "
                          f"{statistics.median(r['pass_s'] for r in runs):.1f} s" for km, runs in passes.items())
              + f"; North-East Asia warps {pass_px / 1e6:,.1f} M px (the blocks the zones touch, "
              f"{pass_px / region_px:.2f}x the region): {_pass_at(passes, pass_px) / 3600:.2f} h")
    if rehearsals:
        print("  next year's refresh of the rehearsal, same catalog and cache: " + ", ".join(
            f"every {k}th pixel {v['refresh:total_s']:.0f} s (report {v['refresh:rest:zonal tables, workbooks and report']:.1f} s, "
            f"publishing {v['refresh:rest:publishing the version']:.1f} s)" for k, v in sorted(rehearsals.items(), reverse=True)))
    total = sum(stages.values())
    print(f"  {'stage':<44}{'hours on one machine like this':>32}")
    for stage, seconds in stages.items():
        print(f"  {stage:<44}{seconds / 3600:>32.2f}")
    print(f"  {'all stages':<44}{total / 3600:>32.2f}   (floor {floor_s / 3600:.2f} h: decode + mean/max per year, "
          "kernels per period)")
    refresh_parts = refresh_sizing(px_read / tile_px * med(per_tile) + 2 * maps, rehearsals, passes, pass_px, region_px)
    refresh = sum(refresh_parts.values())
    new_period = refresh + (stages["productivity tiles and joins"] + stages["productivity maps (4 a period)"] + sum(
        stages.get(s, 0.0) for s in ("land cover and SOC", "SDG 15.3.1", "status", "LDN balance"))) / PERIODS
    print(f"  a yearly refresh (one new year, every period linked): {refresh / 60:.0f} min (target <= 12): "
          + ", ".join(f"{k} {v / 60:.1f}" for k, v in refresh_parts.items() if v >= 0.05 * 60)
          + f" min; one that also begins a reporting period: {new_period / 60:.0f} min")
    unccd = sum(stages.get(s, 0.0) for s in UNCCD_STAGES)
    if unccd:
        print(f"  the drought and people stages: {unccd / 3600:.2f} h, {100 * unccd / (total - unccd):.1f} % added to "
              "the rest of the run (target <= 10 %, issue 35)")
    for n in args.workers:  # a bound, not a forecast: bench_scaling.py models what limits more machines
        print(f"  on {n} machines like this, every stage divided by {n} (a bound that no run reaches: the flow's "
              f"machine, the store and stages of few units limit it; bench_scaling.py models them): "
              f"{total / n / 3600:.2f} h")
    if args.write_rates:
        write_rates(args, r, rehearsals, passes, pass_px / region_px if passes else 1.0)


def write_rates(args: argparse.Namespace, r: dict[str, list[float]], rehearsals: dict[int, dict[str, float]],
                passes: dict[float, list[dict[str, float]]], pass_over_region: float) -> None:
    """Write what `ldn run --plan` sizes with (``tasks.io.runtime.plan.BenchmarkRates``) to catalogs/benchmark_rates.yaml."""
    import datetime

    import yaml

    med = statistics.median
    scale = 4800 * 4800 / (args.size * args.size)  # the rates are stated for a whole MODIS tile
    per_tile = [a + b - m for a, b, m in zip(r["tile_s"], r["mosaic_s"], r["maps_s"])]
    join = [j - m for j, m in zip(r["join_s"], r["join_maps_s"])]
    rates = {
        "measured": datetime.date.today(),
        "by": f"benchmarks/bench_ingest.py --size {args.size} --runs {args.runs} (medians, scaled to a whole tile)",
        "cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "tile_px": 4800 * 4800,
        "tile_year_s": round(med(per_tile) * scale, 2), "map_s": round(med(r["maps_s"]) / 2, 3),
        "tile_period_s": round((med(r["pass1_s"]) + med(r["pass2_s"])) * scale, 2),
        "period_join_s": round(med(join) * scale, 2),
        "peak_tile_year_gib": round(max(r["tile_year_peak_gib"]), 2),
        "peak_tile_period_gib": round(max(r["tile_period_peak_gib"]), 2),
    }
    old = yaml.safe_load(Path("catalogs/benchmark_rates.yaml").read_text())
    rates["published_bytes_per_px"] = old["published_bytes_per_px"]
    rates["published_from"] = old["published_from"]
    if rehearsals:
        rest = {}
        for stage in REST_STAGES:
            at_zero = _rest_at(rehearsals, f"rest:{stage}", 0.0)
            per_px = (_rest_at(rehearsals, f"rest:{stage}", 1e9) - at_zero) / 1e9
            if stage == PEOPLE and passes:  # its pass from the realistic grid, per pixel of region
                pass_zero = _pass_at(passes, 0.0)
                at_zero += pass_zero
                per_px += (_pass_at(passes, 1e9) - pass_zero) / 1e9 * pass_over_region
            rest[stage] = [round(at_zero, 2), float(f"{per_px:.4g}")]
        rates["rest_s"] = rest
        rates["rest_from"] = ("the full-extent rehearsal at every " + " and ".join(f"{k}th" for k in sorted(rehearsals, reverse=True))
                              + f" pixel, {datetime.date.today()}"
                              + (" (the people pass on a realistic grid: bench_people.py)" if passes else ""))
    head = ("# Rates `ldn run --plan` sizes a run with (tasks.io.runtime.plan.BenchmarkRates). Measured, never guessed:\n"
            "# `python benchmarks/bench_ingest.py --size 4800 --write-rates` rewrites this file from its own run.\n")
    Path("catalogs/benchmark_rates.yaml").write_text(head + yaml.safe_dump(rates, sort_keys=False))
    print("wrote catalogs/benchmark_rates.yaml")


if __name__ == "__main__":
    main()
