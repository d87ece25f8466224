"""Cache keys: what a cached layer's bytes depend on, as data to hash.

A layer's key is a hash of everything its bytes depend on: the source items (id, ``updated`` and what
identifies each asset's bytes, ``tasks.io.sources.integrity``; never their hrefs, which change with signing and servers),
the source's configuration, the analysis grid, the parameters and the software version. Keys come from
item ids and checksums (or HTTP validators), not from the arrays: hashing a large input array would cost
about as much as recomputing it. ``tasks.io.runtime.layer_cache`` stores and finds entries under these keys; the inputs' fingerprints come from the
searches that find them (``tasks.io.sources.search.source_fingerprints``).
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
from tasks.io.sources.integrity import file_fingerprint

__all__ = ["CACHE_FORMAT", "cache_key", "key_document", "tile_year_key", "settings_fingerprint", "inputs_of",
           "describe_change", "PRODUCTIVITY_SETTINGS", "LAND_SOC_SETTINGS", "SDG_SETTINGS",
           "STATUS_SETTINGS", "LDN_BALANCE_SETTINGS"]

CACHE_FORMAT = 8
"""Bumped when the cache's layout, a cached table's columns, what a layer computes or what a key means change; part of
every key (3: summaries gained water and land; 4: thresholds decided exactly, SOC carried from the stock's year; 5:
COGs name the MODIS sinusoidal CRS and carry JSON metadata, quick-looks draw nodata in grey; 6: the report's LPD and
SOC cross tables by land cover class and transition; 7: the land cover item's table of class areas year by year;
8: a period's keys hold what its layers read, not the run's whole configuration, and FAO-WOCAT's first and last
years are the window's calendar years)."""


def key_document(indicator: str, parts: dict[str, Any]) -> dict[str, Any]:
    """What a key hashes: ``parts`` with the indicator, the software version and the cache format, as plain JSON."""
    doc = {"indicator": indicator, "software": __version__, "format": CACHE_FORMAT, **parts}
    return json.loads(json.dumps(doc, sort_keys=True, default=str))


def cache_key(indicator: str, parts: dict[str, Any]) -> str:
    """A stable hash of ``parts`` (JSON-serialisable), the indicator, the software version and cache format."""
    return hashlib.sha256(json.dumps(key_document(indicator, parts), sort_keys=True).encode()).hexdigest()[:32]


def tile_year_key(*, tile: Tile, year: int, scenes: list[dict[str, Any]], source: Source, min_valid: int,
                  geobox: GeoBox, area_key: str | None) -> str:
    """The key of one tile-year of annual NDVI: its composites' fingerprints (``scene_fingerprints``), the source's
    settings, the tile's grid, the parameters and the region; what the run and ``ldn run --plan`` look up."""
    return cache_key("ndvi-tile", {
        "year": year, "tile": tile.model_dump(mode="json"), "items": scenes,
        "source": source.model_dump(mode="json"), "min_valid": min_valid,
        "grid": [grid_crs(geobox), list(geobox.affine)[:6], list(geobox.shape)], "area": area_key,
    })


PRODUCTIVITY_SETTINGS = ("productivity", "land_cover_legend", "chunk")
"""Run settings a period's productivity layers depend on (with its annual layers, land cover and land units)."""
LAND_SOC_SETTINGS = ("land_cover_legend", "soc_model", "soc_single_f", "chunk")
"""Run settings a period's land cover and SOC layers depend on (with their land cover, SOC and climate items)."""
SDG_SETTINGS = ("recode_polygons", "chunk")
"""Run settings a period's SDG 15.3.1 depends on (with the keys of the layers it combines)."""
STATUS_SETTINGS = ("chunk",)
"""Run settings a period's status depends on (with the keys of the layers it compares)."""

LDN_BALANCE_SETTINGS = ("chunk",)
"""Run settings a period's LDN balance layers depend on (with the keys of the status and baseline land cover, and
the land unit or land type inputs, which are in the key by their fingerprints)."""


def settings_fingerprint(cfg: RunConfig, fields: tuple[str, ...], **files: str | Path) -> dict[str, Any]:
    """The run settings ``fields`` as cache-key data, every file they name replaced by its content hash.

    Only the settings a layer reads: the run's years, the other periods, where results go and options that do not
    change bytes (tiles, cache, cluster) are never in it, so next year's refresh keeps every period whose window
    does not hold the new year, and moving the catalog or editing an unrelated entry of a file recomputes nothing.
    ``files`` names the file a setting left unset stands for (the default legend, SOC model), hashed the same way.
    """
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.endswith((".yaml", ".yml", ".json", ".gpkg", ".geojson", ".tif", ".csv")):
            return file_fingerprint(value)
        return value

    doc = cfg.model_dump(mode="json", include=set(fields))
    doc.update({k: str(v) for k, v in files.items() if doc.get(k) is None})
    return walk(doc)


def inputs_of(inputs: dict[str, Any], name: str | None, years: tuple[int, int] | None = None) -> Any:
    """One source's fingerprints out of ``tasks.io.sources.search.source_fingerprints`` (a file's hash, or its items' by
    year), kept to ``years`` when given: a layer's key holds the items of the years it reads, no others."""
    if name is None:
        return None
    entry = inputs.get(name)
    if years is None or not isinstance(entry, dict) or "years" not in entry:
        return entry
    return {"years": {y: fps for y, fps in entry["years"].items() if years[0] <= int(y) <= years[1]}}


_WHAT = {"annual": "its window's annual NDVI layers", "annual_max": "its window's annual NDVI maxima",
         "land_cover": "its land cover items", "land_units": "its land unit items", "soc": "the SOC stock",
         "climate": "the climate zones", "settings": "its settings", "sources": "its sources' settings",
         "grid": "the run's grid or region", "period": "the period's definition", "inputs": "the layers it combines",
         "tiles": "its tiles", "software": "the software", "format": "the cache format",
         "fit": "the precipitation of its calibration years", "months": "its year's precipitation",
         "calibration": "the SPI's calibration period", "class_rule": "the drought class rule",
         "water": "its water (the land cover)", "zones": "the zones", "cells": "the precipitation grid",
         "source": "the precipitation source's settings"}


def _changed(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths (or year / name keys) where two key documents differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            if old.get(k) != new.get(k):
                deeper = _changed(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
                out += deeper if deeper else [f"{path}.{k}" if path else str(k)]
        return out
    return [] if old == new else ([path] if path else [])


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between the key documents a layer was cached under and the one it needs now, in words, e.g.
    "its window's annual NDVI layers changed (2023)"; the part names are those the stages build their keys from."""
    said = []
    for part in sorted(set(old) | set(new)):
        if old.get(part) == new.get(part):
            continue
        what = _WHAT.get(part, part)
        details = [d.split(".")[0] if part in ("annual", "annual_max", "inputs", "tiles") else d
                   for d in _changed(old.get(part), new.get(part))]
        if part in ("land_cover", "land_units", "soc", "climate", "fit", "months"):
            details = sorted({d.split(".")[1] for d in details if d.startswith("years.")}) or details
        shown = list(dict.fromkeys(d for d in details if d))
        said.append(f"{what} changed" + (f" ({', '.join(shown[:6])}{', ...' if len(shown) > 6 else ''})"
                                         if shown and part not in ("software", "format") else
                                         f" ({old.get(part)} -> {new.get(part)})" if part in ("software", "format") else ""))
    return "; ".join(said) or "nothing it depends on changed (its entry was removed)"
