"""A coarse North-East Asia on the real MODIS tile lattice: the inputs of the full-extent rehearsal.

The 60 km sample cannot show what only the real extent shows: the region's polygons on 36 tiles, Chukotka on
both sides of 180 degrees, six countries' zone tables, the joins and maps of a continent. ``generate_rehearsal``
writes, deterministically (same bytes on every machine), MOD13Q1-shaped composites for every MODIS tile of a
region at every ``step``-th pixel (step 16: 300 x 300 px tiles of 3.7 km pixels, the tile lattice and the tile
names unchanged, the off-map corners of rim tiles filled as MODIS fills them), ESA-CCI-shaped annual land cover
and SOC and climate-zone rasters in lon/lat spanning every longitude, the sources file that describes them, and
the planted truth (a decline, a greening, an abrupt loss on the 180th meridian and a stable control).

Every field is a function of longitude (continued east past 180 degrees) and latitude, so tiles on both edges
of the sinusoidal plane hold the same landscape and the join across 180 degrees has nothing to hide a seam in.
``ldn sample-data --region NE-ASIA`` writes it; ``ldn run --sample-dir`` on that folder runs it through the
real flow with the real region and country zones.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from affine import Affine

from tasks.config import SAMPLE_SOURCES
from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, PixelReliability
from tasks.errors import ConfigError
from tasks.geo.tiles import MODIS_TILE_PX, Tile, tile_lonlat_bbox
from tasks.io.samples.sample_climate import PlantedDrought, PrecipitationModel, monthly_totals
from tasks.io.samples.sample_data import (
    COG_MEDIA_TYPE,
    POPULATION_COLLECTION,
    PRECIPITATION_COLLECTION,
    VULNERABILITY_COLLECTION,
    box_polygon,
    collection_doc,
    composite_doys,
    file_fields,
    iso_time,
    staged_folder,
    write_cog,
    write_collection,
)
from tasks.io.sources.region import region_grid, resolve_region

__all__ = ["KM_PER_DEG", "RehearsalPatch", "REHEARSAL_PATCHES", "generate_rehearsal", "rehearsal_is_complete", "REHEARSAL_VERSION"]

REHEARSAL_VERSION = 3
"""Bump when the generator's output changes, so a folder made by older code is generated again."""

R = 6371007.181
"""The MODIS sinusoidal sphere's radius (m)."""
KM_PER_DEG = 2 * math.pi * R / 360 / 1000
"""Kilometres per degree of latitude on that sphere (and of longitude at the equator)."""
SEED = 20261205
LONLAT_RES = 0.05
"""Pixel of the lon/lat land cover and SOC rasters (degrees): about the coarse MODIS pixel, as 300 m is to 250 m."""
CLIMATE_RES = 0.5


class RehearsalPatch:
    """A planted disc: where (lon continued east past 180, lat, radius km), what happens, and its land cover change."""

    def __init__(self, name: str, kind: str, lon: float, lat: float, radius_km: float, *, rate: float = 0.0,
                 year: int | None = None, factor: float = 1.0, land_cover: tuple[int, int, int] | None = None):
        self.name, self.kind, self.lon, self.lat, self.radius_km = name, kind, lon, lat, radius_km
        self.rate, self.year, self.factor, self.land_cover = rate, year, factor, land_cover

    def mask(self, lon_e: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True inside the disc (``lon_e``: longitude continued east past 180 degrees)."""
        dx = (lon_e - self.lon) * KM_PER_DEG * np.cos(np.radians(lat))
        dy = (lat - self.lat) * KM_PER_DEG
        return dx * dx + dy * dy <= self.radius_km ** 2

    def doc(self) -> dict[str, Any]:
        """The patch as the truth file records it."""
        lc = None if self.land_cover is None else dict(zip(("year", "from", "to"), self.land_cover))
        return {"name": self.name, "kind": self.kind, "lon": self.lon, "lat": self.lat, "radius_km": self.radius_km,
                "rate_per_year": self.rate, "year": self.year, "factor": self.factor, "land_cover": lc}


REHEARSAL_PATCHES: tuple[RehearsalPatch, ...] = (
    # the Gobi's edge around Zamyn-Uud: peak NDVI falls 3 % a year; grassland -> bare (desertification) in 2016
    RehearsalPatch("gobi-decline", "decline", 111.9, 43.7, 300, rate=-0.03, land_cover=(2016, 130, 200)),
    # the Loess Plateau: greening 4 % a year; cropland -> broadleaved trees (Grain for Green) in 2010
    RehearsalPatch("loess-greening", "greening", 109.0, 37.0, 300, rate=0.04, land_cover=(2010, 10, 61)),
    # Chukotka, straddling the 180th meridian: peak NDVI drops to 30 % from 2012; grassland -> urban/mining
    RehearsalPatch("chukotka-loss", "abrupt_loss", 180.0, 66.0, 160, year=2012, factor=0.3, land_cover=(2012, 130, 190)),
    # Manchuria: no inter-annual signal at all
    RehearsalPatch("manchuria-stable", "stable", 127.0, 47.0, 200),
)


def _peak(lon_e: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Growing-season peak NDVI of the landscape: dry in the west and in the Gobi, wetter towards the Pacific, a
    boreal band in Siberia; smooth in longitude (continued past 180) and latitude."""
    moist = np.clip((lon_e - 98.0) / 32.0, 0.0, 1.0)
    temperate = np.exp(-(((lat - 44.0) / 13.0) ** 2))
    boreal = np.exp(-(((lat - 60.0) / 9.0) ** 2))
    texture = 0.04 * np.sin(np.radians(lon_e) * 23.0) * np.cos(np.radians(lat) * 17.0)
    return np.clip(0.12 + 0.50 * moist * temperate + 0.28 * boreal + texture, 0.06, 0.85)


def _year_effects(years: tuple[int, int]) -> dict[int, float]:
    rng = np.random.default_rng([SEED, 0])
    span = range(years[0], years[1] + 1)
    return dict(zip(span, rng.normal(0.0, 0.03, len(span)).tolist()))


def _peak_for_year(lon_e: np.ndarray, lat: np.ndarray, year: int, first: int, effect: float) -> np.ndarray:
    base = _peak(lon_e, lat)
    peak = base * (1.0 + effect)
    for patch in REHEARSAL_PATCHES:
        inside = patch.mask(lon_e, lat)
        if patch.kind == "stable":
            peak = np.where(inside, base, peak)
        elif patch.kind == "abrupt_loss":
            peak = np.where(inside & (year >= (patch.year or first)), peak * patch.factor, peak)
        else:
            peak = np.where(inside, peak * max(0.1, 1.0 + patch.rate * (year - first)), peak)
    return peak


def _land_cover(lon_e: np.ndarray, lat: np.ndarray, year: int) -> np.ndarray:
    """ESA CCI LCCS codes: bare, sparse, grassland, cropland and forest from the peak NDVI, a lake, the patches."""
    peak = _peak(lon_e, lat)
    lc = np.select([peak < 0.18, peak < 0.26, peak < 0.42, peak < 0.55], [200, 150, 130, 10], 60).astype("uint8")
    lake = ((lon_e - 108.2) * KM_PER_DEG * np.cos(np.radians(lat))) ** 2 + ((lat - 53.5) * KM_PER_DEG) ** 2 <= 90 ** 2
    lc[lake] = 210  # a round Baikal
    for patch in REHEARSAL_PATCHES:
        inside = patch.mask(lon_e, lat)
        if patch.land_cover is not None:
            change_year, before, after = patch.land_cover
            lc[inside] = after if year >= change_year else before
        elif patch.kind == "stable":
            lc[inside] = 130
    return lc


def _tile_cell(name: str, edge: float) -> tuple[int, int, tuple[float, float, float, float]]:
    """Column, row and the whole lattice cell's bounds of a tile named ``hHHvVV``."""
    h, v = int(name[1:3]), int(name[4:6])
    x0, y0 = MODIS_GRID_ORIGIN
    return h, v, (x0 + h * edge, y0 - (v + 1) * edge, x0 + (h + 1) * edge, y0 - v * edge)


def _composite(x: np.ndarray, y: np.ndarray, year: int, doy: int, first: int, effect: float,
               seed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw int16 NDVI and int8 pixel reliability of one composite over sinusoidal pixel centres (x, y)."""
    lat = np.degrees(y / R)
    coslat = np.cos(y / R)
    on_map = np.abs(x) <= math.pi * R * coslat
    lon = np.degrees(x / (R * np.maximum(coslat, 1e-12)))
    lon_e = np.where(lon < 0, lon + 360.0, lon)
    rng = np.random.default_rng(seed)
    season = math.exp(-0.5 * ((doy + 8 - 205) / 50.0) ** 2)
    peak = _peak_for_year(lon_e, lat, year, first, effect)
    ndvi = 0.07 + np.clip(peak - 0.07, 0, None) * season + rng.normal(0.0, 0.01, x.shape)
    qa = np.zeros(x.shape, dtype="int8")
    cloud = rng.random(x.shape) < 0.03
    qa[cloud] = PixelReliability.CLOUDY
    ndvi = np.where(cloud, ndvi * 0.4, ndvi)
    raw = np.clip(np.round(ndvi * 10000), -2000, 10000).astype("int16")
    raw[~on_map] = -3000  # MODIS fills the corners of a rim tile that are off the map
    qa[~on_map] = PixelReliability.FILL
    return raw, qa


def _modis(root: Path, tiles: list[Tile], step: int, years: tuple[int, int], composites: int,
           progress: Callable[[str], None]) -> dict[str, Any]:
    res = MODIS_PIXEL_SIZE * step
    size = MODIS_TILE_PX // step
    edge = res * size
    doys = sorted(sorted(composite_doys(years[0]), key=lambda d: abs(d + 8 - 205))[:composites])
    effects = _year_effects(years)
    cdir = root / "modis-13Q1-061"
    items: list[dict[str, Any]] = []
    bands = {"250m_16_days_NDVI": [{"data_type": "int16", "spatial_resolution": round(res), "unit": "NDVI", "scale": 0.0001}],
             "250m_16_days_pixel_reliability": [{"data_type": "int8", "spatial_resolution": round(res), "unit": "Rank"}]}
    for k, tile in enumerate(tiles):
        h, v, cell = _tile_cell(tile.name, edge)
        transform = Affine(res, 0.0, cell[0], 0.0, -res, cell[3])
        centres = np.arange(size) + 0.5
        x, y = np.meshgrid(cell[0] + centres * res, cell[3] - centres * res)
        bbox = tile_lonlat_bbox(Tile(name=tile.name, bounds=cell), MODIS_SINUSOIDAL_WKT)
        west, south, east, north = bbox
        geometry = (box_polygon(bbox) if west <= east else
                    {"type": "MultiPolygon", "coordinates": [box_polygon((west, south, 180.0, north))["coordinates"],
                                                             box_polygon((-180.0, south, east, north))["coordinates"]]})
        for year in range(years[0], years[1] + 1):
            for doy in doys:
                item_id = f"MOD13Q1.A{year}{doy:03d}.h{h:02d}v{v:02d}.061"
                raw, qa = _composite(x, y, year, doy, years[0], effects[year], [SEED, h, v, year, doy])
                assets = {}
                for key, data, nodata, title in (("250m_16_days_NDVI", raw, -3000, "16 day NDVI"),
                                                 ("250m_16_days_pixel_reliability", qa, -1, "Quality reliability of VI pixel")):
                    rel = f"data/{item_id}/{item_id}_{key}.tif"
                    write_cog(cdir / rel, data, crs=MODIS_SINUSOIDAL_WKT, transform=transform, nodata=nodata)
                    assets[key] = {"href": rel, "type": COG_MEDIA_TYPE, "title": title, "raster:bands": bands[key],
                                   "roles": ["data"], **file_fields(cdir / rel)}
                start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=doy - 1)
                items.append({
                    "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "modis-13Q1-061",
                    "properties": {
                        "start_datetime": iso_time(start), "end_datetime": iso_time(start + timedelta(days=15, hours=23, minutes=59, seconds=59)),
                        "datetime": None, "platform": "terra", "instruments": ["modis"],
                        "created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z",
                        "modis:horizontal-tile": h, "modis:vertical-tile": v,
                        "proj:epsg": None, "proj:wkt2": MODIS_SINUSOIDAL_WKT, "proj:shape": [size, size],
                        "proj:transform": list(transform)[:6],
                    },
                    "geometry": geometry, "bbox": list(bbox), "links": [], "assets": assets,
                    "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                                        "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                        "https://stac-extensions.github.io/file/v2.1.0/schema.json"],
                })
        progress(f"MOD13Q1 tile {tile.name} ({k + 1}/{len(tiles)}): {(years[1] - years[0] + 1) * len(doys)} composites")
    boxes = np.array([it["bbox"] for it in items])
    extent = (float(boxes[:, 0].max()), float(boxes[:, 1].min()), float(boxes[:, 2].min()), float(boxes[:, 3].max()))
    write_collection(cdir, collection_doc(
        "modis-13Q1-061", f"Coarse MOD13Q1-shaped composites (every {step}th pixel) on the MODIS tiles of the rehearsal region.",
        extent, (items[0]["properties"]["start_datetime"], items[-1]["properties"]["end_datetime"]), [], {}), items)
    return {"resolution": res, "tile_size": size, "doys": doys}


def _lonlat_grid(south: float, north: float, res: float) -> tuple[Affine, np.ndarray, np.ndarray]:
    """Every longitude (-180..180) between ``south`` and ``north`` at ``res`` degrees: transform, lon_e and lat."""
    width, height = round(360 / res), round((north - south) / res)
    transform = Affine(res, 0.0, -180.0, 0.0, -res, north)
    lon = -180.0 + (np.arange(width) + 0.5) * res
    lat = north - (np.arange(height) + 0.5) * res
    lon_e, lat2 = np.meshgrid(np.where(lon < 0, lon + 360.0, lon), lat)
    return transform, lon_e, lat2


def _lonlat_item(cdir: Path, cid: str, item_id: str, key: str, data: np.ndarray, transform: Affine, nodata: int,
                 bbox: tuple[float, float, float, float], interval: tuple[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    rel = f"data/{item_id}/{item_id}-{key}.tif"
    write_cog(cdir / rel, data, crs="EPSG:4326", transform=transform, nodata=nodata)
    band = {"data_type": str(data.dtype), "nodata": nodata}
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": cid,
        "properties": {"start_datetime": interval[0], "end_datetime": interval[1], "datetime": None,
                       "proj:epsg": 4326, "proj:shape": list(data.shape), "proj:transform": list(transform)[:6], **extra},
        "geometry": box_polygon(bbox), "bbox": list(bbox), "links": [],
        "assets": {key: {"href": rel, "type": COG_MEDIA_TYPE, "raster:bands": [band], "roles": ["data"],
                         **file_fields(cdir / rel)}},
        "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/file/v2.1.0/schema.json"],
    }


def _static_layers(root: Path, south: float, north: float, lc_years: tuple[int, int],
                   progress: Callable[[str], None]) -> None:
    transform, lon_e, lat = _lonlat_grid(south, north, LONLAT_RES)
    bbox = (-180.0, south, 180.0, north)
    cdir = root / "esa-cci-lc"
    items = []
    for year in range(lc_years[0], lc_years[1] + 1):
        item_id = f"ESACCI-LC-L4-LCCS-Map-P1Y-{year}-rehearsal"
        items.append(_lonlat_item(cdir, "esa-cci-lc", item_id, "lccs_class", _land_cover(lon_e, lat, year), transform,
                                  0, bbox, (f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z"), {}))
    write_collection(cdir, collection_doc("esa-cci-lc", "Coarse ESA CCI-shaped annual land cover of the rehearsal.",
                                          bbox, (items[0]["properties"]["start_datetime"], items[-1]["properties"]["end_datetime"]),
                                          [], {}), items)
    progress(f"land cover {len(items)} years")
    year2000 = ("2000-01-01T00:00:00Z", "2000-12-31T23:59:59Z")
    soc = np.round(20.0 + 60.0 * _peak(lon_e, lat) + 25.0 * np.exp(-(((lat - 62.0) / 8.0) ** 2))).astype("int16")
    soc[_land_cover(lon_e, lat, 2000) == 210] = -32768
    cdir = root / "soilgrids-soc-0-30cm"
    write_collection(cdir, collection_doc("soilgrids-soc-0-30cm", "Coarse SoilGrids-shaped SOC stock 0-30 cm (t C/ha).",
                                          bbox, year2000, [], {}),
                     [_lonlat_item(cdir, "soilgrids-soc-0-30cm", "soilgrids-soc-0-30cm-rehearsal", "ocs_0-30cm_mean", soc,
                                   transform, -32768, bbox, year2000, {})])
    transform, lon_e, lat = _lonlat_grid(south, north, CLIMATE_RES)
    # IPCC climate zones: cool temperate dry (4) south of 50 N and west of 120 E, cool temperate moist (3) east
    # of it, boreal dry (6) / moist (5) north of 50 N, polar moist (8) north of 66 N
    zones = np.select([lat >= 66, (lat >= 50) & (lon_e < 120), lat >= 50, lon_e < 120], [8, 6, 5, 4], 3).astype("uint8")
    cdir = root / "ipcc-climate-zones"
    write_collection(cdir, collection_doc("ipcc-climate-zones", "Coarse IPCC climate zones (codes 1-12).", bbox, year2000, [], {}),
                     [_lonlat_item(cdir, "ipcc-climate-zones", "ipcc-climate-zones-rehearsal", "climate_zone", zones,
                                   transform, 0, bbox, year2000, {})])
    progress("SOC and climate zones")


PRECIPITATION_RES = 0.25
"""Pixel size (degrees) of the rehearsal's monthly precipitation: ERA5's."""

PRECIPITATION = PrecipitationModel(
    years=(1991, 2024), resolution_deg=PRECIPITATION_RES, annual_mm=(60.0, 900.0),
    month_share=[0.01, 0.01, 0.02, 0.04, 0.08, 0.14, 0.24, 0.22, 0.12, 0.06, 0.04, 0.02], year_cv=0.2, month_shape=4.0,
    cell_sd=0.1, dry_months=[1, 2, 11, 12], dry_month_prob=0.3,
    drought=PlantedDrought(year=2017, offset_km=(0.0, 0.0), radius_km=600.0, factor=0.35))
"""The rehearsal's monthly precipitation: wetter where the vegetation peaks (the monsoon east and the taiga), and
the 2017 drought planted over the Gobi (a 600 km disc around ``GOBI``)."""

GOBI = (105.0, 43.0)
"""Centre (lon, lat) of the rehearsal's planted 2017 drought."""


def _precipitation(root: Path, south: float, north: float, seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Monthly precipitation items (one COG a month, every longitude between ``south`` and ``north``); returns
    the planted drought for the truth."""
    model = PRECIPITATION
    transform, lon_e, lat = _lonlat_grid(south, north, model.resolution_deg)
    bbox = (-180.0, south, 180.0, north)
    wetness = _peak(lon_e, lat)
    wetness = (wetness - wetness.min()) / max(float(np.ptp(wetness)), 1e-9)
    dlon = (lon_e - GOBI[0]) * np.cos(np.radians(GOBI[1])) * 111.32
    dlat = (lat - GOBI[1]) * 111.32
    assert model.drought is not None
    inside = dlon ** 2 + dlat ** 2 <= model.drought.radius_km ** 2
    cid = PRECIPITATION_COLLECTION
    cdir = root / cid
    items = []
    for year, month, total in monthly_totals(model, wetness, inside, seed):
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc) - timedelta(seconds=1)
        item = _lonlat_item(cdir, cid, f"rehearsal-ppt-{year}-{month:02d}", "ppt", total, transform, -9999, bbox,
                            (start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")), {})
        items.append(item)
        if month == 12 and year % 5 == 0:
            progress(f"monthly precipitation to {year}")
    write_collection(cdir, collection_doc(cid, "Coarse monthly precipitation totals (mm) of the rehearsal.", bbox,
                                          (items[0]["properties"]["start_datetime"],
                                           items[-1]["properties"]["end_datetime"]), [], {}), items)
    return {"drought": {"year": model.drought.year, "centre": list(GOBI), "radius_km": model.drought.radius_km,
                        "factor": model.drought.factor, "cells": int(inside.sum())}}


POPULATION_RES = 0.05
"""Pixel size (degrees) of the rehearsal's population: about the coarse MODIS pixel, as 1 km is to 250 m."""
POPULATION_YEARS = (2000, 2005, 2010, 2015, 2020)
"""The rehearsal's population years: every fifth, as GPW's, so a table reads its nearest year."""
CITIES: tuple[tuple[str, float, float, float], ...] = (
    ("Beijing", 116.4, 39.9, 13.6e6), ("Shanghai", 121.5, 31.2, 16.4e6), ("Tokyo", 139.7, 35.7, 34.4e6),
    ("Seoul", 127.0, 37.6, 20.0e6), ("Pyongyang", 125.8, 39.0, 2.8e6), ("Ulaanbaatar", 106.9, 47.9, 0.8e6),
    ("Harbin", 126.6, 45.8, 5.9e6), ("Vladivostok", 131.9, 43.1, 0.6e6), ("Baotou", 110.0, 40.7, 2.0e6),
    ("Hohhot", 111.7, 40.8, 2.2e6), ("Zamyn-Uud", 111.9, 43.7, 0.012e6), ("Anadyr", 177.5, 64.7, 0.011e6))
"""(name, lon, lat, people in 2000) of the rehearsal's towns: each a 2-D gaussian of 15 km (40 km above 5 million)."""


def _population(root: Path, south: float, north: float, progress: Callable[[str], None]) -> dict[str, Any]:
    """People per pixel by sex every fifth year, 2000-2020 (towns growing 1.5 % a year, herders and farmers where
    the vegetation is, no one on water or the sea); returns the totals for the truth."""
    transform, lon_e, lat = _lonlat_grid(south, north, POPULATION_RES)
    bbox = (-180.0, south, 180.0, north)
    cell_km2 = (POPULATION_RES * KM_PER_DEG) ** 2 * np.cos(np.radians(lat))
    land = _land_cover(lon_e, lat, 2000) != 210
    rural = np.where(land, 0.3 + 60.0 * _peak(lon_e, lat) ** 3, 0.0) * cell_km2  # people per cell
    towns = np.zeros_like(rural)
    for _, lon, la, people in CITIES:
        sigma = 40.0 if people > 5e6 else 15.0
        dx = (lon_e - (lon if lon >= 0 else lon + 360.0)) * KM_PER_DEG * np.cos(np.radians(lat))
        dy = (lat - la) * KM_PER_DEG
        weight = np.exp(-0.5 * (dx * dx + dy * dy) / sigma ** 2) * cell_km2
        towns += people * weight / weight.sum()
    cid = POPULATION_COLLECTION
    cdir = root / cid
    items, totals = [], {}
    for year in POPULATION_YEARS:
        t = year - POPULATION_YEARS[0]
        everyone = towns * 1.015 ** t + rural * 0.995 ** t
        female, male = (np.round(everyone * 0.505, 2).astype("float32"), np.round(everyone * 0.495, 2).astype("float32"))
        item_id = f"rehearsal-population-{year}"
        interval = (f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z")
        item = _lonlat_item(cdir, cid, item_id, "female", female, transform, -99999, bbox, interval, {})
        male_item = _lonlat_item(cdir, cid, item_id, "male", male, transform, -99999, bbox, interval, {})
        item["assets"].update(male_item["assets"])
        items.append(item)
        totals[str(year)] = {"female": float(female.astype("float64").sum()), "male": float(male.astype("float64").sum())}
    write_collection(cdir, collection_doc(cid, "Coarse people per pixel by sex of the rehearsal, every fifth year.", bbox,
                                          (items[0]["properties"]["start_datetime"],
                                           items[-1]["properties"]["end_datetime"]), [], {}), items)
    transform, lon_e, lat = _lonlat_grid(south, north, PRECIPITATION_RES)
    dryness = 1.0 - _peak(lon_e, lat) / max(float(_peak(lon_e, lat).max()), 1e-9)
    index = np.round(0.2 + 0.6 * np.clip(dryness, 0, 1), 4).astype("float32")
    cdir = root / VULNERABILITY_COLLECTION
    year2018 = ("2018-01-01T00:00:00Z", "2018-12-31T23:59:59Z")
    write_collection(cdir, collection_doc(VULNERABILITY_COLLECTION, "Coarse drought vulnerability index (0-1).", bbox,
                                          year2018, [], {}),
                     [_lonlat_item(cdir, VULNERABILITY_COLLECTION, "drought-vulnerability-rehearsal", "dvi", index,
                                   transform, -9999, bbox, year2018, {})])
    progress(f"population {POPULATION_YEARS[0]}-{POPULATION_YEARS[-1]} and drought vulnerability")
    return {"collection": cid, "years": list(POPULATION_YEARS), "totals": totals,
            "towns": [{"name": n, "lonlat": [lon, la], "people_2000": p} for n, lon, la, p in CITIES]}


def _sources(modis: dict[str, Any], composites: int, years: tuple[int, int], lc_years: tuple[int, int]) -> dict[str, Any]:
    """The bundled sample's sources file, at the rehearsal's resolution and with its collections only."""
    doc = yaml.safe_load(SAMPLE_SOURCES.read_text())
    sources = doc["sources"]
    ndvi = sources["modis-13q1"]
    ndvi["description"] = f"Coarse MOD13Q1-shaped 16-day NDVI of the full-extent rehearsal ({composites} composites a year)."
    ndvi["resolution"] = modis["resolution"]
    ndvi["years"] = list(years)
    ndvi["stac"]["composites_per_year"] = composites
    lc = sources["esa-cci-lc"]
    lc["description"] = "Coarse ESA CCI-shaped annual land cover of the full-extent rehearsal."
    lc["resolution"] = LONLAT_RES
    lc["years"] = list(lc_years)
    sources["soilgrids-soc"]["description"] = "Coarse SoilGrids-shaped SOC stock of the full-extent rehearsal."
    sources["ipcc-climate-zones"]["description"] = "Coarse IPCC climate zones of the full-extent rehearsal."
    sources.pop("soil-taxonomy", None)
    rain = sources["monthly-precipitation"]
    rain["description"] = "Coarse monthly precipitation (mm) of the full-extent rehearsal, ERA5's 0.25 degrees."
    rain["resolution"] = PRECIPITATION_RES
    rain["stac"]["collection"] = PRECIPITATION_COLLECTION
    people = sources["sample-population"]
    people["description"] = "Coarse people per pixel by sex of the full-extent rehearsal (0.05 degrees, every fifth year)."
    people["stac"]["collection"] = POPULATION_COLLECTION
    sources["sample-drought-vulnerability"]["description"] = "Coarse drought vulnerability index of the rehearsal (0-1)."
    return doc


def _fingerprint(region: str, step: int, years: tuple[int, int], composites: int) -> str:
    text = f"{REHEARSAL_VERSION}:{region}:{step}:{years}:{composites}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rehearsal_is_complete(root: str | Path, region: str, step: int, years: tuple[int, int], composites: int) -> bool:
    """True when ``root`` holds a finished rehearsal generated from exactly these settings by this code."""
    marker = Path(root) / "COMPLETE"
    return marker.is_file() and marker.read_text().strip() == _fingerprint(region, step, years, composites)


def generate_rehearsal(root: str | Path, *, region: str = "NE-ASIA", step: int = 16, years: tuple[int, int] = (2001, 2024),
                       composites: int = 2, force: bool = False, progress: Callable[[str], None] = lambda msg: None) -> Path:
    """Write the coarse full-extent inputs of ``region`` under ``root`` (atomically) and return ``root``.

    ``step`` keeps every step-th MODIS pixel (it must divide the 4800-pixel tile); ``composites`` 16-day composites
    a year, the ones nearest the growing season's peak. ``root`` then holds the collections, ``sources.yaml``
    (their sources file), ``region.json`` (the run's region, grid and settings: ``ldn run --sample-dir root``) and
    ``truth.json``. An existing complete rehearsal of the same settings is kept unless ``force``.
    """
    if step < 1 or MODIS_TILE_PX % step:
        raise ConfigError(f"step {step} must divide the MODIS tile's {MODIS_TILE_PX} pixels (e.g. 8, 16, 32)")
    if not 1 <= composites <= 23:
        raise ConfigError(f"composites {composites} must be 1 to 23 (MOD13Q1 has 23 a year)")
    root = Path(root)
    if not force and rehearsal_is_complete(root, region, step, years, composites):
        progress(f"rehearsal inputs already present in {root}")
        return root
    area = resolve_region(region)
    res = MODIS_PIXEL_SIZE * step
    grid = region_grid(area, crs=MODIS_SINUSOIDAL_WKT, resolution=res, origin=MODIS_GRID_ORIGIN,
                       tile_size=MODIS_TILE_PX // step)
    lc_years = (years[0] - 1, years[1])
    south = math.floor(area.geometry.bounds[1]) - 1.0
    north = min(90.0, math.ceil(area.geometry.bounds[3]) + 1.0)
    with staged_folder(root) as staging:
        modis = _modis(staging, list(grid.tiles), step, years, composites, progress)
        _static_layers(staging, south, north, lc_years, progress)
        planted = _precipitation(staging, south, north, SEED, progress)
        people = _population(staging, south, north, progress)
        (staging / "sources.yaml").write_text(
            f"# Sources of the full-extent rehearsal of {area.label}, generated by `ldn sample-data --region {region}`.\n"
            + yaml.safe_dump(_sources(modis, composites, years, lc_years), sort_keys=False, width=1000))
        settings = {"tile_size": modis["tile_size"], "min_valid_composites": composites}
        doc = {"name": f"rehearsal-{area.name}", "region": region, "native_bounds": list(grid.native_bounds),
               "bbox": list(grid.bbox), "tiles": [t.name for t in grid.tiles], "step": step, "composites_doy": modis["doys"],
               "ndvi_years": list(years), "land_cover_years": list(lc_years), "sources": "sources.yaml", "settings": settings}
        (staging / "region.json").write_text(json.dumps(doc, indent=1) + "\n")
        (staging / "truth.json").write_text(json.dumps({"region": region, "patches": [p.doc() for p in REHEARSAL_PATCHES],
                                                        "precipitation": planted, "population": people},
                                                       indent=1) + "\n")
        (staging / "COMPLETE").write_text(_fingerprint(region, step, years, composites) + "\n")
    progress(f"rehearsal inputs of {area.label} written to {root}: {len(grid.tiles)} tiles")
    return root
