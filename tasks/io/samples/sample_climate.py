"""The sample region's monthly precipitation: a desert-steppe climate with droughts planted where the tests look.

Monthly totals (mm) on a coarse lon/lat grid, as a TerraClimate- or CHIRPS-shaped collection has them: a
climatology wetter to the north-east, a summer monsoon peak, each year scaled by a regional factor (a lognormal
of mean 1) and each month by a regional gamma factor, with winter months that get no rain at all. Two years are
planted: a **drought** year whose factor holds only inside a disc (outside it the year is exactly the climatology,
so its SPI there is near 0), and a **wet** year over the whole window. Deterministic: one seed, the same numbers.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PrecipitationModel", "PlantedDrought", "PlantedWetYear", "monthly_totals"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlantedDrought(_Model):
    """A drought year inside a disc (km east/north of the window's centre): every month times ``factor``."""

    year: int
    offset_km: tuple[float, float]
    radius_km: float = Field(gt=0)
    factor: float = Field(gt=0, lt=1)


class PlantedWetYear(_Model):
    """A wet year over the whole window: every month times ``factor``."""

    year: int
    factor: float = Field(gt=1)


class PrecipitationModel(_Model):
    """The sample's monthly precipitation as written in ``catalogs/sample_region.yaml``."""

    years: tuple[int, int]
    resolution_deg: float = Field(gt=0, description="Pixel size of the lon/lat grid (1/24: TerraClimate's).")
    annual_mm: tuple[float, float] = Field(description="The climatology's annual total, driest to wettest corner.")
    month_share: list[float] = Field(min_length=12, max_length=12, description="Share of the year's rain per month.")
    year_cv: float = Field(ge=0, description="Spread of the regional year factor (lognormal, mean 1).")
    month_shape: float = Field(gt=0, description="Gamma shape of the regional month factor (mean 1).")
    cell_sd: float = Field(ge=0, description="Spread of each cell's own month factor (lognormal, mean 1).")
    dry_months: list[int] = Field(description="Calendar months that can get no rain at all.")
    dry_month_prob: float = Field(ge=0, le=1, description="Chance such a month is dry over the whole window.")
    drought: PlantedDrought | None = None
    wet: PlantedWetYear | None = None

    @field_validator("month_share")
    @classmethod
    def _shares_sum_to_one(cls, v: list[float]) -> list[float]:
        if abs(sum(v) - 1) > 1e-6 or min(v) < 0:
            raise ValueError(f"month_share must be 12 non-negative shares summing to 1, not {sum(v):.4f}")
        return v


def monthly_totals(model: PrecipitationModel, wetness: np.ndarray, drought_mask: np.ndarray,
                   seed: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Every month's totals (year, month, float32 mm rounded to 0.1) on a grid where ``wetness`` (0..1) places each
    cell between the driest and wettest annual total and ``drought_mask`` marks the planted drought's cells."""
    rng = np.random.default_rng([seed, 4])
    low, high = model.annual_mm
    climate = low + (high - low) * np.clip(wetness, 0, 1)
    sigma = np.sqrt(np.log1p(model.year_cv ** 2))
    for year in range(model.years[0], model.years[1] + 1):
        year_factor = float(np.exp(rng.normal(-sigma ** 2 / 2, sigma)))  # drawn every year: the others stay put
        month_factors = rng.gamma(model.month_shape, 1 / model.month_shape, size=12)
        dry = rng.random(12) < model.dry_month_prob
        cells = np.exp(rng.normal(-model.cell_sd ** 2 / 2, model.cell_sd, size=(12, *climate.shape)))
        planted = model.drought is not None and year == model.drought.year
        if planted:  # the climatology itself outside the disc: SPI near 0 there
            year_factor, month_factors, dry, cells = 1.0, np.ones(12), np.zeros(12, bool), np.ones_like(cells)
        if model.wet is not None and year == model.wet.year:
            year_factor = model.wet.factor
        for month in range(1, 13):
            total = climate * model.month_share[month - 1] * year_factor * month_factors[month - 1] * cells[month - 1]
            if planted:
                total = np.where(drought_mask, total * model.drought.factor, total)  # type: ignore[union-attr]
            if dry[month - 1] and month in model.dry_months:
                total = np.zeros_like(total)
            yield year, month, np.round(total, 1).astype("float32")
