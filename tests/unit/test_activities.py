"""The activity model's rules (one-line errors naming the record and the field) and its footprint geometry."""
from __future__ import annotations

import math
from datetime import date

import pytest
import shapely
from pyproj import Transformer

from tasks.errors import ConfigError
from tasks.geo.areas import geodesic_area_km2
from tasks.science.activities import Activity, ActivityFilter, footprint_and_ring, parse_activity, period_spans, timing

GOOD = {"id": "A-1", "name": "Tree belt", "organisations": "Org A; Org B", "country": "mng", "area": "restoration",
        "status": "ongoing", "start": "2017-05-01", "funding_amount": "1500000.50", "currency": "usd",
        "footprint": "POLYGON ((111.8 43.7, 111.9 43.7, 111.9 43.8, 111.8 43.7))"}


def test_a_good_record_is_normalised() -> None:
    a = parse_activity(GOOD)
    assert a.organisations == ("Org A", "Org B") and a.country == "MNG" and a.currency == "USD"
    assert str(a.funding_amount) == "1500000.50" and a.start == date(2017, 5, 1) and a.end is None
    assert a.footprint.equals(shapely.from_wkt(GOOD["footprint"])) and a.area_name.startswith("land restoration")


@pytest.mark.parametrize("change, field, words", [
    ({"area": "tree planting"}, "area", "'restoration'"),
    ({"status": "done"}, "status", "'planned'"),
    ({"end": "2016-01-01"}, "end", "before start 2017-05-01"),
    ({"start": "1989-12-31"}, "start", "outside 1990-2100"),
    ({"start": "2101-01-01"}, "start", "outside 1990-2100"),
    ({"footprint": "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"}, "footprint", "Self-intersection"),
    ({"footprint": "POLYGON EMPTY"}, "footprint", "is empty"),
    ({"footprint": "LINESTRING (0 0, 1 1)"}, "footprint", "a point or polygons"),
    ({"footprint": "POINT (500000 4800000)"}, "footprint", "give its CRS"),
    ({"footprint": "not wkt"}, "footprint", "cannot be read"),
    ({"currency": None}, "currency", "give both or neither"),
    ({"country": "Mongolia"}, "country", "pattern"),
    ({"country": "MGN"}, "country", "'MGN' is not an ISO 3166-1 alpha-3 country code: did you mean MNG?"),
    ({"country": "KRO"}, "country", "did you mean KOR or FRO?"),
    ({"country": "XYZ"}, "country", "not an ISO 3166-1 alpha-3 country code: e.g. MNG"),
    ({"id": "has space"}, "id", "pattern"),
    ({"organisations": " ; "}, "organisations", "at least 1"),
    ({"name": "  "}, "name", "blank"),
])
def test_bad_records_are_one_line_errors_naming_record_and_field(change: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_activity({**GOOD, **change}, where="line 3 of x.csv")
    message = str(err.value)
    assert "\n" not in message and f"{field}:" in message and words in message
    assert ("'A-1'" if change.get("id") is None else "'has space'") in message and "line 3 of x.csv" in message


def test_footprints_in_another_crs_are_stored_in_lonlat() -> None:
    utm = "POINT (500000 4840000)"
    a = parse_activity({**GOOD, "footprint": utm}, crs="EPSG:32649")
    lon, lat = Transformer.from_crs("EPSG:32649", "EPSG:4326", always_xy=True).transform(500000, 4840000)
    assert a.footprint.x == pytest.approx(lon, abs=1e-12) and a.footprint.y == pytest.approx(lat, abs=1e-12)
    b = parse_activity({**{k: v for k, v in GOOD.items() if k != "footprint"}, "lon": "111.5", "lat": 43.5})
    assert b.footprint.equals(shapely.Point(111.5, 43.5))
    with pytest.raises(ConfigError, match="footprint or lon/lat, not both"):
        parse_activity({**GOOD, "lon": 1, "lat": 2})


@pytest.mark.parametrize("lat", [0.0, 43.7, 66.0])
def test_a_point_stands_for_a_disc_and_the_ring_is_true_km_wide(lat: float) -> None:
    inside, ring = footprint_and_ring(shapely.Point(111.9, lat), ring_km=5, point_km=1)
    assert geodesic_area_km2(inside) == pytest.approx(math.pi, rel=5e-3)
    assert geodesic_area_km2(ring) == pytest.approx(math.pi * (6 ** 2 - 1), rel=5e-3)
    assert not inside.intersection(ring).area > 1e-12


def test_a_polygon_ring_has_the_area_of_its_buffer() -> None:
    box = shapely.box(111.8, 43.7, 111.9, 43.75)
    inside, ring = footprint_and_ring(box, ring_km=2, point_km=1)
    a = geodesic_area_km2(box)
    assert geodesic_area_km2(inside) == pytest.approx(a, rel=1e-4)
    perimeter = 2 * (8.06 + 5.56)  # km: 0.1 degree of longitude and 0.05 of latitude at 43.7 N
    expected = perimeter * 2 + math.pi * 2 ** 2  # the Minkowski sum of a rectangle and a 2 km disc
    assert geodesic_area_km2(ring) == pytest.approx(expected, rel=0.01)


def test_periods_stand_for_their_reporting_years_and_timing_is_relative_to_the_start() -> None:
    spans = period_spans({"baseline": (2000, 2015), "report_1": (2015, 2019), "report_2": (2015, 2023)})
    assert spans == {"baseline": (2000, 2015), "report_1": (2016, 2019), "report_2": (2020, 2023)}
    start = date(2017, 5, 1)
    assert [timing(start, s) for s in spans.values()] == ["before", "spans the start", "after"]
    assert timing(date(2016, 1, 1), (2016, 2019)) == "spans the start"


def test_filters() -> None:
    a = parse_activity({**GOOD, "end": "2018-12-31"})
    assert ActivityFilter(country="mng", area="restoration", status="ongoing")(a)
    assert not ActivityFilter(country="CHN")(a)
    assert ActivityFilter(bbox=(111.85, 43.6, 112, 43.9))(a) and not ActivityFilter(bbox=(100, 40, 101, 41))(a)
    assert ActivityFilter(active_from=date(2018, 6, 1))(a) and not ActivityFilter(active_from=date(2019, 1, 1))(a)
    assert not ActivityFilter(active_to=date(2017, 4, 30))(a)
    with pytest.raises(ConfigError, match="unknown activity area"):
        ActivityFilter(area="forests")


def test_equality_is_by_value() -> None:
    assert parse_activity(GOOD) == parse_activity(dict(GOOD)) and isinstance(parse_activity(GOOD), Activity)
