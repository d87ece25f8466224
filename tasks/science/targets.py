"""Land Degradation Neutrality targets: national targets (``catalogs/ldn_targets.yaml``) set against what the
published layers measure, period by period.

A target runs in a straight line from its baseline value to its target value; each period's measured value is
set against that line at the period's year. With ``comparison: level`` the measured value itself is compared
with the line (the layers measure the target's own quantity, e.g. hectares turned tree-covered); with
``change`` the measured change since the first period is compared with the line's change over the same years, in
the target's unit (percentage points for a share), because a proxy (SDG 15.3.1 degraded land for "desertified land")
has its own level but should move at the target's pace; ``relative_change`` does the same with both changes relative
to their starting values (for quantities, not shares: a share's relative change explodes on a small starting
value, and has no reference at 0). On track or off track is decided exactly, with rational
arithmetic on the YAML's decimals and the tables' values. Tracking is a plainly labelled comparison, not a
causal claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.config import load_model
from tasks.constants import CATALOGS_DIR

__all__ = [
    "TARGETS_FILE",
    "INDICATOR_UNITS",
    "TRACK_STATUSES",
    "YearValue",
    "LdnTarget",
    "TargetCatalog",
    "load_targets",
    "Measurement",
    "PeriodYears",
    "period_years",
    "measurements",
    "targets_table",
    "path_value",
    "track",
]

TARGETS_FILE = CATALOGS_DIR / "ldn_targets.yaml"
"""The shipped targets of North-East Asia's countries (each entry cites its source)."""

Indicator = Literal["degraded_share", "tree_cover_share", "grassland_share", "afforested_area", "ldn_balance",
                    "not_measurable"]

INDICATOR_UNITS: dict[str, str] = {
    "degraded_share": "percent",
    "tree_cover_share": "percent",
    "grassland_share": "percent",
    "afforested_area": "ha",
    "ldn_balance": "km2",
}
"""The unit the layers measure each indicator in; a measurable target must be stated in it."""

TRACK_STATUSES: tuple[str, ...] = (
    "on track", "off track", "reference", "partial coverage", "not measurable", "not covered", "no measurement",
    "no reference",
)
"""What a row of the targets table says: on or off the line; ``reference``: the period the changes are counted
from; ``partial coverage``: the run covers less than ``FULL_COVERAGE`` of the country, so its values describe
that part and no verdict is given; ``not measurable``: the layers cannot measure the target (or it has no number);
``not covered``: the run's zones do not include the country; ``no measurement``: no period of the run produced a
value for it; ``no reference``: measured, but a relative change from a starting value of 0 is undefined, so no
verdict."""


class YearValue(BaseModel):
    """A year and a value; either may be missing in a target that is not measurable."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    year: int | None = Field(None, ge=1990, le=2100)
    value: float | None = None


class LdnTarget(BaseModel):
    """One national target: what it is, which indicator of the layers measures it, its line and its source."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Unique id, e.g. mng-forest-cover-2030.")
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code, as the zones' zone_id.")
    title: str = Field(min_length=1)
    indicator: Indicator
    comparison: Literal["level", "change", "relative_change"] = "level"
    proxy: str | None = Field(None, description="How the measured indicator differs from the target's definition.")
    not_measurable_because: str | None = None
    baseline: YearValue = YearValue()
    target: YearValue = YearValue()
    unit: str | None = None
    better: Literal["higher", "lower"] | None = Field(
        None, description="Which way is progress; default from baseline to target (needed when they are equal).")
    source: str = Field(min_length=1, description="The document the target comes from.")

    @model_validator(mode="after")
    def _complete(self) -> LdnTarget:
        if self.indicator == "not_measurable":
            if not self.not_measurable_because:
                raise ValueError(f"target {self.id}: indicator not_measurable needs `not_measurable_because`")
            return self
        missing = [name for name, v in (("baseline.year", self.baseline.year), ("baseline.value", self.baseline.value),
                                        ("target.year", self.target.year), ("target.value", self.target.value))
                   if v is None]
        if missing:
            raise ValueError(f"target {self.id}: a measurable target needs {', '.join(missing)} (or indicator "
                             "not_measurable)")
        assert self.baseline.year is not None and self.target.year is not None
        if self.target.year <= self.baseline.year:
            raise ValueError(f"target {self.id}: target.year {self.target.year} must be after baseline.year "
                             f"{self.baseline.year}")
        unit = INDICATOR_UNITS[self.indicator]
        if self.unit != unit:
            raise ValueError(f"target {self.id}: {self.indicator} is measured in {unit}, not {self.unit!r}: "
                             f"state the target in {unit}")
        if self.baseline.value == self.target.value and self.better is None:
            raise ValueError(f"target {self.id}: baseline and target are equal (a level to keep): say "
                             "`better: higher` or `better: lower`")
        return self

    @property
    def higher_is_better(self) -> bool:
        """Whether progress means a rising value."""
        if self.better is not None:
            return self.better == "higher"
        assert self.baseline.value is not None and self.target.value is not None
        return self.target.value > self.baseline.value


class TargetCatalog(BaseModel):
    """A targets file: its schema version and its targets, ids unique."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[1]
    targets: list[LdnTarget] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, v: list[LdnTarget]) -> list[LdnTarget]:
        seen: set[str] = set()
        twice = sorted({t.id for t in v if t.id in seen or seen.add(t.id)})  # type: ignore[func-returns-value]
        if twice:
            raise ValueError(f"target ids must be unique; repeated: {twice}")
        return v


def load_targets(path: str | Path = TARGETS_FILE) -> TargetCatalog:
    """Read and validate a targets file; every problem is a one-line ``ConfigError`` naming the entry and field."""
    return load_model(TargetCatalog, path, "LDN targets file")


@dataclass(frozen=True)
class Measurement:
    """What the layers measured for a target in one period: the value (in the target's unit) and its year."""

    period: str
    year: int
    value: float
    note: str = ""


@dataclass(frozen=True)
class PeriodYears:
    """The years a period's layers describe: its SDG 15.3.1 (the end of its later window) and its land cover
    (the first and last year of the land cover window the run used, which ends at the last year available)."""

    sdg: int
    land_cover: tuple[int, int]


def period_years(about: dict[str, Any]) -> PeriodYears | None:
    """A period's years from its method metadata (the ``<indicator> window`` entries the report's ``about`` holds),
    or None when it names no land cover window."""
    land_cover = about.get("land-cover window")
    if not land_cover:
        return None
    ends = [int(w[1]) for key in ("sdg-15-3-1 window", "lpd window", "land-cover window") if (w := about.get(key))]
    return PeriodYears(sdg=max(ends), land_cover=(int(land_cover[0]), int(land_cover[1])))


FULL_COVERAGE = 0.9
"""The share of a country's area (its zone polygon, geodesic) a run must cover for a verdict on its targets; the
zone polygons are Natural Earth's 1:110m outlines, a few % off the true areas, hence not 1."""

TREE_COVERED, GRASSLAND = 1, 2
"""The UNCCD land cover classes the share indicators count (``catalogs/land_cover.yaml``)."""


def measurements(target: LdnTarget, frames: dict[str, dict[str, pd.DataFrame]],
                 years: dict[str, PeriodYears], labels: dict[str, str] | None = None) -> list[Measurement]:
    """The target's indicator for its country in every period of ``frames`` (period -> the zonal tables by name,
    as the report writes them), with the year each value describes; periods without the country's row, or whose
    value is undefined (NaN: no land with data), give none.

    degraded_share: the ``sdg_15_3_1`` table's degraded % of land; tree_cover_share and grassland_share: the
    class's area in the last land cover year over the land area (``land_cover`` table); afforested_area: the area
    of transitions into tree-covered over the land cover window (``land_cover_transitions``), in ha; ldn_balance:
    the net LDN balance (gains - losses since the baseline, all land types, ``ldn_balance_summary``) in km2, the
    measured value of a "no net loss" target (baseline and target 0, ``better: higher``).
    """
    out: list[Measurement] = []
    for period, tables in frames.items():
        when = years[period]
        named = (labels or {}).get(period, period)
        first, last = when.land_cover
        if target.indicator == "degraded_share":
            table = tables.get("sdg_15_3_1")
            if table is None:
                continue
            rows = table[(table.zone_id == target.country) & (table.indicator == "sdg_15_3_1")]
            if len(rows):
                out.append(Measurement(period, when.sdg, float(rows.degraded_pct.iloc[0]),
                                       f"degraded land in {named}"))
        elif target.indicator in ("tree_cover_share", "grassland_share"):
            table = tables.get("land_cover")
            if table is None:
                continue
            code = TREE_COVERED if target.indicator == "tree_cover_share" else GRASSLAND
            rows = table[(table.zone_id == target.country) & (table["class"] == code)]
            if len(rows) and float(rows.land_km2.iloc[0]) > 0:
                share = float(rows.final_km2.iloc[0]) / float(rows.land_km2.iloc[0]) * 100
                out.append(Measurement(period, last, share, f"land cover {last}"))
        elif target.indicator == "ldn_balance":
            table = tables.get("ldn_balance_summary")
            if table is None:
                continue
            rows = table[table.zone_id == target.country]
            if len(rows):
                verdict = "every land type balanced" if bool(rows.every_land_type_balanced.iloc[0]) else \
                    f"land types not balanced: {rows.failing_land_types.iloc[0]}"
                out.append(Measurement(period, when.sdg, float(rows.delta_ldn_km2.iloc[0]),
                                       f"net LDN balance in {named} against the baseline; {verdict}"))
        elif target.indicator == "afforested_area":
            table = tables.get("land_cover_transitions")
            if table is None:
                continue
            rows = table[(table.zone_id == target.country) & (table.final_class == TREE_COVERED)
                         & (table.initial_class != TREE_COVERED)]
            if len(rows):
                since = "" if first == target.baseline.year else f"; the target counts from {target.baseline.year}"
                out.append(Measurement(period, last, float(rows.area_km2.sum()) * 100,
                                       f"land turned tree-covered {first}-{last}{since}"))
    return sorted((m for m in out if m.value == m.value), key=lambda m: m.year)  # NaN: the period had no value


def _written(value: float) -> Fraction:
    """A target's decimal as written in the YAML: 78.2 is 782/10, not the binary float nearest it (the float's
    shortest repr is the decimal the file holds)."""
    return Fraction(repr(value))


def path_value(target: LdnTarget, year: int) -> Fraction:
    """The straight line from the baseline value to the target value at ``year`` (exact; beyond the years too)."""
    assert target.baseline.year is not None and target.target.year is not None
    assert target.baseline.value is not None and target.target.value is not None
    b, t = _written(target.baseline.value), _written(target.target.value)
    return b + (t - b) * Fraction(year - target.baseline.year, target.target.year - target.baseline.year)


def _row(target: LdnTarget, status: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "target_id": target.id, "country": target.country, "title": target.title, "indicator": target.indicator,
        "comparison": target.comparison if target.indicator != "not_measurable" else None,
        "proxy": target.proxy, "unit": target.unit, "period": None, "year": None, "measured": None,
        "path": None, "gap": None, "gap_unit": None, "measured_change": None, "path_change": None,
        "change_unit": None, "status": status,
        "baseline_year": target.baseline.year, "baseline_value": target.baseline.value,
        "target_year": target.target.year, "target_value": target.target.value, "note": "", "source": target.source,
    }
    row.update(values)
    return row


def track(target: LdnTarget, measurements: list[Measurement], *, covered: bool = True,
          coverage: float | None = None) -> list[dict[str, Any]]:
    """The targets table's rows for ``target``: one per measured period with the line's value, the gap and on or off
    track, or one row saying why there is nothing to compare (not measurable, not covered, no measurement).

    ``measurements`` are the periods' values for the target's country in chronological order; ``covered`` is
    False when the run's zones do not include the country; ``coverage`` is the share of the country's area the
    run covers (below ``FULL_COVERAGE`` the rows keep their numbers but give no verdict). Gaps are measured minus
    path (level) or the measured change minus the path's (change, relative_change), in the unit ``gap_unit`` names.
    """
    if target.indicator == "not_measurable":
        return [_row(target, "not measurable", note=target.not_measurable_because or "")]
    if not covered:
        return [_row(target, "not covered", note=f"the run's zones do not include {target.country}: no number is "
                                                 "reported for a country the run does not cover")]
    if not measurements:
        return [_row(target, "no measurement", note="no period of the run measured this indicator")]
    rows = _compared(target, sorted(measurements, key=lambda m: m.year))
    if coverage is not None and coverage < FULL_COVERAGE:
        share = f"the run covers {coverage * 100:.2g} % of {target.country}'s area: the values describe that part only"
        for row in rows:
            if row["status"] in ("on track", "off track", "reference"):
                row["status"] = "partial coverage"
            row["note"] = f"{share}; {row['note']}" if row["note"] else share
    return rows


def difference_unit(unit: str | None) -> str | None:
    """The unit of a difference of two values in ``unit``: percentage points for a share in percent."""
    return "percentage points" if unit in ("percent", "%") else unit


def _compared(target: LdnTarget, ordered: list[Measurement]) -> list[dict[str, Any]]:
    higher = target.higher_is_better
    rows = []
    if target.comparison == "level":
        for m in ordered:
            line = path_value(target, m.year)
            gap = Fraction(m.value) - line
            good = gap >= 0 if higher else gap <= 0
            rows.append(_row(target, "on track" if good else "off track", period=m.period, year=m.year,
                             measured=m.value, path=float(line), gap=float(gap), gap_unit=difference_unit(target.unit),
                             note=m.note))
        return rows
    first = ordered[0]
    m0, p0 = Fraction(first.value), path_value(target, first.year)
    relative = target.comparison == "relative_change"
    unit = "% of the reference value" if relative else difference_unit(target.unit)
    if relative and (m0 == 0 or p0 == 0):
        because = (f"{'the measured value' if m0 == 0 else 'the line'} is 0 in {first.year}: a relative change has no "
                   "reference, so no verdict (a share is better tracked with `comparison: change`)")
        return [_row(target, "no reference", period=m.period, year=m.year, measured=m.value,
                     note=f"{because}; {m.note}" if m.note else because) for m in ordered]
    rows.append(_row(target, "reference", period=first.period, year=first.year, measured=first.value,
                     path=float(p0), measured_change=0.0, path_change=0.0, change_unit=unit,
                     note=f"the reference the changes are counted from{'; ' + first.note if first.note else ''}"))
    for m in ordered[1:]:
        line = path_value(target, m.year)
        measured_change, path_change = Fraction(m.value) - m0, line - p0
        if relative:
            measured_change, path_change = measured_change / m0 * 100, path_change / p0 * 100
        gap = measured_change - path_change
        good = gap >= 0 if higher else gap <= 0
        rows.append(_row(target, "on track" if good else "off track", period=m.period, year=m.year,
                         measured=m.value, path=float(line), gap=float(gap),
                         gap_unit="percentage points of relative change" if relative else unit,
                         measured_change=float(measured_change), path_change=float(path_change), change_unit=unit,
                         note=m.note))
    return rows


TABLE_COLUMNS: tuple[str, ...] = tuple(_row(LdnTarget(id="x", country="XXX", title="x", indicator="not_measurable",
                                                      not_measurable_because="x", source="x"), "x"))
"""The targets table's columns, in order."""


def targets_table(catalog: TargetCatalog, frames: dict[str, dict[str, pd.DataFrame]],
                  years: dict[str, PeriodYears], *, zone_km2: dict[str, float] | None = None,
                  labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The targets table of a run: every target of ``catalog`` tracked over the periods of ``frames`` (the zonal
    tables by period) for its country; a country is covered when a period's SDG 15.3.1 table has its zone, and
    the share covered is the zone's area in the tables over ``zone_km2`` (the zone's whole area), when given.
    ``labels`` name the periods in the notes as the report names them (``report_1 (2016-2019)``)."""
    zones = {str(z) for tables in frames.values() if (sdg := tables.get("sdg_15_3_1")) is not None
             for z in sdg.zone_id.unique()}
    covered_km2: dict[str, float] = {}
    for tables in frames.values():
        if (sdg := tables.get("sdg_15_3_1")) is not None:
            for zone, km2 in sdg.groupby("zone_id")["total_km2"].first().items():
                covered_km2[str(zone)] = max(covered_km2.get(str(zone), 0.0), float(km2))
    known = {p: frames[p] for p in frames if p in years}
    rows = []
    for target in catalog.targets:
        whole = (zone_km2 or {}).get(target.country)
        share = covered_km2.get(target.country, 0.0) / whole if whole else None
        rows += track(target, measurements(target, known, years, labels), covered=target.country in zones,
                      coverage=share)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for column in ("year", "baseline_year", "target_year"):
        table[column] = table[column].astype("Int64")  # years stay integers beside the rows without one
    return table
