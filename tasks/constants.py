"""Constants and class codes shared by every module: change them here and nowhere else."""
from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NODATA",
    "NDVI_SCALE",
    "MODIS_SINUSOIDAL_WKT",
    "MODIS_SINUSOIDAL_NAME",
    "MODIS_PIXEL_SIZE",
    "MODIS_GRID_ORIGIN",
    "MODIS_TILE_SIZE",
    "COG_PROFILE",
    "COG_SCRATCH_OVERVIEWS",
    "SCRATCH_PROFILE",
    "CATALOGS_DIR",
    "DEFAULT_OUTPUTS",
    "LOW_SPACE",
    "DEFAULT_CHUNK",
    "TASK_RUNNERS",
    "PixelReliability",
    "LPD_CLASSES",
    "THREE_CLASSES",
    "THREE_CLASS_NAMES",
    "ACTIVITY_AREAS",
    "ACTIVITY_STATUSES",
    "TREND_CLASS_NAMES",
    "LPD_TO_3CLASS",
    "LAND_COVER_COLOURS",
    "WATER",
    "STATUS_COLOURS",
    "GAIN_LOSS_CLASSES",
    "DROUGHT_CLASSES",
    "OFF_GRID_INDICATORS",
    "OWN_TABLE_INDICATORS",
    "SIGNED_PEOPLE_INDICATORS",
    "FSSPEC_DRIVERS",
    "code_mapper",
]

NODATA: int = -32768
"""Nodata of every indicator raster (Trends.Earth's convention, int16)."""

NDVI_SCALE: int = 10000
"""Annual NDVI layers are stored as int16 NDVI x 10000."""

MODIS_SINUSOIDAL_WKT: str = (
    'PROJCRS["unnamed",BASEGEOGCRS["Unknown datum based upon the custom spheroid",'
    'DATUM["Not specified (based on custom spheroid)",ELLIPSOID["Custom spheroid",6371007.181,0,'
    'LENGTHUNIT["metre",1,ID["EPSG",9001]]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433,'
    'ID["EPSG",9122]]]],CONVERSION["unnamed",METHOD["Sinusoidal"],PARAMETER["Longitude of natural origin",0,'
    'ANGLEUNIT["degree",0.0174532925199433],ID["EPSG",8802]],PARAMETER["False easting",0,LENGTHUNIT["metre",1],'
    'ID["EPSG",8806]],PARAMETER["False northing",0,LENGTHUNIT["metre",1],ID["EPSG",8807]]],CS[Cartesian,2],'
    'AXIS["easting",east,ORDER[1],LENGTHUNIT["metre",1,ID["EPSG",9001]]],AXIS["northing",north,ORDER[2],'
    'LENGTHUNIT["metre",1,ID["EPSG",9001]]]]'
)
"""The MODIS sinusoidal CRS exactly as the production STAC items give it (``proj:wkt2``; no EPSG)."""

MODIS_SINUSOIDAL_NAME: str = "MODIS Sinusoidal"
"""The name published COGs give that CRS (GDAL and QGIS show "unnamed" otherwise); the CRS is the same."""

MODIS_PIXEL_SIZE: float = 231.65635826395825
"""MOD13Q1 pixel size in metres, as in the production items' ``proj:transform`` (equal-area grid)."""

MODIS_TILE_SIZE: float = MODIS_PIXEL_SIZE * 4800
"""Width and height of one MODIS tile in metres (4800 MOD13Q1 pixels, 10 degrees at the equator)."""

MODIS_GRID_ORIGIN: tuple[float, float] = (-20015109.354, 10007554.677)
"""Upper-left corner (x, y) of MODIS tile h00v00 in the sinusoidal CRS."""

COG_PROFILE: dict[str, str] = {
    "COMPRESS": "DEFLATE",
    "BLOCKSIZE": "512",
    "PREDICTOR": "YES",
    "OVERVIEWS": "IGNORE_EXISTING",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}
"""GDAL COG driver options for every published layer; overview resampling is set per layer kind."""

COG_SCRATCH_OVERVIEWS: dict[str, str] = {"ZSTD_LEVEL_OVERVIEW": "1"}
"""GDAL settings while a COG is made: the COG driver computes the overviews into a temporary ZSTD file, at ZSTD's
default level 9 unless told, then recompresses them with ``COG_PROFILE``'s DEFLATE into the COG. Level 1 saves
about a quarter of the CPU a COG takes; the published bytes are the same (ZSTD is lossless and the
COG's own overviews are DEFLATE: this would change them only if ``COG_PROFILE`` compressed with ZSTD)."""

SCRATCH_PROFILE: dict[str, Any] = {"compress": "ZSTD", "zstd_level": 1}
"""Compression of intermediate GeoTIFFs (tile-years, productivity tiles, the tiled copy a COG is made from):
lossless ZSTD at its fastest level, 3-5x faster to write than DEFLATE on float32 layers and 7x faster than
ZSTD's default level 9 on int16 class layers for about the same size; published COGs stay DEFLATE
(``COG_PROFILE``), so no published byte changes."""

DEFAULT_CHUNK: int = 512
"""Spatial chunk edge (pixels) for Dask; equal to the COG block size so reads align."""

TASK_RUNNERS: tuple[str, ...] = ("threads", "dask")
"""Where a run's tile and period tasks execute: ``threads`` in the flow's process (their raster graphs
go to the Dask cluster), ``dask`` on the cluster's workers themselves (``--task-runner``)."""

CATALOGS_DIR: Path = Path(__file__).resolve().parent.parent / "catalogs"
"""Where the source definitions and the sample-region definition live."""

LOW_SPACE = 1 << 20
"""Bytes of free space (for unprivileged writers) below which a folder's file system counts as full: the run's disk
watch (``flows.disk_watch``) and the check after each raster write (``tasks.io.outputs.cog.check_room``)."""

DEFAULT_OUTPUTS: Path = Path("outputs")
"""Default publish root, relative to the working directory."""


class PixelReliability(IntEnum):
    """MOD13Q1 ``250m_16_days_pixel_reliability`` codes."""

    FILL = -1
    GOOD = 0
    MARGINAL = 1
    SNOW_ICE = 2
    CLOUDY = 3


LPD_CLASSES: dict[int, tuple[str, str]] = {
    1: ("declining", "f23c46"),
    2: ("early signs of decline", "ffae4c"),
    3: ("stable but stressed", "ffff73"),
    4: ("stable", "d9d9d9"),
    5: ("increasing", "267300"),
}
"""LPD code -> (name, colour hint) for class maps and their metadata."""

THREE_CLASSES: dict[int, tuple[str, str]] = {
    -1: ("degraded", "9b2779"),
    0: ("stable", "ffffe0"),
    1: ("improved", "006500"),
}
"""Codes of every 3-class map (Trends.Earth's convention) -> (name, colour hint)."""

THREE_CLASS_NAMES: dict[int, str] = {code: name for code, (name, _) in THREE_CLASSES.items()}
"""Codes of a 3-class sub-indicator or indicator map -> name: degraded, stable, improved."""

TREND_CLASS_NAMES: dict[int, str] = {-1: "degrading", 0: "stable", 1: "improving"}
"""Codes of the 3-class productivity trajectory and state maps -> name (a direction, not yet a verdict)."""

LPD_TO_3CLASS: dict[int, int] = {1: -1, 2: -1, 3: 0, 4: 0, 5: 1}
"""LPD 5 classes -> 3 classes (SDG 15.3.1 productivity sub-indicator)."""

LAND_COVER_COLOURS: dict[int, str] = {
    1: "787f1b", 2: "ffac42", 3: "fffb6e", 4: "00db84", 5: "e60017", 6: "fff3d7", 7: "0053c4",
}
"""Colour hints of the 7 UNCCD land cover classes (Trends.Earth's)."""

WATER: int = 7
"""UNCCD land cover class of water bodies: its area is excluded from land area in every table."""

STATUS_COLOURS: dict[int, str] = {
    1: "9b2779", 2: "c0504d", 3: "e6a1a1", 4: "ffffe0", 5: "a1d99b", 6: "41ab5d", 7: "006500",
}
"""Colour hints of the 7 status classes (persistent degradation .. persistent improvement)."""

GAIN_LOSS_CLASSES: dict[int, str] = {-1: "loss", 0: "neutral", 1: "gain"}
"""Codes of the LDN balance's gains/losses layer (status 1-2 loss, 3-5 neutral, 6-7 gain since the baseline);
drawn with the 3-class colours."""

FSSPEC_DRIVERS: dict[str, str] = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
                                  "abfs": "adlfs"}
"""The package that reads each object-store scheme (fsspec's drivers); s3fs comes with ``ldn-pipeline[s3]``."""

DROUGHT_CLASSES: dict[int, tuple[str, str]] = {
    0: ("non-drought", "ffffff"),
    1: ("mild drought", "ffffb2"),
    2: ("moderate drought", "fecc5c"),
    3: ("severe drought", "f03b20"),
    4: ("extreme drought", "bd0026"),
}
"""Drought intensity codes of SO3-1 (UNCCD method notes 2.2, decided on SPI x 1000) -> (name, colour hint): the
usual yellow-to-dark-red ramp."""


ACTIVITY_AREAS: dict[str, tuple[str, str]] = {
    "restoration": ("land restoration and ecosystem services", "1b9e77"),
    "capacity": ("capacity and understanding", "7570b3"),
    "integration": ("integration of DLD into socio-economic development and resilience", "d95f02"),
    "resource-mobilisation": ("resource mobilisation", "e7298a"),
    "stakeholder-engagement": ("stakeholder engagement", "66a61e"),
    "awareness": ("awareness raising", "e6ab02"),
}
"""The six activity areas of the North-East Asia Multi-Stakeholder Plan (NEAMSP): code -> (name, map colour)."""

ACTIVITY_STATUSES: tuple[str, ...] = ("planned", "ongoing", "completed")
"""The status of an activity in the registry."""


def code_mapper(mapping: dict[int, int], fill: int = NODATA) -> "Callable[[np.ndarray], np.ndarray]":
    """A vectorised lookup of class codes: values in ``mapping`` become its values, all else ``fill`` (int16)."""
    keys = np.array(sorted(mapping), dtype="float64")
    values = np.array([mapping[k] for k in sorted(mapping)], dtype="int16")

    def _map(a: np.ndarray) -> np.ndarray:
        f = np.asarray(a, dtype="float64")
        idx = np.clip(np.searchsorted(keys, f), 0, keys.size - 1)
        return np.where(keys[idx] == f, values[idx], fill).astype("int16")

    return _map


OFF_GRID_INDICATORS: tuple[str, ...] = ("drought", "drought-worst", "drought-exposure", "drought-exposure-worst")
"""Collections published on another grid than the analysis grid (the SO3-1 drought layers, on the precipitation's
own grid, and the people under drought on it): they carry their own tables and the period's zonal tables do not
read them."""

SIGNED_PEOPLE_INDICATORS: dict[str, tuple[str, str]] = {
    "drought-exposure": ("under drought", "no drought"),
    "drought-exposure-worst": ("under drought", "no drought"),
    "sdg-population": ("on degraded land", "on other land"),
}
"""Collections whose layers are people per pixel, signed (negative: the first phrase), and what each sign says:
their maps are drawn in decades of people (``tasks.io.outputs.quicklook.people_classes``)."""

OWN_TABLE_INDICATORS: tuple[str, ...] = (*OFF_GRID_INDICATORS, "sdg-population")
"""Collections whose items carry their own tables (the drought and people layers): a period's zonal tables neither
read them nor are made again when they change."""

MODIS_TILE_PX = 4800
"""Edge of one MODIS tile in MOD13Q1 pixels: the default tile size."""
