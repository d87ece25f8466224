"""Cache keys: what a cached layer's bytes depend on, as data to hash.

A layer's key is a hash of everything its bytes depend on: the source items (id, ``updated`` and what
identifies each asset's bytes, ``tasks.io.integrity``; never their hrefs, which change with signing and servers),
the source's configuration, the analysis grid, the parameters and the software version. Keys come from
item ids and checksums (or HTTP validators), not from the arrays: hashing a large input array would cost
about as much as recomputing it. ``tasks.io.layer_cache`` stores and finds entries under these keys; the inputs' fingerprints come from the
searches that find them (``tasks.io.search.source_fingerprints``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from odc.geo.geobox import GeoBox

from tasks import __version__
from tasks.config import RunConfig, Source
from tasks.geo.grid import grid_crs
from tasks.geo.tiles import Tile
from tasks.io.integrity import file_fingerprint

__all__ = ["CACHE_FORMAT", "cache_key", "tile_year_key", "config_fingerprint", "area_fingerprint"]

CACHE_FORMAT = 7
"""Bumped when the cache's layout, a cached table's columns or what a layer computes change; part of every key
(3: summaries gained water and land; 4: thresholds decided exactly, SOC carried from the stock's year; 5: COGs
name the MODIS sinusoidal CRS and carry JSON metadata, quick-looks draw nodata in grey; 6: the report's LPD and
SOC cross tables by land cover class and transition; 7: the land cover item's table of class areas
year by year)."""


def cache_key(indicator: str, parts: dict[str, Any]) -> str:
    """A stable hash of ``parts`` (JSON-serialisable), the indicator, the software version and cache format."""
    doc = {"indicator": indicator, "software": __version__, "format": CACHE_FORMAT, **parts}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def tile_year_key(*, tile: Tile, year: int, scenes: list[dict[str, Any]], source: Source, min_valid: int,
                  geobox: GeoBox, area_key: str | None) -> str:
    """The key of one tile-year of annual NDVI: its composites' fingerprints (``scene_fingerprints``), the source's
    settings, the tile's grid, the parameters and the region; what the run and ``ldn run --plan`` look up."""
    return cache_key("ndvi-tile", {
        "year": year, "tile": tile.model_dump(mode="json"), "items": scenes,
        "source": source.model_dump(mode="json"), "min_valid": min_valid,
        "grid": [grid_crs(geobox), list(geobox.affine)[:6], list(geobox.shape)], "area": area_key,
    })


_OUTPUT_FIELDS = ("out_dir", "cache_dir", "cache_url", "use_cache", "stac_api", "zones", "zone_field", "ldn_targets",
                  "activities", "activity_ring_km", "activity_point_km")
"""RunConfig fields that change where results go or how they are reported, never their bytes."""

_KEY_NAMES = {"region_id": "region", "region": "area"}
"""RunConfig fields renamed since cache keys were first made, by the names the keys use: a rename recomputes nothing
(``region_id`` was ``region``, ``region`` was ``area``)."""


def config_fingerprint(cfg: RunConfig) -> dict[str, Any]:
    """A run config as cache-key data: output-only fields dropped, every file it names replaced by its content hash.

    So moving the catalog or the sources file changes nothing, while editing the legend, the SOC model,
    the sources or the recode polygons invalidates what depends on them.
    """
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.endswith((".yaml", ".yml", ".json", ".gpkg", ".geojson", ".tif", ".csv")):
            return file_fingerprint(value)
        return value

    doc = {_KEY_NAMES.get(k, k): v for k, v in cfg.model_dump(mode="json", exclude=set(_OUTPUT_FIELDS)).items()}
    return walk(doc)


def area_fingerprint(cfg: RunConfig) -> str | None:
    """The run's region (``cfg.region``) as cache-key data: a region code as is, a polygon file by its content."""
    area = cfg.region
    return file_fingerprint(area) if area is not None and Path(area).is_file() else area
