"""Land degradation activities (the NEAMSP registry) and how they are set beside the indicators.

An activity is a record of who does what where: one of the six NEAMSP activity areas, a status, dates, funding,
a contact and a footprint (a point or polygons, stored in lon/lat, EPSG:4326). This module holds the record's
model and its rules (one-line errors naming the record and the field), and the geometry the indicator
statistics are taken over: the footprint (a point widened to a disc) and a ring around it, both on the WGS84
ellipsoid via a local equidistant projection, so a width in km is a width in km at any latitude.

Setting the indicators inside the footprint beside those in the ring, before and after the activity began, is a
plainly labelled comparison, not a causal claim: the ring differs in more than the activity.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Mapping

import numpy as np
import pycountry
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_serializer, field_validator
from pyproj import CRS, Transformer

from tasks.constants import ACTIVITY_AREAS, ACTIVITY_STATUSES
from tasks.errors import ConfigError, validation_message

__all__ = [
    "Activity",
    "country_problem",
    "NE_ASIA_COUNTRIES",
    "ActivityFilter",
    "FIELDS",
    "FIRST_DATE",
    "LAST_DATE",
    "parse_activity",
    "footprint_from",
    "to_lonlat",
    "footprint_and_ring",
    "timing",
    "period_spans",
]

FIRST_DATE, LAST_DATE = date(1990, 1, 1), date(2100, 12, 31)
"""Dates outside these are typing errors, not activities."""

AreaCode = Literal["restoration", "capacity", "integration", "resource-mobilisation", "stakeholder-engagement",
                   "awareness"]
Status = Literal["planned", "ongoing", "completed"]
assert set(AreaCode.__args__) == set(ACTIVITY_AREAS) and set(Status.__args__) == set(ACTIVITY_STATUSES)  # type: ignore[attr-defined]

FOOTPRINT_TYPES = ("Point", "MultiPoint", "Polygon", "MultiPolygon")


def country_problem(code: str) -> str | None:
    """Why ``code`` is not an ISO 3166-1 alpha-3 country code (pycountry's list), with the near misses a typo
    makes (two letters swapped, then one letter wrong; North-East Asia's first), or None when it is one."""
    codes = {country.alpha_3 for country in pycountry.countries}
    if code in codes:
        return None
    swapped = {code[:i] + code[i + 1] + code[i] + code[i + 2:] for i in range(len(code) - 1)} & codes
    one_off = {c for c in codes if len(c) == len(code) and sum(a != b for a, b in zip(c, code)) == 1}
    ranked = sorted(swapped, key=_near_first) + sorted(one_off - swapped, key=_near_first)
    hint = f"did you mean {' or '.join(ranked[:3])}?" if ranked else "e.g. MNG, CHN, RUS, KOR, PRK, JPN"
    return f"{code!r} is not an ISO 3166-1 alpha-3 country code: {hint}"


NE_ASIA_COUNTRIES: tuple[str, ...] = ("MNG", "CHN", "RUS", "KOR", "PRK", "JPN")
"""The countries of North-East Asia, offered first when a country code is a near miss."""


def _near_first(code: str) -> tuple[bool, str]:
    return code not in NE_ASIA_COUNTRIES, code


class Activity(BaseModel):
    """One activity of the registry, validated: every rule a reader of the registry may rely on holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                    description="Unique id: letters, digits, '.', '_' or '-', at most 64 characters.")
    name: str = Field(min_length=1, max_length=300)
    organisations: tuple[str, ...] = Field(min_length=1, description="Who carries it out, one or more.")
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code, e.g. MNG.")
    area: AreaCode = Field(description="NEAMSP activity area: " + ", ".join(ACTIVITY_AREAS))
    status: Status
    start: date
    end: date | None = None
    funding_amount: Decimal | None = Field(None, ge=0, description="Funding in `currency`.")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", validate_default=True,
                                 description="ISO 4217 code, e.g. USD; given with `funding_amount` and only then.")
    donor: str | None = None
    contact: str | None = None
    footprint: Any = Field(None, description="A point or polygons in lon/lat (EPSG:4326); None: no footprint.")

    @field_validator("name", "donor", "contact")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("is blank")
        return v.strip() if v is not None else v

    @field_validator("organisations", mode="before")
    @classmethod
    def _organisations(cls, v: Any) -> Any:
        if isinstance(v, str):  # "A; B" in a CSV cell or a command line
            v = [part for part in v.split(";")]
        if isinstance(v, (list, tuple)):
            v = tuple(str(part).strip() for part in v if str(part).strip())
        return v

    @field_validator("country", "currency", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("country")
    @classmethod
    def _iso_country(cls, v: str) -> str:
        problem = country_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("start", "end")
    @classmethod
    def _plausible(cls, v: date | None) -> date | None:
        if v is not None and not FIRST_DATE <= v <= LAST_DATE:
            raise ValueError(f"{v} is outside {FIRST_DATE.year}-{LAST_DATE.year}")
        return v

    @field_validator("end")
    @classmethod
    def _after_start(cls, v: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if v is not None and start is not None and v < start:
            raise ValueError(f"{v} is before start {start}")
        return v

    @field_validator("currency")
    @classmethod
    def _with_amount(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "funding_amount" in info.data and (info.data["funding_amount"] is None) != (v is None):
            raise ValueError("goes with funding_amount: give both or neither")
        return v

    @field_validator("footprint", mode="before")
    @classmethod
    def _footprint(cls, v: Any) -> shapely.Geometry | None:
        return None if v is None or (isinstance(v, str) and not v.strip()) else footprint_from(v)

    @field_serializer("footprint")
    def _footprint_wkt(self, v: shapely.Geometry | None) -> str | None:
        return None if v is None else shapely.to_wkt(v, rounding_precision=-1)

    @field_serializer("funding_amount")
    def _amount(self, v: Decimal | None) -> str | None:
        return None if v is None else str(v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activity) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))

    @property
    def area_name(self) -> str:
        """The activity area's full NEAMSP name."""
        return ACTIVITY_AREAS[self.area][0]


FIELDS: tuple[str, ...] = tuple(Activity.model_fields)
"""The registry's columns, in order."""


def footprint_from(value: Any) -> shapely.Geometry:
    """A footprint from a shapely geometry, WKT text or a GeoJSON geometry mapping: a non-empty, valid point or
    polygons with lon/lat coordinates (reprojection, when the input had another CRS, happens before this)."""
    try:
        if isinstance(value, shapely.Geometry):
            geom = value
        elif isinstance(value, str):
            geom = shapely.from_wkt(value)
        elif isinstance(value, Mapping):
            geom = shapely.geometry.shape(value)
        else:
            raise ValueError(f"is a {type(value).__name__}, not WKT or a GeoJSON geometry")
    except (shapely.errors.ShapelyError, ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        raise ValueError(f"cannot be read as a geometry ({' '.join(str(err).split()) or type(err).__name__})") from None
    if geom.geom_type not in FOOTPRINT_TYPES:
        raise ValueError(f"is a {geom.geom_type}: a footprint is a point or polygons")
    if geom.is_empty:
        raise ValueError("is empty")
    if not geom.is_valid:
        raise ValueError(f"is not a valid geometry ({shapely.is_valid_reason(geom)}): fix it, e.g. in QGIS")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise ValueError("has non-finite coordinates")
    x0, y0, x1, y1 = geom.bounds
    if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise ValueError(f"has coordinates outside lon/lat (bounds {x0:g}, {y0:g}, {x1:g}, {y1:g}): give its CRS "
                         "(--crs, or the file's crs) so it is reprojected")
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    return geom


def to_lonlat(value: Any, crs: str | None) -> Any:
    """A footprint given in ``crs`` (any pyproj-readable CRS) as lon/lat (EPSG:4326); unchanged when ``crs`` is None
    or already lon/lat. The value is WKT, a GeoJSON mapping or a shapely geometry; returns a shapely geometry."""
    if crs is None or value is None or (isinstance(value, str) and not value.strip()):
        return value
    try:
        source = CRS.from_user_input(crs)
    except Exception:
        raise ConfigError(f"CRS {crs!r} is unknown: give an EPSG code such as EPSG:32649, or WKT") from None
    if source.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return value
    try:
        geom = value if isinstance(value, shapely.Geometry) else (
            shapely.from_wkt(value) if isinstance(value, str) else shapely.geometry.shape(value))
    except Exception:
        return value  # the model names the problem
    t = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def parse_activity(record: Mapping[str, Any], *, where: str = "", crs: str | None = None) -> Activity:
    """An ``Activity`` from a record (a CSV row, GeoJSON properties with ``footprint``, command-line options); any
    problem is a one-line ``ConfigError`` naming the record (its id, else ``where``) and the field.

    ``lon``/``lat`` stand for a point footprint; ``crs`` is the CRS of the footprint (default lon/lat)."""
    data = {k: (None if isinstance(v, str) and not v.strip() and k not in ("id", "name") else v)
            for k, v in record.items()}
    lon, lat = data.pop("lon", None), data.pop("lat", None)
    if lon is not None or lat is not None:
        if data.get("footprint") is not None:
            raise ConfigError(f"activity {_label(record, where)}: give a footprint or lon/lat, not both")
        try:
            data["footprint"] = shapely.Point(float(lon), float(lat))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"activity {_label(record, where)}: lon/lat {lon!r}, {lat!r} are not numbers") from None
    data["footprint"] = to_lonlat(data.get("footprint"), crs)
    try:
        return Activity.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_message(err, f"activity {_label(record, where)}", lead="invalid")) from None


def _label(record: Mapping[str, Any], where: str) -> str:
    ident = record.get("id")
    name = repr(ident) if isinstance(ident, str) and ident.strip() else "(no id)"
    return f"{name}{f' ({where})' if where else ''}"


@dataclass(frozen=True)
class ActivityFilter:
    """Which activities to list or export: every given criterion must hold."""

    country: str | None = None
    area: str | None = None
    status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    """lon/lat west, south, east, north: the footprint intersects it."""
    active_from: date | None = None
    active_to: date | None = None
    """The activity runs at some time in [active_from, active_to] (an open end runs on)."""

    def __post_init__(self) -> None:
        if self.area is not None and self.area not in ACTIVITY_AREAS:
            raise ConfigError(f"unknown activity area {self.area!r}: use one of {', '.join(ACTIVITY_AREAS)}")
        if self.status is not None and self.status not in ACTIVITY_STATUSES:
            raise ConfigError(f"unknown status {self.status!r}: use one of {', '.join(ACTIVITY_STATUSES)}")
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ConfigError(f"bbox {list(self.bbox)} is not west,south,east,north in lon/lat with west < east")
        if self.active_from and self.active_to and self.active_to < self.active_from:
            raise ConfigError(f"date range {self.active_from}..{self.active_to} is reversed")

    def __call__(self, activity: Activity) -> bool:
        if self.country and activity.country != self.country.upper():
            return False
        if self.area and activity.area != self.area:
            return False
        if self.status and activity.status != self.status:
            return False
        if self.bbox and (activity.footprint is None or not activity.footprint.intersects(shapely.box(*self.bbox))):
            return False
        if self.active_to and activity.start > self.active_to:
            return False
        if self.active_from and activity.end is not None and activity.end < self.active_from:
            return False
        return True


def _local(geom: shapely.Geometry) -> tuple[Transformer, Transformer]:
    """To and from an azimuthal equidistant projection centred on the geometry (metres on the ellipsoid)."""
    c = geom.centroid
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m")
    return (Transformer.from_crs("EPSG:4326", local, always_xy=True),
            Transformer.from_crs(local, "EPSG:4326", always_xy=True))


def footprint_and_ring(footprint: shapely.Geometry, *, ring_km: float, point_km: float) -> tuple[shapely.Geometry,
                                                                                                    shapely.Geometry]:
    """The area the footprint stands for and the ring around it, both lon/lat polygons.

    A point (or points) stands for a disc of radius ``point_km``; polygons for themselves. The ring is everything
    within ``ring_km`` of that area and outside it. Distances are true distances on the ellipsoid near the
    footprint (a local equidistant projection), so a ring is as wide in Mongolia as in Japan.
    """
    if ring_km <= 0 or point_km <= 0:
        raise ConfigError(f"ring width {ring_km} km and point radius {point_km} km must be positive")
    forward, back = _local(footprint)

    def project(g: shapely.Geometry, t: Transformer) -> shapely.Geometry:
        return shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    local = project(shapely.segmentize(footprint, 0.01) if footprint.geom_type.endswith("Polygon") else footprint,
                    forward)
    inside = local.buffer(point_km * 1000, quad_segs=16) if "Point" in footprint.geom_type else local
    outer = inside.buffer(ring_km * 1000, quad_segs=16)
    ring = shapely.difference(outer, inside)
    return shapely.make_valid(project(inside, back)), shapely.make_valid(project(ring, back))


def period_spans(windows: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """The calendar years each reporting period stands for (baseline 2000-2015, then 2016-2019, 2020-2023, ...),
    from period -> (first year of its land cover window, its SDG 15.3.1 year), in reporting order: the first period
    from its land cover window's start, each later one from the year after the previous period's SDG year."""
    out: dict[str, tuple[int, int]] = {}
    previous: int | None = None
    for period, (first, last) in windows.items():
        start = first if previous is None else previous + 1
        out[period] = (min(start, last), last)
        previous = last
    return out


def timing(start: date, span: tuple[int, int]) -> str:
    """Whether a period lies ``before`` an activity's start, ``after`` it, or ``spans the start``."""
    first, last = span
    if last < start.year:
        return "before"
    if first > start.year:
        return "after"
    return "spans the start"
