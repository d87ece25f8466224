"""Analysis grids: areas of interest in lon/lat and in a source's native CRS, snapped to its pixel grid.

Computing on the source's native grid (for MODIS the equal-area sinusoidal grid) keeps pixel areas
exact and avoids resampling the 16-day scenes. A rectangle in one CRS is a curved shape in the
other, so conversions densify the edges before taking bounds. The run's grid (``tasks.io.sources.run.analysis_geobox``) and the
antimeridian helpers (boxes with west > east, the sinusoidal grid continued east past 180 degrees) live here too,
below every module that reads or writes pixels.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import shapely
import shapely.affinity
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from rasterio.crs import CRS as RioCRS

from tasks.errors import ConfigError

__all__ = ["Bounds", "crosses_antimeridian", "split_bbox", "bboxes_intersect", "over_crs", "project", "valid_polygons", "polygonal", "hemispheres", "unwrap", "grid_crs", "epsg_code", "parse_crs", "transformer", "lonlat_bounds", "native_bounds", "snapped_geobox", "lonlat_footprint"]

Bounds = tuple[float, float, float, float]
"""(left, bottom, right, top) in some CRS's units."""

_DENSIFY = 65
"""Points per edge when transforming a rectangle between CRSs."""



@functools.lru_cache(maxsize=64)
def transformer(source: str | CRS, target: str | CRS) -> Transformer:
    """The (x, y)-ordered transformer from ``source`` to ``target``, built once per pair and process.

    Building one makes PROJ search its database for the operation (about 15 ms); maps, footprints and
    zone tables ask for the same few pairs many times per run. pyproj's transformers are thread-safe
    (3.1+), so one cached object serves every thread.
    """
    return Transformer.from_crs(source, target, always_xy=True)


def grid_crs(geobox: GeoBox) -> str:
    """The WKT of a grid's CRS: every grid the pipeline builds has one (a grid without is a bug, said plainly)."""
    if geobox.crs is None:
        raise ConfigError("a grid has no CRS: every analysis grid is built with its source's CRS (report this)")
    return geobox.crs.to_wkt()


@functools.lru_cache(maxsize=64)
def epsg_code(wkt: str) -> int | None:
    """The EPSG code of a CRS given as WKT (as rasterio identifies it), or None (MODIS sinusoidal has none).

    Kept per WKT: identifying a CRS without a code searches the whole EPSG database (about 60 ms), which every
    published item and layer would otherwise repeat for the same grid."""
    return RioCRS.from_wkt(wkt).to_epsg()


def parse_crs(crs: str) -> CRS:
    """A pyproj CRS from WKT or an authority code; an unreadable one is a ``ConfigError``."""
    try:
        return CRS.from_user_input(crs)
    except CRSError:
        raise ConfigError(
            f"CRS {crs[:60]!r} is not a valid WKT or authority code: give WKT2 or e.g. 'EPSG:4326'"
        ) from None


def _edges(bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    left, bottom, right, top = bounds
    t = np.linspace(0.0, 1.0, _DENSIFY)
    xs = np.concatenate([left + t * (right - left), np.full_like(t, right), right - t * (right - left), np.full_like(t, left)])
    ys = np.concatenate([np.full_like(t, top), top - t * (top - bottom), np.full_like(t, bottom), bottom + t * (top - bottom)])
    return xs, ys


def lonlat_footprint(bounds: Bounds, crs: str) -> list[tuple[float, float]]:
    """The outline of a rectangle given in ``crs`` as a closed lon/lat ring (edges densified): on the MODIS
    sinusoidal grid a curved quadrilateral, much smaller than its lon/lat bounding box at high latitudes."""
    to_ll = transformer(parse_crs(crs), "EPSG:4326")
    lon, lat = to_ll.transform(*_edges(bounds))
    ring = [(round(float(x), 7), round(float(y), 7)) for x, y in zip(lon, lat)]
    ring = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]  # the corners repeat between edges
    return ring if ring[0] == ring[-1] else [*ring, ring[0]]


def lonlat_bounds(bounds: Bounds, crs: str) -> Bounds:
    """The lon/lat bounding box of a rectangle given in ``crs`` (edges densified)."""
    to_ll = transformer(parse_crs(crs), "EPSG:4326")
    lon, lat = to_ll.transform(*_edges(bounds))
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))


def native_bounds(bbox: Bounds, crs: str) -> Bounds:
    """The bounds in ``crs`` of a lon/lat box (edges densified); a box the CRS cannot take is a ``ConfigError``.

    A box with west > east crosses the antimeridian; its bounds continue east past 180 degrees.
    """
    target = parse_crs(crs)
    west, south, east, north = bbox
    if west > east:  # across the antimeridian: continue east past 180 degrees (sinusoidal only)
        target, bbox = over_crs(target), (west, south, east + 360.0, north)
    fwd = transformer("EPSG:4326", target)
    xs, ys = fwd.transform(*_edges(bbox))
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ConfigError(f"bbox {list(bbox)} cannot be projected to the source CRS: use a smaller area")
    return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))


def snapped_geobox(bounds: Bounds, crs: str, resolution: float, origin: tuple[float, float] = (0.0, 0.0)) -> GeoBox:
    """The pixel grid of ``resolution`` aligned to ``origin`` that covers ``bounds`` (snapped outwards).

    Examples
    --------
    >>> gb = snapped_geobox((10.0, 0.0, 35.0, 20.0), "EPSG:3857", 10.0)
    >>> tuple(gb.shape), gb.affine.c, gb.affine.f
    ((2, 3), 10.0, 20.0)
    """
    left, bottom, right, top = bounds
    if not (right > left and top > bottom):
        raise ConfigError(f"bounds {list(bounds)} are empty: give (left, bottom, right, top) with left < right, bottom < top")
    x0, y0 = origin
    eps = 1e-6
    col0 = math.floor((left - x0) / resolution + eps)
    col1 = math.ceil((right - x0) / resolution - eps)
    row0 = math.floor((y0 - top) / resolution + eps)
    row1 = math.ceil((y0 - bottom) / resolution - eps)
    affine = Affine(resolution, 0.0, x0 + col0 * resolution, 0.0, -resolution, y0 - row0 * resolution)
    return GeoBox((row1 - row0, col1 - col0), affine, parse_crs(crs))


# The antimeridian. North-East Asia's Chukotka lies on both sides of 180 degrees; a box with west > east
# crosses it, and on the MODIS sinusoidal grid a run continues east past 180 degrees (PROJ's +over).

_SEGMENT_DEG = 0.05
"""Vertex spacing (degrees) when projecting region polygons, so edges stay within a pixel or so."""

_EDGE = 179.999
"""A longitude this close to +-180 counts as touching the antimeridian."""


def crosses_antimeridian(geometry: shapely.Geometry) -> bool:
    """True when ``geometry`` (lon/lat) touches both +180 and -180."""
    west, _, east, _ = geometry.bounds
    return west <= -_EDGE and east >= _EDGE


def split_bbox(bbox: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """A lon/lat box as one or two boxes that do not cross the antimeridian (STAC searches need these)."""
    west, south, east, north = bbox
    if west <= east:
        return [bbox]
    return [(west, south, 180.0, north), (-180.0, south, east, north)]


def _box(values: tuple[float, ...] | list[float]) -> tuple[float, float, float, float]:
    west, south, east, north = values
    return west, south, east, north


def bboxes_intersect(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> bool:
    """Whether two lon/lat boxes (west, south, east, north) touch; either may cross the antimeridian (west > east)."""
    return any(p[0] <= q[2] and q[0] <= p[2] and p[1] <= q[3] and q[1] <= p[3]
               for p in split_bbox(_box(a)) for q in split_bbox(_box(b)))


def over_crs(crs: str | CRS) -> CRS:
    """``crs`` with PROJ's ``+over``: longitudes past 180 continue east instead of wrapping.

    Only the sinusoidal projection is supported: its rows are straight and equal-area on both sides,
    so a row east of 180 degrees is the same row of the western tiles, shifted by the equator's length
    times cos(latitude).
    """
    c = crs if isinstance(crs, CRS) else parse_crs(crs)
    method = (c.coordinate_operation.method_name if c.coordinate_operation else "").lower()
    if method != "sinusoidal":
        raise ConfigError(f"areas across the antimeridian need the MODIS sinusoidal grid, not {method or c.name}: "
                          "split the area at 180 degrees into two runs")
    with warnings.catch_warnings():  # to_proj4 warns that PROJ strings are lossy; for sinusoidal they are not
        warnings.simplefilter("ignore", UserWarning)
        return CRS.from_proj4(c.to_proj4() + " +over")


def project(geometry: shapely.Geometry, crs: CRS) -> shapely.Geometry:
    """Lon/lat polygons in ``crs``, their edges densified first so they stay within about a pixel of the true line,
    and valid there (``valid_polygons``), so unions, intersections and predicates on them never fail."""
    to_native = transformer("EPSG:4326", crs)
    dense = shapely.segmentize(geometry, _SEGMENT_DEG)
    return valid_polygons(shapely.transform(dense, lambda xy: np.column_stack(to_native.transform(xy[:, 0], xy[:, 1]))))


def valid_polygons(geometry: shapely.Geometry) -> shapely.Geometry:
    """``geometry`` itself when valid, else its polygons repaired: rings kept as areas (shells unioned, holes cut),
    parts that collapse to lines or points dropped.

    A polygon valid in lon/lat need not be valid after projection: two edges a hair apart (North-East Asia's union
    where the Russian Far East's 98 degree meridian meets Mongolia's border) are densified differently and cross on
    the plane, and GEOS then refuses to union or cut it ("side location conflict"). The repair moves nothing by
    more than that hair; a valid geometry is returned unchanged, so valid regions keep their exact coordinates.
    """
    if shapely.is_valid(geometry):
        return geometry
    return polygonal(shapely.make_valid(geometry, method="structure", keep_collapsed=False))


def polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geometry``: itself when it is a (multi)polygon, else the polygonal parts of a collection.

    Cutting polygons (by a grid's box, by another region) returns a collection with lines and points wherever
    they only touch the cut; exactextract and rasterisers take polygons alone ("Mixed-type geometries").
    """
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    polygons = [p for p in shapely.get_parts(shapely.get_parts(geometry)) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(polygons) if len(polygons) > 1 else polygons[0] if polygons else shapely.Polygon()


def hemispheres(geometry: shapely.Geometry) -> tuple[shapely.Geometry, shapely.Geometry]:
    """A lon/lat area's parts east of Greenwich (0..180) and west of it (-180..0): an area across 180 degrees in
    the two pieces a map without ``+over`` has at its two edges."""
    return (shapely.intersection(geometry, shapely.box(0, -90, 180, 90)),
            shapely.intersection(geometry, shapely.box(-180, -90, 0, 90)))


def unwrap(geometry: shapely.Geometry) -> shapely.Geometry:
    """The western-hemisphere parts moved 360 degrees east, so an area across 180 is contiguous."""
    eastern, western = hemispheres(geometry)
    return shapely.union(eastern, shapely.affinity.translate(western, xoff=360.0))
