"""Reporting zones: the countries of North-East Asia by default, or any polygon file of admin units.

Default zones are Natural Earth's 1:110m admin-0 countries (public domain), read from the copy that
ships inside the pyogrio wheel, so they need no download. Russia is clipped to an approximation of
the Far Eastern Federal District (a coarse polygon in ``catalogs/zones.yaml``; pass your own admin-1
file for exact boundaries). Chukotka's part west of the antimeridian is kept: Natural Earth already
splits it at 180 degrees, and we keep both parts as one multipolygon instead of dropping one.

A zone's share of a pixel is its exact fractional coverage (exactextract), so a pixel cut by a
border is split between the countries in proportion to the area each covers; the zonal tables add
those fractions of true pixel areas.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import shapely
from affine import Affine
from odc.geo.geobox import GeoBox
from pydantic import BaseModel, Field
from pyproj import CRS

from tasks.config import load_model
from tasks.constants import CATALOGS_DIR
from tasks.errors import ConfigError, NoZoneOverlap
from tasks.geo.grid import lonlat_bounds, over_crs, polygonal, project, split_bbox, transformer, unwrap
from tasks.geo.mosaic import wraps

__all__ = ["Zone", "ZoneCatalog", "default_zones", "geometry_from_wkb", "read_zones", "natural_earth_path", "zones_on_grid",
           "block_coverage", "border_outlines", "check_zones_cover", "ZONES_FILE"]

ZONES_FILE: Path = CATALOGS_DIR / "zones.yaml"
"""Which Natural Earth countries make up North-East Asia, and how Russia is clipped."""


class ZoneCatalog(BaseModel):
    """The default zones: Natural Earth ISO codes with display names, and clip polygons per code."""

    model_config = {"extra": "forbid"}
    source: str = Field(description="where the polygons come from (for the tables' metadata)")
    countries: dict[str, str] = Field(min_length=1, description="ISO 3166-1 alpha-3 code -> zone name")
    clip: dict[str, list[list[tuple[float, float]]]] = Field(
        default_factory=dict, description="ISO code -> lon/lat rings whose union the country is clipped to")
    clip_note: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class Zone:
    """One reporting zone: an id, a name and its lon/lat (EPSG:4326) polygon."""

    zone_id: str
    name: str
    geometry: shapely.Geometry


def natural_earth_path() -> Path:
    """The Natural Earth 1:110m admin-0 shapefile bundled with pyogrio."""
    import pyogrio

    path = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"
    if not path.is_file():
        raise ConfigError(f"Natural Earth countries not found at {path} (pyogrio changed its wheel): "
                          "pass a zone file with --zones")
    return path


@lru_cache(maxsize=1)
def default_zones() -> tuple[Zone, ...]:
    """The countries of North-East Asia (Russia as its Far East), in ``catalogs/zones.yaml`` order."""
    spec = load_model(ZoneCatalog, ZONES_FILE, "zone catalog")
    from pyogrio.raw import read as read_vector

    meta, _, wkb, fields = read_vector(natural_earth_path())
    names = list(meta["fields"])
    codes = fields[names.index("iso_a3")]
    geoms = shapely.from_wkb(wkb)
    zones = []
    for code, name in spec.countries.items():
        parts = [g for c, g in zip(codes, geoms) if c == code]
        if not parts:
            raise ConfigError(f"{ZONES_FILE}: Natural Earth has no country {code!r}: fix the code")
        geom = shapely.union_all(parts)
        if code in spec.clip:
            geom = shapely.intersection(geom, shapely.union_all([shapely.Polygon(r) for r in spec.clip[code]]))
        zones.append(Zone(zone_id=code, name=name, geometry=shapely.make_valid(geom)))
    return tuple(zones)


def geometry_from_wkb(raw: bytes | None, what: str) -> shapely.Geometry | None:
    """A feature's geometry from the WKB a vector file gave (None for none); WKB that GEOS refuses (a ring that
    does not close, too few points) is a one-line ``ConfigError`` naming ``what`` and the fix."""
    if raw is None:
        return None
    try:
        return shapely.from_wkb(raw)
    except shapely.errors.GEOSException as err:
        raise ConfigError(f"{what} is not a valid geometry ({err}): repair it (QGIS 'Fix geometries' or "
                          "ogr2ogr -makevalid)") from None


def read_zones(path: str | Path, *, name_field: str | None = None) -> tuple[Zone, ...]:
    """Read a user's zones (GeoPackage, GeoJSON, shapefile; any CRS) as lon/lat polygons.

    The zone name comes from ``name_field``, else a field called ``name`` (any case), else the first
    text field, else the feature number. A missing CRS, a non-polygon or an invalid geometry is an
    error that names the feature and the fix; nothing is repaired silently.
    """
    from pyogrio.raw import read as read_vector

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"zone file {path} does not exist: pass a GeoPackage or GeoJSON of polygons")
    try:
        meta, fids, wkb, fields = read_vector(path)
    except Exception as err:  # pyogrio and GDAL raise several types
        raise ConfigError(f"cannot read zone file {path} ({type(err).__name__}): give a GeoPackage or GeoJSON") from None
    if wkb is None or len(wkb) == 0:
        raise ConfigError(f"zone file {path} has no features: add at least one polygon")
    if not meta.get("crs"):
        raise ConfigError(f"zone file {path} has no CRS: set one (e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg {path.name})")
    try:
        crs = CRS.from_user_input(meta["crs"])
    except Exception:
        raise ConfigError(f"zone file {path} has an unknown CRS {meta['crs']!r}: reproject it to EPSG:4326") from None
    if crs.name.lower().startswith("undefined"):  # GDAL's "Undefined geographic/Cartesian SRS" (GeoPackage srs_id 0, -1)
        raise ConfigError(f"zone file {path} has the placeholder CRS {crs.name!r} (its coordinates could be in any "
                          f"CRS): set the real one, e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg {path.name}")
    names = list(meta["fields"])
    dtypes = list(meta["dtypes"])
    if name_field is not None and name_field not in names:
        raise ConfigError(f"zone file {path} has no field {name_field!r}; its fields are {names}")
    if name_field is None:
        lower = [n.lower() for n in names]
        if "name" in lower:
            name_field = names[lower.index("name")]
        else:
            name_field = next((n for n, t in zip(names, dtypes) if t == "object"), None)
    labels = fields[names.index(name_field)] if name_field else None
    to_lonlat = transformer(crs, "EPSG:4326")
    zones = []
    for i, raw in enumerate(wkb):
        label = str(labels[i]) if labels is not None and labels[i] is not None else f"zone {i + 1}"
        geom = geometry_from_wkb(raw, f"zone {label!r} (feature {i + 1}) in {path}")
        if geom is None or geom.is_empty:
            raise ConfigError(f"zone {label!r} (feature {i + 1}) in {path} has no geometry: delete it or draw it")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ConfigError(f"zone {label!r} in {path} is a {geom.geom_type}, not a polygon: zones must be areas")
        if not geom.is_valid:
            raise ConfigError(f"zone {label!r} in {path} has an invalid geometry ({shapely.is_valid_reason(geom)}): "
                              "repair it (QGIS 'Fix geometries' or ogr2ogr -makevalid)")
        if not crs.is_geographic or crs.to_epsg() != 4326:
            geom = shapely.transform(shapely.segmentize(geom, _segment(crs)), lambda xy: np.column_stack(
                to_lonlat.transform(xy[:, 0], xy[:, 1])))
        fid = str(fids[i]) if fids is not None else str(i + 1)
        zones.append(Zone(zone_id=fid, name=label, geometry=geom))
    return tuple(zones)


def _segment(crs: CRS) -> float:
    """A vertex spacing that keeps reprojected edges within a pixel: 0.01 degrees or 1 km."""
    return 0.01 if crs.is_geographic else 1000.0


def zones_on_grid(zones: tuple[Zone, ...], crs: str, transform: Affine, shape: tuple[int, int], *,
                  within: shapely.Geometry | None = None) -> list[tuple[Zone, shapely.Geometry]]:
    """The zones that overlap a grid, each with its geometry in the grid's CRS (and cut to ``within``, the run's
    region in that CRS, so a country beside the region gets no table of pixels the run never computed).

    Raises when none overlaps, listing the grid's lon/lat bounds, because a table of zeros would
    look like a result.
    """
    target = CRS.from_user_input(crs)
    h, w = shape
    x0, y0 = transform * (0, 0)
    x1, y1 = transform * (w, h)
    grid = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if within is not None:
        grid = shapely.intersection(grid, within)

    across = wraps(GeoBox((h, w), transform, target))  # a grid that continues east past 180 degrees
    grid_plane = over_crs(target) if across else target
    out = []
    for zone in zones:
        projected = project(unwrap(zone.geometry) if across else zone.geometry, grid_plane)
        if projected.intersects(grid):
            part = polygonal(shapely.intersection(projected, grid))
            if within is None or part.area > 0:
                out.append((zone, part))
    if not out:
        w_, s_, e_, n_ = lonlat_bounds((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), target.to_wkt())
        raise NoZoneOverlap(f"no zone overlaps the layers (lon {w_:.2f}..{e_:.2f}, lat {s_:.2f}..{n_:.2f}): "
                          "pass zones that cover the published area (--zones)")
    return out


def check_zones_cover(zones: tuple[Zone, ...], lonlat_bbox: tuple[float, float, float, float]) -> None:
    """Fail before any computing when no zone touches the run's area (lon/lat west, south, east, north)."""
    area = shapely.union_all([shapely.box(*box) for box in split_bbox(lonlat_bbox)])
    if not any(z.geometry.intersects(area) for z in zones):
        w, s, e, n = lonlat_bbox
        raise NoZoneOverlap(f"no zone overlaps the area (lon {w:.2f}..{e:.2f}, lat {s:.2f}..{n:.2f}): "
                          "pass zones that cover it (--zones)")


def border_outlines(crs: str, transform: Affine, shape: tuple[int, int]) -> list[tuple[str, shapely.Geometry]]:
    """The default zones' names and borders inside a grid (in its CRS), for drawing on maps; none outside it."""
    try:
        return [(z.name, g) for z, g in zones_on_grid(default_zones(), crs, transform, shape)]
    except ConfigError:
        return []


def block_coverage(zones: list[tuple[Zone, shapely.Geometry]], crs: str, transform: Affine,
                   window: tuple[int, int, int, int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Exact coverage of one block (row_off, col_off, height, width) by each zone.

    Yields (zone index, flat cell index within the block, covered fraction in (0, 1]) for every
    zone that touches the block.
    """
    import exactextract
    from exactextract.feature import JSONFeatureSource
    from exactextract.raster import NumPyRasterSource

    row, col, h, w = window
    xs = [transform * (col, row), transform * (col + w, row + h)]
    xmin, xmax = sorted(p[0] for p in xs)
    ymin, ymax = sorted(p[1] for p in xs)
    block = shapely.box(xmin, ymin, xmax, ymax)
    features = [{"type": "Feature", "properties": {"zone": i}, "geometry": shapely.geometry.mapping(g)}
                for i, (_, g) in enumerate(zones) if g.intersects(block)]
    if not features:
        return
    raster = NumPyRasterSource(np.zeros((h, w), dtype="uint8"), xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax,
                               srs_wkt=CRS.from_user_input(crs).to_wkt())
    results = exactextract.exact_extract(raster, JSONFeatureSource(features, srs_wkt=CRS.from_user_input(crs).to_wkt()),
                                         ["cell_id", "coverage"], include_cols=["zone"], output="geojson")
    for feature in results:
        props = feature["properties"]
        cells = np.asarray(props["cell_id"], dtype="int64")
        if cells.size:
            yield int(props["zone"]), cells, np.asarray(props["coverage"], dtype="float64")
