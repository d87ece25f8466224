"""Analyst retrieval: list, open and fetch published layers from a catalog without recomputing anything.

``open_layer`` returns a rioxarray DataArray with the layer's class codes, names and colours (from
the STAC classification extension), units and method in ``attrs``; ``layer_items`` lists what a
version holds; asking for a layer or period that does not exist lists what does.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pystac
import xarray as xr

from tasks.constants import DEFAULT_OUTPUTS
from tasks.errors import ConfigError

__all__ = ["DEFAULT_CATALOG", "version_catalog", "layer_items", "find_layer", "open_layer", "fetch_layer", "layer_refs", "published_versions"]

DEFAULT_CATALOG: Path = DEFAULT_OUTPUTS / "catalog" / "catalog.json"
"""The root catalog `ldn run` publishes to by default."""


def _root(root: str | Path) -> tuple[Path, dict[str, str], str | None]:
    root = Path(root)
    if root.is_dir():
        root = root / "catalog.json"
    if not root.is_file():
        raise ConfigError(f"no published catalog at {root}: run `ldn run` first, or pass --catalog")
    doc = json.loads(root.read_text())
    versions = {link["href"].split("/")[-2]: link["href"] for link in doc["links"] if link["rel"] == "child"}
    return root, versions, doc.get("ldn:latest")


def published_versions(root: str | Path = DEFAULT_CATALOG) -> tuple[list[str], str | None]:
    """Every published version under a root catalog, newest first, and the latest one."""
    _, versions, latest = _root(root)
    return sorted(versions, reverse=True), latest


def version_catalog(root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> pystac.Catalog:
    """The catalog of one published version (``latest`` by default) under a root catalog."""
    root, versions, latest = _root(root)
    name = latest if version == "latest" else version
    if name not in versions:
        raise ConfigError(f"version {version!r} is not in {root}; published versions: {sorted(versions, reverse=True)}")
    return pystac.Catalog.from_file(str(root.parent / versions[name]))


def layer_items(root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> list[dict[str, Any]]:
    """One row per published item: indicator, period, year, id, bbox and the path of its main COG."""
    cat = version_catalog(root, version)
    rows = []
    for item in cat.get_items(recursive=True):
        rows.append({
            "indicator": item.properties.get("ldn:indicator"), "period": item.properties.get("ldn:period"),
            "year": item.properties.get("ldn:year"), "id": item.id, "version": cat.id.rsplit("-", 1)[-1],
            "bbox": [round(v, 4) for v in item.bbox], "href": item.assets["data"].get_absolute_href(),
        })
    return sorted(rows, key=lambda r: (r["indicator"] or "", r["period"] or "", r["year"] or 0))


def find_layer(indicator: str, *, period: str | None = None, year: int | None = None,
               root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> pystac.Item:
    """The item of ``indicator`` for ``period`` (or ``year``); a miss lists what the version has."""
    cat = version_catalog(root, version)
    items = list(cat.get_items(recursive=True))
    indicators = sorted({i.properties.get("ldn:indicator") for i in items})
    if indicator not in indicators:
        raise ConfigError(f"no layer {indicator!r} in version {cat.id}; it has {indicators}")
    matches = [i for i in items if i.properties.get("ldn:indicator") == indicator
               and (period is None or i.properties.get("ldn:period") == period)
               and (year is None or i.properties.get("ldn:year") == year)]
    if len(matches) != 1:
        have = sorted({str(i.properties.get("ldn:period") or i.properties.get("ldn:year"))
                       for i in items if i.properties.get("ldn:indicator") == indicator})
        what = f"period {period!r}" if period else (f"year {year}" if year else "a period or year")
        raise ConfigError(f"{indicator!r} has {'no' if not matches else 'more than one'} layer for {what}: "
                          f"choose one of {have} (--period or --year)")
    return matches[0]


def open_layer(indicator: str, *, period: str | None = None, year: int | None = None, asset: str = "data",
               root: str | Path = DEFAULT_CATALOG, version: str = "latest", chunks: Any = None) -> xr.DataArray:
    """A published layer as a (lazy, if ``chunks``) DataArray with its classes, units and method in attrs.

    Examples
    --------
    >>> lpd = open_layer("lpd", period="baseline")  # doctest: +SKIP
    >>> lpd.attrs["classes"][1]  # doctest: +SKIP
    'declining'
    """
    import rioxarray

    item = find_layer(indicator, period=period, year=year, root=root, version=version)
    if asset not in item.assets:
        raise ConfigError(f"{item.id} has no asset {asset!r}; it has {sorted(item.assets)}")
    a = item.assets[asset]
    da = rioxarray.open_rasterio(a.get_absolute_href(), chunks=chunks).squeeze("band", drop=True)
    classes = a.extra_fields.get("classification:classes")
    band = (a.extra_fields.get("raster:bands") or [{}])[0]
    da.attrs.update({
        "stac_item": item.id, "indicator": indicator, "period": item.properties.get("ldn:period"),
        "method": item.properties.get("ldn:method"), "units": band.get("unit"), "scale": band.get("scale"),
    })
    if classes:
        da.attrs["classes"] = {c["value"]: c.get("description", c.get("name")) for c in classes}
        da.attrs["colours"] = {c["value"]: c.get("color_hint") for c in classes if c.get("color_hint")}
    da.name = f"{indicator}:{asset}"
    return da


def fetch_layer(item: pystac.Item, out: str | Path, *, asset: str = "data",
                bbox: tuple[float, float, float, float] | None = None) -> Path:
    """Copy a layer's COG to ``out``, or, with a lon/lat ``bbox``, a GeoTIFF clipped to it."""
    import rioxarray

    out = Path(out)
    src = item.assets[asset].get_absolute_href()
    if bbox is None:
        shutil.copyfile(src, out)
        return out
    da = rioxarray.open_rasterio(src)
    try:
        clipped = da.rio.clip_box(*bbox, crs="EPSG:4326")
    except rioxarray.exceptions.NoDataInBounds:
        raise ConfigError(f"bbox {list(bbox)} does not overlap {item.id} (bbox {item.bbox}): choose an area inside it") from None
    clipped.rio.to_raster(out, driver="COG", compress="DEFLATE")
    return out


def layer_refs(root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> list["LayerRef"]:
    """Every raster asset of a published version that has a period, as report inputs (with class names)."""
    from tasks.report import LayerRef

    refs = []
    for item in version_catalog(root, version).get_items(recursive=True):
        period = item.properties.get("ldn:period")
        if not period:
            continue
        for key, asset in item.assets.items():
            if asset.media_type != pystac.MediaType.COG:
                continue
            classes = asset.extra_fields.get("classification:classes")
            refs.append(LayerRef(
                indicator=item.properties["ldn:indicator"], period=period, asset=key,
                path=asset.get_absolute_href(),
                classes={int(c["value"]): c.get("description", c.get("name")) for c in classes} if classes else None,
            ))
    return refs
