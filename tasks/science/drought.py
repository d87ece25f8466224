"""SO3-1 drought hazard (UNCCD method notes, section 2): the 12-month SPI of December, its int16 form, the
intensity classes and each reporting period's worst year.

The SPI of a year is its January-December precipitation against a two-parameter gamma fitted per pixel and
calendar month on a calibration period (default 1991-2020, the WMO normal; Thom's estimator, location 0), with
zero totals as a point mass: H(x) = q + (1 - q) G(x), SPI = inverse normal of H, clipped to +-3.09 (NOAA's
convention). The fit is ``climate-indices``' (maintained, and it fits every cell of a (time, y, x) block in one
pass), called here rather than written again; the tests check it against an independent scipy reference. A pixel
whose calibration years hold no rain at all has no distribution to stand against and is nodata, not "extreme".

Classes are decided on the published int16 SPI x 1000 (rounded half away from zero) with integer comparisons,
so recomputing them from the published layer gives the same class on every pixel. Two rules place the exact
boundaries (-1000, -1500, -2000): Trends.Earth's (default; in the milder class) and the GPG/McKee table's (in the
more severe one).
"""
from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from tasks.config import Period
from tasks.constants import DROUGHT_CLASSES, NODATA
from tasks.errors import ConfigError

__all__ = ["CALIBRATION", "SPI_MONTHS", "SPI_LIMIT", "SPI_SCALE", "ClassRule", "CLASS_RULES", "check_calibration",
           "spi_december", "spi_x1000", "drought_class", "worst_year", "reporting_years", "reporting_spans", "WorstYearRule", "WORST_YEAR_RULES"]

CALIBRATION: tuple[int, int] = (1991, 2020)
"""The default calibration period of the gamma fit (the WMO climate normal)."""

SPI_MONTHS = 12
"""The SPI's accumulation: 12 months, read in December (the calendar year's precipitation)."""

SPI_LIMIT = 3.09
"""SPI values are clipped to +-this (climate-indices' and NOAA's convention: the normal's 0.1 % tails)."""

SPI_SCALE = 1000
"""The published int16 SPI is SPI x this, rounded half away from zero; classes are decided on it."""

ClassRule = Literal["trends_earth", "gpg"]
CLASS_RULES: tuple[str, ...] = ("trends_earth", "gpg")
"""Where an exact class boundary goes: Trends.Earth's milder class (default) or the GPG/McKee table's more severe one."""


def check_calibration(first: int, last: int, calibration: tuple[int, int], *, source: str = "the precipitation") -> None:
    """Raise a one-line ``ConfigError`` when the precipitation record (``first``-``last``) does not cover the
    calibration period, naming the missing years and a calibration period the record allows."""
    start, end = calibration
    if start > end:
        raise ConfigError(f"the SPI calibration period {start}-{end} is reversed: give first-last, e.g. 1991-2020")
    missing = [y for y in range(start, end + 1) if not first <= y <= last]
    if not missing:
        return
    spans = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in _runs(missing))
    inside = (max(start, first), min(end, last))
    short = " (shorter than the WMO normal's 30 years: say so in the report)" if inside[1] - inside[0] < 29 else ""
    hint = (f"set the calibration period to {inside[0]}-{inside[1]}{short} (--spi-calibration) or"
            if inside[0] <= inside[1] else f"set a calibration period within {first}-{last} (--spi-calibration) or")
    raise ConfigError(f"{source} covers {first}-{last} but the SPI calibration period is {start}-{end}: {spans} "
                      f"missing; {hint} add the years to the source")


def _runs(years: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for year in years:
        if runs and year == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], year)
        else:
            runs.append((year, year))
    return runs


@functools.cache
def _spi_library() -> tuple[Any, Any, type[Warning]]:
    """climate-indices' ``indices``, ``compute`` and its goodness-of-fit warning, imported with the root logger left
    as it was: on import the library replaces the root logger's handlers with its own and sets it to INFO
    (``climate_indices.logging_config``), which would reformat every library's log lines in a run."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from climate_indices import compute, indices  # noqa: PLC0415  (kept off module level: see above)
        from climate_indices.exceptions import GoodnessOfFitWarning  # noqa: PLC0415
    finally:
        root.handlers = handlers
        root.setLevel(level)
    logging.getLogger("climate_indices").setLevel(logging.WARNING)  # it logs every call at INFO
    return indices, compute, GoodnessOfFitWarning


FIT_CELLS = 4096
"""Cells fitted in one call of climate-indices: its fit holds about a dozen float64 copies of the series it is
given (2.3 GB for 56,000 cells of 408 months), so a block is fitted this many cells at a time (about 170 MB of
working memory) and its memory stays that of its series, whatever the block's size. Cells are fitted
independently: the values do not depend on it."""


def _spi_block(values: np.ndarray, *, first_year: int, calibration: tuple[int, int]) -> np.ndarray:
    """December's SPI-12 of every year for a block (..., time) of monthly totals -> (..., year), float64."""
    series = np.moveaxis(np.asarray(values), -1, 0)
    cells = series.shape[1:]
    years = series.shape[0] // 12
    every = series.reshape(series.shape[0], -1)
    fitted = np.flatnonzero(np.isfinite(every).any(axis=0))  # cells with no value (sea, outside the region): no fit
    december = np.full((years, every.shape[1]), np.nan)
    for start in range(0, fitted.size, FIT_CELLS):
        part = fitted[start:start + FIT_CELLS]
        december[:, part] = _spi_cells(every[:, part].astype("float64"), first_year=first_year,
                                       calibration=calibration)
    return np.moveaxis(december.reshape((years, *cells)), 0, -1)


def _spi_cells(every: np.ndarray, *, first_year: int, calibration: tuple[int, int]) -> np.ndarray:
    """December's SPI-12 of every year, (year, cell), of monthly totals (time, cell), float64."""
    years = every.shape[0] // 12
    indices, compute, fit_warning = _spi_library()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells with gaps warn in nanmean
        warnings.simplefilter("ignore", fit_warning)  # a diagnostic: the method fixes the gamma (notes 2.1)
        spi = indices.spi(every[:, None, :], SPI_MONTHS, indices.Distribution.gamma, first_year, calibration[0],
                          calibration[1], compute.Periodicity.monthly, spatial_time_major=True)  # (time, 1, cells)
    december = np.array(spi[11::12].reshape(years, -1), dtype="float64")
    annual = every.reshape(years, 12, -1).sum(axis=1)  # NaN where a month is missing
    totals = annual[calibration[0] - first_year: calibration[1] - first_year + 1]
    december[:, ~(np.nan_to_num(totals) > 0).any(axis=0)] = np.nan  # no rain in any calibration year: no fit
    return december


def spi_december(monthly: xr.DataArray, *, calibration: tuple[int, int] = CALIBRATION, dim: str = "time",
                 source: str = "the precipitation") -> xr.DataArray:
    """SPI-12 of December per year, (year, ...) float64 on the precipitation's own grid, NaN where it has no value.

    ``monthly`` holds monthly totals (mm; NaN where a month is missing) of whole calendar years, January to
    December, along ``dim`` (datetime64). A missing month makes its year nodata (never filled); the fit uses the
    calibration years that have all twelve. Lazy for Dask input (``dim`` in one chunk). The calibration period
    and method are in attrs.
    """
    times = monthly[dim].values
    if not np.issubdtype(times.dtype, np.datetime64):
        raise ConfigError(f"{source}: the monthly totals need dates along {dim!r}, found {times.dtype}")
    stamps = times.astype("datetime64[M]").astype(int)  # months since 1970-01
    first, count = int(stamps[0]), len(stamps)
    if count == 0 or first % 12 != 0 or count % 12 != 0 or not np.array_equal(stamps, first + np.arange(count)):
        raise ConfigError(f"{source}: the SPI needs consecutive monthly totals of whole calendar years (January to "
                          f"December); found {count} steps from {str(times[0])[:7] if count else 'nothing'} to "
                          f"{str(times[-1])[:7] if count else 'nothing'}: add the missing months as nodata")
    first_year = 1970 + first // 12
    last_year = first_year + count // 12 - 1
    check_calibration(first_year, last_year, calibration, source=source)
    if monthly.chunks is not None:
        monthly = monthly.chunk({dim: -1})
    out = xr.apply_ufunc(_spi_block, monthly, input_core_dims=[[dim]], output_core_dims=[["year"]],
                         kwargs={"first_year": first_year, "calibration": tuple(calibration)}, dask="parallelized",
                         output_dtypes=[np.float64], dask_gufunc_kwargs={"output_sizes": {"year": count // 12}})
    out = out.assign_coords(year=np.arange(first_year, last_year + 1)).transpose("year", ...)
    out.attrs = {"long_name": "SPI-12 of December", "units": "1",
                 "method": ("Standardized Precipitation Index, 12 months to December: gamma (Thom, location 0) per "
                            "calendar month on the calibration period, zeros as a point mass, clipped to +-3.09 "
                            "(UNCCD method notes 2.1; climate-indices)"),
                 "calibration": list(calibration)}
    return out


def _x1000(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype="float64")
    scaled = np.sign(v) * np.floor(np.abs(v) * SPI_SCALE + 0.5)  # half away from zero
    return np.where(np.isnan(v), NODATA, scaled).astype("int16")


def spi_x1000(spi: xr.DataArray) -> xr.DataArray:
    """The published int16 SPI: SPI x 1000 rounded half away from zero, nodata -32768 where the SPI is NaN."""
    out = xr.apply_ufunc(_x1000, spi, dask="parallelized", output_dtypes=[np.int16])
    out.attrs = {**spi.attrs, "long_name": "SPI-12 of December x 1000", "scale_factor": 1 / SPI_SCALE,
                 "_FillValue": NODATA}
    return out


def _classes(s: np.ndarray, rule: str) -> np.ndarray:
    s = np.asarray(s).astype("int32")
    if rule == "trends_earth":  # a boundary value in the milder class
        cuts = [s >= 0, s >= -1000, s >= -1500, s >= -2000]
    else:  # gpg: in the more severe class
        cuts = [s >= 0, s > -1000, s > -1500, s > -2000]
    out = np.select(cuts, [0, 1, 2, 3], default=4)
    return np.where(s == NODATA, NODATA, out).astype("int16")


def drought_class(s: xr.DataArray, rule: ClassRule = "trends_earth") -> xr.DataArray:
    """Drought intensity 0-4 (``DROUGHT_CLASSES``: non-drought, mild, moderate, severe, extreme) of the int16
    SPI x 1000, decided exactly by integer comparison; nodata stays -32768. ``rule`` places exact boundaries."""
    if rule not in CLASS_RULES:
        raise ConfigError(f"drought class rule {rule!r} is not one of {list(CLASS_RULES)}")
    out = xr.apply_ufunc(_classes, s, kwargs={"rule": rule}, dask="parallelized", output_dtypes=[np.int16])
    out.attrs = {"long_name": "drought intensity class", "_FillValue": NODATA,
                 "classes": {code: name for code, (name, _) in DROUGHT_CLASSES.items()},
                 "class_rule": rule, "method": "SPI x 1000 classes (UNCCD method notes 2.2)"}
    return out


WorstYearRule = Literal["every_year", "trends_earth"]
WORST_YEAR_RULES: tuple[str, ...] = ("every_year", "trends_earth")
"""How a period's worst year is found: over every year (the method notes), or Trends.Earth's parity: over 4-year
blocks from the period's first year, each using only its first three years, a nodata year winning (method notes
section 7, item 3)."""


def _worst(s: np.ndarray, years: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(s).astype("int32")
    years = np.asarray(years)
    if rule == "trends_earth":  # each 4-year block's last year is left out (TE's slice stops before it)
        used = (years - years[0]) % 4 != 3
        s, years = s[..., used], years[used]
    valid = s != NODATA
    masked = np.where(valid, s, np.iinfo("int32").max)
    at = masked.argmin(axis=-1)  # the first minimum: the earliest year on a tie
    low = np.take_along_axis(masked, at[..., None], axis=-1)[..., 0]
    some = valid.all(axis=-1) if rule == "trends_earth" else valid.any(axis=-1)  # TE: a nodata year is the minimum
    return (np.where(some, low, NODATA).astype("int16"),
            np.where(some, years[at], NODATA).astype("int16"))


def worst_year(s: xr.DataArray, *, dim: str = "year", rule: WorstYearRule = "every_year") -> xr.Dataset:
    """Each pixel's worst year over ``dim`` (a reporting period's years of int16 SPI x 1000): ``spi``, the minimum
    (int16 x 1000), and ``year``, the year it happened (the earliest on a tie); nodata where no year has a value.
    Every year of the period counts; ``rule="trends_earth"`` reproduces Trends.Earth's 4-year blocks that use only
    their first three years and let a nodata year win (parity mode)."""
    if rule not in WORST_YEAR_RULES:
        raise ConfigError(f"worst-year rule {rule!r} is not one of {list(WORST_YEAR_RULES)}")
    years = np.asarray(s[dim].values)
    low, when = xr.apply_ufunc(_worst, s, kwargs={"years": years, "rule": rule}, input_core_dims=[[dim]],
                               output_core_dims=[[], []], dask="parallelized", output_dtypes=[np.int16, np.int16])
    span = f"{int(years.min())}-{int(years.max())}"
    low.attrs = {**s.attrs, "long_name": f"lowest SPI-12 of December, {span}", "worst_year_rule": rule}
    when.attrs = {"long_name": f"year of the lowest SPI-12, {span}", "_FillValue": NODATA}
    return xr.Dataset({"spi": low, "year": when})


def reporting_years(periods: Mapping[str, Period], selected: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The calendar years each ``selected`` period reports on (the span of its worst drought year, and each
    period's label in the report): ``reporting_spans`` of the periods file's windows. The default periods give
    2000-2015, 2016-2019 and 2020-2023, as the UNCCD reporting does."""
    spans = {n: (min(p.productivity[0], p.land_cover[0]), max(p.productivity[1], p.land_cover[1]))
             for n, p in periods.items()}
    wanted = set(selected)
    return {n: span for n, span in reporting_spans(spans).items() if n in wanted}


def reporting_spans(windows: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Each period's reporting years from the (first, last) years its windows span: from the year after the
    period before it (ordered by last year) ends, to its own last year; the first period, and one ending with the
    period before it, from its own first year."""
    order = sorted(windows, key=lambda n: (windows[n][1], n))
    out = {}
    for i, name in enumerate(order):
        own, end = windows[name]
        before = windows[order[i - 1]][1] if i else None
        out[name] = (before + 1 if before is not None and before < end else own, end)
    return out
