"""The results stages hand each other: small, frozen records of what was written where.

A stage returns these instead of data (a continent's layer is gigabytes; its summary is a few lines),
Prefect passes them between tasks and the layer cache stores them as JSON. They live here, below every
stage, so a module that only reads a result does not import the module that wrote it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Tile", "AssetSummary", "LayerSummary", "Layers", "TileYear", "ProductivityTile", "Version", "Staging", "LayerRef", "ReportFiles", "ROOT_CATALOG_ID"]


class Tile(BaseModel):
    """One processing tile: its name and its part of the run's area in the source CRS."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", description="e.g. h25v04 (lattice column, row).")
    bounds: tuple[float, float, float, float] = Field(description="(left, bottom, right, top) in the source CRS.")


ROOT_CATALOG_ID = "ldn-pipeline"
"""Id of the root catalog that lists every published version (a version's catalog is ``<this>-<version>``)."""


@dataclass(frozen=True, order=True)
class Version:
    """One published version of the catalog, named by the UTC second its run began (``20261205T234138Z``) and
    ``-N`` when N runs published under that name before it. Its folder, its catalog's id and the name ``ldn layers``
    shows all come from here, so they cannot disagree.

    Examples
    --------
    >>> v = Version.at(datetime(2026, 12, 5, 23, 41, 38))
    >>> v.name, v.catalog_id, Version.of_catalog(f"out/versions/{v.name}-1/catalog.json").name
    ('20261205T234138Z', 'ldn-pipeline-20261205T234138Z', '20261205T234138Z-1')
    """

    name: str

    def __str__(self) -> str:
        return self.name

    @classmethod
    def at(cls, when: datetime) -> Version:
        """The version a run beginning at ``when`` (UTC) publishes."""
        return cls(when.strftime("%Y%m%dT%H%M%SZ"))

    @classmethod
    def of_catalog(cls, catalog: str | Path) -> Version:
        """The version whose ``catalog.json`` is at ``catalog`` (a path or an href: ``.../versions/<name>/catalog.json``)."""
        return cls(str(catalog).rstrip("/").split("/")[-2])

    @property
    def catalog_id(self) -> str:
        """The id of this version's catalog."""
        return f"{ROOT_CATALOG_ID}-{self.name}"

    def folder(self, out_dir: str | Path) -> Path:
        """Where this version is published under ``out_dir``."""
        return Path(out_dir) / "versions" / self.name

    def unused_in(self, out_dir: str | Path) -> Version:
        """This version, or ``<name>-N`` with the first N whose folder does not exist yet (runs in the same second);
        called while holding the publishing lock."""
        version, n = self, 1
        while version.folder(out_dir).exists():
            version, n = Version(f"{self.name}-{n}"), n + 1
        return version


@dataclass(frozen=True)
class AssetSummary:
    """One written COG of an item: where it is, what it holds, and its statistics."""

    key: str
    path: str
    categorical: bool
    attrs: dict[str, Any]
    valid_pixels: int
    total_pixels: int
    mean: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class LayerSummary:
    """A written item (one or more COGs): small enough to pass between tasks."""

    indicator: str
    item_id: str
    year: int | None
    attrs: dict[str, Any]
    source_items: list[str]
    assets: list[AssetSummary]
    period: str | None = None
    window: tuple[int, int] | None = None
    tables: dict[str, str] = field(default_factory=dict)
    quicklook: str | None = None
    from_cache: bool = False
    cache_key: str | None = None
    """The layer cache's key for this item (what its bytes depend on), when the cache is on."""

    @property
    def path(self) -> str:
        """Path of the main (``data``) asset."""
        return next(a.path for a in self.assets if a.key == "data")

    def asset_path(self, key: str = "data") -> str:
        """Path of one asset of the item."""
        return next(a.path for a in self.assets if a.key == key)


class Layers(BaseModel):
    """Written layers as one flow parameter: the subflow gets every ``LayerSummary``; Prefect records (and its API
    stores) only how many of each collection, as ``RunContext`` shows only its facts in brief. The whole list is
    more than the API takes for a run's parameters (512 kB) at North-East Asia's size."""

    model_config = ConfigDict(frozen=True)

    items: tuple[LayerSummary, ...]

    @model_serializer
    def _summary(self) -> dict[str, Any]:
        return {"layers": len(self.items), "collections": dict(Counter(x.indicator for x in self.items))}


@dataclass(frozen=True)
class Staging:
    """A private folder for one run's layers, and the version it will become."""

    path: str
    version: Version
    """The version's name as the run began; publishing adds ``-N`` if another run took it meanwhile."""
    out_dir: str


@dataclass(frozen=True)
class LayerRef:
    """One published raster a table is built from: collection, period, asset, file and class names."""

    indicator: str
    period: str
    asset: str
    path: str
    classes: dict[int, str] | None = None


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote: per period asset key -> path (tables, workbook), and the HTML report."""

    tables: dict[str, dict[str, str]]
    html: str
    frames: dict[str, dict[str, pd.DataFrame]]


@dataclass(frozen=True)
class TileYear:
    """One tile's annual NDVI: a GeoTIFF on the tile's grid, what it was read from and how it was made."""

    tile: str
    year: int
    path: str
    key: str
    source_items: list[str]
    attrs: dict[str, Any]
    """Per band (``ANNUAL_BANDS``): the layer's attrs."""
    from_cache: bool
    bytes_decoded: int
    """Scene bytes decoded for this tile (pixels x composites x asset sizes; 0 when linked from the cache)."""
    bytes_checked: int
    """Scene file bytes hashed against their ``file:checksum`` (read once more for that)."""
    seconds: float


@dataclass(frozen=True)
class ProductivityTile:
    """Pass 2 of one tile and period: every productivity asset of the tile as a GeoTIFF on the tile's window.

    ``layout`` is {indicator: {"attrs": item attrs, "assets": {key: {"file", "categorical", "attrs"}}}},
    with files named relative to ``folder``; the same for every tile of a period.
    """

    period: str
    tile: str
    folder: str
    layout: dict[str, Any]
    sources: list[str]
    pixels: int
    from_cache: bool

    def path(self, indicator: str, key: str) -> str:
        """The tile's GeoTIFF of one asset."""
        return str(Path(self.folder) / self.layout[indicator]["assets"][key]["file"])
