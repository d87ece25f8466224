"""Publishing indicator layers: Cloud-Optimized GeoTIFFs and a versioned, atomically switched STAC catalog.

A run writes every layer into a private staging folder. Only when all layers are written does
``publish_version`` add the STAC documents, move the folder into ``versions/<version>/`` with one
rename, and then replace the root ``catalog.json`` with one atomic ``os.replace``. Readers
therefore see either the previous catalog or the complete new one, never a half-published version,
and every earlier version stays readable. A failed or killed run leaves the published tree as it was.
The layers' files come from ``tasks.io.outputs.items.write_item``.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pystac
import rasterio
import rasterio.crs
import rasterio.shutil
import shapely
import shapely.geometry
from affine import Affine
from odc.geo.geobox import GeoBox
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics

from tasks import __version__
from tasks.config import RunConfig
from tasks.constants import OFF_GRID_INDICATORS
from tasks.errors import PublishError
from tasks.geo.grid import epsg_code, lonlat_bounds, lonlat_footprint, split_bbox
from tasks.geo.mosaic import wraps
from tasks.io.outputs.items import asset_style
from tasks.io.outputs.method_doc import METHOD_TITLE, method_html
from tasks.io.outputs.quicklook import quicklook_png
from tasks.io.outputs.styles import (
    DISPLAY_PERCENTILES,
    LayerStyle,
    ndvi_display_range,
    render,
    visual_values,
    write_qml,
    write_visual,
)
from tasks.io.runtime.cache_keys import cache_key
from tasks.io.runtime.layer_cache import cache_for, link_file, open_entry, store_entry
from tasks.io.runtime.object_store import (
    claim_version,
    release_claim,
    remove_version,
    root_document,
    switch_root,
    upload_version,
)
from tasks.io.runtime.processes import pid_alive
from tasks.io.runtime.run_locks import publishing
from tasks.io.sources.integrity import file_sha256
from tasks.io.sources.run import RunContext
from tasks.model import AssetSummary, LayerSummary, ReportFiles, Staging, Version

__all__ = ["begin_version", "publish_version", "discard_staging", "RENDER_EXTENSION",
           "VISUAL_FORMAT"]




def _sha256_multihash(path: Path) -> str:
    """``file:checksum`` as the STAC file extension writes it: a multihash, ``1220`` (sha2-256, 32 bytes) + hex."""
    return "1220" + file_sha256(path)



def _source_collection(run: RunContext, layer: LayerSummary) -> str | None:
    """The STAC collection a layer is computed from: the precipitation's for the drought layers, else the NDVI's."""
    source = run.precipitation[1] if layer.indicator in OFF_GRID_INDICATORS and run.precipitation is not None else run.ndvi
    return source.stac.collection if source.stac else None


def _item(layer: LayerSummary, run: RunContext, display: tuple[float, float] | None = None) -> pystac.Item:
    """The STAC item of ``layer``: its assets with their styles (NDVI ramps over ``display``, its collection's
    range), classes, visual pictures, tables and quick-look."""
    cfg = run.cfg
    main = next(a for a in layer.assets if a.key == "data")
    with rasterio.open(main.path) as src:
        crs, transform, shape, bounds = src.crs, src.transform, src.shape, src.bounds

    if cfg.bbox is not None and wraps(GeoBox(shape, transform, crs.to_wkt())):
        bbox = cfg.bbox  # the grid continues past 180 degrees: the lon/lat box crosses the antimeridian (west > east)
    else:
        bbox = lonlat_bounds(tuple(bounds), crs.to_wkt())
    boxes = [[[[a, b], [c, b], [c, d], [a, d], [a, b]]] for a, b, c, d in split_bbox(bbox)]
    geometry: dict[str, Any] = ({"type": "Polygon", "coordinates": boxes[0]} if len(boxes) == 1
                                else {"type": "MultiPolygon", "coordinates": boxes})
    if len(boxes) == 1:  # the grid's true outline (a sinusoidal window is a curved quadrilateral in lon/lat)
        geometry = {"type": "Polygon", "coordinates": [[list(p) for p in lonlat_footprint(tuple(bounds), crs.to_wkt())]]}
    area = None
    if (region := run.area_polygons) is not None:  # the data's footprint: the region's polygons within the layer's box

        area = region.label
        part = shapely.intersection(region.geometry, shapely.geometry.shape(geometry))
        polygons = [g for g in shapely.get_parts(part) if g.geom_type == "Polygon"]
        if polygons:
            geometry = shapely.geometry.mapping(polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons))
    first: int | None
    last: int | None
    if layer.year is not None:
        first, last = layer.year, layer.year
    elif layer.window is not None:
        first, last = layer.window
    else:
        first = last = None
    start = datetime(first, 1, 1, tzinfo=timezone.utc) if first else None
    end = datetime(last, 12, 31, 23, 59, 59, tzinfo=timezone.utc) if last else None
    hidden = ("method", "_FillValue", "long_name", "units", "scale_factor", "classes", "tiles")
    props: dict[str, Any] = {
        "ldn:indicator": layer.indicator,
        "ldn:region": cfg.region_id,
        "ldn:area": area,
        "ldn:year": layer.year,
        "ldn:period": layer.period,
        "ldn:window": list(layer.window) if layer.window else None,
        "ldn:method": layer.attrs.get("method"),
        "ldn:parameters": {k: v for k, v in layer.attrs.items() if k not in hidden},
        "ldn:source_collection": _source_collection(run, layer),
        "ldn:source_items": layer.source_items,
        "ldn:tiles": layer.attrs.get("tiles"),
        "ldn:software_version": f"ldn-pipeline {__version__}",
        "title": _title(layer, main),
    }
    item = pystac.Item(
        id=layer.item_id,
        geometry=geometry,
        bbox=list(bbox), datetime=None, start_datetime=start, end_datetime=end,
        properties={k: v for k, v in props.items() if v is not None},
    )
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = epsg_code(crs.to_wkt())
    if epsg:
        proj.code = f"EPSG:{epsg}"
    else:
        proj.code = None
        proj.wkt2 = crs.to_wkt(version="WKT2_2019")
    proj.shape = list(shape)
    proj.transform = list(transform)[:6]
    proj.bbox = list(bounds)
    renders: dict[str, Any] = {}
    for summary in layer.assets:
        style = _add_asset(item, summary, transform, display)
        renders[summary.key] = render(style, summary.key)
        qml_path = write_qml(summary.path, style)
        extra = pystac.Asset(href=str(qml_path), media_type="text/xml", roles=["style"],
                             title=f"QGIS style of {summary.key} (applied when QGIS opens the COG)")
        item.add_asset(f"{summary.key}_style", extra)
        fext = FileExtension.ext(extra, add_if_missing=True)
        fext.checksum = _sha256_multihash(qml_path)
        fext.size = qml_path.stat().st_size
        if style.categorical:
            checksum = FileExtension.ext(item.assets[summary.key]).checksum
            _add_visual(item, summary.key, _visual(cfg, summary.path, style, checksum), style)
    item.properties["renders"] = renders
    item.stac_extensions.append(RENDER_EXTENSION)
    extras = [(name, path, *_TABLE_MEDIA[Path(path).suffix], _table_title(name)) for name, path in layer.tables.items()]
    if layer.quicklook:
        extras.append(("quicklook", layer.quicklook, pystac.MediaType.PNG, ["overview"], "quick-look map"))
    for name, path, media, roles, title in extras:
        extra = pystac.Asset(href=path, media_type=media, roles=roles, title=title)
        item.add_asset(name, extra)
        fext = FileExtension.ext(extra, add_if_missing=True)
        fext.checksum = _sha256_multihash(Path(path))
        fext.size = Path(path).stat().st_size
    return item


_TABLE_MEDIA: dict[str, tuple[str, list[str]]] = {
    ".csv": ("text/csv", ["metadata", "table"]),
    ".parquet": ("application/vnd.apache.parquet", ["metadata", "table"]),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ["metadata", "table"]),
    ".html": (pystac.MediaType.HTML, ["overview", "report"]),
}
"""Media type and roles of the non-raster assets an item can carry."""


VISUAL_FORMAT = 1
"""Bump when ``write_visual`` writes other bytes: cached visuals of the older form are then made again."""


def _visual(cfg: RunConfig, cog: str, style: LayerStyle, checksum: str | None) -> Path:
    """The paletted visual companion of a class map (``write_visual``), linked from the cache when a class map with
    the same bytes (its checksum) and style was drawn before: a refresh links every period's layers, and drawing
    their pictures again would read and write every class pixel of the region for nothing."""
    if not cfg.use_cache or checksum is None:
        return write_visual(cog, style)
    cache = cache_for(cfg, "visual")
    key = cache_key("visual", {"cog": checksum, "style": repr(style), "format": VISUAL_FORMAT})
    path = Path(cog)
    out = path.with_name(f"{path.stem}_visual.tif")
    files = {"visual.tif": out, "visual.tif.aux.xml": Path(f"{out}.aux.xml"), "visual.qml": out.with_suffix(".qml")}
    if (hit := open_entry(cache, key)) is not None:
        for name, target in files.items():
            link_file(hit[0] / name, target)
        return out
    written = write_visual(cog, style)
    store_entry(cache, key, files, {"cog_checksum": checksum})
    return written


def _add_visual(item: pystac.Item, key: str, path: Path, style: LayerStyle) -> None:
    """The paletted rendering of a class map as asset ``<key>_visual`` (role ``visual``): its values, class names
    and colours, so a client can tell the picture from the data."""
    values = visual_values(style)
    asset = pystac.Asset(href=str(path), media_type=pystac.MediaType.COG, roles=["visual"],
                         title=f"{style.title}: paletted picture (colour table; use '{key}' for the class codes)")
    item.add_asset(f"{key}_visual", asset)
    RasterExtension.ext(asset, add_if_missing=True).bands = [RasterBand.create(nodata=0, data_type=DataType.UINT8)]
    ClassificationExtension.ext(asset, add_if_missing=True).classes = [
        Classification.create(value=values[code], name=str(name).replace(" ", "-"), description=f"{code}: {name}",
                              color_hint=colour)
        for code, (name, colour) in sorted(style.classes.items())]
    fext = FileExtension.ext(asset, add_if_missing=True)
    fext.checksum = _sha256_multihash(path)
    fext.size = path.stat().st_size


RENDER_EXTENSION = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
"""The STAC render extension: how titiler and other clients draw an item's assets (``renders``)."""


def _table_title(name: str) -> str:
    if name == "report":
        return "HTML report of the run (maps, per-zone tables, method)"
    if name == "annual_areas":
        return "land cover area by class and year over the run's area (km2)"
    if name == "unccd_xlsx":
        return "UNCCD SO1-1..SO1-4 workbook (per zone, km2)"
    if name.endswith(("_csv", "_parquet")):
        stem, kind = name.rsplit("_", 1)
        if stem == "land_cover_annual":  # the one report table that is not per zone
            return f"table: land cover by class and year over the run's area (km2), {kind.upper()}"
        if stem == "activities":
            return (f"table: indicators inside each registered activity's footprint and in a ring around it, per "
                    f"period (a comparison, not a causal claim), {kind.upper()}")
        if stem == "activity_summary":
            return f"table: registered activities per country by activity area and status, {kind.upper()}"
        if stem == "targets":
            return f"table: national LDN targets tracked over the periods (measured, path, on or off track), {kind.upper()}"
        return f"zonal table: {stem.replace('_', ' ')} per zone (km2), {kind.upper()}"
    return f"{name.replace('_', ' ')} (km2)"


def _title(layer: LayerSummary, main: AssetSummary) -> str:
    name = main.attrs.get("long_name", layer.indicator)
    when = layer.year or layer.period or ""
    return f"{name} {when}".strip()


def _add_asset(item: pystac.Item, summary: AssetSummary, transform: Affine,
               display: tuple[float, float] | None = None) -> LayerStyle:
    """Add one raster asset (raster bands, classes with the colours it is drawn in, checksum); return its style."""
    path = Path(summary.path)
    with rasterio.open(path) as src:
        dtype, nodata = src.dtypes[0], src.nodata
    asset = pystac.Asset(
        href=str(path), media_type=pystac.MediaType.COG,
        roles=["data"] if summary.key == "data" else ["data", "auxiliary"],
        title=summary.attrs.get("long_name", summary.key),
    )
    item.add_asset(summary.key, asset)
    band = RasterBand.create(
        nodata=nodata, data_type=DataType(dtype), unit=summary.attrs.get("units"),
        scale=summary.attrs.get("scale_factor"), spatial_resolution=abs(transform.a),
        statistics=Statistics.create(
            minimum=summary.minimum, maximum=summary.maximum, mean=summary.mean,
            valid_percent=100.0 * summary.valid_pixels / max(summary.total_pixels, 1),
        ),
    )
    RasterExtension.ext(asset, add_if_missing=True).bands = [band]
    classes = summary.attrs.get("classes")
    style = asset_style(summary, nodata, display)
    if summary.categorical and classes:
        drawn = style.classes  # the colours the QGIS style and the renders use, for every code
        ClassificationExtension.ext(asset, add_if_missing=True).classes = [
            Classification.create(value=int(code), name=str(name).replace(" ", "-"), description=str(name),
                                  color_hint=drawn[int(code)][1])
            for code, name in sorted(classes.items(), key=lambda kv: int(kv[0]))
        ]
    fext = FileExtension.ext(asset, add_if_missing=True)
    fext.checksum = _sha256_multihash(path)
    fext.size = path.stat().st_size
    return style


def begin_version(cfg: RunConfig) -> Staging:
    """Create this run's private staging folder under ``<out_dir>/.staging`` and name its version.

    Staging folders left behind by runs that were killed (their process no longer exists) are removed.
    """
    out_dir = Path(cfg.out_dir).resolve()
    staging_root = out_dir / ".staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    for stale in staging_root.iterdir():
        pid = stale.name.split(".", 1)[0].rsplit("-", 1)[-1]  # <run>.tiles, <run>.period-tiles: the run's scratch
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    version = Version.at(datetime.now(timezone.utc))
    path = staging_root / f"{version}-{uuid.uuid4().hex[:6]}-{os.getpid()}"
    path.mkdir()
    return Staging(path=str(path), version=version, out_dir=str(out_dir))


def discard_staging(staging: Staging) -> None:
    """Remove a run's staging folder and its scratch folders (after a failure); published versions are untouched."""
    path = Path(staging.path)
    for scratch in path.parent.glob(f"{path.name}.*"):  # <run>.tiles, <run>.period-tiles
        shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.rmdir()  # .staging itself when no other run is staging: a failed run leaves nothing behind
    except OSError:
        pass


_COLLECTION_TEXT = {
    "drought": (
        "Drought hazard (SO3-1), per year",
        "SPI-12 of December of each year on the precipitation source's own grid (gamma per calendar month on the "
        "calibration period), as float32 (spi) and int16 SPI x 1000 (spi_x1000), with the drought intensity class "
        "(data: 0 non-drought, 1 mild, 2 moderate, 3 severe, 4 extreme; nodata -32768) and the km2 per class and "
        "zone (areas) (UNCCD method notes section 2).",
    ),
    "drought-worst": (
        "Drought hazard (SO3-1), worst year per reporting period",
        "The lowest SPI-12 of December per cell over every year of a reporting period (spi_x1000), the year it "
        "happened (year) and its drought class (data: 0-4, nodata -32768), with the km2 per class and zone (areas) "
        "(UNCCD method notes 2.3).",
    ),
    "drought-exposure": (
        "People under drought (SO3-2), per year",
        "People per cell of the precipitation grid (float32; data: total, female and male when the population source "
        "has the split), negative where the year's SPI-12 is below 0, as Trends.Earth publishes it; with the people "
        "per drought class and zone (people) and the drought vulnerability index's means weighted by area and by "
        "people (vulnerability) (UNCCD method notes 3-4).",
    ),
    "drought-exposure-worst": (
        "People under drought (SO3-2), worst year per reporting period",
        "People per cell of the precipitation grid in each cell's worst year (its population), negative where that "
        "SPI-12 is below 0 (float32), with the people per worst-year drought class and zone (people) (UNCCD method "
        "notes 3).",
    ),
    "sdg-population": (
        "People on degraded land (SO2-3), per reporting period",
        "People per pixel of the analysis grid (float32), negative on land SDG 15.3.1 calls degraded and 0 on water, "
        "with the people (total, female, male) and km2 on improved, stable and degraded land and on land without "
        "data per zone (people) (UNCCD method notes 5).",
    ),
    "ndvi-annual": (
        "Annual NDVI integral",
        "Mean of the valid 16-day MOD13Q1 NDVI composites of each calendar year, int16 NDVI x 10000, "
        "nodata -32768 (method notes section 1).",
    ),
    "ndvi-annual-max": (
        "Annual maximum NDVI",
        "Largest valid 16-day MOD13Q1 NDVI composite of each calendar year (same validity rule as the annual "
        "mean), int16 NDVI x 10000, nodata -32768; FAO-WOCAT's desert mask reads it (method notes 2.6).",
    ),
    "trajectory": (
        "Productivity trajectory",
        "Trend of annual NDVI per reporting period: 3-class map (data: -1 degrading, 0 stable, +1 improving), "
        "classes -3..+3, Sen's and OLS slopes (NDVI/yr), Mann-Kendall z and p (method notes 2.1).",
    ),
    "state": (
        "Productivity state",
        "Recent NDVI against the baseline years' distribution per period: 3-class map and class change "
        "(method notes 2.2).",
    ),
    "performance": (
        "Productivity performance",
        "Window-mean NDVI against the 90th percentile of its land unit: -1 degraded (ratio <= 0.5), 0 not "
        "degraded; ratio and unit percentile beside it (method notes 2.3).",
    ),
    "land-cover": (
        "Land cover sub-indicator",
        "Land cover degradation per period from 7-class transitions (data: -1 degraded, 0 stable, +1 improved), "
        "transition codes (initial x 10 + final), both years' 7-class maps and a km2 transition table "
        "(method notes section 3).",
    ),
    "soc": (
        "Soil organic carbon sub-indicator",
        "SOC change per period from the IPCC 20-year conversion model: 3-class map (data), stocks of the first and "
        "last year (t C/ha) and percent change (method notes section 4).",
    ),
    "sdg-15-3-1": (
        "SDG 15.3.1",
        "Proportion of land that is degraded: one out, all out of productivity, land cover and SOC per period "
        "(-1 degraded, 0 stable, +1 improved; method notes section 5).",
    ),
    "status": (
        "Status against the baseline",
        "7-class status of each reporting period against the baseline for SDG 15.3.1 (data) and each "
        "sub-indicator, with the 3-class recode (GPG addendum).",
    ),
    "ldn-balance": (
        "LDN balance",
        "No net loss per land type for each reporting period against the baseline (UNCCD method notes section 6): "
        "gains (+1, status 6-7), losses (-1, status 1-2) and neutral land (0, status 3-5) (data), and the land type "
        "each pixel is balanced within (land_type: the baseline's initial land cover, crossed with the land units "
        "when configured, or the user's land types).",
    ),
    "lpd": (
        "Land productivity dynamics",
        "Five-class LPD (1 declining .. 5 increasing) per period and the 3-class productivity sub-indicator: "
        "Trends.Earth's table of trajectory, state and performance (method notes 2.4), or FAO-WOCAT's with its "
        "trend, MTID, steadiness, initial biomass, emerging state and combination as assets (2.6); "
        "`ldn:parameters` says which.",
    ),
}


def publish_version(run: RunContext, staging: Staging, layers: list[LayerSummary],
                    report: ReportFiles | None = None) -> Path:
    """Write the STAC documents for ``layers`` and switch the staged version into place; return its catalog.

    A ``report``'s zonal tables and workbook become assets of each period's SDG 15.3.1 item, and its
    HTML report an asset of every SDG item and a link of the version catalog. The switch is two
    atomic steps: rename ``.staging/<run>`` to ``versions/<version>``, then ``os.replace`` the root
    catalog listing all versions (newest first, ``latest-version`` link).
    """
    cfg = run.cfg
    if not layers:
        raise PublishError("no layers to publish: the run produced nothing, so the catalog was left as it was")
    if report is not None and report.html:
        layers = [replace(layer, tables={**layer.tables, **report.tables.get(layer.period or "", {}), "report": report.html})
                  if layer.indicator == "sdg-15-3-1" else layer for layer in layers]
    stage = Path(staging.path)
    out_dir = Path(staging.out_dir)
    catalog = pystac.Catalog(
        id=staging.version.catalog_id,  # named again below if another run published this name meanwhile
        title=f"ldn-pipeline layers, {cfg.region_id}",  # no version here: items of reruns stay byte-identical
        description="",
    )
    by_indicator: dict[str, list[LayerSummary]] = {}
    for layer in layers:
        by_indicator.setdefault(layer.indicator, []).append(layer)
    for indicator, group in sorted(by_indicator.items()):
        display = _display_range(group) if indicator in NDVI_COLLECTIONS else None
        items = [_item(layer, run, display[1] if display else None)
                 for layer in sorted(group, key=lambda g: (g.year or 0, g.window or (0, 0), g.item_id))]
        title, description = _COLLECTION_TEXT.get(indicator, (indicator, indicator))
        collection = pystac.Collection(
            id=indicator, title=title, description=description, license="CC-BY-4.0",
            extent=pystac.Extent.from_items(items), keywords=_keywords(indicator, cfg),
            providers=_providers(indicator, run), summaries=_summaries(items),
            extra_fields={"ldn:region": cfg.region_id, "item_assets": _item_assets(items)},
        )
        if display is not None:
            collection.extra_fields["ldn:display_range"] = {
                "percentiles": list(DISPLAY_PERCENTILES), "stored": list(display[0]), "ndvi": list(display[1]),
                "note": "the NDVI ramp of every year's QGIS style, render and quick-look: the percentiles of all "
                        "years' values pooled, so years compare"}
        if "data" in items[0].properties.get("renders", {}):
            collection.extra_fields["renders"] = {"data": items[0].properties["renders"]["data"]}
            collection.stac_extensions.append(RENDER_EXTENSION)
        for item in items:
            collection.add_item(item)
        catalog.add_child(collection)
    if report is not None and report.html:
        catalog.add_link(pystac.Link(rel="describedby", target=f"./{Path(report.html).relative_to(stage).as_posix()}",
                                     media_type=pystac.MediaType.HTML, title="HTML report of this version"))
    (stage / "method.html").write_text(method_html(), encoding="utf-8")  # what "method notes section N" cites
    catalog.add_link(pystac.Link(rel="describedby", target="./method.html", media_type=pystac.MediaType.HTML,
                                 title=METHOD_TITLE))
    catalog.normalize_hrefs(str(stage))
    catalog.make_all_asset_hrefs_relative()
    (out_dir / "versions").mkdir(parents=True, exist_ok=True)
    store = cfg.publish_url
    with publishing(out_dir):  # one switch at a time: the root catalog lists every version renamed before it
        version = staging.version.unused_in(out_dir)  # two runs in the same second: the second is <name>-1
        if store is not None:  # the name free in the store too, claimed there before anything is uploaded
            version = claim_version(store, version, taken=lambda v: v.folder(out_dir).exists())
        catalog.id = version.catalog_id
        catalog.description = f"Indicator layers for {cfg.region_id}, published {version} by ldn-pipeline {__version__}."
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        if store is not None:
            try:
                upload_version(store, stage, version)
                switch_root(store, version)
            except PublishError:
                remove_version(store, version.name, quiet=True)
                raise
            finally:
                release_claim(store, version)
        os.rename(stage, version.folder(out_dir))  # the local copy of what was published (a store's, too)
        _write_root(out_dir)
    return version.folder(out_dir) / "catalog.json"


NDVI_COLLECTIONS: tuple[str, ...] = ("ndvi-annual", "ndvi-annual-max")
"""The collections whose ramp spans their own range (``ndvi_display_range``), the same for every year."""


def _display_range(group: list[LayerSummary]) -> tuple[tuple[int, int], tuple[float, float]] | None:
    """An NDVI collection's display range (stored values, and NDVI) from all its years, and each year's quick-look
    drawn again over it (beside, then moved into place: the one there may be a link into the layer cache)."""
    mains = [next(a for a in layer.assets if a.key == "data") for layer in group]
    stored = ndvi_display_range([a.path for a in mains])
    if stored is None:
        return None
    scale = float(mains[0].attrs.get("scale_factor") or 1.0)
    shown = (round(stored[0] * scale, 6), round(stored[1] * scale, 6))
    for layer, main in zip(group, mains):
        if not layer.quicklook:
            continue
        png = Path(layer.quicklook)
        scratch = png.with_name(f".{png.name}.tmp.png")
        quicklook_png(main.path, scratch, title=f"{main.attrs.get('long_name', layer.indicator)} ({layer.year or ''})",
                      units=main.attrs.get("units"), display=shown)
        os.replace(scratch, png)
    return stored, shown


_INPUTS: dict[str, tuple[str, ...]] = {
    "ndvi-annual": ("ndvi",), "ndvi-annual-max": ("ndvi",), "trajectory": ("ndvi",), "state": ("ndvi",),
    "performance": ("ndvi", "land_cover"), "lpd": ("ndvi", "land_cover"), "land-cover": ("land_cover",),
    "soc": ("soc", "land_cover"), "drought": ("precipitation",), "drought-worst": ("precipitation",),
    "drought-exposure": ("precipitation", "population", "vulnerability"),
    "drought-exposure-worst": ("precipitation", "population"), "sdg-population": ("ndvi", "land_cover", "population"),
}
"""The input roles behind each indicator (the collection's producers); the others use all three."""


def _providers(indicator: str, run: RunContext) -> list[pystac.Provider]:
    """Who made the collection: ldn-pipeline processed it from the named sources (their ``description``), as the
    run read them (``run.sources``), not the sources file again."""
    cfg = run.cfg
    names = {"ndvi": cfg.ndvi_source, "land_cover": cfg.land_cover_source, "soc": cfg.soc_source,
             "precipitation": run.precipitation[0] if run.precipitation is not None else None,
             "population": run.population[0] if run.population is not None else None,
             "vulnerability": run.vulnerability[0] if run.vulnerability is not None else None}
    out = [pystac.Provider(name="ldn-pipeline", roles=[pystac.ProviderRole.PROCESSOR],
                           description=f"SDG 15.3.1 indicator layers computed by ldn-pipeline {__version__} "
                                       "(UNCCD Good Practice Guidance v2).")]
    for role in _INPUTS.get(indicator, ("ndvi", "land_cover", "soc")):
        name = names[role]
        source = run.sources.sources.get(name) if name else None
        if name is None or source is None:  # a run without that source (e.g. an NDVI-only refresh): nothing to credit
            continue
        out.append(pystac.Provider(name=name, roles=[pystac.ProviderRole.PRODUCER],
                                   description=" ".join(source.description.split()) or None))
    return out


def _keywords(indicator: str, cfg: RunConfig) -> list[str]:
    return ["SDG 15.3.1", "land degradation", "Land Degradation Neutrality", "UNCCD", indicator, "North-East Asia",
            cfg.region_id]


def _summaries(items: list[pystac.Item]) -> pystac.Summaries:
    """What varies across a collection's items: the periods or the years, and the indicator."""
    periods = sorted({i.properties["ldn:period"] for i in items if i.properties.get("ldn:period")})
    years = sorted({i.properties["ldn:year"] for i in items if i.properties.get("ldn:year") is not None})
    doc: dict[str, Any] = {"ldn:indicator": sorted({i.properties["ldn:indicator"] for i in items})}
    if periods:
        doc["ldn:period"] = periods
    if years:
        doc["ldn:year"] = {"minimum": years[0], "maximum": years[-1]}
    return pystac.Summaries(doc)


def _item_assets(items: list[pystac.Item]) -> dict[str, dict[str, Any]]:
    """The assets every item of the collection may carry (first occurrence), without per-item hrefs, statistics
    and checksums: what STAC browsers and odc-stac read to know the bands before opening an item."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        for key, asset in item.assets.items():
            if key in out:
                continue
            doc = {k: v for k, v in asset.to_dict().items() if k not in ("href", "file:checksum", "file:size")}
            if "raster:bands" in doc:
                doc["raster:bands"] = [{k: v for k, v in b.items() if k != "statistics"} for b in doc["raster:bands"]]
            out[key] = doc
    return out


def _write_root(out_dir: Path) -> None:
    """Atomically replace the root catalog with one that lists every complete version."""
    versions = [p.name for p in (out_dir / "versions").iterdir() if (p / "catalog.json").is_file()]
    tmp = out_dir / f".catalog.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(root_document(versions), indent=2) + "\n")
    os.replace(tmp, out_dir / "catalog.json")
