"""The bundled offline sample region: MOD13Q1- and ESA CCI-shaped inputs with planted truth.

``generate_sample`` writes, from ``catalogs/sample_region.yaml`` and a fixed seed, byte-identical
files on every run:

- ``modis-13Q1-061/``: 16-day NDVI + pixel-reliability COGs on the MODIS sinusoidal grid with
  seasonality, noise, snow/cloud/marginal QA flags, a fill strip and a persistently cloudy year;
- ``esa-cci-lc/``: annual LCCS land cover (EPSG:4326, 1/360 degree) with planted conversions;
- ``soilgrids-soc-0-30cm/`` and ``ipcc-climate-zones/``: one SOC stock and one climate-zone raster;
- ``truth.tif`` / ``truth.json``: where decline, greening, abrupt loss and stable land were planted.

Each collection folder holds ``collection.json`` and ``items.ndjson`` shaped like the production
collections (asset keys, ``raster:bands``, ``start/end_datetime``, ``proj:*``); asset hrefs are
relative and become http URLs when the local STAC API serves them (``tasks.io.runtime.local_stac``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import yaml
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyproj import Transformer
from scipy.ndimage import gaussian_filter
from scipy.special import ndtr

from tasks.constants import (
    CATALOGS_DIR,
    MODIS_GRID_ORIGIN,
    MODIS_PIXEL_SIZE,
    MODIS_SINUSOIDAL_WKT,
    MODIS_TILE_SIZE,
    NODATA,
    PixelReliability,
)
from tasks.errors import ConfigError, validation_message
from tasks.geo.grid import lonlat_bounds
from tasks.io.samples.sample_climate import PlantedDrought, PrecipitationModel, monthly_totals
from tasks.io.samples.sample_people import PopulationModel, VulnerabilityModel, population_counts, vulnerability_index
from tasks.io.sources.integrity import file_sha256

__all__ = [
    "SampleRegion",
    "SampleGrid",
    "TruthClass",
    "load_sample_region",
    "sample_grid",
    "generate_sample",
    "sample_is_complete",
    "composite_doys",
    "SAMPLE_REGION_FILE",
    "PRECIPITATION_COLLECTION",
    "POPULATION_COLLECTION",
    "VULNERABILITY_COLLECTION",
    "TRUTH_CODES",
    "COG_MEDIA_TYPE",
    "write_cog",
    "file_fields",
    "box_polygon",
    "iso_time",
    "collection_doc",
    "write_collection",
    "staged_folder",
]

SAMPLE_REGION_FILE: Path = CATALOGS_DIR / "sample_region.yaml"
"""Definition of the bundled sample region."""

TRUTH_CODES: dict[int, str] = {0: "background", 1: "decline", 2: "greening", 3: "abrupt_loss", 4: "stable"}
"""Codes of ``truth.tif``: the planted productivity behaviour of each MODIS pixel."""

TruthClass = Literal["decline", "greening", "abrupt_loss", "stable"]

_LCCS_NAMES: dict[int, str] = {
    10: "Cropland, rainfed", 11: "Herbaceous cover", 12: "Tree or shrub cover",
    20: "Cropland, irrigated or post-flooding",
    30: "Mosaic cropland (>50%) / natural vegetation (<50%)",
    40: "Mosaic natural vegetation (>50%) / cropland (<50%)",
    50: "Tree cover, broadleaved, evergreen, closed to open (>15%)",
    60: "Tree cover, broadleaved, deciduous, closed to open (>15%)",
    61: "Tree cover, broadleaved, deciduous, closed (>40%)", 62: "Tree cover, broadleaved, deciduous, open (15-40%)",
    70: "Tree cover, needleleaved, evergreen, closed to open (>15%)",
    71: "Tree cover, needleleaved, evergreen, closed (>40%)", 72: "Tree cover, needleleaved, evergreen, open (15-40%)",
    80: "Tree cover, needleleaved, deciduous, closed to open (>15%)",
    81: "Tree cover, needleleaved, deciduous, closed (>40%)", 82: "Tree cover, needleleaved, deciduous, open (15-40%)",
    90: "Tree cover, mixed leaf type (broadleaved and needleleaved)",
    100: "Mosaic tree and shrub (>50%) / herbaceous cover (<50%)",
    110: "Mosaic herbaceous cover (>50%) / tree and shrub (<50%)",
    120: "Shrubland", 121: "Evergreen shrubland", 122: "Deciduous shrubland", 130: "Grassland",
    140: "Lichens and mosses", 150: "Sparse vegetation (tree, shrub, herbaceous cover) (<15%)",
    151: "Sparse tree (<15%)", 152: "Sparse shrub (<15%)", 153: "Sparse herbaceous cover (<15%)",
    160: "Tree cover, flooded, fresh or brackish water", 170: "Tree cover, flooded, saline water",
    180: "Shrub or herbaceous cover, flooded, fresh/saline/brackish water", 190: "Urban areas",
    200: "Bare areas", 201: "Consolidated bare areas", 202: "Unconsolidated bare areas",
    210: "Water bodies", 220: "Permanent snow and ice",
}
"""ESA CCI LCCS legend (value -> description), written into the sample collection's classification."""

GENERATOR_VERSION = 4
"""Bumped whenever the generator's output changes, so older samples on disk are regenerated."""

_CREATED = "2025-01-15T00:00:00Z"
"""Fixed ``created``/``updated`` stamp of sample items, so regenerated files are byte-identical."""


# --------------------------------------------------------------------------------------------
# Region definition
# --------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LandCoverChange(_Model):
    year: int
    from_: int = Field(alias="from")
    to: int


class Patch(_Model):
    name: str
    kind: TruthClass
    offset_km: tuple[float, float]
    radius_km: float = Field(gt=0)
    rate_per_year: float = 0.0
    year: int | None = None
    factor: float = 1.0
    land_cover: LandCoverChange | None = None


class NdviModel(_Model):
    dormant: float
    peak_min: float
    peak_max: float
    season_doy: float
    season_width_days: float = Field(gt=0)
    noise_sd: float = Field(ge=0)
    year_sd: float = Field(ge=0)
    snow_prob: float = Field(ge=0, le=1)
    cloud_prob: float = Field(ge=0, le=1)
    marginal_prob: float = Field(ge=0, le=1)
    texture_sd: float = Field(0.0, ge=0, description="Static landscape texture (relative to the peak, spatially "
                              "correlated at 3-48 px): makes composites compress like real imagery; 0 for none.")
    cloud_blob_px: float = Field(0.0, ge=0, description="Clouds and marginal pixels as blobs of about this many "
                                 "pixels (as real QA is) instead of independent per pixel; 0 for per pixel.")


class Disc(_Model):
    offset_km: tuple[float, float]
    radius_km: float = Field(gt=0)


class PersistentCloud(Disc):
    year: int
    prob: float = Field(ge=0, le=1)


class FillStrip(_Model):
    year: int
    doy: int
    rows: tuple[int, int]


class SocModel(_Model):
    mean: float
    sd: float
    min: float


class SampleRegion(_Model):
    """The sample region as written in ``catalogs/sample_region.yaml``."""

    name: str
    center_lonlat: tuple[float, float]
    size_px: int = Field(ge=16, le=4800)
    ndvi_years: tuple[int, int]
    aqua_years: tuple[int, int] | None = None
    land_cover_years: tuple[int, int]
    seed: int
    ndvi: NdviModel
    patches: list[Patch]
    persistent_cloud: PersistentCloud | None = None
    fill_strip: FillStrip | None = None
    town: Disc | None = None
    soc: SocModel
    climate_zone: int = Field(ge=1, le=12)
    precipitation: PrecipitationModel | None = None
    population: PopulationModel | None = None
    vulnerability: VulnerabilityModel | None = None
    cog_predictor: Literal[1, 2] = Field(1, description="GDAL PREDICTOR of the MODIS COGs (2: horizontal differencing).")


def load_sample_region(path: str | Path = SAMPLE_REGION_FILE, **overrides: Any) -> SampleRegion:
    """Read the sample-region definition; ``overrides`` replace top-level fields (e.g. a shorter test run)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        return SampleRegion.model_validate({**raw, **overrides})
    except FileNotFoundError:
        raise ConfigError(f"sample region file {path} does not exist: restore catalogs/sample_region.yaml") from None
    except ValidationError as err:
        raise ConfigError(validation_message(err, str(path))) from None


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------
class SampleGrid(_Model):
    """The sample window on the MODIS sinusoidal grid, and its lon/lat bounding box."""

    tile_h: int
    tile_v: int
    left: float
    top: float
    size: int
    center_xy: tuple[float, float]
    bbox: tuple[float, float, float, float]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the window in the sinusoidal CRS."""
        edge = self.size * MODIS_PIXEL_SIZE
        return self.left, self.top - edge, self.left + edge, self.top

    @property
    def transform(self) -> Affine:
        """Affine transform of the window (pixel corners)."""
        return Affine(MODIS_PIXEL_SIZE, 0.0, self.left, 0.0, -MODIS_PIXEL_SIZE, self.top)

    def pixel_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Sinusoidal x (1-D, columns) and y (1-D, rows) of pixel centres."""
        idx = np.arange(self.size) + 0.5
        return self.left + idx * MODIS_PIXEL_SIZE, self.top - idx * MODIS_PIXEL_SIZE


def _to_sinusoidal() -> Transformer:
    return Transformer.from_crs("EPSG:4326", MODIS_SINUSOIDAL_WKT, always_xy=True)


def sample_grid(region: SampleRegion) -> SampleGrid:
    """Snap the region's centre to the MODIS 250 m grid and return the window around it."""
    fwd = _to_sinusoidal()
    cx, cy = fwd.transform(*region.center_lonlat)
    x0, y0 = MODIS_GRID_ORIGIN
    col = int(np.floor((cx - x0) / MODIS_PIXEL_SIZE))
    row = int(np.floor((y0 - cy) / MODIS_PIXEL_SIZE))
    half = region.size_px // 2
    left = x0 + (col - half) * MODIS_PIXEL_SIZE
    top = y0 - (row - half) * MODIS_PIXEL_SIZE
    h = int((left - x0) // MODIS_TILE_SIZE)
    v = int((y0 - top) // MODIS_TILE_SIZE)
    right = left + region.size_px * MODIS_PIXEL_SIZE
    bottom = top - region.size_px * MODIS_PIXEL_SIZE
    bbox = lonlat_bounds((left, bottom, right, top), MODIS_SINUSOIDAL_WKT)
    return SampleGrid(tile_h=h, tile_v=v, left=left, top=top, size=region.size_px, center_xy=(cx, cy), bbox=bbox)


def _disc(grid: SampleGrid, disc: Disc | Patch | PlantedDrought, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of sinusoidal points (x, y) within a disc given in km around the window centre."""
    cx = grid.center_xy[0] + disc.offset_km[0] * 1000
    cy = grid.center_xy[1] + disc.offset_km[1] * 1000
    return (x - cx) ** 2 + (y - cy) ** 2 <= (disc.radius_km * 1000) ** 2


def composite_doys(year: int, *, platform: Literal["terra", "aqua"] = "terra") -> list[int]:
    """Start days of the 23 MOD13Q1 (Terra: 1, 17, ...) or MYD13Q1 (Aqua: 9, 25, ...) composites of a year."""
    first = 1 if platform == "terra" else 9
    return [d for d in range(first, 367, 16) if d <= (366 if _leap(year) else 365)]


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# --------------------------------------------------------------------------------------------
# The synthetic NDVI model
# --------------------------------------------------------------------------------------------
class _Fields:
    """Static per-pixel fields of the sample region, computed once."""

    def __init__(self, region: SampleRegion, grid: SampleGrid):
        rng = np.random.default_rng([region.seed, 0])
        n = grid.size
        xs, ys = grid.pixel_centers()
        self.x, self.y = np.meshgrid(xs, ys)
        smooth = gaussian_filter(rng.normal(size=(n, n)), sigma=n / 12, mode="reflect")
        smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
        m = region.ndvi
        self.peak = m.peak_min + smooth * (m.peak_max - m.peak_min)
        if m.texture_sd > 0:  # another stream: the sample without texture keeps its bytes
            tex_rng = np.random.default_rng([region.seed, 10])
            texture = np.asarray(sum(w * _unit_field(tex_rng, n, sigma) for sigma, w in ((48, 1.0), (12, 0.6), (3, 0.3))))
            self.peak = self.peak * (1 + m.texture_sd * texture / texture.std())
        self.truth = np.zeros((n, n), dtype="uint8")
        code = {v: k for k, v in TRUTH_CODES.items()}
        self.patches = []
        for patch in region.patches:
            mask = _disc(grid, patch, self.x, self.y)
            self.truth[mask] = code[patch.kind]
            self.patches.append((patch, mask))
        self.town = _disc(grid, region.town, self.x, self.y) if region.town else np.zeros((n, n), bool)
        self.peak = np.where(self.town, 0.10, self.peak)
        years = np.arange(region.ndvi_years[0], region.ndvi_years[1] + 1)
        self.year_effect = dict(zip(years.tolist(), rng.normal(0, m.year_sd, size=years.size).tolist()))
        pc = region.persistent_cloud
        self.cloudy = _disc(grid, pc, self.x, self.y) if pc else np.zeros((n, n), bool)

    def peak_for_year(self, region: SampleRegion, year: int) -> np.ndarray:
        """Growing-season peak NDVI of every pixel in ``year``, patches applied."""
        peak = self.peak * (1 + self.year_effect.get(year, 0.0))
        y0 = region.ndvi_years[0]
        for patch, mask in self.patches:
            if patch.kind in ("decline", "greening"):
                factor = max(0.1, 1 + patch.rate_per_year * (year - y0))
            elif patch.kind == "abrupt_loss":
                factor = patch.factor if year >= (patch.year or y0) else 1.0
            else:
                factor = 1.0
            if patch.kind == "stable":
                peak = np.where(mask, self.peak, peak)  # no inter-annual signal in the stable control
            else:
                peak = np.where(mask, peak * factor, peak)
        return peak


def _unit_field(rng: np.random.Generator, shape: int | tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian noise smoothed at ``sigma`` px, scaled to unit standard deviation."""
    shape = (shape, shape) if isinstance(shape, int) else shape
    field = gaussian_filter(rng.normal(size=shape), sigma=sigma, mode="reflect")
    return field / field.std()


def _composite(region: SampleRegion, fields: _Fields, year: int, doy: int, platform: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw int16 NDVI and int8 pixel reliability of one composite."""
    m = region.ndvi
    rng = np.random.default_rng([region.seed, year, doy, 1 if platform == "terra" else 2])
    shape = fields.peak.shape
    mid = doy + 8
    season = np.exp(-0.5 * ((mid - m.season_doy) / m.season_width_days) ** 2)
    peak = fields.peak_for_year(region, year)
    ndvi = m.dormant + np.clip(peak - m.dormant, 0, None) * season + rng.normal(0, m.noise_sd, shape)
    qa = np.zeros(shape, dtype="int8")
    u = rng.random((4, *shape))
    if m.cloud_blob_px > 0:  # clouds and marginal pixels in blobs: ranks of a smooth field, same shares
        blob_rng = np.random.default_rng([region.seed, year, doy, 11])
        for k in (0, 1, 2):  # marginal, cloud, snow; a smoothed unit normal through its CDF is uniform
            u[k] = ndtr(_unit_field(blob_rng, shape, m.cloud_blob_px))
    marginal = u[0] < m.marginal_prob
    qa[marginal] = PixelReliability.MARGINAL
    ndvi = np.where(marginal, ndvi + rng.normal(0, 0.02, shape), ndvi)
    cloud = u[1] < m.cloud_prob
    pc = region.persistent_cloud
    if pc is not None and year == pc.year:
        cloud |= fields.cloudy & (u[3] < pc.prob)
    qa[cloud] = PixelReliability.CLOUDY
    ndvi = np.where(cloud, ndvi * 0.4, ndvi)
    if doy < 75 or doy > 320:
        snow = u[2] < m.snow_prob
        qa[snow] = PixelReliability.SNOW_ICE
        ndvi = np.where(snow, -0.03 + rng.normal(0, 0.01, shape), ndvi)
    raw = np.clip(np.round(ndvi * 10000), -2000, 10000).astype("int16")
    fs = region.fill_strip
    if fs is not None and year == fs.year and doy == fs.doy:
        raw[fs.rows[0] : fs.rows[1], :] = -3000
        qa[fs.rows[0] : fs.rows[1], :] = PixelReliability.FILL
    return raw, qa


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def write_cog(path: Path, data: np.ndarray, *, crs: str, transform: Affine, nodata: float | None,
              predictor: int = 1) -> None:
    """An input scene as its producers publish it: a DEFLATE COG of 512 px blocks (the generators' one writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"PREDICTOR": str(predictor)} if predictor != 1 else {}
    with rasterio.open(
        path, "w", driver="COG", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
        crs=crs, transform=transform, nodata=nodata, COMPRESS="DEFLATE", BLOCKSIZE="512", **extra,
    ) as dst:
        dst.write(data, 1)


def file_fields(path: Path) -> dict[str, Any]:
    """STAC file extension fields of a written file: its size and sha256 multihash, so readers can check it."""
    return {"file:size": path.stat().st_size, "file:checksum": "1220" + file_sha256(path)}


def box_polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """A box (west, south, east, north, or a CRS's left, bottom, right, top) as a GeoJSON polygon."""
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def iso_time(d: datetime) -> str:
    """A UTC time as STAC writes it, to the second."""
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_doc(cid: str, description: str, bbox: tuple, interval: tuple[str, str], extensions: list[str],
                   item_assets: dict, extra: dict | None = None) -> dict[str, Any]:
    """A STAC collection document of generated inputs (extent, extensions, item assets)."""
    return {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.0.0",
        "description": description,
        "links": [],
        "stac_extensions": extensions,
        "item_assets": item_assets,
        "title": cid,
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [list(interval)]}},
        "license": "proprietary",
        **(extra or {}),
    }


_EXT = {
    "proj": "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "class": "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
    "class11": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
    "item_assets": "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
}

_RELIABILITY_CLASSES = [
    {"value": 0, "description": "Good data, use with confidence"},
    {"value": 1, "description": "Marginal data, useful, but look at other QA information"},
    {"value": 2, "description": "Snow/Ice Target covered with snow/ice"},
    {"value": 3, "description": "Cloudy data"},
]
_NDVI_BANDS = [{"data_type": "int16", "spatial_resolution": 250, "unit": "NDVI", "scale": 0.0001}]
_QA_BANDS = [{"data_type": "int8", "spatial_resolution": 250, "unit": "Rank"}]
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def _modis(region: SampleRegion, grid: SampleGrid, fields: _Fields, root: Path,
           progress: Callable[[str], None]) -> None:
    cdir = root / "modis-13Q1-061"
    h, v = grid.tile_h, grid.tile_v
    shape = [grid.size, grid.size]
    transform = list(grid.transform)[:6]
    proj_geom = box_polygon(grid.bounds)
    items: list[dict[str, Any]] = []
    scenes: list[tuple[int, int, str]] = []
    for year in range(region.ndvi_years[0], region.ndvi_years[1] + 1):
        scenes += [(year, d, "terra") for d in composite_doys(year)]
        if region.aqua_years and region.aqua_years[0] <= year <= region.aqua_years[1]:
            scenes += [(year, d, "aqua") for d in composite_doys(year, platform="aqua")]
    for i, (year, doy, platform) in enumerate(scenes):
        prefix = "MOD13Q1" if platform == "terra" else "MYD13Q1"
        item_id = f"{prefix}.A{year}{doy:03d}.h{h:02d}v{v:02d}.061"
        start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=doy - 1)
        end = start + timedelta(days=15, hours=23, minutes=59, seconds=59)
        raw, qa = _composite(region, fields, year, doy, platform)
        assets = {}
        for key, data, bands, title, nodata in (
            ("250m_16_days_NDVI", raw, _NDVI_BANDS, "16 day NDVI", -3000),
            ("250m_16_days_pixel_reliability", qa, _QA_BANDS, "Quality reliability of VI pixel", -1),
        ):
            rel = f"data/{item_id}/{item_id}_{key}.tif"
            write_cog(cdir / rel, data, crs=MODIS_SINUSOIDAL_WKT, transform=grid.transform, nodata=nodata,
                       predictor=region.cog_predictor)
            asset = {"href": rel, "type": COG_MEDIA_TYPE, "title": title, "raster:bands": bands, "roles": ["data"],
                     **file_fields(cdir / rel)}
            if key.endswith("reliability"):
                asset["classification:classes"] = _RELIABILITY_CLASSES
            assets[key] = asset
        cloudy = float(np.mean(qa == PixelReliability.CLOUDY) * 100)
        items.append({
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item_id,
            "properties": {
                "start_datetime": iso_time(start),
                "end_datetime": iso_time(end),
                "instruments": ["modis"],
                "platform": platform,
                "created": _CREATED,
                "updated": _CREATED,
                "modis:horizontal-tile": h,
                "modis:vertical-tile": v,
                "modis:tile-id": f"51{h:03d}{v:03d}",
                "proj:epsg": None,
                "proj:wkt2": MODIS_SINUSOIDAL_WKT,
                "proj:geometry": proj_geom,
                "proj:shape": shape,
                "proj:transform": transform,
                "eo:cloud_cover": round(cloudy),
                "datetime": None,
            },
            "geometry": box_polygon(grid.bbox),
            "links": [],
            "assets": assets,
            "bbox": list(grid.bbox),
            "stac_extensions": [_EXT["proj"], _EXT["eo"], _EXT["raster"], _EXT["class"], _EXT["file"]],
            "collection": "modis-13Q1-061",
        })
        if (i + 1) % 46 == 0 or i + 1 == len(scenes):
            progress(f"MOD13Q1 composites {i + 1}/{len(scenes)} ({year})")
    first = items[0]["properties"]["start_datetime"]
    last = max(it["properties"]["end_datetime"] for it in items)
    col = collection_doc(
        "modis-13Q1-061",
        "Sample of MODIS Vegetation Indices 16-Day (250m), MOD13Q1/MYD13Q1 v6.1 shape, generated for ldn-pipeline.",
        grid.bbox, (first, last),
        [_EXT["class"], _EXT["raster"], _EXT["item_assets"]],
        {
            "250m_16_days_NDVI": {"raster:bands": _NDVI_BANDS, "title": "16 day NDVI", "roles": ["data"], "type": COG_MEDIA_TYPE},
            "250m_16_days_pixel_reliability": {
                "raster:bands": _QA_BANDS, "classification:classes": _RELIABILITY_CLASSES,
                "title": "Quality reliability of VI pixel", "roles": ["data"], "type": COG_MEDIA_TYPE,
            },
        },
        {"summaries": {"platform": ["aqua", "terra"], "instruments": ["modis"]}},
    )
    write_collection(cdir, col, items)


def write_collection(cdir: Path, collection: dict, items: list[dict]) -> None:
    """A collection folder as ``tasks.io.runtime.local_stac`` serves it: ``collection.json`` and ``items.ndjson``."""
    cdir.mkdir(parents=True, exist_ok=True)
    (cdir / "collection.json").write_text(json.dumps(collection, indent=1) + "\n")
    with open(cdir / "items.ndjson", "w") as f:
        for item in items:
            f.write(json.dumps(item, separators=(",", ":")) + "\n")


def _geographic_grid(bbox: tuple[float, float, float, float], res: float) -> tuple[Affine, int, int]:
    """A lon/lat grid of pixel size ``res`` aligned to multiples of ``res`` covering ``bbox``."""
    w = np.floor(bbox[0] / res) * res
    n = np.ceil(bbox[3] / res) * res
    width = int(np.ceil((bbox[2] - w) / res))
    height = int(np.ceil((n - bbox[1]) / res))
    return Affine(res, 0.0, w, 0.0, -res, n), width, height


def _geo_xy(transform: Affine, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Sinusoidal x, y of the pixel centres of a lon/lat grid."""
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    return _to_sinusoidal().transform(lon, lat)


def _geo_item(cid: str, item_id: str, bbox: tuple, transform: Affine, shape: tuple[int, int],
              start: str, end: str, assets: dict, extra_props: dict | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "properties": {
            "start_datetime": start, "end_datetime": end, **(extra_props or {}),
            "proj:epsg": 4326, "proj:shape": list(shape), "proj:transform": list(transform)[:6], "datetime": None,
        },
        "geometry": box_polygon(bbox),
        "links": [],
        "assets": assets,
        "bbox": list(bbox),
        "stac_extensions": [_EXT["proj"], _EXT["class11"], _EXT["raster"], _EXT["file"]],
        "collection": cid,
    }


def _land_cover(region: SampleRegion, grid: SampleGrid, root: Path, progress: Callable[[str], None]) -> None:
    res = 1 / 360
    transform, width, height = _geographic_grid(grid.bbox, res)
    bbox = (transform.c, transform.f - height * res, transform.c + width * res, transform.f)
    x, y = _geo_xy(transform, width, height)
    rng = np.random.default_rng([region.seed, 1])
    smooth = gaussian_filter(rng.normal(size=(height, width)), sigma=width / 14, mode="reflect")
    q = np.quantile(smooth, [0.25, 0.45])
    base = np.where(smooth < q[0], 200, np.where(smooth < q[1], 150, 130)).astype("uint8")
    if region.town:
        base[_disc(grid, region.town, x, y)] = 190
    lake = Disc(offset_km=(-6, -3), radius_km=1.2)
    base[_disc(grid, lake, x, y)] = 210
    changes = []
    for patch in region.patches:
        mask = _disc(grid, patch, x, y)
        if patch.land_cover is not None:
            base[mask] = patch.land_cover.from_
            changes.append((patch.land_cover, mask))
        elif patch.kind == "stable":
            base[mask] = 130
    classes = [{"value": 0, "name": "no-data", "description": "No data", "no_data": True}] + [
        {"value": k, "name": f"class-{k}", "description": v} for k, v in _LCCS_NAMES.items()
    ]
    bands = [{"spatial_resolution": 300, "sampling": "area", "data_type": "uint8", "nodata": 0}]
    cdir = root / "esa-cci-lc"
    items = []
    years = range(region.land_cover_years[0], region.land_cover_years[1] + 1)
    for year in years:
        lc = base.copy()
        for change, mask in changes:
            if year >= change.year:
                lc[mask] = change.to
        version, prefix = ("v2.0.7cds", "ESACCI") if year <= 2015 else ("v2.1.1", "C3S")
        tile = "N45E101"
        item_id = f"{prefix}-LC-L4-LCCS-Map-300m-P1Y-{year}-{version}-{tile}"
        rel = f"data/{item_id}/{item_id}-lccs_class.tif"
        write_cog(cdir / rel, lc, crs="EPSG:4326", transform=transform, nodata=0)
        assets = {"lccs_class": {
            "href": rel, "type": COG_MEDIA_TYPE,
            "title": "Land Cover Class Defined in the Land Cover Classification System",
            "classification:classes": classes, "raster:bands": bands, "roles": ["data"], **file_fields(cdir / rel),
        }}
        items.append(_geo_item(
            "esa-cci-lc", item_id, bbox, transform, (height, width),
            f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z", assets,
            {"esa_cci_lc:version": version, "esa_cci_lc:tile": tile,
             "title": f"ESA CCI Land Cover Map for Year {year}, Tile {tile}"},
        ))
    progress(f"land cover {len(items)} years")
    col = collection_doc(
        "esa-cci-lc", "Sample of ESA CCI / C3S annual land cover (LCCS), shaped like the esa-cci-lc collection.",
        bbox, (f"{years[0]}-01-01T00:00:00Z", f"{years[-1]}-12-31T23:59:59Z"),
        [_EXT["item_assets"], _EXT["class11"], _EXT["raster"]],
        {"lccs_class": {"type": COG_MEDIA_TYPE, "title": "Land Cover Class Defined in the Land Cover Classification System",
                        "classification:classes": classes, "raster:bands": bands, "roles": ["data"]}},
        {"summaries": {"esa_cci_lc:version": ["v2.0.7cds", "v2.1.1"]}},
    )
    write_collection(cdir, col, items)


def _soc_and_climate(region: SampleRegion, grid: SampleGrid, root: Path) -> None:
    res = 1 / 480
    transform, width, height = _geographic_grid(grid.bbox, res)
    bbox = (transform.c, transform.f - height * res, transform.c + width * res, transform.f)
    rng = np.random.default_rng([region.seed, 2])
    smooth = gaussian_filter(rng.normal(size=(height, width)), sigma=width / 20, mode="reflect")
    smooth = (smooth - smooth.mean()) / smooth.std()
    soc = np.maximum(region.soc.mean + region.soc.sd * smooth, region.soc.min).round().astype("int16")
    x, y = _geo_xy(transform, width, height)
    soc[_disc(grid, Disc(offset_km=(-6, -3), radius_km=1.2), x, y)] = NODATA  # the lake
    _single_item_collection(
        root, "soilgrids-soc-0-30cm", "ocs_0-30cm_mean", soc, transform, bbox, nodata=NODATA,
        title="SOC stock 0-30 cm, mean (t C/ha)",
        description="Sample SoilGrids-shaped soil organic carbon stock 0-30 cm (t C/ha), taken as year 2000.",
        band_extra={"unit": "t C/ha", "spatial_resolution": 250},
    )

    res = 1 / 12
    transform, width, height = _geographic_grid(grid.bbox, res)
    bbox = (transform.c, transform.f - height * res, transform.c + width * res, transform.f)
    zones = np.full((height, width), region.climate_zone, dtype="uint8")
    _single_item_collection(
        root, "ipcc-climate-zones", "climate_zone", zones, transform, bbox, nodata=0,
        title="IPCC climate zone (1-12)",
        description="Sample IPCC climate zone raster (codes 1-12) for the SOC change factor.",
    )

    # soil taxonomy classes (1..3) from a smooth field, on the SOC grid
    res = 1 / 480
    transform, width, height = _geographic_grid(grid.bbox, res)
    bbox = (transform.c, transform.f - height * res, transform.c + width * res, transform.f)
    field = gaussian_filter(np.random.default_rng([region.seed, 3]).normal(size=(height, width)), sigma=width / 10)
    soil = (1 + np.digitize(field, np.quantile(field, [0.4, 0.75]))).astype("uint8")
    _single_item_collection(
        root, "soil-taxonomy", "soil_class", soil, transform, bbox, nodata=0, title="Soil taxonomy class",
        description="Sample soil taxonomy classes for performance land units.",
        classes=[{"value": 1, "name": "calcisols"}, {"value": 2, "name": "kastanozems"},
                 {"value": 3, "name": "arenosols"}],
    )


def _window_lonlat(grid: SampleGrid, res: float) -> tuple[Affine, int, int, tuple[float, float, float, float],
                                                         np.ndarray, np.ndarray]:
    """A lon/lat grid of pixel size ``res`` over the window: transform, width, height, bbox, and the sinusoidal
    x, y of its pixel centres (where the window's discs are measured)."""
    transform, width, height = _geographic_grid(grid.bbox, res)
    bbox = (transform.c, transform.f - height * res, transform.c + width * res, transform.f)
    return (transform, width, height, bbox, *_geo_xy(transform, width, height))


def _south_west_to_north_east(grid: SampleGrid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0.25 at the window's south-west corner to 0.75 at its north-east one (0.5 at the centre): a smooth gradient."""
    cx, cy = grid.center_xy
    half = grid.size * MODIS_PIXEL_SIZE / 2
    return 0.5 + 0.25 * ((x - cx) + (y - cy)) / half


PRECIPITATION_COLLECTION = "sample-monthly-precipitation"
"""The sample's monthly precipitation collection (one COG item per month, asset ``ppt``, mm, nodata -9999)."""


def _precipitation(region: SampleRegion, grid: SampleGrid, root: Path, progress: Callable[[str], None]) -> dict | None:
    """Monthly precipitation items on the model's lon/lat grid over the window; returns the planted truth."""
    model = region.precipitation
    if model is None:
        return None
    res = model.resolution_deg
    transform, width, height, bbox, x, y = _window_lonlat(grid, res)
    wetness = _south_west_to_north_east(grid, x, y)  # wetter to the north-east
    drought = model.drought
    mask = (_disc(grid, drought, x, y) if drought is not None else np.zeros((height, width), bool))
    cid = PRECIPITATION_COLLECTION
    cdir = root / cid
    bands = [{"data_type": "float32", "nodata": -9999, "unit": "mm", "spatial_resolution": round(res * 111320)}]
    items = []
    for year, month, total in monthly_totals(model, wetness, mask, region.seed):
        item_id = f"sample-ppt-{year}-{month:02d}"
        rel = f"data/{year}/{item_id}.tif"
        write_cog(cdir / rel, total, crs="EPSG:4326", transform=transform, nodata=-9999)
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc) - timedelta(seconds=1)
        assets = {"ppt": {"href": rel, "type": COG_MEDIA_TYPE, "title": "Monthly precipitation total (mm)",
                          "raster:bands": bands, "roles": ["data"], **file_fields(cdir / rel)}}
        items.append(_geo_item(cid, item_id, bbox, transform, (height, width), iso_time(start), iso_time(end), assets))
    progress(f"monthly precipitation {model.years[0]}-{model.years[1]}: {len(items)} items")
    first, last = model.years
    col = collection_doc(
        cid, "Sample monthly precipitation totals (mm), TerraClimate-shaped, with a planted drought and a wet year.",
        bbox, (f"{first}-01-01T00:00:00Z", f"{last}-12-31T23:59:59Z"), [_EXT["item_assets"], _EXT["raster"]],
        {"ppt": {"type": COG_MEDIA_TYPE, "raster:bands": bands, "roles": ["data"]}})
    write_collection(cdir, col, items)
    return {"collection": cid, "years": [first, last], "grid": {"transform": list(transform)[:6],
                                                                 "shape": [height, width]},
            "drought": {**drought.model_dump(), "cells": int(mask.sum()), "cell_centres": [  # lon, lat of each cell
                [round(transform.c + (c + 0.5) * res, 6), round(transform.f - (r + 0.5) * res, 6)]
                for r, c in zip(*np.nonzero(mask))]} if drought is not None else None,
            "wet": model.wet.model_dump() if model.wet is not None else None}


POPULATION_COLLECTION = "sample-population"
"""The sample's people per pixel by sex (one item a year, assets ``female`` and ``male``, nodata -99999)."""
VULNERABILITY_COLLECTION = "sample-drought-vulnerability"
"""The sample's drought vulnerability index (one item, asset ``dvi``, 0-1, nodata -9999)."""


def _population(region: SampleRegion, grid: SampleGrid, root: Path, progress: Callable[[str], None]) -> dict | None:
    """Yearly people per pixel by sex on the model's lon/lat grid over the window; returns the planted truth."""
    model = region.population
    if model is None:
        return None
    res = model.resolution_deg
    transform, width, height, bbox, x, y = _window_lonlat(grid, res)
    town = model.town
    tx = grid.center_xy[0] + town.offset_km[0] * 1000
    ty = grid.center_xy[1] + town.offset_km[1] * 1000
    town_km = np.hypot(x - tx, y - ty) / 1000
    lat = transform.f - (np.arange(height) + 0.5) * res
    cell_km2 = np.repeat((np.radians(res) * 6371.0072) ** 2 * np.cos(np.radians(lat))[:, None], width, axis=1)
    cid = POPULATION_COLLECTION
    cdir = root / cid
    bands = [{"data_type": "float32", "nodata": -99999, "unit": "people", "spatial_resolution": round(res * 111320)}]
    items, totals = [], {}
    for year, (female, male) in population_counts(model, town_km, cell_km2, region.seed).items():
        item_id = f"sample-population-{year}"
        assets = {}
        for band, values in (("female", female), ("male", male)):
            rel = f"data/{year}/{item_id}_{band}.tif"
            write_cog(cdir / rel, values, crs="EPSG:4326", transform=transform, nodata=-99999)
            assets[band] = {"href": rel, "type": COG_MEDIA_TYPE, "title": f"People per pixel ({band})",
                            "raster:bands": bands, "roles": ["data"], **file_fields(cdir / rel)}
        start = datetime(year, 1, 1, tzinfo=timezone.utc)
        items.append(_geo_item(cid, item_id, bbox, transform, (height, width), iso_time(start),
                               iso_time(datetime(year, 12, 31, 23, 59, 59, tzinfo=timezone.utc)), assets))
        in_town = town_km <= town.radius_km
        totals[str(year)] = {"female": float(female.astype("float64").sum()), "male": float(male.astype("float64").sum()),
                             "town": float((female.astype("float64") + male)[in_town].sum())}
    progress(f"population {model.years[0]}-{model.years[1]}: {len(items)} items")
    first, last = model.years
    col = collection_doc(cid, "Sample people per pixel by sex (WorldPop-shaped, about 1 km): a town and herders.",
                         bbox, (f"{first}-01-01T00:00:00Z", f"{last}-12-31T23:59:59Z"),
                         [_EXT["item_assets"], _EXT["raster"]],
                         {b: {"type": COG_MEDIA_TYPE, "raster:bands": bands, "roles": ["data"]} for b in ("female", "male")})
    write_collection(cdir, col, items)
    lon, lat_c = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True).transform(tx, ty)
    return {"collection": cid, "years": [first, last], "totals": totals,
            "town": {**town.model_dump(), "lonlat": [round(lon, 6), round(lat_c, 6)]}}


def _vulnerability(region: SampleRegion, grid: SampleGrid, root: Path) -> None:
    """The drought vulnerability index (one item) on the model's lon/lat grid over the window."""
    model = region.vulnerability
    if model is None:
        return
    res = model.resolution_deg
    transform, width, height, bbox, x, y = _window_lonlat(grid, res)
    position = _south_west_to_north_east(grid, x, y)
    _single_item_collection(root, VULNERABILITY_COLLECTION, "dvi", vulnerability_index(model, position), transform,
                            bbox, nodata=-9999, title="Drought vulnerability index (0-1)",
                            description="Sample drought vulnerability index (JRC-shaped, 0-1), highest in the dry "
                                        "south-west.", band_extra={"unit": "1"})


def _single_item_collection(
    root: Path, cid: str, key: str, data: np.ndarray, transform: Affine, bbox: tuple, *, nodata: float,
    title: str, description: str, band_extra: dict | None = None, classes: list[dict] | None = None,
) -> None:
    """Write a one-item collection (a static layer, dated 2000) with one COG asset ``key``."""
    rel = f"data/{cid}-sample/{key}.tif"
    write_cog(root / cid / rel, data, crs="EPSG:4326", transform=transform, nodata=nodata)
    bands = [{"data_type": str(data.dtype), "nodata": nodata, **(band_extra or {})}]
    extra = {"classification:classes": classes} if classes else {}
    asset = {"href": rel, "type": COG_MEDIA_TYPE, "title": title, **extra, "raster:bands": bands, "roles": ["data"],
             **file_fields(root / cid / rel)}
    year = ("2000-01-01T00:00:00Z", "2000-12-31T23:59:59Z")
    item = _geo_item(cid, f"{cid}-sample", bbox, transform, data.shape, *year, {key: asset})
    extensions = [_EXT["raster"], _EXT["item_assets"]] + ([_EXT["class11"]] if classes else [])
    col = collection_doc(cid, description, bbox, year, extensions,
                      {key: {"type": COG_MEDIA_TYPE, "raster:bands": bands, **extra, "roles": ["data"]}})
    write_collection(root / cid, col, [item])


def _write_truth(region: SampleRegion, grid: SampleGrid, fields: _Fields, root: Path) -> None:
    write_cog(root / "truth.tif", fields.truth, crs=MODIS_SINUSOIDAL_WKT, transform=grid.transform, nodata=None)
    truth = {
        "region": region.name,
        "codes": TRUTH_CODES,
        "grid": {"crs": "MODIS sinusoidal (see truth.tif)", "transform": list(grid.transform)[:6],
                 "shape": [grid.size, grid.size], "tile": f"h{grid.tile_h:02d}v{grid.tile_v:02d}"},
        "bbox": list(grid.bbox),
        "patches": [
            {**p.model_dump(by_alias=True), "pixels": int(mask.sum())} for p, mask in fields.patches
        ],
        "persistent_cloud": region.persistent_cloud.model_dump() if region.persistent_cloud else None,
        "fill_strip": region.fill_strip.model_dump() if region.fill_strip else None,
    }
    (root / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")


def _fingerprint(region: SampleRegion) -> str:
    text = f"{GENERATOR_VERSION}:{region.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample_is_complete(root: str | Path, region: SampleRegion) -> bool:
    """True when ``root`` holds a finished sample generated from exactly this region definition."""
    marker = Path(root) / "COMPLETE"
    return marker.is_file() and marker.read_text().strip() == _fingerprint(region)


@contextlib.contextmanager
def staged_folder(root: Path) -> Iterator[Path]:
    """A sibling staging folder that replaces ``root`` only when the block completes, and is removed on any error:
    an interrupted generator leaves nothing half-written where a run would read it."""
    staging = root.with_name(f".{root.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def generate_sample(
    root: str | Path,
    *,
    region: SampleRegion | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda msg: None,
) -> Path:
    """Write the sample region under ``root`` (atomically) and return ``root``.

    Generation is deterministic: the same region definition gives byte-identical files. An existing
    complete sample of the same definition is kept unless ``force``; files are built in a sibling
    staging folder and moved into place only when complete, so an interrupted run leaves nothing
    half-written behind.
    """
    root = Path(root)
    region = region or load_sample_region()
    if not force and sample_is_complete(root, region):
        progress(f"sample region already present in {root}")
        return root
    grid = sample_grid(region)
    with staged_folder(root) as staging:
        fields = _Fields(region, grid)
        _write_truth(region, grid, fields, staging)
        _modis(region, grid, fields, staging, progress)
        _land_cover(region, grid, staging, progress)
        _soc_and_climate(region, grid, staging)
        planted = _precipitation(region, grid, staging, progress)
        people = _population(region, grid, staging, progress)
        _vulnerability(region, grid, staging)
        if planted is not None or people is not None:  # the planted droughts and people join the truth
            truth = json.loads((staging / "truth.json").read_text())
            extra = {"precipitation": planted} if planted is not None else {}
            extra.update({"population": people} if people is not None else {})
            (staging / "truth.json").write_text(json.dumps({**truth, **extra}, indent=1) + "\n")
        region_doc = {"name": region.name, "bbox": list(grid.bbox), "native_bounds": list(grid.bounds),
                      "tile": f"h{grid.tile_h:02d}v{grid.tile_v:02d}", "size_px": grid.size,
                      "ndvi_years": list(region.ndvi_years), "land_cover_years": list(region.land_cover_years),
                      "generated_from": str(SAMPLE_REGION_FILE.name)}
        (staging / "region.json").write_text(json.dumps(region_doc, indent=1) + "\n")
        (staging / "COMPLETE").write_text(_fingerprint(region) + "\n")
    progress(f"sample region written to {root}")
    return root
