"""Loading scenes: STAC items to a lazy, chunked (time, y, x) cube on the analysis grid.

odc-stac builds the Dask graph; nothing is read until the cube is computed or written. Raw values
are kept (no scaling here): masking and scaling follow the source config in the science functions.
Asset hrefs are signed first where the source needs it (Planetary Computer).
"""
from __future__ import annotations

import re
from typing import Any

import odc.stac
import pystac
import rasterio.errors
import xarray as xr
from odc.geo.geobox import GeoBox

from tasks.config import RunConfig, Source
from tasks.errors import ConfigError, SceneReadError
from tasks.grid import native_bounds, snapped_geobox

__all__ = ["analysis_geobox", "load_cube", "sign_items", "scene_read_error"]

_URL = re.compile(r"(https?://[^\s'\"]+|/vsicurl/[^\s'\"]+|/[^\s'\"]+\.tif)")


def analysis_geobox(cfg: RunConfig, source: Source) -> GeoBox:
    """The run's pixel grid: the source's native CRS and resolution, aligned to its grid origin."""
    if source.crs is None or source.resolution is None:
        raise ConfigError(
            f"source {cfg.ndvi_source!r} in {cfg.sources_file} needs `crs` and `resolution` to build the analysis grid"
        )
    bounds = cfg.native_bounds if cfg.native_bounds is not None else native_bounds(cfg.bbox, source.crs)
    return snapped_geobox(bounds, source.crs, source.resolution, source.grid_origin)


def sign_items(items: list[pystac.Item], source: Source) -> list[pystac.Item]:
    """Items with readable asset hrefs: signed for Planetary Computer sources, unchanged otherwise."""
    if source.stac is None or source.stac.signing == "none":
        return items
    import planetary_computer

    return [planetary_computer.sign(it) for it in items]


def load_cube(items: list[pystac.Item], source: Source, geobox: GeoBox, *, chunk: int) -> xr.Dataset:
    """A lazy Dataset with one variable per asset of ``source`` (named as in the config), on ``geobox``.

    Chunks are ``chunk`` x ``chunk`` pixels and one scene deep; raw dtype and nodata come from the
    source config, so sources whose items lack ``raster:bands`` nodata (MOD13Q1) are read correctly.
    """
    assert source.stac is not None
    assets = {name: spec for name, spec in source.assets.items()}
    cfg = {source.stac.collection: {"assets": {
        spec.key: {"data_type": spec.dtype, "nodata": spec.nodata} for spec in assets.values()
    }}}
    odc.stac.configure_rio(cloud_defaults=True)
    ds = odc.stac.load(
        sign_items(items, source),
        bands=[spec.key for spec in assets.values()],
        geobox=geobox,
        chunks={"x": chunk, "y": chunk},
        stac_cfg=cfg,
        groupby="id",
        resampling="nearest",
        fail_on_error=True,
    )
    ds = ds.rename({spec.key: name for name, spec in assets.items()})
    ds.attrs["source_items"] = [it.id for it in items]
    return ds


def scene_read_error(err: Exception, items: list[pystac.Item] | list[dict[str, Any]]) -> SceneReadError:
    """Turn a GDAL/rasterio read failure into a one-line error naming the scene and the fix."""
    text = str(err)
    href_to_id = {}
    for it in items:
        d = it.to_dict() if isinstance(it, pystac.Item) else it
        for asset in d["assets"].values():
            href_to_id[asset["href"].split("?")[0]] = d["id"]
    culprit = next((iid for href, iid in href_to_id.items() if href in text or href.rsplit("/", 1)[-1] in text), None)
    url = _URL.search(text)
    where = f"scene {culprit!r}" if culprit else "a scene"
    kind = "is missing (HTTP 404)" if "404" in text else (
        "is truncated or corrupt" if isinstance(err, rasterio.errors.RasterioIOError) or "TIFF" in text else "could not be read"
    )
    return SceneReadError(
        f"{where} {kind}: {url.group(0) if url else text.splitlines()[0][:200]}; "
        "re-download or repair it at the source, or exclude it, then rerun"
    )
