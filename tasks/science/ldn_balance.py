"""The LDN balance, "no net loss" per land type (UNCCD method notes, section 6; GPG addendum 2025).

A reporting period's 7-class status against the baseline (``tasks.science.sdg.status``) says, per pixel,
whether the land was newly lost or gained since the baseline: **gain** = status 6 or 7 (recent or persistent
improvement), **loss** = status 1 or 2 (persistent or recent degradation), neutral = 3, 4, 5 (class 3, degraded
in the baseline and stable since, is neither a new loss nor a gain). Gains may balance losses only like for
like, within a **land type**: by default the baseline's initial land cover (7 classes), crossed with the
performance land units when the run has them (``unit x 10 + land cover``); a user raster may define them
instead. A pixel without a land type is left out of the balance and counted.

Per land type: gains km2, losses km2, delta LDN = gains - losses, and "achieved" when delta >= 0. Per zone two
verdicts: the **net balance** (the sum of every land type's delta >= 0, Trends.Earth's "Total" row) and
**every land type balanced** (the LDN framework's like-for-like rule), with the land types that fail.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tasks.constants import GAIN_LOSS_CLASSES, NODATA

__all__ = ["GAIN_STATUSES", "LOSS_STATUSES", "MAX_LAND_UNIT", "gains_losses", "land_types", "land_type_names",
           "balance_code", "balance_table", "balance_verdicts"]

GAIN_STATUSES: tuple[int, ...] = (6, 7)
"""Status codes that are a gain since the baseline: recent and persistent improvement."""

LOSS_STATUSES: tuple[int, ...] = (1, 2)
"""Status codes that are a loss since the baseline: persistent and recent degradation."""

MAX_LAND_UNIT = 3275
"""The largest land unit id that crosses with the 7 land cover classes into an int16 code (unit x 10 + class)."""


def gains_losses(status7: xr.DataArray) -> xr.DataArray:
    """The gains/losses layer of a period: +1 gain (status 6-7), -1 loss (status 1-2), 0 neutral (3-5), nodata
    (-32768) where the status has none; int16, with its class codes in ``attrs["classes"]``."""
    out = xr.where(status7.isin(list(GAIN_STATUSES)), 1, xr.where(status7.isin(list(LOSS_STATUSES)), -1, 0))
    out = out.where((status7 >= 1) & (status7 <= 7), NODATA).astype("int16")
    out.attrs.update({"long_name": "LDN balance: gains (+1), losses (-1) and neutral land (0) since the baseline",
                      "_FillValue": NODATA, "classes": dict(GAIN_LOSS_CLASSES)})
    return out


def land_types(land_cover: xr.DataArray, units: xr.DataArray | None = None) -> xr.DataArray:
    """Land type codes for the balance: the 7-class ``land_cover`` (1..7), or ``units x 10 + land cover`` where
    ``units`` (land unit ids, >= 0; negative or NaN: no unit) is given; nodata (-32768) where either is missing.

    Unit ids above ``MAX_LAND_UNIT`` do not fit an int16 code: the caller checks them first (one line)."""
    lc = land_cover.where((land_cover >= 1) & (land_cover <= 7))
    if units is None:
        out = lc
    else:
        u = units.where(units >= 0)
        out = u * 10 + lc
    out = out.fillna(NODATA).astype("int16")
    out.attrs.update({"long_name": "LDN balance land type" + (" (land unit x 10 + land cover)" if units is not None
                                                               else " (baseline initial land cover)"),
                      "_FillValue": NODATA})
    return out


def land_type_names(codes: list[int] | np.ndarray, land_cover_names: Mapping[int, str], *, crossed: bool) -> dict[int, str]:
    """Legend of land type codes: the land cover class name, or ``<class name> on unit U`` for crossed codes."""
    names = {}
    for code in sorted(int(c) for c in codes if int(c) != NODATA):
        lc = code % 10 if crossed else code
        name = land_cover_names.get(lc, land_cover_names.get(str(lc), f"class {lc}"))  # type: ignore[call-overload]
        names[code] = f"{name} on unit {code // 10}" if crossed else str(name)
    return names


def balance_code(land_type: np.ndarray, gain_loss: np.ndarray) -> np.ndarray:
    """One int64 code per pixel for tallying areas by (land type, gain/loss): ``land type x 4 + gain_loss + 1``
    (gain_loss -1, 0, +1; a nodata gain/loss is 3); nodata land types are the caller's to drop."""
    gl = np.where(gain_loss == NODATA, 2, gain_loss.astype("int64"))
    return land_type.astype("int64") * 4 + gl + 1


def balance_table(km2: Mapping[int, float], names: Mapping[int, str], base: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The balance per land type from areas by ``balance_code``: gains, losses, neutral and no-data km2, delta LDN
    (gains - losses), the land type's area with a status, delta as % of it, and achieved (delta >= 0).

    Every land type of ``names`` gets a row (zeros show it was there but had no status); ``base`` columns (period,
    zone) lead each row. Rows are in land type order; no total row (``balance_verdicts`` has the zone's)."""
    rows = []
    base = dict(base or {})
    for code in sorted(names):
        loss, neutral, gain, none = (float(km2.get(code * 4 + k, 0.0)) for k in range(4))
        assessed = loss + neutral + gain
        delta = gain - loss
        rows.append({**base, "land_type": int(code), "land_type_name": names[code], "gains_km2": gain,
                     "losses_km2": loss, "neutral_km2": neutral, "delta_ldn_km2": delta, "area_km2": assessed,
                     "delta_ldn_pct": 100 * delta / assessed if assessed > 0 else np.nan,
                     "nodata_km2": none, "ldn_achieved": bool(delta >= 0)})
    return pd.DataFrame(rows)


def balance_verdicts(table: pd.DataFrame, base: Mapping[str, Any] | None = None,
                     unassigned_km2: float = 0.0) -> dict[str, Any]:
    """A zone's two verdicts from its ``balance_table``: the net balance (sum of the gains - sum of the losses
    >= 0) and every land type balanced (each land type with a status: delta >= 0), with the failing land types
    named; ``unassigned_km2`` is the area with a status but no land type (left out, counted)."""
    assessed = table[table["area_km2"] > 0] if len(table) else table
    failing = assessed[~assessed["ldn_achieved"]] if len(assessed) else assessed
    gains = float(table["gains_km2"].sum()) if len(table) else 0.0
    losses = float(table["losses_km2"].sum()) if len(table) else 0.0
    return {**dict(base or {}), "gains_km2": gains, "losses_km2": losses, "delta_ldn_km2": gains - losses,
            "area_km2": float(table["area_km2"].sum()) if len(table) else 0.0,
            "net_balance_achieved": bool(gains - losses >= 0),
            "every_land_type_balanced": bool(len(failing) == 0),
            "land_types_assessed": int(len(assessed)),
            "failing_land_types": "; ".join(f"{r.land_type_name} ({r.delta_ldn_km2:+.2f} km2)"
                                             for r in failing.itertuples()),
            "no_land_type_km2": float(unassigned_km2)}
