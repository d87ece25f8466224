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
   16-year cube (2 threads).
3. **The pipeline.** The real ``refresh-indicators`` flow on the tile-year (no cache, one tile: the
   annual NDVI tile task and the mosaic), and one tile-period of productivity (both passes, every
   layer written), on the scheduler chosen (``--scheduler``: the default, ``threads`` or a ``local``
   Dask cluster).

Each measurement runs ``--runs`` times, interleaved, each in a fresh process (so peak memory is its
own); the table gives the minimum and the median. It prints the ratios the targets are stated in
(tile-year / (HTTP decode + numpy mean), tile-period / kernels), peak RSS, bytes read over HTTP, Dask
task counts, the machine's load, and scales the medians to North-East Asia.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
    from tasks.io.sample_data import load_sample_region

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
    from tasks.io.sample_data import generate_sample, sample_grid

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


def part_floor_local(root: Path) -> dict[str, float]:
    """Decode every composite once from local disk (2 threads), then the numpy annual mean of the arrays."""
    pairs = _composites(root / "sample")
    paths = [str(root / "sample" / p) for pair in pairs for p in pair]
    started = time.monotonic()
    arrays = _decode(paths, {})
    decode = time.monotonic() - started
    ndvi, qa = arrays[0::2], arrays[1::2]
    started = time.monotonic()
    total = np.zeros(ndvi[0].shape, np.float64)
    count = np.zeros(ndvi[0].shape, np.int16)
    for values, rel in zip(ndvi, qa):
        ok = (rel <= 1) & (rel >= 0) & (values != -3000)
        total += np.where(ok, values, 0)
        count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 6, np.round(total / count), -32768).astype("int16")
    assert mean.shape == ndvi[0].shape
    return {"decode_local_s": decode, "numpy_mean_s": time.monotonic() - started}


def part_floor_http(root: Path) -> dict[str, float]:
    """Decode every composite once through the project's file server over HTTP (GDAL /vsicurl/, 2 threads)."""
    from tasks.io.load import READ_SETTINGS
    from tasks.io.local_stac import serve_collections
    from tasks.io.netstats import network_bytes

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
        lock, inner = threading.Lock(), getattr(module, name)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                with lock:
                    self.seconds += time.perf_counter() - started

        setattr(module, name, timed)


def _address(scheduler: str) -> str | None:
    return {"default": None, "threads": "threads", "local": "local"}[scheduler]


def part_tile_year(root: Path, size: int, scheduler: str) -> dict[str, float]:
    """The real refresh flow on the tile-year: the annual NDVI tile task and the mosaic, no cache."""
    import matplotlib.pyplot  # noqa: F401  (imported once per run by its first quick-look: not a tile-year's cost)

    import tasks.stages.publish
    from flows.refresh import RefreshRun, refresh_indicators

    logging.getLogger("distributed").setLevel(logging.WARNING)
    log = _Log()
    logging.getLogger("prefect").addHandler(log)
    count = _TaskCount()
    maps = _Stopwatch(tasks.stages.publish, "quicklook_png")  # a year's maps: drawn once per layer, not per tile
    with tempfile.TemporaryDirectory() as out, count.callback:
        started = time.monotonic()
        refresh_indicators(RefreshRun(sample_dir=root / "sample", out=Path(out) / "catalog", years=(YEAR, YEAR),
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
    from tasks.io.sample_data import sample_grid

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
    from flows.refresh import dask_client
    from tasks.io.load import open_annual_layers
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
        write_lpd_tile(trend, lc, period, cfg, table, Path(scratch) / "pass2", geobox)
        out["pass2_s"] = time.monotonic() - started
    out["tile_period_tasks"] = float(count.n)
    out["tile_period_peak_gib"] = _peak_gib()
    return out


PARTS = {"floor-local": part_floor_local, "floor-http": part_floor_http, "tile-year": part_tile_year,
         "kernels": part_kernels, "tile-period": part_tile_period}


def _run_part(name: str, root: Path, size: int, scheduler: str) -> dict[str, float]:
    """One part in a fresh Python process (its own peak memory, no warm caches of another part)."""
    cmd = [sys.executable, __file__, "--part", name, "--root", str(root), "--size", str(size), "--scheduler", scheduler]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        sys.exit(f"benchmark part {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
                    help="also scale North-East Asia to this many machines like this one (tiles are independent tasks)")
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from tasks.environment import set_environment_defaults

    set_environment_defaults()  # GDAL settings and network statistics, as in a run

    if args.part:
        fn = PARTS[args.part]
        kwargs = {"size": args.size, "scheduler": args.scheduler}
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
    try:
        for run in range(args.runs):
            for name in ("floor-local", "floor-http", "tile-year", "kernels", "tile-period"):
                for key, value in _run_part(name, root, args.size, args.scheduler).items():
                    results.setdefault(key, []).append(value)
            print(f"  run {run + 1} of {args.runs} done", flush=True)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()
    r = {k: v for k, v in results.items()}
    tile_year = [a + b for a, b in zip(r["tile_s"], r["mosaic_s"])]
    per_tile = [y - m for y, m in zip(tile_year, r["maps_s"])]  # what grows with the pixels: all but the maps
    floor = [a + b for a, b in zip(r["decode_http_s"], r["numpy_mean_s"])]
    tile_period = [a + b for a, b in zip(r["pass1_s"], r["pass2_s"])]
    med = statistics.median
    print(f"\n{'seconds (' + args.scheduler + ' scheduler)':<58} {'min':>7} {'median':>7}")
    for label, values in (
        ("decode every composite once, local disk, 2 threads", r["decode_local_s"]),
        ("the same through the file server over HTTP (/vsicurl/)", r["decode_http_s"]),
        ("a plain numpy annual mean of the decoded arrays", r["numpy_mean_s"]),
        ("floor of a tile-year: HTTP decode + numpy mean", floor),
        ("pipeline tile-year: annual NDVI tile task", r["tile_s"]),
        ("pipeline tile-year: mosaic (both layers)", r["mosaic_s"]),
        ("  of which the two quick-look maps (once per layer)", r["maps_s"]),
        ("pipeline tile-year", tile_year),
        ("pipeline tile-year without the maps", per_tile),
        ("trajectory + state kernels alone, 16 years, 2 threads", r["kernels_s"]),
        ("pipeline tile-period: pass 1 (trajectory, state, window sums, unit histograms)", r["pass1_s"]),
        ("pipeline tile-period: pass 2 (performance and LPD)", r["pass2_s"]),
        ("pipeline tile-period", tile_period),
    ):
        print(f"{label:<58} {_fmt(values)}")
    ratio_year = med(per_tile) / med(floor)
    ratio_with_maps = med(tile_year) / med(floor)
    ratio_period = med(tile_period) / med(r["kernels_s"])
    print(f"\nratios of medians: tile-year / floor = {ratio_year:.2f}x without the maps, {ratio_with_maps:.2f}x with "
          f"them (target <= 2), tile-period / kernels = {ratio_period:.2f}x (target <= 1.5)")
    print(f"peak RSS: tile-year {max(r['tile_year_peak_gib']):.2f} GiB, tile-period {max(r['tile_period_peak_gib']):.2f} GiB "
          "(target <= 1.5)")
    tasks_year = med(r["tile_year_tasks"])
    print(f"Dask tasks (local schedulers only): tile-year {tasks_year:.0f}, tile-period {med(r['tile_period_tasks']):.0f}")
    print(f"bytes over HTTP: decode floor {med(r['http_bytes']) / 1e6:,.0f} MB, pipeline tile-year "
          f"{med(r['tile_year_http_bytes']) / 1e6:,.0f} MB read by GDAL + {med(r['tile_year_checked_bytes']) / 1e6:,.0f} MB "
          f"read again to check file:checksum (files {prep['files_bytes'] / 1e6:,.0f} MB)")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    tiles = NE_ASIA_PX / (args.size * args.size)
    ingest_h = (tiles * YEARS * med(per_tile) + YEARS * med(r["maps_s"])) / 3600  # maps: two per year, any size
    period_h = tiles * PERIODS * med(tile_period) / 3600
    floor_h = tiles * (YEARS * med(floor) + PERIODS * med(r["kernels_s"])) / 3600
    refresh_min = (tiles * (med(per_tile) + med(tile_period)) + med(r["maps_s"])) / 60
    print(f"North-East Asia ({tiles:,.1f} tiles of this size, {YEARS} years, {PERIODS} periods) on one machine like "
          f"this: ingest {ingest_h:.2f} h + productivity {period_h:.2f} h = {ingest_h + period_h:.2f} h (floor "
          f"{floor_h:.2f} h); a yearly refresh (one new year, one period) {refresh_min:.0f} min")
    for n in args.workers:
        print(f"  on {n} machines like this: ingest {ingest_h / n:.2f} h + productivity {period_h / n:.2f} h = "
              f"{(ingest_h + period_h) / n:.2f} h")


if __name__ == "__main__":
    main()
