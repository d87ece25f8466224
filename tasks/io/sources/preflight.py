"""Checks of a run that need no pixel and no server, made before anything expensive starts.

A run reads its sources, legend, SOC model, recode polygons and precomputed layers at the stage that
uses them, a minute or more into the work. Each of those files, and each parameter that only a later
stage looks at, is checked here first with the very function that stage calls, so a mistake is one
line in the first seconds, before the Prefect server, the Dask scheduler, the sample generator or a
single scene.
"""
from __future__ import annotations

from pathlib import Path

from tasks.config import RunConfig, Source, SourceCatalog
from tasks.errors import ConfigError
from tasks.geo.grid import grid_crs
from tasks.io.sources.load import read_onto_grid
from tasks.io.sources.recode import read_recodes
from tasks.io.sources.run import RunContext, run_context
from tasks.science.drought import check_calibration
from tasks.science.land_cover import LEGEND_FILE, load_legend
from tasks.science.performance import exact_fraction
from tasks.science.soc import SOC_MODEL_FILE, check_climate, check_soc_window, load_soc_model
from tasks.science.targets import TARGETS_FILE, load_targets
from tasks.science.trajectory import check_window

__all__ = ["check_run"]


def _check_years(cfg: RunConfig, name: str, source: Source) -> None:
    if source.years is None:
        return
    first, last = cfg.years
    if first < source.years[0] or last > source.years[1]:
        lo, hi = max(first, source.years[0]), min(last, source.years[1])
        if lo > hi:  # no year in common: the overlap of the two would be an empty, reversed range
            lo, hi = source.years
        raise ConfigError(
            f"years {first}-{last} are outside the years source {name!r} covers ({source.years[0]}-{source.years[1]}, "
            f"{cfg.sources_file}): run with --years {lo}-{hi}")


def check_run(cfg: RunConfig, sources: SourceCatalog | None = None) -> RunContext:
    """Fail in one line (``ConfigError``) on anything of ``cfg`` a later stage would reject: every source it names
    (and their roles), the run's years against the NDVI source's, the legend, the SOC model, each period's
    trajectory window and SOC start, the climate factor, the SPI's calibration years against the precipitation's, the LDN targets, the performance thresholds, the recode polygons and
    any local raster (precomputed LPD, file sources). Returns the run's facts (``run_context``), checked; ``sources``
    is the sources file when the caller has read it already."""
    run = run_context(cfg, sources)  # the sources and their roles, the periods, the grid, the tiles, the region
    ndvi = run.ndvi
    _check_years(cfg, cfg.ndvi_source, ndvi)
    used = {cfg.land_cover_source: run.land_cover, cfg.soc_source: run.source(cfg.soc_source, "soc")}
    check_climate(cfg)
    if cfg.climate_source is not None and cfg.soc_single_f is None:
        used[cfg.climate_source] = run.source(cfg.climate_source, "climate_zones")
    units = run.land_units
    if units is not None and cfg.productivity.land_unit_source is not None:
        used[cfg.productivity.land_unit_source] = units
    for name, source in used.items():
        if source.file is not None and not Path(source.file).is_file():
            raise ConfigError(
                f"source {name!r} ({source.role}) in {cfg.sources_file} reads the file {source.file}, which does not "
                f"exist here ({Path.cwd()}): download it and point `file` at it, or replace `file` by a `stac:` block")
    if run.precipitation is not None and run.precipitation[1].years is not None:  # SO3-1's fit needs its years
        name, source = run.precipitation
        assert source.years is not None
        check_calibration(*source.years, cfg.drought.calibration, source=f"precipitation source {name!r}")
    load_legend(cfg.land_cover_legend or LEGEND_FILE)
    load_targets(cfg.ldn_targets or TARGETS_FILE)
    model = load_soc_model(cfg.soc_model or SOC_MODEL_FILE)
    p = cfg.productivity
    for name, period in run.periods.items():
        first, last = period.productivity
        check_window(first, last, last - first + 1, p.min_years)
        check_soc_window(name, period, model)
    exact_fraction(p.percentile, "percentile")
    exact_fraction(p.ratio_threshold, "ratio threshold")
    grid = run.grid
    if cfg.recode_polygons is not None:
        read_recodes(cfg.recode_polygons, grid_crs(grid))
    files = [s.file for s in used.values() if s.file is not None]
    if p.precomputed_lpd is not None:
        files.append(p.precomputed_lpd.path)
    for path in files:
        read_onto_grid(str(path), grid)  # opens the header only: a missing file or one without a CRS fails here
    return run
