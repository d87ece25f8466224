"""The area a refresh covers: North-East Asia by default, one country, a bbox or a polygon file.

``--region`` takes ``NE-ASIA`` (China, Mongolia, DPR Korea, Republic of Korea, Japan and the
Russian Far East, from ``catalogs/zones.yaml``), one of those ISO 3166-1 alpha-3 codes, a
``west,south,east,north`` box in degrees (``west > east`` crosses the antimeridian) or a
GeoPackage/GeoJSON of polygons. A region is always kept as its polygons, never as the min/max
longitude of its parts: Russia's Far East spans 180 degrees, and a box from -180 to 180 would be
the whole northern hemisphere.

The run's grid and its tiles come from the polygons (``region_grid``): the grid is the source's
pixel grid over the region and the tiles are the lattice cells that touch its land. Chukotka lies
on both sides of the antimeridian; on the MODIS sinusoidal grid the run grid then continues east
past 180 degrees (the projection with ``+over``), so the region is one seamless raster, while its
tiles stay where MODIS has them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import shapely
import shapely.affinity

from tasks.errors import ConfigError
from tasks.geo.boxes import lonlat_box_problem
from tasks.geo.grid import (
    Bounds,
    crosses_antimeridian,
    hemispheres,
    over_crs,
    parse_crs,
    project,
    snapped_geobox,
    unwrap,
)
from tasks.geo.tiles import MODIS_TILE_PX, Tile, lattice_tiles
from tasks.io.sources.zones import ZONES_FILE, default_zones, read_zones

__all__ = ["Region", "resolve_region", "region_grid", "RegionGrid", "ALL_NE_ASIA"]

ALL_NE_ASIA = "NE-ASIA"
"""The region code of the whole of North-East Asia (every country in ``catalogs/zones.yaml``)."""

@dataclass(frozen=True)
class Region:
    """A named area as lon/lat polygons within [-180, 180]."""

    name: str
    """Short id used in layer ids, e.g. ``ne-asia``, ``mng``."""
    label: str
    """What the area is, for logs and reports."""
    geometry: shapely.Geometry

    @property
    def crosses_antimeridian(self) -> bool:
        """True when the area has land on both sides of 180 degrees (Chukotka, or a box with west > east)."""
        return crosses_antimeridian(self.geometry)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """The lon/lat box around the area; west > east when it crosses the antimeridian."""
        if not self.crosses_antimeridian:
            return tuple(float(v) for v in self.geometry.bounds)  # type: ignore[return-value]
        east_side, west_side = hemispheres(self.geometry)
        s = min(east_side.bounds[1], west_side.bounds[1])
        n = max(east_side.bounds[3], west_side.bounds[3])
        return float(east_side.bounds[0]), float(s), float(west_side.bounds[2]), float(n)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "region"


def _bbox_region(spec: str) -> Region:
    try:
        west, south, east, north = (float(v) for v in spec.split(","))
    except ValueError:
        raise ConfigError(f"region {spec!r} is not a bbox: give west,south,east,north in degrees") from None
    if (problem := lonlat_box_problem(west, south, east, north)) is not None:
        raise ConfigError(f"region {problem}")
    if west < east:
        geom = shapely.box(west, south, east, north)
    else:  # across the antimeridian: two boxes
        geom = shapely.union(shapely.box(west, south, 180, north), shapely.box(-180, south, east, north))
    return Region(name="bbox", label=f"bbox {spec}", geometry=geom)


def _file_region(path: Path) -> Region:
    zones = read_zones(path)
    geom = shapely.union_all([z.geometry for z in zones])
    if geom.is_empty or geom.area == 0:
        raise ConfigError(f"region file {path} has no area: give polygons that cover land")
    return Region(name=_slug(path.stem), label=f"{path.name} ({len(zones)} polygons)", geometry=geom)


def resolve_region(spec: str) -> Region:
    """The area named by ``spec``: ``NE-ASIA``, an ISO code from ``catalogs/zones.yaml``, a bbox or a polygon file."""
    text = spec.strip()
    if re.fullmatch(r"\s*-?[\d.]+\s*(,\s*-?[\d.]+\s*){3}", text):
        return _bbox_region(text)
    path = Path(text)
    if path.suffix.lower() in (".gpkg", ".geojson", ".json", ".shp", ".fgb") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"region file {path} does not exist: pass a GeoPackage or GeoJSON of polygons")
        return _file_region(path)
    zones = default_zones()
    codes = {z.zone_id: z for z in zones}
    if text.upper() == ALL_NE_ASIA:
        return Region(name="ne-asia", label="North-East Asia (" + ", ".join(z.name for z in zones) + ")",
                      geometry=shapely.union_all([z.geometry for z in zones]))
    if text.upper() in codes:
        zone = codes[text.upper()]
        return Region(name=text.lower(), label=zone.name, geometry=zone.geometry)
    raise ConfigError(
        f"unknown region {spec!r}: give {ALL_NE_ASIA}, a country code of {ZONES_FILE.name} ({', '.join(codes)}), "
        "a bbox west,south,east,north or a GeoPackage/GeoJSON of polygons")


@dataclass(frozen=True)
class RegionGrid:
    """A region on a source's grid: the run grid's bounds, the tiles to compute, the lon/lat search box."""

    native_bounds: Bounds
    tiles: tuple[Tile, ...]
    bbox: tuple[float, float, float, float]


def _snap(bounds: Bounds, crs: str, resolution: float, origin: tuple[float, float]) -> Bounds:
    return tuple(float(v) for v in snapped_geobox(bounds, crs, resolution, origin).boundingbox)  # type: ignore[return-value]


def region_grid(region: Region, *, crs: str, resolution: float, origin: tuple[float, float],
                tile_size: int = MODIS_TILE_PX, within: Bounds | None = None) -> RegionGrid:
    """The grid, tiles and search box of ``region`` on a source grid (``within``: keep to these native bounds).

    An area with no tile left (it misses ``within``, or lies outside the source's projection) is a
    ``ConfigError`` naming the region, so a typo never becomes an empty run.
    """
    native = parse_crs(crs)
    sides = list(hemispheres(region.geometry)) if region.crosses_antimeridian else [region.geometry]
    tiles: list[Tile] = []
    for side in sides:
        footprint = project(side, native)
        bounds = footprint.bounds
        if within is not None:
            bounds = (max(bounds[0], within[0]), max(bounds[1], within[1]), min(bounds[2], within[2]),
                      min(bounds[3], within[3]))
            if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
                continue
        tiles += lattice_tiles(_snap(bounds, crs, resolution, origin), resolution=resolution, origin=origin,
                               size_px=tile_size, footprint=footprint)
    if not tiles:
        where = "the run's area" if within is not None else "the source grid"
        raise ConfigError(f"region {region.label} has no land in {where}: choose a region that overlaps it")
    if region.crosses_antimeridian:
        whole = project(unwrap(region.geometry), over_crs(native)).bounds
    else:
        whole = project(region.geometry, native).bounds
    if within is not None:
        whole = (max(whole[0], within[0]), max(whole[1], within[1]), min(whole[2], within[2]), min(whole[3], within[3]))
    return RegionGrid(native_bounds=_snap(whole, crs, resolution, origin), tiles=tuple(tiles), bbox=region.bbox)
