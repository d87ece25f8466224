"""The sample region's people and their drought vulnerability: the inputs of the SO3-2, SO3-3 and SO2-3 tables.

WorldPop-shaped people per pixel by sex at 30 arc seconds (about 1 km), one item a year: a town (Zamyn-Uud) whose
people thin out from its centre and grow every year, and herders scattered over the steppe (most cells hold no
one, a few a household or two). The drought vulnerability index (JRC-shaped, 0-1) is a smooth field, highest in the
dry south-west. Deterministic: one seed, the same numbers; the planted truth records the totals.
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PopulationModel", "Town", "VulnerabilityModel", "population_counts", "vulnerability_index"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Town(_Model):
    """A town: a disc (km east/north of the window's centre) whose people thin out from its centre."""

    offset_km: tuple[float, float]
    radius_km: float = Field(gt=0)
    people: float = Field(gt=0, description="People in the first year.")
    growth: float = Field(ge=-0.5, le=0.5, description="Yearly growth (0.02: 2 % a year).")
    female_share: float = Field(gt=0, lt=1)


class PopulationModel(_Model):
    """The sample's population as written in ``catalogs/sample_region.yaml``."""

    years: tuple[int, int]
    resolution_deg: float = Field(gt=0, description="Pixel size of the lon/lat grid (1/120: WorldPop's 1 km).")
    town: Town
    herders_per_km2: float = Field(ge=0, description="Mean density of the herders outside the town.")
    herder_household: float = Field(gt=0, description="People per herder household (a cell holds whole households).")
    herder_female_share: float = Field(gt=0, lt=1)


class VulnerabilityModel(_Model):
    """The sample's drought vulnerability index: from ``low`` (north-east) to ``high`` (south-west)."""

    resolution_deg: float = Field(gt=0)
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)


def population_counts(model: PopulationModel, town_km: np.ndarray, cell_km2: np.ndarray,
                      seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each year's (female, male) people per cell (float32) on a grid where ``town_km`` is each cell centre's
    distance from the town's centre and ``cell_km2`` its area."""
    rng = np.random.default_rng([seed, 5])
    town = model.town
    inside = town_km <= town.radius_km
    weight = np.where(inside, np.exp(-0.5 * (town_km / (town.radius_km / 2)) ** 2), 0.0)
    share = weight / weight.sum() if weight.sum() > 0 else weight
    households = rng.poisson(model.herders_per_km2 * cell_km2 / model.herder_household)
    households = np.where(inside, 0, households)
    moves = rng.random(households.shape)  # a household moves camp some years: its cell empties, it settles next door
    out = {}
    for year in range(model.years[0], model.years[1] + 1):
        t = year - model.years[0]
        in_town = share * town.people * (1 + town.growth) ** t
        here = np.where((moves * 7 + t) % 7 < 1, 0, households).astype("float64")  # one year in seven away
        herders = here * model.herder_household
        female = in_town * town.female_share + herders * model.herder_female_share
        male = in_town * (1 - town.female_share) + herders * (1 - model.herder_female_share)
        out[year] = (np.round(female, 3).astype("float32"), np.round(male, 3).astype("float32"))
    return out


def vulnerability_index(model: VulnerabilityModel, position: np.ndarray) -> np.ndarray:
    """The index (float32, 0-1) on a grid where ``position`` runs from 0 (south-west) to 1 (north-east)."""
    return np.round(model.high + (model.low - model.high) * np.clip(position, 0, 1), 4).astype("float32")
