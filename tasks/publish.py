"""Publishing indicator layers: Cloud-Optimized GeoTIFFs and a versioned, atomically switched STAC catalog.

A run writes every layer into a private staging folder. Only when all layers are written does
``publish_version`` add the STAC documents, move the folder into ``versions/<version>/`` with one
rename, and then replace the root ``catalog.json`` with one atomic ``os.replace``. Readers
therefore see either the previous catalog or the complete new one, never a half-published version,
and every earlier version stays readable. A failed or killed run leaves the published tree as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
import pystac
import rasterio
import rasterio.shutil
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics

from tasks import __version__
from tasks.config import RunConfig
from tasks.constants import COG_PROFILE, NODATA
from tasks.errors import PublishError

__all__ = [
    "LayerSummary",
    "Staging",
    "write_cog",
    "write_layer",
    "begin_version",
    "publish_version",
    "discard_staging",
    "begin_version_task",
    "publish_version_task",
    "ROOT_CATALOG_ID",
]

ROOT_CATALOG_ID = "ldn-pipeline"
"""Id of the root catalog that lists every published version."""

_WRITE_LOCK = threading.Lock()
"""Serialises GDAL writes of one GeoTIFF from several Dask threads."""


@dataclass(frozen=True)
class LayerSummary:
    """What a written layer is, where it is, and its statistics: small enough to pass between tasks."""

    indicator: str
    item_id: str
    path: str
    year: int | None
    attrs: dict[str, Any]
    source_items: list[str]
    valid_pixels: int
    total_pixels: int
    mean: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class Staging:
    """A private folder for one run's layers, and the version it will become."""

    path: str
    version: str
    out_dir: str
    started: str = field(default="")


def write_cog(
    data: xr.DataArray, path: str | Path, *, categorical: bool = False, transform: Affine | None = None
) -> Path:
    """Write a 2-D (y, x) raster with CRS and nodata as a COG, streaming Dask blocks.

    GDAL's COG driver cannot be written block by block from Dask, so blocks go into a tiled
    GeoTIFF first, which is then converted (DEFLATE, 512 blocks, overviews: nearest for class
    maps, average for continuous layers). ``transform``, when given, is stamped on the file
    instead of the one rioxarray derives from the coordinates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tiled.tif")
    try:
        data.rio.to_raster(
            tmp, tiled=True, blockxsize=512, blockysize=512, compress="DEFLATE", lock=_WRITE_LOCK,
        )
        if transform is not None:
            with rasterio.open(tmp, "r+") as dst:
                dst.transform = transform
        rasterio.shutil.copy(
            tmp, path, driver="COG", **COG_PROFILE,
            OVERVIEW_RESAMPLING="NEAREST" if categorical else "AVERAGE",
        )
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _stats(path: Path) -> tuple[int, int, float | None, float | None, float | None]:
    """Valid count, total count, mean, min and max of a written single-band raster, read block by block."""
    valid = total = 0
    acc = 0.0
    lo, hi = np.inf, -np.inf
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            block = src.read(1, window=window, masked=True)
            total += block.size
            values = block.compressed()
            if values.size:
                valid += values.size
                acc += float(values.sum(dtype="float64"))
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if not valid:
        return 0, total, None, None, None
    return valid, total, acc / valid, lo, hi


def write_layer(
    layer: xr.DataArray,
    staging: str | Path,
    *,
    indicator: str,
    item_id: str,
    year: int | None,
    source_items: list[str],
    categorical: bool = False,
    transform: Affine | None = None,
) -> LayerSummary:
    """Write one layer as ``<staging>/<indicator>/<item_id>/<item_id>.tif`` and summarise it.

    ``transform`` is the exact grid of the layer; without it the grid is derived from the
    coordinates, which loses the last digits of pixel sizes such as MODIS's 231.65635826395825 m.
    """
    if layer.rio.crs is None:
        raise PublishError(f"layer {item_id} has no CRS: set it with rio.write_crs() before publishing")
    nodata = layer.attrs.get("_FillValue", NODATA)
    out = layer.drop_vars([c for c in layer.coords if c not in ("x", "y", "spatial_ref")])
    out = out.rio.write_nodata(nodata, encoded=False)
    path = Path(staging) / indicator / item_id / f"{item_id}.tif"
    write_cog(out, path, categorical=categorical, transform=transform)
    valid, total, mean, lo, hi = _stats(path)
    attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in layer.attrs.items()}
    return LayerSummary(
        indicator=indicator, item_id=item_id, path=str(path), year=year, attrs=attrs,
        source_items=list(source_items), valid_pixels=valid, total_pixels=total, mean=mean, minimum=lo, maximum=hi,
    )


def _sha256_multihash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def _item(layer: LayerSummary, cfg: RunConfig) -> pystac.Item:
    path = Path(layer.path)
    with rasterio.open(path) as src:
        crs, transform, shape, dtype, nodata = src.crs, src.transform, src.shape, src.dtypes[0], src.nodata
        bounds = src.bounds
    from tasks.grid import lonlat_bounds

    bbox = lonlat_bounds(tuple(bounds), crs.to_wkt())
    w, s, e, n = bbox
    start = datetime(layer.year, 1, 1, tzinfo=timezone.utc) if layer.year else None
    end = datetime(layer.year, 12, 31, 23, 59, 59, tzinfo=timezone.utc) if layer.year else None
    props: dict[str, Any] = {
        "ldn:indicator": layer.indicator,
        "ldn:region": cfg.region,
        "ldn:year": layer.year,
        "ldn:method": layer.attrs.get("method"),
        "ldn:parameters": {
            k: v for k, v in layer.attrs.items() if k not in ("method", "_FillValue", "long_name", "units", "scale_factor")
        },
        "ldn:source_collection": cfg.ndvi().stac.collection if cfg.ndvi().stac else None,
        "ldn:source_items": layer.source_items,
        "ldn:software_version": f"ldn-pipeline {__version__}",
        "title": f"{layer.attrs.get('long_name', layer.indicator)} {layer.year or ''}".strip(),
    }
    item = pystac.Item(
        id=layer.item_id,
        geometry={"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        bbox=list(bbox), datetime=None, start_datetime=start, end_datetime=end, properties=props,
    )
    asset = pystac.Asset(
        href=str(path), media_type=pystac.MediaType.COG, roles=["data"],
        title=props["title"],
    )
    item.add_asset("data", asset)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = crs.to_epsg()
    if epsg:
        proj.code = f"EPSG:{epsg}"
    else:
        proj.code = None
        proj.wkt2 = crs.to_wkt(version="WKT2_2019")
    proj.shape = list(shape)
    proj.transform = list(transform)[:6]
    proj.bbox = list(bounds)
    band = RasterBand.create(
        nodata=nodata, data_type=DataType(dtype), unit=layer.attrs.get("units"),
        scale=layer.attrs.get("scale_factor"), spatial_resolution=abs(transform.a),
        statistics=Statistics.create(
            minimum=layer.minimum, maximum=layer.maximum, mean=layer.mean,
            valid_percent=100.0 * layer.valid_pixels / max(layer.total_pixels, 1),
        ),
    )
    RasterExtension.ext(asset, add_if_missing=True).bands = [band]
    fext = FileExtension.ext(asset, add_if_missing=True)
    fext.checksum = _sha256_multihash(path)
    fext.size = path.stat().st_size
    return item


def begin_version(cfg: RunConfig) -> Staging:
    """Create this run's private staging folder under ``<out_dir>/.staging`` and name its version.

    Staging folders left behind by runs that were killed (their process no longer exists) are removed.
    """
    out_dir = Path(cfg.out_dir).resolve()
    staging_root = out_dir / ".staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    for stale in staging_root.iterdir():
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    now = datetime.now(timezone.utc)
    version = now.strftime("%Y%m%dT%H%M%SZ")
    path = staging_root / f"{version}-{uuid.uuid4().hex[:6]}-{os.getpid()}"
    path.mkdir()
    return Staging(path=str(path), version=version, out_dir=str(out_dir), started=now.isoformat())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def discard_staging(staging: Staging) -> None:
    """Remove a run's staging folder (after a failure); published versions are untouched."""
    shutil.rmtree(staging.path, ignore_errors=True)


_COLLECTION_TEXT = {
    "ndvi-annual": (
        "Annual NDVI integral",
        "Mean of the valid 16-day MOD13Q1 NDVI composites of each calendar year, int16 NDVI x 10000, "
        "nodata -32768 (method notes section 1).",
    ),
}


def publish_version(cfg: RunConfig, staging: Staging, layers: list[LayerSummary]) -> Path:
    """Write the STAC documents for ``layers`` and switch the staged version into place; return its catalog.

    The switch is two atomic steps: rename ``.staging/<run>`` to ``versions/<version>``, then
    ``os.replace`` the root catalog listing all versions (newest first, ``latest-version`` link).
    """
    if not layers:
        raise PublishError("no layers to publish: the run produced nothing, so the catalog was left as it was")
    stage = Path(staging.path)
    out_dir = Path(staging.out_dir)
    catalog = pystac.Catalog(
        id=f"{ROOT_CATALOG_ID}-{staging.version}",
        title=f"ldn-pipeline layers, version {staging.version}",
        description=f"Indicator layers for {cfg.region}, published {staging.version} by ldn-pipeline {__version__}.",
    )
    by_indicator: dict[str, list[LayerSummary]] = {}
    for layer in layers:
        by_indicator.setdefault(layer.indicator, []).append(layer)
    for indicator, group in sorted(by_indicator.items()):
        items = [_item(layer, cfg) for layer in sorted(group, key=lambda g: (g.year or 0, g.item_id))]
        title, description = _COLLECTION_TEXT.get(indicator, (indicator, indicator))
        collection = pystac.Collection(
            id=indicator, title=title, description=description, license="CC-BY-4.0",
            extent=pystac.Extent.from_items(items),
            extra_fields={"ldn:region": cfg.region},
        )
        for item in items:
            collection.add_item(item)
        catalog.add_child(collection)
    catalog.normalize_hrefs(str(stage))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)

    versions = out_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    final = versions / staging.version
    n = 1
    while final.exists():  # two runs in the same second
        final = versions / f"{staging.version}-{n}"
        n += 1
    os.rename(stage, final)
    _write_root(out_dir)
    return final / "catalog.json"


def _write_root(out_dir: Path) -> None:
    """Atomically replace the root catalog with one that lists every complete version."""
    versions = sorted(
        (p for p in (out_dir / "versions").iterdir() if (p / "catalog.json").is_file()),
        key=lambda p: p.name, reverse=True,
    )
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": "./catalog.json", "type": "application/json"},
    ]
    if versions:
        links.append({"rel": "latest-version", "href": f"./versions/{versions[0].name}/catalog.json",
                      "type": "application/json", "title": f"latest: {versions[0].name}"})
    links += [{"rel": "child", "href": f"./versions/{p.name}/catalog.json", "type": "application/json",
               "title": f"version {p.name}"} for p in versions]
    root = {
        "type": "Catalog",
        "stac_version": pystac.get_stac_version(),
        "id": ROOT_CATALOG_ID,
        "title": "ldn-pipeline published indicator layers",
        "description": "Every published version of the SDG 15.3.1 indicator layers; `latest-version` is the newest.",
        "ldn:latest": versions[0].name if versions else None,
        "links": links,
    }
    tmp = out_dir / f".catalog.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(root, indent=2) + "\n")
    os.replace(tmp, out_dir / "catalog.json")


@task(name="begin-version", cache_policy=NO_CACHE)
def begin_version_task(cfg: RunConfig) -> Staging:
    """Open this run's staging folder."""
    return begin_version(cfg)


@task(name="publish-version", cache_policy=NO_CACHE)
def publish_version_task(cfg: RunConfig, staging: Staging, layers: list[LayerSummary]) -> str:
    """Publish the staged layers as a new catalog version; return the version catalog's path."""
    return str(publish_version(cfg, staging, layers))


def summary_dict(layer: LayerSummary) -> dict[str, Any]:
    """A JSON-friendly view of a layer summary (for logs and artifacts)."""
    return asdict(layer)
