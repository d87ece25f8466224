"""How a published layer is drawn: one palette per class map, one colour ramp per continuous layer, nodata apart.

Analysts open the layers in QGIS, titiler or a browser, and none of those reads the STAC classification
extension by itself. So every COG of a version gets, from the same ``LayerStyle``:

- a QGIS style beside it (``<file>.qml``; QGIS applies a style of the file's name when it opens the file,
  and the STAC asset with role ``style`` points at it): a paletted renderer with the class codes, names and
  colours, or a pseudocolour ramp;
- the STAC render extension (``renders`` in the item): an ``expression`` drawing the classes in their colours, or
  ``rescale`` + ``colormap_name``, which titiler's ``/stac/renders`` (and every TileJSON, tile and WMTS link it
  gives), ``/stac/preview?...`` and other render-aware clients use;
- the quick-look PNGs and the report maps (``tasks.io.outputs.quicklook``) draw nodata in ``NODATA_COLOUR`` too.

Class maps stay int16 with nodata -32768 (Trends.Earth's convention, 3-class maps use -1/0/1): GeoTIFF
colour tables exist only for Byte and UInt16 bands, so the styles travel beside the COG, not inside it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import rasterio
import rasterio.shutil

from tasks.constants import DROUGHT_CLASSES, LAND_COVER_COLOURS, LPD_CLASSES, STATUS_COLOURS, THREE_CLASSES
from tasks.io.outputs.cog import cog_from_tiled, open_scratch_geotiff

__all__ = ["NODATA_COLOUR", "NDVI_RAMP", "DISPLAY_PERCENTILES", "LayerStyle", "ndvi_display_range",
           "class_colour_expression", "class_colours", "layer_style", "qml", "render", "write_qml", "visual_values",
           "write_visual"]

NODATA_COLOUR = "4d4d4d"
"""Nodata in quick-looks, the report and QGIS styles: a dark grey that no class colour is near (stable in
3-class maps is #ffffe0, nearly white, so a white nodata would hide it)."""

NDVI_RAMP: tuple[tuple[float, str], ...] = (
    (0.0, "f7fcf5"), (0.2, "c7e9c0"), (0.4, "74c476"), (0.6, "238b45"), (0.8, "00441b"),
)
"""NDVI value -> colour: the green ramp (ColorBrewer Greens) over 0-0.8, where no display range is known; a
published NDVI collection spreads the same colours over its own range (``ndvi_display_range``)."""

DISPLAY_PERCENTILES: tuple[int, int] = (2, 98)
"""The percentiles of a collection's values (every year pooled) its NDVI ramp spans."""

_DIVERGING = ("a50026", "f46d43", "ffffbf", "66bd63", "006837")
"""Negative .. zero .. positive (ColorBrewer RdYlGn): slopes and changes."""

_SEQUENTIAL = ("440154", "3b528b", "21918c", "5ec962", "fde725")
"""Low .. high (viridis): every other continuous layer."""

_FALLBACK = ("1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd", "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf")
"""Colours of a class map whose codes match none of the project's palettes."""


def class_colours(classes: dict[Any, Any]) -> dict[int, str]:
    """Colour hints for a class map's codes: drought intensity, LPD, status, 7 land cover classes, 3-class, or none."""
    codes = {int(k) for k in classes}
    names = {str(v) for v in classes.values()}
    if codes == set(DROUGHT_CLASSES) and any("drought" in n for n in names):
        return {k: DROUGHT_CLASSES[k][1] for k in codes}
    if codes <= set(LPD_CLASSES) and len(codes) == 5:
        return {k: LPD_CLASSES[k][1] for k in codes}
    if codes == set(STATUS_COLOURS) and "stable" in names:
        return {k: STATUS_COLOURS[k] for k in codes}
    if codes == set(LAND_COVER_COLOURS):
        return dict(LAND_COVER_COLOURS)
    if codes <= set(THREE_CLASSES):
        return {k: THREE_CLASSES[k][1] for k in codes}
    return {}


@dataclass(frozen=True)
class LayerStyle:
    """How one raster asset is drawn. ``classes``: code -> (name, hex colour), for class maps. Otherwise
    ``stops`` (value in the layer's physical units, hex colour) for a ramp, ``scale`` the factor from stored
    to physical values (1 for most layers; 0.0001 for NDVI stored as int16)."""

    title: str
    nodata: float | None
    classes: dict[int, tuple[str, str]] = field(default_factory=dict)
    stops: tuple[tuple[float, str], ...] = ()
    scale: float = 1.0
    colormap_name: str | None = None

    @property
    def categorical(self) -> bool:
        return bool(self.classes)


def _ramp(lo: float, hi: float, colours: tuple[str, ...]) -> tuple[tuple[float, str], ...]:
    n = len(colours) - 1
    return tuple((lo + (hi - lo) * i / n, c) for i, c in enumerate(colours))


def layer_style(*, title: str, classes: dict[Any, Any] | None, units: str | None, scale: float | None,
                nodata: float | None, minimum: float | None, maximum: float | None, key: str = "data",
                display: tuple[float, float] | None = None) -> LayerStyle:
    """The style of one asset from what its summary knows: its class codes and names, else its units and
    value range (NDVI: the green ramp over ``display``, its collection's range in NDVI, the same for every year,
    or over 0-0.8 without one; slopes and changes: a diverging ramp around zero; else viridis over the layer's
    minimum..maximum, in physical units)."""
    if classes:
        colours = class_colours(classes)
        codes = sorted(int(c) for c in classes)
        named = {c: (str(classes[c] if c in classes else classes[str(c)]),
                     colours.get(c, _FALLBACK[i % len(_FALLBACK)])) for i, c in enumerate(codes)}
        return LayerStyle(title=title, nodata=nodata, classes=named)
    factor = float(scale) if scale not in (None, 0) else 1.0
    lo = (minimum if minimum is not None else 0.0) * factor
    hi = (maximum if maximum is not None else 1.0) * factor
    if hi <= lo:
        hi = lo + 1.0
    if units == "NDVI" and not any(word in key for word in ("slope", "change")):
        stops = _ramp(*display, tuple(c for _, c in NDVI_RAMP)) if display is not None else NDVI_RAMP
        return LayerStyle(title=title, nodata=nodata, stops=stops, scale=factor, colormap_name="greens")
    if any(word in key for word in ("slope", "change")) and lo < 0 < hi:
        edge = max(abs(lo), abs(hi))
        return LayerStyle(title=title, nodata=nodata, stops=_ramp(-edge, edge, _DIVERGING), scale=factor,
                          colormap_name="rdylgn")
    return LayerStyle(title=title, nodata=nodata, stops=_ramp(lo, hi, _SEQUENTIAL), scale=factor,
                      colormap_name="viridis")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def qml(style: LayerStyle, labels: dict[int, str] | None = None) -> str:
    """A QGIS layer style (QML) for ``style``: paletted for class maps (each entry ``code: name``, or ``labels``),
    a pseudocolour ramp in physical units otherwise; nodata drawn in ``NODATA_COLOUR``."""
    head = ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            "<qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n  <pipe>\n")
    nodata = f"#{NODATA_COLOUR}"
    if style.categorical:
        entries = "\n".join(
            f"        <paletteEntry value=\"{code}\" color=\"#{colour}\" alpha=\"255\" "
            f"label={quoteattr((labels or {}).get(code, f'{code}: {name}'))}/>"
            for code, (name, colour) in sorted(style.classes.items()))
        renderer = (f"    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" "
                    f"nodataColor=\"{nodata}\">\n      <rasterTransparency/>\n      <colorPalette>\n{entries}\n"
                    "      </colorPalette>\n    </rasterrenderer>\n")
    else:
        lo, hi = style.stops[0][0], style.stops[-1][0]
        items = "\n".join(
            f"            <item value=\"{value:.6g}\" color=\"#{colour}\" alpha=\"255\" label=\"{value:.4g}\"/>"
            for value, colour in style.stops)
        renderer = (
            f"    <rasterrenderer type=\"singlebandpseudocolor\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" "
            f"classificationMin=\"{lo:.6g}\" classificationMax=\"{hi:.6g}\" nodataColor=\"{nodata}\">\n"
            "      <rasterTransparency/>\n      <rastershader>\n"
            f"        <colorrampshader colorRampType=\"INTERPOLATED\" classificationMode=\"1\" clip=\"0\" "
            f"minimumValue=\"{lo:.6g}\" maximumValue=\"{hi:.6g}\">\n{items}\n"
            "        </colorrampshader>\n      </rastershader>\n    </rasterrenderer>\n")
    return head + renderer + "  </pipe>\n  <blendMode>0</blendMode>\n</qgis>\n"


def class_colour_expression(style: LayerStyle) -> str:
    """A titiler band expression drawing a class map in its classes' colours: three bands (red; green; blue), each
    the colour component of the pixel's class (``where(b1==code, value, ...)``), 0 for a code with no class."""
    def channel(i: int) -> str:
        out = "0"
        for code, (_, colour) in sorted(style.classes.items(), reverse=True):
            out = f"where(b1=={code},{_rgb(colour)[i]},{out})"
        return out

    return ";".join(channel(i) for i in range(3))


def render(style: LayerStyle, asset: str) -> dict[str, Any]:
    """A STAC render-extension object for ``asset`` (titiler's ``/stac/renders/{id}``): a class map as an
    ``expression`` giving each class its colour as red, green and blue (``class_colour_expression``, rescaled 0-255
    as they are), or a ramp's range in stored values (``rescale``) and a ``colormap_name``.

    Not a ``colormap``: titiler (2.4) writes a render's parameters into its TileJSON and WMTS links with
    ``urlencode(doseq=True)``, which turns a colormap object into repeated ``colormap=<code>`` keys and every tile
    of those links into HTTP 500; an expression is one string and survives. The colours are the class map's own
    (the same as its QML, paletted picture and classification), nodata transparent."""
    doc: dict[str, Any] = {"title": style.title, "assets": [asset], "resampling": "nearest"}
    if style.nodata is not None and style.nodata == style.nodata:  # NaN nodata is masked by readers already
        doc["nodata"] = style.nodata
    if style.categorical:
        doc["expression"] = class_colour_expression(style)
        doc["rescale"] = [[0, 255]] * 3
    else:
        lo, hi = style.stops[0][0] / style.scale, style.stops[-1][0] / style.scale
        doc["rescale"] = [[round(lo, 6), round(hi, 6)]]
        doc["colormap_name"] = style.colormap_name
    return doc


def write_qml(cog: str | Path, style: LayerStyle) -> Path:
    """Write the QGIS style beside ``cog`` (``<name>.qml``, the name QGIS looks for) and return its path. Written
    beside and moved into place: the file there may be a link into the layer cache, which must not change."""
    path = Path(cog).with_suffix(".qml")
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(qml(style))
    os.replace(scratch, path)
    return path


def ndvi_display_range(cogs: list[str], *, percentiles: tuple[int, int] = DISPLAY_PERCENTILES,
                       most: int = 1024) -> tuple[int, int] | None:
    """The range an NDVI collection's ramp spans, in stored values: the ``percentiles`` of every layer's values
    pooled (each read from its overview at most ``most`` pixels wide, nodata left out), decided on the integers
    themselves (the first value whose share reaches each percentile). The same for every year of a collection, so
    years compare, and wide enough for its land: an arid region's 0.07-0.26 is not drawn almost white on a fixed
    0-0.8 ramp. None when no layer has a valid pixel."""
    counts: np.ndarray | None = None
    offset = 32768  # int16 values as indices
    for cog in cogs:
        with rasterio.open(cog) as src:
            factor = max(1, -(-max(src.width, src.height) // most))
            data = src.read(1, out_shape=(max(1, src.height // factor), max(1, src.width // factor)), masked=True)
        values = data.compressed().astype("int64") + offset
        here = np.bincount(values, minlength=65536)
        counts = here if counts is None else counts + here
    if counts is None or counts.sum() == 0:
        return None
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    lo, hi = (int(np.searchsorted(cumulative, -(-total * p // 100))) - offset for p in percentiles)
    return (lo, hi) if hi > lo else (lo, lo + 1)


def visual_values(style: LayerStyle) -> dict[int, int]:
    """Class code -> value in the paletted ``visual`` COG (0 is nodata): the code itself where every code fits
    1..254 (LPD, land cover, status), else 1, 2, 3, ... in code order (3-class maps: -1, 0, 1 -> 1, 2, 3)."""
    codes = sorted(style.classes)
    if all(1 <= c <= 254 for c in codes):
        return {c: c for c in codes}
    return {c: i for i, c in enumerate(codes, start=1)}


def _category_names_xml(style: LayerStyle, values: dict[int, int]) -> str:
    names = [""] * (max(values.values()) + 1)
    names[0] = "nodata"
    for code, value in values.items():
        names[value] = f"{code}: {style.classes[code][0]}"
    categories = "".join(f"<Category>{escape(n)}</Category>" for n in names)
    return (f"<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>{categories}</CategoryNames>\n"
            "  </PAMRasterBand>\n</PAMDataset>\n")


def write_visual(cog: str | Path, style: LayerStyle, *, block: int = 512) -> Path:
    """A paletted uint8 COG beside a class map (``<name>_visual.tif``): a GeoTIFF colour table and category names
    (``.aux.xml``) that GDAL, QGIS, titiler's ``/cog`` endpoints and rio-tiler apply on open. The class map itself
    stays int16 (3-class codes are negative, which a colour table cannot index); the visual is for looking, the
    ``data`` asset for computing (``visual_values`` maps one to the other). Streamed block by block."""
    cog = Path(cog)
    out = cog.with_name(f"{cog.stem}_visual.tif")
    scratch = cog.with_name(f".{cog.stem}_visual.scratch.tif")
    values = visual_values(style)
    codes = np.array(sorted(values), dtype="int64")
    lookup = np.array([values[c] for c in codes], dtype="uint8")
    try:
        with rasterio.open(cog) as src:
            with open_scratch_geotiff(scratch, src, dtype="uint8", nodata=0, block=block) as dst:
                for _, window in src.block_windows(1):
                    data = src.read(1, window=window).astype("int64")
                    where = np.clip(np.searchsorted(codes, data), 0, len(codes) - 1)
                    dst.write(np.where(codes[where] == data, lookup[where], 0).astype("uint8"), 1, window=window)
                colours = {0: (0, 0, 0, 0)}
                for code, value in values.items():
                    colours[value] = (*_rgb(style.classes[code][1]), 255)
                dst.write_colormap(1, colours)
        cog_from_tiled(scratch, out, categorical=True)
    finally:
        scratch.unlink(missing_ok=True)
        Path(f"{scratch}.aux.xml").unlink(missing_ok=True)
    Path(f"{out}.aux.xml").write_text(_category_names_xml(style, values))
    shown = LayerStyle(title=style.title, nodata=0, classes={values[c]: v for c, v in style.classes.items()})
    out.with_suffix(".qml").write_text(qml(shown, {values[c]: f"{c}: {name}" for c, (name, _) in style.classes.items()}))
    return out
