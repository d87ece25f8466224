"""The results stages hand each other: small, frozen records of what was written where.

A stage returns these instead of data (a continent's layer is gigabytes; its summary is a few lines),
Prefect passes them between tasks and the layer cache stores them as JSON. They live here, below every
stage, so a module that only reads a result does not import the module that wrote it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AssetSummary", "LayerSummary", "Staging", "LayerRef", "ReportFiles"]


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


@dataclass(frozen=True)
class Staging:
    """A private folder for one run's layers, and the version it will become."""

    path: str
    version: str
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
