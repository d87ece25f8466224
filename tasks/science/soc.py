"""Soil organic carbon sub-indicator (method notes section 4).

The year-2000 stock (SoilGrids 0-30 cm, t C/ha) is carried through every annual land cover step from
2000 (the model's ``stock_year``) to the period's last year, one trajectory for every period:
a conversion from class i to j sets a yearly change delta = (SOC_k - SOC_k * F) / 20 from the stock
at the change year, F = land-use factor (i, j) with f from the pixel's IPCC climate zone (or one
f for the run); the delta is applied from that step for 20 years, then is 0; a later conversion
replaces it (only the last transition counts). Percent change between the period's first and last
year: <= -10 % -> -1, >= +10 % -> +1, else 0. Water (class 7) in either year, a zero baseline, or
nodata anywhere -> nodata. The model needs every year's land cover, not just the two ends.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.config import Period, RunConfig, load_model
from tasks.constants import CATALOGS_DIR, NODATA, THREE_CLASS_NAMES
from tasks.errors import ConfigError

__all__ = ["SocModel", "load_soc_model", "check_soc_window", "check_climate", "factor_table", "soc_series", "soc_change", "classify_change",
           "SOC_MODEL_FILE"]

SOC_MODEL_FILE = CATALOGS_DIR / "soc.yaml"
"""Default factors: the method notes' land-use matrix and IPCC climate-zone f values."""


class SocModel(BaseModel):
    """Land-use factor matrix (numbers, 'f' or '1/f'), climate f per zone, years to equilibrium, threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    land_use_factor: list[list[float | str]]
    climate_f: dict[int, float]
    years_to_equilibrium: int = Field(20, ge=1)
    threshold_percent: float = Field(10.0, gt=0)
    stock_year: int = Field(2000, ge=1980, le=2100, description="Year of the SOC stock layer, where the model starts.")

    @field_validator("land_use_factor")
    @classmethod
    def _matrix(cls, v: list[list[float | str]]) -> list[list[float | str]]:
        if len(v) != 7 or any(len(r) != 7 for r in v):
            raise ValueError("land_use_factor must be 7 x 7 (rows initial, columns final)")
        bad = [x for r in v for x in r if isinstance(x, str) and x not in ("f", "1/f")]
        if bad:
            raise ValueError(f"land_use_factor entries must be numbers, 'f' or '1/f', got {bad[:5]}")
        return v


def load_soc_model(path: str | Path = SOC_MODEL_FILE) -> SocModel:
    """Read and validate the SOC model file; problems become a one-line ``ConfigError``."""
    return load_model(SocModel, path, "SOC model file")


def check_soc_window(name: str, period: Period, model: SocModel) -> None:
    """Fail in one line when a period's land cover starts before the SOC stock's year (the SOC model starts there)."""
    if period.land_cover[0] < model.stock_year:
        raise ConfigError(f"period {name}'s land cover starts in {period.land_cover[0]}, before the SOC stock's year "
                          f"{model.stock_year}: move the period's `land_cover` start to {model.stock_year} or later")


def check_climate(cfg: RunConfig) -> None:
    """Fail in one line when the SOC change has neither a climate zone source nor one factor to pick its factors."""
    if cfg.climate_source is None and cfg.soc_single_f is None:
        raise ConfigError("the SOC model needs a climate zone source (`climate_source`) or one factor (`soc_single_f`)")


def factor_table(model: SocModel, *, single_f: float | None = None) -> np.ndarray:
    """F[zone, initial, final] for zones 0..12 and classes 0..7 (index 0 = none; NaN where undefined)."""
    table = np.full((13, 8, 8), np.nan)
    zones = range(13) if single_f is not None else model.climate_f
    for zone in zones:
        f = single_f if single_f is not None else model.climate_f[zone]
        for i, row in enumerate(model.land_use_factor, start=1):
            for j, x in enumerate(row, start=1):
                table[zone, i, j] = f if x == "f" else (1 / f if x == "1/f" else float(x))
    return table


def soc_series(land_cover: np.ndarray, soc0: np.ndarray, zone: np.ndarray, table: np.ndarray,
               *, years: int = 20, keep: "list[int] | None" = None) -> np.ndarray:
    """SOC stock of every year (t C/ha) from a (year, ...) 7-class land cover series; NaN where undefined.

    ``keep`` (indices into the series' years) returns only those years' stocks, in that order: the
    trajectory still runs through every year, but a period that reads two of them holds two layers,
    not the whole series, in memory.
    """
    lc = np.asarray(land_cover)
    wanted = list(range(lc.shape[0])) if keep is None else [k % lc.shape[0] for k in keep]
    out = np.full((len(wanted), *lc.shape[1:]), np.nan)
    soc = np.where(np.isfinite(soc0), soc0, np.nan).astype("float64")
    z = np.where((zone >= 0) & (zone < table.shape[0]), zone, 0).astype(np.intp)
    valid = np.all((lc >= 1) & (lc <= 7), axis=0) & np.isfinite(soc)
    valid &= np.isfinite(table[z, 1, 1])  # a zone without f

    def _record(k: int) -> None:
        for slot, want in enumerate(wanted):
            if want == k:
                out[slot] = np.where(valid, soc, np.nan)

    _record(0)
    delta = np.zeros(soc.shape)
    age = np.full(soc.shape, years)  # no change running
    for k in range(1, lc.shape[0]):
        a = np.clip(lc[k - 1], 0, 7)
        b = np.clip(lc[k], 0, 7)
        changed = np.nonzero(a != b)  # conversions are rare: the factor is looked up where one happens
        if changed[0].size:
            s = soc[changed]
            delta[changed] = (s - s * table[z[changed], a[changed].astype(np.intp), b[changed].astype(np.intp)]) / years
            age[changed] = 0
        np.subtract(soc, delta, out=soc, where=age < years)
        age += 1
        _record(k)
    return out


def soc_change(land_cover: xr.DataArray, soc0: xr.DataArray, zone: xr.DataArray, model: SocModel,
               *, first_year: int | None = None, dim: str = "year", single_f: float | None = None) -> xr.Dataset:
    """Stock of the period's first and last year, percent change and the 3-class SOC sub-indicator (nodata -32768).

    ``land_cover`` (7 classes) holds every year from the stock's year (``model.stock_year``, where
    ``soc0`` applies) to the period's last year, and the model runs through all of them, so a
    conversion made before the period and still within its 20 years keeps moving the stock inside
    it (method notes section 4). ``first_year`` is the period's first land cover year (default: the
    series' first); a missing year is an error.
    """
    years = [int(y) for y in land_cover[dim].values]
    gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
    if gaps:
        raise ConfigError(
            f"the SOC model needs land cover for every year of {years[0]}-{years[-1]}; missing {gaps}: "
            "add those years to the land cover source or shorten the period"
        )
    first_year = years[0] if first_year is None else first_year
    if not years[0] <= first_year <= years[-1]:
        raise ConfigError(f"the period's first land cover year {first_year} is outside the SOC series "
                          f"{years[0]}-{years[-1]}: the series must start at the stock's year and reach the period's end")
    k_first = first_year - years[0]
    table = factor_table(model, single_f=single_f)

    def _run(lc: np.ndarray, s0: np.ndarray, zn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        series = soc_series(np.moveaxis(lc, -1, 0), s0, zn, table, years=model.years_to_equilibrium,
                            keep=[k_first, -1])
        return series[0], series[1]

    first, last = xr.apply_ufunc(
        _run, land_cover, soc0, zone, input_core_dims=[[dim], [], []], output_core_dims=[[], []],
        dask="parallelized", output_dtypes=["float64", "float64"],
    )
    lc0, lc1 = land_cover.sel({dim: first_year}), land_cover.isel({dim: -1})
    water = (lc0 == 7) | (lc1 == 7)
    ds = classify_change(first.where(~water), last.where(~water), threshold=model.threshold_percent)
    ds.attrs.update({"years": [first_year, years[-1]], "model_years": [years[0], years[-1]],
                     "threshold_percent": model.threshold_percent,
                     "years_to_equilibrium": model.years_to_equilibrium,
                     "climate_factor": "single f" if single_f is not None else "IPCC climate zones",
                     "stock_trajectory": (f"one stock trajectory from the stock's year {years[0]} through every annual "
                                          f"land cover to {years[-1]}; the period's stocks are read from it")})
    return ds


def classify_change(first: xr.DataArray, last: xr.DataArray, *, threshold: float = 10.0) -> xr.Dataset:
    """Percent change of SOC stock and its classes: <= -threshold -> -1, >= +threshold -> +1, else 0.

    A zero or missing first stock, or a missing last one, is nodata (-32768).
    """
    pct = ((last - first) / first * 100).where(first > 0)
    cls = xr.where(pct <= -threshold, -1, xr.where(pct >= threshold, 1, 0)).where(pct.notnull(), NODATA).astype("int16")
    cls.attrs.update({"long_name": "SOC sub-indicator (3 classes)", "_FillValue": NODATA,
                      "classes": THREE_CLASS_NAMES})
    return xr.Dataset({"soc_first": first, "soc_last": last, "percent_change": pct, "soc": cls})
