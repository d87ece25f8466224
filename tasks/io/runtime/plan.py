"""What a run would do, before it does it (``ldn run --plan``): tiles, windows, scenes, cache, output, memory, hours.

A data engineer schedules a run of hours and wants its size first. ``plan_run`` takes the run's facts, resolved
and checked exactly as a run resolves them (``run_context``), and works out without any raster work: the tiles
and the windows of each that the ingest will read (windows wholly outside the region are never read), the
composites and bytes per year from the STAC search (``None``, "unknown", when the API does not answer in time),
which tile-years the layer cache already holds (exact where the composites carry ``file:checksum``, so their keys
need no request), and, from the benchmark's measured rates (``catalogs/benchmark_rates.yaml``), the output size,
the peak memory and the hours on a machine like the one measured: estimates, stated with the rates' date.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field

from tasks.config import load_model
from tasks.constants import CATALOGS_DIR
from tasks.errors import LdnError
from tasks.geo.tiles import TILE_STEP_CHUNKS, tile_geobox, tile_windows
from tasks.io.runtime.cache_keys import tile_year_key
from tasks.io.runtime.layer_cache import cache_for, cache_root
from tasks.io.sources.clip import windows_outside
from tasks.io.sources.ingest import touches_on_grid
from tasks.io.sources.integrity import scene_fingerprints
from tasks.io.sources.run import RunContext
from tasks.io.sources.search import items_by_year, run_items

__all__ = ["BenchmarkRates", "RATES_FILE", "load_rates", "TilePlan", "tile_plans", "RunPlan", "plan_run", "format_plan",
           "SEARCH_DEADLINE_S"]

RATES_FILE: Path = CATALOGS_DIR / "benchmark_rates.yaml"
"""The benchmark's measured rates (``benchmarks/bench_ingest.py --write-rates`` writes them)."""

SEARCH_DEADLINE_S = 45.0
"""Seconds the plan waits for the STAC search before it says the scenes are unknown (offline, or a slow API)."""


class BenchmarkRates(BaseModel):
    """Rates measured by the benchmark on one machine: seconds of a whole tile's stages, peaks, bytes published."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    measured: date = Field(description="When the benchmark measured them.")
    by: str = Field(description="The command and run that measured them.")
    cores: int = Field(gt=0, description="Cores of the machine measured.")
    memory_gib: float = Field(gt=0)
    tile_px: int = Field(gt=0, description="Pixels of the tile the seconds are for.")
    tile_year_s: float = Field(gt=0, description="A tile-year of annual NDVI: tile task and its share of the mosaic, without maps.")
    map_s: float = Field(ge=0, description="One quick-look map (two per year whatever the area, one per period layer).")
    tile_period_s: float = Field(gt=0, description="A tile-period of productivity: both passes.")
    period_join_s: float | None = Field(None, gt=0, description="Joining a tile-period into the published period layers.")
    peak_tile_year_gib: float = Field(gt=0)
    peak_tile_period_gib: float = Field(gt=0)
    published_bytes_per_px: float = Field(gt=0, description="Bytes a version publishes per pixel of region.")
    published_from: str = Field(description="The run whose published bytes gave that figure.")
    rest_s: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="The stages the tile rates leave out (land cover and SOC, SDG 15.3.1, status, "
        "tables and report, publishing), measured on the full-extent rehearsal: (fixed seconds, seconds per pixel of "
        "region) of a run of three periods.")
    rest_from: str | None = Field(None, description="The rehearsal runs the rest came from.")


def load_rates(path: Path = RATES_FILE) -> BenchmarkRates:
    """The benchmark's rates, validated (a broken file is a one-line ``ConfigError``)."""
    return load_model(BenchmarkRates, path, "benchmark rates")


@dataclass(frozen=True)
class TilePlan:
    """One ingest tile: its pixels, the windows the ingest cuts it into, those it reads, its region pixels."""

    name: str
    shape: tuple[int, int]
    windows: int
    windows_read: int
    px_read: int
    region_px: int


@dataclass(frozen=True)
class RunPlan:
    """Everything ``ldn run --plan`` prints, worked out from the run's facts."""

    run: RunContext
    tiles: tuple[TilePlan, ...]
    scenes: dict[int, tuple[int, int | None]] | None
    """Per year: (composites, bytes of their assets where the items give ``file:size``, else None); None: unknown."""
    scenes_problem: str | None
    tile_years_cached: int | None
    """Tile-years whose cache entry exists under the key the run will look up; None: needs requests to know."""
    tile_years: int
    cache_held: dict[str, tuple[int, int]]
    rates: BenchmarkRates
    stages_s: dict[str, float] = field(default_factory=dict)

    @property
    def px_read(self) -> int:
        """Pixels of every window the ingest reads, per composite."""
        return sum(t.px_read for t in self.tiles)

    @property
    def region_px(self) -> int:
        """Pixels whose centre lies in the region (its land and inland water)."""
        return sum(t.region_px for t in self.tiles)


def tile_plans(run: RunContext) -> tuple[TilePlan, ...]:
    """Every ingest tile of ``run`` with the windows the ingest reads of it and its pixels of region."""
    return tuple(_tile_plan(run, t) for t in run.tiles)


def _tile_plan(run: RunContext, tile: Any) -> TilePlan:
    source = run.ndvi
    assert source.crs is not None and source.resolution is not None
    geobox = tile_geobox(tile, source.crs, source.resolution, source.grid_origin)
    height, width = geobox.shape
    rows, cols = run.cfg.chunk * TILE_STEP_CHUNKS[0], run.cfg.chunk * TILE_STEP_CHUNKS[1]
    windows = tile_windows(height, width, rows, cols)
    area = run.area_on(geobox)
    skip = windows_outside(area, windows, rows, cols)
    read = sum((r1 - r0) * (c1 - c0) for (r0, r1, c0, c1), out in zip(windows, skip) if not out)
    if area is None:
        region_px = height * width
    else:  # the sinusoidal plane is equal-area: the region's area in the tile over a pixel's is its pixel count
        part = shapely.intersection(area.footprint, shapely.box(*geobox.boundingbox)).area
        region_px = round(part / source.resolution ** 2)
    return TilePlan(tile.name, (height, width), len(windows), skip.count(False), read, region_px)


def _search(run: RunContext) -> tuple[dict[int, list[dict[str, Any]]] | None, str | None]:
    """The run's composites by year, or None and why not, within ``SEARCH_DEADLINE_S``."""
    found: dict[str, Any] = {}

    def search() -> None:
        try:
            items = run_items(run, run.ndvi, run.cfg.years)
            found["groups"] = {y: [it.to_dict() for it in g] for y, g in items_by_year(items).items()}
        except LdnError as err:
            found["problem"] = str(err)
        except Exception as err:  # offline: DNS, refused connections, TLS; the plan says so and goes on
            found["problem"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"

    worker = threading.Thread(target=search, daemon=True)
    worker.start()
    worker.join(SEARCH_DEADLINE_S)
    if worker.is_alive():
        return None, f"the STAC API gave no answer in {SEARCH_DEADLINE_S:.0f} s (offline?)"
    return found.get("groups"), found.get("problem")


def _scene_counts(groups: dict[int, list[dict[str, Any]]], run: RunContext) -> dict[int, tuple[int, int | None]]:
    keys = [spec.key for spec in run.ndvi.assets.values()]
    out = {}
    for year, items in sorted(groups.items()):
        sizes = [it.get("assets", {}).get(k, {}).get("file:size") for it in items for k in keys]
        out[year] = (len(items), int(sum(sizes)) if sizes and all(isinstance(s, int) for s in sizes) else None)
    return out


def _cached_tile_years(run: RunContext, groups: dict[int, list[dict[str, Any]]]) -> int | None:
    """Tile-years whose cache entry exists, when every key can be made without a request (checksummed assets)."""
    keys = [spec.key for spec in run.ndvi.assets.values()]
    if not all(it.get("assets", {}).get(k, {}).get("file:checksum") for items in groups.values() for it in items for k in keys):
        return None
    source = run.ndvi
    assert source.crs is not None and source.resolution is not None
    cache = cache_for(run.cfg, "ndvi-tile")
    hits = 0
    for tile in run.tiles:
        geobox = tile_geobox(tile, source.crs, source.resolution, source.grid_origin)
        for year, items in groups.items():
            # an item without a footprint counts as touching: the plan's count is then an upper bound
            mine = [d for d in items if touches_on_grid(d, tile.bounds, source.crs) is not False]
            if mine:
                key = tile_year_key(tile=tile, year=year, scenes=scene_fingerprints(mine, source), source=source,
                                    min_valid=run.cfg.min_valid_composites, geobox=geobox, area_key=run.area_key)
                hits += (cache.local / key / "entry.json").is_file()
    return hits


def _cache_held(run: RunContext) -> dict[str, tuple[int, int]]:
    """Entries and bytes per kind in the run's local cache."""
    root = cache_root(run.cfg)
    out = {}
    if root.is_dir():
        for kind in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            entries = [e for e in kind.iterdir() if (e / "entry.json").is_file()]
            size = sum(f.stat().st_size for e in entries for f in e.rglob("*") if f.is_file())
            out[kind.name] = (len(entries), size)
    return out


def plan_run(run: RunContext, *, unsearchable: str | None = None) -> RunPlan:
    """The plan of ``run``: its tiles and windows, composites per year (unless ``unsearchable`` says why the STAC
    search cannot be made), the cache, and the stages' seconds scaled from the benchmark's rates to the pixels the
    run reads. No pixel is read."""
    rates = load_rates()
    tiles = tile_plans(run)
    groups, problem = _search(run) if unsearchable is None else (None, unsearchable)
    years = run.cfg.years[1] - run.cfg.years[0] + 1
    cached = _cached_tile_years(run, groups) if groups else None
    per_px = 1.0 / rates.tile_px
    px_read = sum(t.px_read for t in tiles)
    to_compute = len(tiles) * years - (cached or 0)
    share = to_compute / max(len(tiles) * years, 1)
    periods = len(run.periods)
    stages = {
        "annual NDVI tiles and mosaics": px_read * years * share * rates.tile_year_s * per_px,
        "annual NDVI maps": 2 * years * share * rates.map_s,
        "productivity tiles (every period)": px_read * periods * rates.tile_period_s * per_px,
    }
    if rates.period_join_s is not None:
        stages["productivity join"] = px_read * periods * rates.period_join_s * per_px
    region_px = sum(t.region_px for t in tiles)
    for stage, (fixed, per_region_px) in rates.rest_s.items():
        share_of_run = periods / 3 if stage in _PERIOD_STAGES else 1.0  # measured on a run of three periods
        stages[stage] = (fixed + per_region_px * region_px) * share_of_run
    return RunPlan(run=run, tiles=tiles, scenes=_scene_counts(groups, run) if groups else None, scenes_problem=problem,
                   tile_years_cached=cached, tile_years=len(tiles) * years, cache_held=_cache_held(run), rates=rates,
                   stages_s=stages)


_PERIOD_STAGES = ("land cover and SOC", "SDG 15.3.1", "status", "LDN balance")
"""Rest stages that run once per period (the others once per run)."""


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:.0f} B"


def _px(n: float) -> str:
    return f"{n / 1e9:.2f} G px" if n >= 1e9 else f"{n / 1e6:.2f} M px" if n >= 1e6 else f"{n:,.0f} px"


def format_plan(plan: RunPlan) -> str:
    """The plan as the lines ``ldn run --plan`` prints."""
    run, rates = plan.run, plan.rates
    cfg, source = run.cfg, run.ndvi
    assert source.resolution is not None
    pixel_km2 = (source.resolution / 1000) ** 2
    area = run.area.label if run.area is not None else f"the whole grid of {cfg.region_id}"
    lines = [f"plan of the run (nothing is computed; the figures are what the run would do now, {date.today()})",
             f"  area:     {area}",
             f"  grid:     {run.grid.shape[1]:,} x {run.grid.shape[0]:,} px of {source.resolution:.2f} m "
             f"({_px(run.grid.shape[0] * run.grid.shape[1])}); region {_px(plan.region_px)}, "
             f"{plan.region_px * pixel_km2 / 1e6:,.2f} M km2",
             f"  years:    {cfg.years[0]}-{cfg.years[1]}; periods: "
             + (", ".join(f"{n} {p.productivity[0]}-{p.productivity[1]}" for n, p in run.periods.items()) or "none fit the years"),
             f"  tiles:    {len(plan.tiles)} ({cfg.tile_size} px lattice); the ingest reads "
             f"{sum(t.windows_read for t in plan.tiles)} of {sum(t.windows for t in plan.tiles)} windows: "
             f"{_px(plan.px_read)} per composite, {plan.px_read / max(plan.region_px, 1):.2f}x the region's pixels",
             f"    {'tile':<10}{'pixels':>13}{'windows read':>15}{'px read':>12}{'region px':>12}"]
    for t in plan.tiles:
        lines.append(f"    {t.name:<10}{t.shape[1]:>6} x {t.shape[0]:<6}{t.windows_read:>7} of {t.windows:<5}"
                     f"{_px(t.px_read):>12}{_px(t.region_px):>12}")
    collection = source.stac.collection if source.stac else cfg.ndvi_source
    if plan.scenes is None:
        lines.append(f"  scenes:   unknown ({plan.scenes_problem}): {collection} at {cfg.stac_api or (source.stac.api if source.stac else '')}")
    else:
        total = sum(n for n, _ in plan.scenes.values())
        sizes = [b for _, b in plan.scenes.values()]
        known = all(b is not None for b in sizes)
        lines.append(f"  scenes:   {total:,} composites of {collection} in {len(plan.scenes)} years"
                     + (f", {_size(sum(b for b in sizes if b is not None))} of files" if known else
                        " (bytes unknown: the items give no file:size)"))
        lines.append("    " + "  ".join(f"{y}: {n}" + (f" ({_size(b)})" if b is not None else "")
                                        for y, (n, b) in plan.scenes.items()))
    root = cache_root(cfg)
    if not cfg.use_cache:
        lines.append("  cache:    off (--no-cache): everything is computed")
    else:
        held = ", ".join(f"{k} {n}" for k, (n, _) in plan.cache_held.items() if n)
        total = sum(b for _, b in plan.cache_held.values())
        lines.append(f"  cache:    {root}: " + (f"entries {held} ({_size(total)})" if held else "empty"))
        if plan.tile_years_cached is not None:
            lines.append(f"            {plan.tile_years_cached} of {plan.tile_years} tile-years would be linked from it, "
                         f"{plan.tile_years - plan.tile_years_cached} computed")
        else:
            lines.append(f"            which of the {plan.tile_years} tile-years it holds is known when the run starts "
                         "(their keys need the scenes' identities: a search, and HEAD requests where no file:checksum)")
    output = plan.region_px * rates.published_bytes_per_px
    workers = 2
    peak = workers * max(rates.peak_tile_year_gib, rates.peak_tile_period_gib) * _memory_scale(plan, rates)
    hours = sum(plan.stages_s.values()) / 3600
    lines += [
        f"  output:   about {_size(output)} per version (estimate: {rates.published_bytes_per_px:.0f} bytes per pixel of "
        f"region, from {rates.published_from})",
        f"  memory:   at most about {peak:.1f} GiB at peak ({workers} tile tasks at a time; the benchmark's peaks "
        f"{rates.peak_tile_year_gib:.2f} / {rates.peak_tile_period_gib:.2f} GiB per tile-year / tile-period)",
        f"  time:     about {_hours(hours)} on a machine like the benchmark's ({rates.cores} cores, {rates.memory_gib:g} GB), "
        f"an estimate from the rates measured {rates.measured} ({rates.by}):",
    ]
    for stage, seconds in plan.stages_s.items():
        lines.append(f"    {stage:<36}{_hours(seconds / 3600):>10}")
    missing = ["productivity join"] if rates.period_join_s is None else []
    if not rates.rest_s:
        missing += ["land cover and SOC", "SDG 15.3.1 and status", "zonal tables, report and publishing"]
    if missing:
        lines.append(f"    not in the estimate (not measured yet): {', '.join(missing)}")
    if rates.rest_from:
        lines.append(f"    (the stages after productivity from {rates.rest_from})")
    return "\n".join(lines)


def _memory_scale(plan: RunPlan, rates: BenchmarkRates) -> float:
    """Task memory grows with the tile only through its two result arrays: 1.0 up to the measured tile, then linear
    in the tile's pixels beyond it (a larger --tile-size)."""
    biggest = max((t.shape[0] * t.shape[1] for t in plan.tiles), default=0)
    return max(1.0, biggest / rates.tile_px)


def _hours(hours: float) -> str:
    return f"{hours:.2f} h" if hours >= 1 else f"{hours * 60:.1f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"
