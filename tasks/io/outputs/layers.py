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

import numpy as np
import pystac
import rasterio
import rioxarray
import rioxarray.exceptions
import shapely
import xarray as xr
from pystac.utils import make_absolute_href
from rasterio.windows import Window

from tasks.constants import DEFAULT_OUTPUTS
from tasks.errors import ConfigError
from tasks.geo.boxes import lonlat_box_problem
from tasks.io.outputs.cog import cog_from_tiled, write_layer
from tasks.io.sources.integrity import gdal_reads_s3, local_path, open_href, url_filesystem
from tasks.model import AssetSummary, LayerSummary, Version

__all__ = ["DEFAULT_CATALOG", "is_url", "clip_to_bbox", "version_catalog", "layer_items", "find_layer", "open_layer", "fetch_layer", "published_layers", "published_versions", "read_block"]

DEFAULT_CATALOG: Path = DEFAULT_OUTPUTS / "catalog" / "catalog.json"
"""The root catalog `ldn run` publishes to by default."""


def is_url(root: str | Path) -> bool:
    """True for a catalog given as a URL (``http(s)://``, ``s3://``, any fsspec scheme), not a local path."""
    return isinstance(root, str) and local_path(root) is None


class _ReadIO(pystac.StacIO):
    """pystac's reader of catalog JSON at any href ``tasks.io.sources.integrity.open_href`` takes (local, http(s), s3://, ...);
    a retrieval never writes."""

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = source if isinstance(source, str) else source.get_absolute_href()
        with open_href(str(href)) as f:
            return f.read().decode("utf-8")

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        raise ConfigError(f"a published catalog is read-only here: not writing {dest}")


def _read_json(href: str) -> dict[str, Any]:
    try:
        return json.loads(_ReadIO().read_text(href))
    except ConfigError:  # already says what to do (a missing fsspec driver)
        raise
    except (OSError, ValueError) as err:
        missing = isinstance(err, OSError) and ("is missing" in str(err) or isinstance(err, FileNotFoundError))
        raise ConfigError(f"no published catalog at {href}: check the URL (the root catalog.json that `ldn run` "
                          "publishes, or its folder)" if missing else
                          f"the catalog at {href} cannot be read ({err}): check the URL and that the server is up") from None


def _root(root: str | Path) -> tuple[str, dict[str, str], str | None]:
    """The root catalog's href, its versions (name -> absolute href of the version's catalog) and the latest."""
    if is_url(root):
        href = str(root) if str(root).endswith(".json") else str(root).rstrip("/") + "/catalog.json"
        doc = _read_json(href)
    else:
        path = Path(str(root).removeprefix("file://"))
        if path.is_dir():
            path = path / "catalog.json"
        if not path.is_file():
            raise ConfigError(f"no published catalog at {path}: run `ldn run` first, or pass --catalog")
        href = str(path.resolve())
        doc = json.loads(path.read_text())
    if doc.get("type") != "Catalog" or "links" not in doc:
        raise ConfigError(f"{href} is not a STAC catalog: give the root catalog.json that `ldn run` publishes")
    versions = {Version.of_catalog(link["href"]).name: make_absolute_href(link["href"], href)
                for link in doc["links"] if link["rel"] == "child"}
    return href, versions, doc.get("ldn:latest")


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
    return pystac.Catalog.from_file(versions[name], stac_io=_ReadIO())


def layer_items(root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> list[dict[str, Any]]:
    """One row per published item: indicator, period, year, id, bbox and the path of its main COG."""
    cat = version_catalog(root, version)
    name = Version.of_catalog(cat.self_href).name
    rows = []
    for item in cat.get_items(recursive=True):
        rows.append({
            "indicator": item.properties.get("ldn:indicator"), "period": item.properties.get("ldn:period"),
            "year": item.properties.get("ldn:year"), "id": item.id, "version": name,
            "bbox": _bbox(item), "href": _href(item.assets["data"]),
        })
    return sorted(rows, key=lambda r: (r["indicator"] or "", r["period"] or "", r["year"] or 0))


def find_layer(indicator: str, *, period: str | None = None, year: int | None = None,
               root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> pystac.Item:
    """The item of ``indicator`` for ``period`` (or ``year``); a miss lists what the version has."""
    cat = version_catalog(root, version)
    items = list(cat.get_items(recursive=True))
    indicators = sorted({str(v) for i in items if (v := i.properties.get("ldn:indicator")) is not None})
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


def _raster_source(href: str) -> tuple[str, dict[str, Any]]:
    """What rasterio (and rioxarray) open for a published raster: the path, with fsspec's file system as the opener
    for object-store schemes (rasterio would hand ``s3://`` to GDAL's /vsis3/, with other settings); GDAL reads
    local files and http(s) itself (ranged requests)."""
    if is_url(href) and not href.startswith(("http://", "https://")):
        fs, path = url_filesystem(href)
        return path, {"opener": fs}
    return href, {}


def _open_raster(href: str, chunks: Any = None) -> xr.DataArray:
    """A published COG at a local path or URL: GDAL reads http(s) itself (ranged requests), fsspec the other
    schemes (``s3://`` with the usual AWS_* settings, ...)."""
    path, kwargs = _raster_source(href)
    try:
        opened = rioxarray.open_rasterio(path, chunks=chunks, **kwargs)
        if not isinstance(opened, xr.DataArray):
            raise ConfigError(f"{href} holds several subdatasets, not one raster layer: open one of them")
        da = opened.squeeze("band", drop=True)
        da.encoding["source"] = href
        return da
    except Exception as err:  # rasterio's and fsspec's own errors: one line that names the file
        raise ConfigError(f"cannot read the layer {href} ({str(err).splitlines()[0]}): check that it is published "
                          "and reachable") from None


def _href(asset: pystac.Asset) -> str:
    """An asset's absolute href (a catalog opened from its file or URL always gives one)."""
    href = asset.get_absolute_href()
    if href is None:
        raise ConfigError(f"asset {asset.href!r} has no absolute location: open the catalog from its file or URL")
    return href


def _bbox(item: pystac.Item) -> list[float]:
    """An item's lon/lat box, rounded for messages and listings."""
    return [round(v, 4) for v in item.bbox or []]


def _box_geometry(bbox: tuple[float, float, float, float]) -> Any:
    west, south, east, north = bbox
    return shapely.segmentize(shapely.box(west, south, east, north), 0.01)  # edges densified: curved in sinusoidal


def clip_to_bbox(da: xr.DataArray, bbox: tuple[float, float, float, float], *, name: str) -> xr.DataArray:
    """``da`` cut to a lon/lat ``bbox``: the rows and columns around the box, and pixels whose centre lies outside
    the box set to nodata. On a projected grid (MODIS sinusoidal) a lon/lat box is not a rectangle, so its
    envelope alone would keep land the caller did not ask for."""
    if (problem := lonlat_box_problem(*bbox, antimeridian=False)) is not None:
        raise ConfigError(problem)

    try:
        return da.rio.clip([_box_geometry(bbox)], crs="EPSG:4326", drop=True, all_touched=False, from_disk=True)
    except rioxarray.exceptions.NoDataInBounds:
        raise ConfigError(f"bbox {list(bbox)} holds no pixel of {name}: choose an area inside the layer's outline "
                          "(the item's geometry; on the sinusoidal grid a curved quadrilateral, narrower than its "
                          "lon/lat bbox)") from None


def open_layer(indicator: str, *, period: str | None = None, year: int | None = None, asset: str = "data",
               root: str | Path = DEFAULT_CATALOG, version: str = "latest", chunks: Any = None,
               bbox: tuple[float, float, float, float] | None = None, masked: bool = False,
               raw: bool = False) -> xr.DataArray:
    """A published layer as a (lazy, if ``chunks``) DataArray with its classes, units and method in attrs.

    ``root`` is a local catalog or its URL (http(s), s3, ...). ``bbox`` (west, south, east, north, degrees)
    keeps the pixels inside that box (nodata around it). Scaled layers (annual NDVI) come as physical values
    (float32, NaN where nodata) unless ``raw``; ``masked`` turns nodata into NaN for every layer, class maps
    included (then float32). Class maps otherwise keep their int16 codes and nodata value.

    Examples
    --------
    >>> lpd = open_layer("lpd", period="baseline")  # doctest: +SKIP
    >>> lpd.attrs["classes"][1]  # doctest: +SKIP
    'declining'
    >>> ndvi = open_layer("ndvi-annual", year=2003, bbox=(111.8, 43.6, 112.0, 43.8))  # doctest: +SKIP
    """
    item = find_layer(indicator, period=period, year=year, root=root, version=version)
    if asset not in item.assets:
        raise ConfigError(f"{item.id} has no asset {asset!r}; it has {sorted(item.assets)}")
    a = item.assets[asset]
    da = _open_raster(_href(a), chunks=chunks)
    if bbox is not None:
        da = clip_to_bbox(da, bbox, name=f"{item.id} (bbox {_bbox(item)})")
    classes = a.extra_fields.get("classification:classes")
    band = (a.extra_fields.get("raster:bands") or [{}])[0]
    scale, offset = band.get("scale"), band.get("offset")
    nodata = da.rio.nodata
    attrs = dict(da.attrs)
    scaled = scale not in (None, 1) and not raw
    if (masked or scaled) and nodata is not None and not np.isnan(nodata):
        da = da.where(da != nodata).astype("float32")
        attrs = {k: v for k, v in attrs.items() if k != "_FillValue"}
    if scaled:
        da = (da * np.float32(scale) + np.float32(offset or 0)).astype("float32")
        attrs = {k: v for k, v in attrs.items() if k not in ("scale_factor", "add_offset")}
    da.attrs = attrs
    if (masked or scaled) and nodata is not None:
        da = da.rio.write_nodata(np.nan, encoded=False)
    da.attrs.update({
        "stac_item": item.id, "indicator": indicator, "period": item.properties.get("ldn:period"),
        "method": item.properties.get("ldn:method"), "units": band.get("unit"), "scale": scale,
        "scaled": scaled,
    })
    if classes:
        da.attrs["classes"] = {c["value"]: c.get("description", c.get("name")) for c in classes}
        da.attrs["colours"] = {c["value"]: c.get("color_hint") for c in classes if c.get("color_hint")}
    da.name = f"{indicator}:{asset}"
    da.encoding.setdefault("source", a.get_absolute_href())  # kept where masking or scaling made a new array
    return da


def _sidecars(item: pystac.Item, asset: str) -> dict[str, str]:
    """The files that style a layer where it is published, by the suffix they take beside a copy: its QGIS style
    (``<key>_style`` asset, or the ``.qml`` beside a paletted picture) and a picture's category names
    (``.tif.aux.xml``, GDAL's PAM), so a download opens styled exactly like the published layer."""
    a = item.assets[asset]
    href = _href(a)
    out = {}
    if (style := item.assets.get(f"{asset}_style")) is not None:
        out[".qml"] = _href(style)
    elif "visual" in (a.roles or []) and href.endswith(".tif"):
        out[".qml"] = href[: -len(".tif")] + ".qml"
    if "visual" in (a.roles or []):
        out[".aux.xml"] = f"{href}.aux.xml"
    return out


def _read_sidecars(item: pystac.Item, asset: str) -> dict[str, bytes]:
    """The bytes of a layer's styling files (``_sidecars``) that exist; a style that cannot be read is an error."""
    found = {}
    for suffix, href in _sidecars(item, asset).items():
        try:
            with open_href(href) as f:
                found[suffix] = f.read()
        except OSError as err:  # open_href says "is missing" for an absent file and HTTP 403/404/410
            if "is missing" in str(err):
                continue  # published before the layer had this file
            raise ConfigError(f"cannot read the style of {item.id} ({href}): {err}") from None
    return found


def _colour_table(href: str) -> dict[int, tuple[int, ...]] | None:
    """The colour table of a paletted picture's band (local, http(s) or an fsspec URL), or None."""
    path, kwargs = _raster_source(href)
    try:
        with rasterio.open(path, **kwargs) as layer:
            return layer.colormap(1)
    except ValueError:  # no colour table
        return None
    except rasterio.RasterioIOError as err:
        raise ConfigError(f"cannot read the colour table of {href}: {err}") from None


def fetch_layer(item: pystac.Item, out: str | Path, *, asset: str = "data",
                bbox: tuple[float, float, float, float] | None = None) -> Path:
    """Copy a layer's COG (local or remote) to ``out``, or, with a lon/lat ``bbox``, a COG cut to that box: the
    rows and columns around it, and pixels outside the box nodata. Its styling comes along as published: the QGIS
    style beside it (``<out>.qml``), and for a paletted picture its colour table (in the file, the clip too) and
    category names (``<out>.aux.xml``). Written beside ``out`` and renamed into place, so a failed fetch leaves
    no partial file."""
    out = Path(out)
    src = _href(item.assets[asset])
    sidecars = _read_sidecars(item, asset)
    tmp = out.with_name(f".{out.name}.part")
    tiled = out.with_name(f".{out.name}.tiled.tif")
    try:
        if bbox is None:
            try:
                with open_href(src) as f, open(tmp, "wb") as dst:
                    shutil.copyfileobj(f, dst, 1 << 20)
            except OSError as err:
                raise ConfigError(f"cannot copy {item.id}: {err}") from None
        else:
            da = clip_to_bbox(_open_raster(src), bbox, name=f"{item.id} (bbox {_bbox(item)})")
            colours = _colour_table(src) if "visual" in (item.assets[asset].roles or []) else None
            write_layer(da, tiled, nodata=da.rio.nodata, transform=da.rio.transform(),  # rio.clip's exact grid
                        colormap=colours)
            # the published layers' own COG profile; class maps keep their codes in the overviews
            cog_from_tiled(tiled, tmp, categorical="classification:classes" in item.assets[asset].extra_fields
                           or colours is not None)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        tiled.unlink(missing_ok=True)
        Path(f"{tiled}.aux.xml").unlink(missing_ok=True)
    for suffix, data in sidecars.items():
        target = out.with_suffix(".qml") if suffix == ".qml" else Path(f"{out}{suffix}")
        part = target.with_name(f".{target.name}.part")
        part.write_bytes(data)
        part.replace(target)
    return out


def published_layers(root: str | Path = DEFAULT_CATALOG, version: str = "latest") -> tuple[pystac.Catalog, list[LayerSummary]]:
    """A published version and its items as the records the run that wrote them handed on (``LayerSummary``), so
    ``ldn report`` builds its inputs with the run's own report code. Each raster asset carries its class names
    (STAC classification), scale and statistics (raster bands); each CSV asset is one of the item's tables;
    the paletted pictures beside class maps are for looking, not for tables, and are left out. The report reads
    the layers with GDAL, so a catalog in S3-compatible storage is read at the AWS_* environment's endpoint
    (``gdal_reads_s3``)."""
    if str(root).startswith("s3://"):
        gdal_reads_s3()
    cat = version_catalog(root, version)
    layers = []
    for item in cat.get_items(recursive=True):
        props = item.properties
        assets, tables = [], {}
        for key, asset in item.assets.items():
            if asset.media_type == "text/csv":
                tables[key] = _href(asset)
            if asset.media_type != pystac.MediaType.COG or "visual" in (asset.roles or []):
                continue
            classes = asset.extra_fields.get("classification:classes")
            band = (asset.extra_fields.get("raster:bands") or [{}])[0]
            stats = band.get("statistics") or {}
            attrs: dict[str, Any] = {"classes": {int(c["value"]): c.get("description", c.get("name")) for c in classes}
                                     } if classes else {}
            if band.get("scale") is not None:
                attrs["scale_factor"] = band["scale"]
            assets.append(AssetSummary(key=key, path=_href(asset), categorical=bool(classes), attrs=attrs,
                                       valid_pixels=0, total_pixels=0, mean=stats.get("mean"),
                                       minimum=stats.get("minimum"), maximum=stats.get("maximum")))
        window = props.get("ldn:window")
        layers.append(LayerSummary(
            indicator=props.get("ldn:indicator", ""), item_id=item.id, year=props.get("ldn:year"),
            attrs={"method": props.get("ldn:method"), **(props.get("ldn:parameters") or {})},
            source_items=list(props.get("ldn:source_items") or []), assets=assets, period=props.get("ldn:period"),
            window=(int(window[0]), int(window[1])) if window else None, tables=tables))
    return cat, layers


def read_block(src: rasterio.DatasetReader, window: Window, *, boundless: bool = False) -> np.ndarray:
    """A block of a published layer's first band as float64, NaN where it has no data, its scale and offset applied:
    the values the zonal tables and the activity statistics weigh. ``boundless`` reads a window that reaches past
    the raster (an activity's ring at the edge of the run), the part outside as no data."""
    fill = src.nodata if src.nodata is not None else 0
    data = src.read(1, window=window, boundless=boundless, fill_value=fill if boundless else None).astype("float64")
    if src.nodata is not None and not np.isnan(src.nodata):
        data[data == src.nodata] = np.nan
    scale, offset = (src.scales or (1.0,))[0], (src.offsets or (0.0,))[0]
    return data * scale + offset if (scale, offset) != (1.0, 0.0) else data
