"""Generated activity records for the registry tests: every field used, footprints of every kind, odd text."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import shapely

from tasks.constants import ACTIVITY_AREAS, ACTIVITY_STATUSES
from tasks.science.activities import Activity

COUNTRIES = ("CHN", "MNG", "PRK", "KOR", "JPN", "RUS")


def generated_activities(n: int, seed: int = 7) -> list[Activity]:
    """``n`` valid activities: points, polygons, multipolygons and none; open and closed dates; with and without
    funding; names with commas, quotes, newlines and non-Latin script (what a CSV or GeoJSON must carry)."""
    rng = np.random.default_rng(seed)
    areas, statuses = list(ACTIVITY_AREAS), list(ACTIVITY_STATUSES)
    out = []
    for i in range(n):
        lon, lat = float(rng.uniform(73, 179)), float(rng.uniform(18, 70))
        kind = i % 4
        if kind == 0:
            footprint = shapely.Point(lon, lat)
        elif kind == 1:
            d = float(rng.uniform(0.001, 0.5))
            footprint = shapely.Polygon([(lon, lat), (lon + d, lat), (lon + d, lat + d / 2), (lon, lat)])
        elif kind == 2:
            footprint = shapely.MultiPolygon([shapely.box(lon, lat, lon + 0.1, lat + 0.1),
                                              shapely.box(lon + 0.2, lat, lon + 0.3, lat + 0.05)])
        else:
            footprint = None
        start = date(1990, 1, 1) + timedelta(days=int(rng.integers(0, 40000)))
        end = start + timedelta(days=int(rng.integers(0, 3000))) if i % 3 else None
        funded = i % 5 != 0
        out.append(Activity(
            id=f"GEN-{i:04d}", name=["Shelter belt, phase \"2\"", "草原恢复 项目", "Line one\nline two", "plain"][i % 4]
            + f" {i}", organisations=tuple(f"Org {j}" for j in range(1 + i % 3)), country=COUNTRIES[i % 6],
            area=areas[i % 6], status=statuses[i % 3], start=start, end=end if end is None or end <= date(2100, 12, 31)
            else None, funding_amount=Decimal(int(rng.integers(0, 10**9))) / 100 if funded else None,
            currency="USD" if funded else None, donor="Donor; with semicolon?".replace(";", ",") if i % 2 else None,
            contact=f"person{i}@example.org" if i % 7 else None, footprint=footprint))
    return out
