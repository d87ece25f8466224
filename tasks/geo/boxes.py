"""Lon/lat boxes (west, south, east, north): what makes one a real area, one rule for every box the project reads.

Plain arithmetic, light to import: ``ldn run`` checks a ``--bbox`` with it before the run's stack is imported.
"""
from __future__ import annotations

import math

__all__ = ["MAX_ANTIMERIDIAN_SPAN", "lonlat_box_problem"]

MAX_ANTIMERIDIAN_SPAN: float = 180.0
"""Widest box, in degrees of longitude, read as crossing the antimeridian when its west > east: a wider one (e.g.
112,42,111,43, which would span 359 degrees) is a typo with west and east swapped, not a box across 180 degrees."""


def lonlat_box_problem(west: float, south: float, east: float, north: float, *, antimeridian: bool = True) -> str | None:
    """What is wrong with a lon/lat box (west, south, east, north), or None when it is a real area.

    West > east is a box across the antimeridian only when it spans at most ``MAX_ANTIMERIDIAN_SPAN`` degrees
    from west eastwards through 180 (and only where ``antimeridian`` allows one); otherwise the two are swapped.
    One rule for every box the project reads (``--bbox``, ``--region W,S,E,N``, YAML ``bbox``, ``ldn layers``).
    """
    values = (west, south, east, north)
    if not all(math.isfinite(v) for v in values):
        return f"bbox {list(values)} has a value that is not a number"
    if south > north:
        return f"bbox south {south:g} > north {north:g}: write west,south,east,north (swap the two latitudes)"
    if not (-90 <= south < north <= 90):
        return f"bbox south/north {south:g}, {north:g} must satisfy -90 <= south < north <= 90"
    if not (-180 <= west <= 180 and -180 <= east <= 180) or west == east:
        return f"bbox west/east {west:g}, {east:g} must be distinct longitudes in [-180, 180]"
    if west > east:
        span = east + 360.0 - west
        if not antimeridian:
            return (f"bbox west {west:g} > east {east:g}: write west,south,east,north with west < east "
                    "(a box across the antimeridian is not taken here: give one box on each side)")
        if span > MAX_ANTIMERIDIAN_SPAN:
            return (f"bbox west {west:g} > east {east:g} would cross the antimeridian and span {span:g} degrees: "
                    f"swap them ({east:g},{south:g},{west:g},{north:g}); a box across 180 degrees has west > east "
                    f"and spans at most {MAX_ANTIMERIDIAN_SPAN:g} degrees, e.g. 170,60,-170,70")
    return None
