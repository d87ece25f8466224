"""True pixel areas in km2 (method notes section 6), so every table adds up to real land.

- Equal-area projected grids (MODIS sinusoidal, cylindrical equal area, Lambert azimuthal equal
  area, Albers, Mollweide, ...): every pixel has the area |dx * dy|.
- Geographic (lon/lat) grids: each row's pixels have the exact ellipsoidal area of their
  latitude band, from the ellipsoid's authalic-latitude formula.
- Any other projection distorts areas: it is refused with the fix (reproject first).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS, Geod

from tasks.errors import ConfigError
from tasks.geo.grid import parse_crs

if TYPE_CHECKING:
    import shapely
    import xarray as xr

__all__ = ["pixel_areas_km2", "band_area_km2", "geodesic_area_km2", "class_areas", "EQUAL_AREA_METHODS"]

EQUAL_AREA_METHODS: tuple[str, ...] = (
    "sinusoidal", "lambert cylindrical equal area", "lambert azimuthal equal area", "albers equal area",
    "mollweide", "equal earth", "eckert iv", "eckert vi", "goode homolosine", "interrupted goode homolosine",
)
"""Projection methods whose pixels all have the same area (matched case-insensitively)."""


def _q(phi: np.ndarray, e: float) -> np.ndarray:
    """The authalic-latitude function q(phi) of an ellipsoid with eccentricity e (e > 0)."""
    s = np.sin(phi)
    return (1 - e * e) * (s / (1 - e * e * s * s) - (1 / (2 * e)) * np.log((1 - e * s) / (1 + e * s)))


def band_area_km2(lat1: np.ndarray, lat2: np.ndarray, dlon_deg: float, *, a: float = 6378137.0,
                  inv_f: float = 298.257223563) -> np.ndarray:
    """Exact area (km2) on the ellipsoid (default WGS84) between two latitudes over ``dlon_deg`` of longitude.

    Examples
    --------
    >>> round(float(band_area_km2(np.array(-90.0), np.array(90.0), 360.0)), 0)  # WGS84 surface
    510065622.0
    """
    f = 1 / inv_f
    e = math.sqrt(f * (2 - f))
    lo, hi = np.radians(np.minimum(lat1, lat2)), np.radians(np.maximum(lat1, lat2))
    return np.radians(abs(dlon_deg)) * a * a / 2 * (_q(hi, e) - _q(lo, e)) / 1e6


def geodesic_area_km2(geometry: "shapely.Geometry") -> float:
    """The area of lon/lat polygons on the WGS84 ellipsoid, in km2 (pyproj's geodesic polygon area)."""
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geometry)
    return abs(area) / 1e6


def pixel_areas_km2(crs: str | CRS, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Area of each pixel row in km2, shape (rows, 1), ready to broadcast over columns."""
    c = crs if isinstance(crs, CRS) else parse_crs(crs)
    rows = shape[0]
    if transform.b != 0 or transform.d != 0:
        raise ConfigError("rotated grids are not supported for areas: reproject to a north-up grid")
    if c.is_geographic:
        ell = c.ellipsoid
        if ell is None:
            raise ConfigError(f"the geographic CRS {c.name!r} names no ellipsoid: areas need one; use EPSG:4326")
        tops = transform.f + np.arange(rows) * transform.e
        bottoms = tops + transform.e
        areas = band_area_km2(np.clip(bottoms, -90, 90), np.clip(tops, -90, 90), transform.a,
                              a=ell.semi_major_metre, inv_f=ell.inverse_flattening or 1e300)
        return areas.reshape(rows, 1)
    method = (c.coordinate_operation.method_name if c.coordinate_operation else "").lower()
    if any(m in method for m in EQUAL_AREA_METHODS):
        unit = c.axis_info[0].unit_conversion_factor if c.axis_info else 1.0
        area = abs(transform.a * transform.e) * unit * unit / 1e6
        return np.full((rows, 1), area)
    raise ConfigError(
        f"areas cannot be read off the {method or 'unknown'} projection (not equal-area): reproject the layer "
        "to an equal-area (e.g. MODIS sinusoidal) or a geographic grid first"
    )


def class_areas(layers: dict[str, "xr.DataArray"], areas_km2: "np.ndarray | da.Array", *,
                water: "xr.DataArray | None" = None) -> "pd.DataFrame":
    """km2 and percent of degraded (-1), stable (0) and improved (+1) land per 3-class layer.

    One row per layer with the method notes' columns (section 6): total, water, land (total less
    water), nodata (land not classed -1/0/+1) and valid land km2, and each class's km2 and percent
    of valid land. ``water`` is True on water bodies (the period's final land cover class 7), so
    the region summary agrees with the zonal tables. Summed block by block: only per-block sums
    are held, so Dask-backed layers of any size never load. ``areas_km2`` is (rows, 1), the
    layers' full shape (see ``pixel_areas_km2``) or a Dask array of it, 0 where a pixel is not part of
    the area summarised (outside the run's region, ``tasks.io.sources.clip.area_weights``).
    """
    names = list(layers)
    inputs = [getattr(x, "data", x) for x in [*layers.values(), *([water] if water is not None else [])]]
    shape = tuple(np.shape(inputs[0]))
    chunks = next((x.chunks for x in inputs if isinstance(x, da.Array)), tuple((n,) for n in shape))

    def blocks(data: Any) -> "da.Array":
        return data.rechunk(chunks) if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=chunks)

    stack = [blocks(x) for x in inputs[:len(names)]]
    wet = blocks(inputs[-1]) if water is not None else da.zeros(shape, dtype=bool, chunks=chunks)
    weights = (areas_km2.rechunk(chunks) if isinstance(areas_km2, da.Array)
               else da.from_array(np.broadcast_to(areas_km2, shape), chunks=chunks))

    def _block(w: np.ndarray, is_water: np.ndarray, *values: np.ndarray) -> np.ndarray:
        land = ~is_water.astype(bool)
        out = np.zeros((len(values), 5))  # per layer: -1, 0, +1, land nodata, water
        for i, v in enumerate(values):
            for j, c in enumerate((-1, 0, 1)):
                out[i, j] = w[land & (v == c)].sum()
            out[i, 3] = w[land].sum() - out[i, :3].sum()
            out[i, 4] = w[~land].sum()
        return out[None, None]

    sums = da.map_blocks(_block, weights, wet, *stack, new_axis=[2, 3], dtype="float64",
                         chunks=(tuple(1 for _ in chunks[0]), tuple(1 for _ in chunks[1]), (len(names),), (5,)))
    (totals,) = dask.compute(sums.sum(axis=(0, 1)))
    rows = []
    for name, (deg, stable, imp, missing, wet_km2) in zip(names, totals):
        missing = max(missing, 0.0)  # land less its classes: below 0 only by float rounding (no "-0.0" in tables)
        valid = deg + stable + imp
        land = valid + missing
        total = land + wet_km2
        pct = [100 * x / valid if valid else float("nan") for x in (deg, stable, imp)]
        rows.append({"indicator": name, "degraded_km2": deg, "stable_km2": stable, "improved_km2": imp,
                     "degraded_pct": pct[0], "stable_pct": pct[1], "improved_pct": pct[2],
                     "valid_km2": valid, "nodata_km2": missing,
                     "nodata_pct_of_land": 100 * missing / land if land else float("nan"),
                     "land_km2": land, "water_km2": wet_km2, "total_km2": total})
    return pd.DataFrame(rows)
