"""Expert recode polygons: documented corrections of false positives and negatives (Trends.Earth's
"false positive/negative" tool), applied after computation.

A polygon file (GeoPackage or GeoJSON, any CRS) holds one feature per correction with the fields

- ``reason`` (required): why the expert overrides the data;
- ``periods``: comma-separated period names it affects, or ``all`` (default ``all``);
- ``degraded_to``, ``stable_to``, ``improved_to``: the class (-1, 0 or 1) that degraded, stable and
  improved pixels inside it become; empty leaves that class as it is.

A pixel is inside a polygon when its centre is (GDAL's default rasterisation rule). Two polygons
that overlap and affect the same period are an error (which one wins would be arbitrary); a
polygon outside the raster is a warning (it changes nothing). What was applied, with its reason
and pixel count, goes into the layer's metadata, so every table built from the layer reflects it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import shapely
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import CRS, Transformer
from rasterio.features import rasterize
from rasterio.transform import array_bounds

from tasks.constants import NODATA
from tasks.errors import ConfigError, LdnWarning
from tasks.io.sources.zones import geometry_from_wkb

__all__ = ["Recode", "RecodeOutsideRaster", "read_recodes", "apply_recodes"]


class RecodeOutsideRaster(LdnWarning):
    """A recode polygon does not touch the layer's grid: it changes nothing."""


@dataclass(frozen=True)
class Recode:
    """One expert correction."""

    fid: int
    geometry: shapely.Geometry
    periods: tuple[str, ...] | None
    to: dict[int, int]
    reason: str

    def applies(self, period: str) -> bool:
        """Whether this correction affects ``period``."""
        return self.periods is None or period in self.periods


def _class(value: Any, field: str, fid: int, path: Path) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = None
    if v not in (-1, 0, 1):
        shown = value.item() if isinstance(value, np.generic) else value
        raise ConfigError(f"recode polygon {fid} in {path}: {field} = {shown!r} is not -1, 0 or 1: fix the value")
    return v


def read_recodes(path: str | Path, crs: str) -> list[Recode]:
    """Read and check a recode polygon file; geometries are returned in ``crs`` (the layer's)."""
    from pyogrio.raw import read as read_vector

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recode polygon file {path} does not exist: pass a GeoPackage or GeoJSON")
    try:
        meta, _, geometry, fields = read_vector(path)
    except Exception as err:  # pyogrio raises its own and GDAL errors
        raise ConfigError(f"cannot read recode polygons {path} ({type(err).__name__}): give a GeoPackage or GeoJSON") from None
    names = list(meta["fields"])
    if "reason" not in names:
        raise ConfigError(f"recode polygons {path} have no `reason` field: add one (why each polygon overrides the data)")
    if meta.get("crs") is None:
        raise ConfigError(f"recode polygons {path} have no CRS: save them with one (e.g. EPSG:4326)")
    src = CRS.from_user_input(meta["crs"])
    to_layer = Transformer.from_crs(src, CRS.from_user_input(crs), always_xy=True)
    column = {n: fields[i] for i, n in enumerate(names)}
    recodes = []
    for fid, wkb in enumerate(geometry):
        geom = geometry_from_wkb(wkb, f"recode polygon {fid} in {path}")
        if geom is None or geom.is_empty:
            raise ConfigError(f"recode polygon {fid} in {path} has no geometry: draw it or delete the feature")
        if not geom.is_valid:
            raise ConfigError(f"recode polygon {fid} in {path} is not a valid geometry ({shapely.is_valid_reason(geom)}): "
                              "repair it (e.g. QGIS 'Fix geometries')")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ConfigError(f"recode feature {fid} in {path} is a {geom.geom_type}, not a polygon")
        reason = column["reason"][fid]
        if reason is None or not str(reason).strip():
            raise ConfigError(f"recode polygon {fid} in {path} has an empty `reason`: say why it overrides the data")
        raw_periods = str(column.get("periods", [None] * len(geometry))[fid] or "all").strip()
        periods = None if raw_periods.lower() == "all" else tuple(p.strip() for p in raw_periods.split(",") if p.strip())
        to = {}
        for cls, field in ((-1, "degraded_to"), (0, "stable_to"), (1, "improved_to")):
            target = _class(column[field][fid], field, fid, path) if field in column else None
            if target is not None:
                to[cls] = target
        if not to:
            raise ConfigError(f"recode polygon {fid} in {path} changes nothing: set degraded_to, stable_to or improved_to")
        projected = shapely.transform(geom, lambda xy: np.column_stack(to_layer.transform(xy[:, 0], xy[:, 1])))
        recodes.append(Recode(fid=fid, geometry=projected, periods=periods, to=to, reason=str(reason)))
    for i, a in enumerate(recodes):
        for b in recodes[i + 1:]:
            shared = set(a.periods or ["*"]) & set(b.periods or ["*"]) or (a.periods is None or b.periods is None)
            if shared and a.geometry.intersection(b.geometry).area > 0:
                raise ConfigError(
                    f"recode polygons {a.fid} and {b.fid} in {path} overlap and affect the same period: "
                    "which one applies would be arbitrary; split them so they do not overlap"
                )
    return recodes


def apply_recodes(layer: xr.DataArray, recodes: list[Recode], *, period: str, geobox: GeoBox,
                  source: str) -> tuple[xr.DataArray, list[dict[str, Any]]]:
    """The 3-class ``layer`` with the corrections for ``period`` applied, and a record of what changed.

    Applied block by block (each block rasterises only the polygons that touch it), so a Dask-backed
    layer of any size stays lazy; the pixel counts in the record take one extra blocked pass.
    """

    grid = shapely.box(*geobox.boundingbox)
    active = []
    for recode in recodes:
        if not recode.applies(period):
            continue
        if not recode.geometry.intersects(grid):
            warnings.warn(RecodeOutsideRaster(
                f"recode polygon {recode.fid} in {source} lies outside the layer's grid: it changes nothing; "
                "check its CRS or coordinates"), stacklevel=2)
            continue
        active.append(recode)
    if not active:
        return layer, []
    lazy = isinstance(layer.data, da.Array)
    data = layer.data if lazy else da.from_array(np.asarray(layer.values), chunks=-1)

    def _recode(block: np.ndarray, block_info: dict | None) -> tuple[np.ndarray, np.ndarray]:
        assert block_info is not None  # Dask passes it to a function that asks for it
        (r0, _), (c0, _) = block_info[0]["array-location"]
        transform = geobox.affine * Affine.translation(c0, r0)
        box = shapely.box(*array_bounds(*block.shape, transform))
        out, counts = block.copy(), np.zeros((len(active), 2), dtype="int64")  # per polygon: inside, changed
        for i, recode in enumerate(active):
            if not recode.geometry.intersects(box):
                continue
            inside = rasterize([(recode.geometry, 1)], out_shape=block.shape, transform=transform, fill=0,
                               dtype="uint8").astype(bool)
            counts[i, 0] = inside.sum()
            for cls, target in recode.to.items():
                hit = inside & (block == cls) & (block != NODATA)  # matched on the original, not earlier recodes
                out[hit] = target
                counts[i, 1] += hit.sum()
        return out, counts

    def recoded(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        return _recode(block, block_info)[0]

    def counted(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        return _recode(block, block_info)[1][None, None]

    values = data.map_blocks(recoded, dtype=data.dtype)
    counts = data.map_blocks(counted, new_axis=[2, 3], dtype="int64", chunks=(
        tuple(1 for _ in data.chunks[0]), tuple(1 for _ in data.chunks[1]), (len(active),), (2,))).sum(axis=(0, 1))
    counts = np.asarray(counts.compute())
    applied = [{"polygon": r.fid, "reason": r.reason, "pixels_inside": int(counts[i, 0]),
                "pixels_changed": int(counts[i, 1]), "to": {str(k): v for k, v in r.to.items()}}
               for i, r in enumerate(active)]
    out = layer.copy(data=values if lazy else values.compute())
    out.attrs = {**layer.attrs, "recodes": applied, "recode_source": source}
    return out, applied
