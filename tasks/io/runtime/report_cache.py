"""The report's tables and maps cached per reporting period, keyed on that period's layers.

A yearly refresh adds one annual NDVI year and links every period's layers from the cache (issue 38), yet the
report as a whole is new (its NDVI series has one more year). Reading every period's layers again for zonal
tables whose inputs did not change is most of such a refresh at the real extent, so each period's tables (the
CSV and Parquet files ``write_tables`` wrote) and map images are kept under a key of exactly what they depend on:
the period's layer keys, the zones, the report's format. A hit links the files and reads the tables back from
their Parquet copies, which hold the same frames the tables were written from. The zones' annual NDVI series is
kept the same way year by year, keyed on each annual layer: a new year reads one year's layer, not all of them.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.io.runtime.cache_keys import cache_key
from tasks.io.runtime.layer_cache import CacheDir, link_file, open_entry, store_entry

__all__ = ["PeriodTables", "PeriodTablesCache"]


@dataclass(frozen=True)
class PeriodTables:
    """One period's part of a report: its tables (name -> frame), the files they were written to (asset key ->
    path) and its maps ((caption, PNG bytes))."""

    frames: dict[str, pd.DataFrame]
    files: dict[str, str]
    maps: list[tuple[str, bytes]]


@dataclass
class PeriodTablesCache:
    """Where a report finds and keeps each period's ``PeriodTables`` and each year's zonal NDVI means: ``parts``
    holds the key parts of the periods that can be cached (a period with a layer computed without the cache has
    none, and is always computed), ``years`` those of the annual NDVI years, kept in ``ndvi``."""

    cache: CacheDir
    parts: dict[str, dict[str, Any]]
    ndvi: CacheDir | None = None
    years: dict[int, dict[str, Any]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def key(self, period: str) -> str | None:
        """The cache key of ``period``'s tables, or None when it cannot be cached."""
        return cache_key("report-period", self.parts[period]) if period in self.parts else None

    def get(self, period: str, folder: Path) -> PeriodTables | None:
        """``period``'s tables linked into ``folder`` and read back, or None on a miss."""
        key = self.key(period)
        hit = open_entry(self.cache, key) if key is not None else None
        if hit is None:
            return None
        entry, meta = hit
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for asset, name in meta["files"].items():
            link_file(entry / name, folder / name)
            files[asset] = str(folder / name)
        frames = {table: pd.read_parquet(folder / meta["files"][f"{table}_parquet"]) for table in meta["tables"]}
        maps = [(caption, (entry / name).read_bytes()) for caption, name in meta["maps"]]
        self.hits.append(period)
        return PeriodTables(frames=frames, files=files, maps=maps)

    def put(self, period: str, tables: PeriodTables) -> None:
        """Keep ``period``'s tables and maps (no-op for a period that cannot be cached)."""
        key = self.key(period)
        if key is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            images = {f"map-{k}.png": Path(tmp) / f"map-{k}.png" for k in range(len(tables.maps))}
            for (_, png), path in zip(tables.maps, images.values()):
                path.write_bytes(png)
            files = {Path(p).name: Path(p) for p in tables.files.values()}
            store_entry(self.cache, key, {**files, **images}, {
                "tables": list(tables.frames), "files": {k: Path(p).name for k, p in tables.files.items()},
                "maps": [[caption, name] for (caption, _), name in zip(tables.maps, images)]})

    def series(self, year: int) -> list[float] | None:
        """The zones' mean NDVI of ``year`` (in the order of the zones on the grid), or None on a miss."""
        if year not in self.years or self.ndvi is None:
            return None
        hit = open_entry(self.ndvi, cache_key("report-ndvi-year", self.years[year]))
        return None if hit is None else [float(v) for v in hit[1]["means"]]

    def put_series(self, year: int, means: list[float]) -> None:
        """Keep the zones' mean NDVI of ``year`` (floats kept exactly: JSON writes their shortest repr)."""
        if year in self.years and self.ndvi is not None:
            store_entry(self.ndvi, cache_key("report-ndvi-year", self.years[year]), {},
                        {"means": json.loads(json.dumps(means))})
