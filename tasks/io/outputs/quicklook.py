"""Quick-look PNG maps of published layers: class colours and a legend, or a colour bar, and a scale bar.

Analysts would rather look than read: every item gets a small PNG of its main layer beside the COG
(STAC role ``overview``). Maps are drawn from the decimated COG (its overviews when present), so a
quick look never reads the full-resolution layer into memory.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling

from tasks.geo.grid import lonlat_bounds, transformer
from tasks.io.outputs.styles import NDVI_RAMP, NODATA_COLOUR
from tasks.io.sources.zones import border_outlines

__all__ = ["quicklook_png", "classes_of", "MAX_PIXELS", "binned_png", "people_classes", "people_bins"]

MAX_PIXELS = 800
"""Longest side of the array drawn in a quick look."""

_DRAWING = threading.Lock()
"""Matplotlib is not thread-safe; maps of layers published side by side are drawn one at a time."""


def _map_shape(src: Any) -> tuple[int, int]:
    """The (rows, columns) a quick look reads an open raster at: decimated by a whole factor to at most
    ``MAX_PIXELS`` a side, so it comes from the overviews and never from the full-resolution layer."""
    factor = max(1, int(np.ceil(max(src.width, src.height) / MAX_PIXELS)))
    return max(1, src.height // factor), max(1, src.width // factor)


def _scale_bar_km(width_m: float) -> float:
    """A round scale-bar length of roughly a fifth of the map width, in km."""
    target = width_m / 5 / 1000
    magnitude = 10 ** np.floor(np.log10(target)) if target > 0 else 1
    return float(min((s * magnitude for s in (1, 2, 5, 10)), key=lambda v: abs(v - target)))


def quicklook_png(cog: str | Path, png: str | Path, *, title: str, classes: dict[Any, str] | None = None,
                  colours: dict[int, str] | None = None, units: str | None = None,
                  outlines: list[tuple[str, Any]] | None = None,
                  marks: list[tuple[Any, str]] | None = None, mark_legend: dict[str, str] | None = None,
                  display: tuple[float, float] | None = None) -> Path:
    """Draw ``cog`` to ``png``: class colours with a legend when ``classes`` is given, else a colour bar (NDVI: the
    styles' green ramp over ``display``, the collection's range, or over 0-0.8 without one).

    ``outlines`` are (name, polygon) zones (shapely, in the COG's CRS) drawn as grey lines with their names;
    by default the North-East Asia countries that cross the layer. A graticule in degrees is drawn too: on
    the sinusoidal grid meridians lean, which is why a lon/lat box looks sheared.

    ``marks`` are (geometry in the COG's CRS, colour) drawn over the map: polygons filled half-transparent, points as
    dots; ``mark_legend`` (label -> colour) adds their legend below the class legend (activities by area).
    """
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, LinearSegmentedColormap, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    with rasterio.open(cog) as src:
        shape = _map_shape(src)
        data = src.read(1, out_shape=shape, resampling=Resampling.nearest if classes else Resampling.average,
                        masked=True)
        width_m = src.width * abs(src.transform.a) * (1 if src.crs and src.crs.is_projected else 111_320)
        scale = src.scales[0] if src.scales and src.scales[0] not in (0, 1) else 1.0
        to_pixel = ~src.transform
        step = (src.width / shape[1], src.height / shape[0])
        if outlines is None:
            outlines = border_outlines(src.crs.to_wkt(), src.transform, src.shape)
        crs_wkt = src.crs.to_wkt() if src.crs else None
        frame = shapely.box(*src.bounds)
        lonlat = lonlat_bounds(tuple(src.bounds), crs_wkt) if crs_wkt else None
    with _DRAWING:
        # no pyplot: its global state is not safe across the run's threads; a map far wider than tall (a band of
        # every longitude) gets a wider figure, so it is not drawn a few pixels high
        fig = Figure(figsize=(max(6.4, 2.4 * shape[1] / shape[0]), 5.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        if classes:
            codes = sorted(int(c) for c in classes)
            palette = [f"#{(colours or {}).get(c, '999999')}" for c in codes]
            bounds = [c - 0.5 for c in codes] + [codes[-1] + 0.5]
            ax.imshow(data, cmap=ListedColormap(palette), norm=BoundaryNorm(bounds, len(codes)), interpolation="nearest")
            handles = [Patch(facecolor=p, edgecolor="#555555", label=f"{c}: {classes[c] if c in classes else classes[str(c)]}")
                       for c, p in zip(codes, palette)]
            handles.append(Patch(facecolor=f"#{NODATA_COLOUR}", edgecolor="#555555", label="nodata"))
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        else:
            shown = data * scale if scale != 1.0 else data
            if units == "NDVI":  # the styles' green ramp over the collection's range, the same for every year
                ramp = LinearSegmentedColormap.from_list("ndvi", [f"#{c}" for _, c in NDVI_RAMP])
                low, high = display or (NDVI_RAMP[0][0], NDVI_RAMP[-1][0])
                image = ax.imshow(shown, cmap=ramp, vmin=low, vmax=high, interpolation="nearest")
            else:
                image = ax.imshow(shown, cmap="viridis", interpolation="nearest")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=units or "")
            ax.legend(handles=[Patch(facecolor=f"#{NODATA_COLOUR}", edgecolor="#555555", label="nodata")],
                      loc="upper left", bbox_to_anchor=(0.0, -0.01), fontsize=8, frameon=False)
        ax.set_facecolor(f"#{NODATA_COLOUR}")  # masked pixels show the axes: nodata apart from every class colour
        _graticule(ax, crs_wkt, to_pixel, step, data.shape, lonlat)
        for name, geom in outlines:
            for ring in _rings(geom):
                cols, rows = to_pixel * np.asarray(ring.coords).T[:2]
                ax.plot(cols / step[0] - 0.5, rows / step[1] - 0.5, color="#333333", linewidth=0.8)
            inside = shapely.intersection(geom, frame)
            if not inside.is_empty and inside.area > 0.02 * frame.area:  # name the zones that show
                x, y = to_pixel * inside.representative_point().coords[0]
                ax.text(x / step[0] - 0.5, y / step[1] - 0.5, name, fontsize=8, ha="center", va="center", color="#222222",
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
        for geom, colour in marks or []:
            _mark(ax, geom, f"#{colour}", to_pixel, step)
        if mark_legend:
            from matplotlib.lines import Line2D

            first = ax.get_legend()
            if first is not None:  # keep the class legend when the marks get theirs
                ax.add_artist(first)
            ax.legend(handles=[Line2D([], [], marker="o", linestyle="", markerfacecolor=f"#{c}", markeredgecolor="#222222",
                                      markersize=8, label=label) for label, c in mark_legend.items()],
                      loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8, frameon=False, title="activity area",
                      title_fontsize=8)
        ax.set_xlim(-0.5, data.shape[1] - 0.5)
        ax.set_ylim(data.shape[0] - 0.5, -0.5)
        km = _scale_bar_km(width_m)
        px = km * 1000 / (width_m / data.shape[1])
        y = data.shape[0] * 0.95
        ax.plot([data.shape[1] * 0.05, data.shape[1] * 0.05 + px], [y, y], color="black", linewidth=3)
        ax.text(data.shape[1] * 0.05, y - data.shape[0] * 0.02, f"{km:g} km", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        png = Path(png)
        fig.savefig(png, bbox_inches="tight")
        return png


def _mark(ax: Any, geom: Any, colour: str, to_pixel: Any, step: tuple[float, float]) -> None:
    """One activity footprint on a map: polygons filled half-transparent with a solid edge, points as dots."""
    from matplotlib.patches import Polygon as PolygonPatch

    for part in getattr(geom, "geoms", [geom]):
        if part.geom_type == "Point":
            x, y = to_pixel * (part.x, part.y)
            ax.plot(x / step[0] - 0.5, y / step[1] - 0.5, marker="o", markersize=7, markerfacecolor=colour,
                    markeredgecolor="#222222", linestyle="")
        elif part.geom_type == "Polygon":
            cols, rows = to_pixel * np.asarray(part.exterior.coords).T[:2]
            xy = np.column_stack([cols / step[0] - 0.5, rows / step[1] - 0.5])
            ax.add_patch(PolygonPatch(xy, closed=True, facecolor=colour, alpha=0.45, edgecolor="none"))
            ax.add_patch(PolygonPatch(xy, closed=True, fill=False, edgecolor=colour, linewidth=1.6))


def _graticule_step(span: float) -> float:
    """A round step in degrees giving two to six lines across ``span`` degrees."""
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0):
        if span / step <= 6:
            return step
    return 30.0


def _graticule(ax: Any, crs_wkt: str | None, to_pixel: Any, step: tuple[float, float], shape: tuple[int, int],
               lonlat: tuple[float, float, float, float] | None) -> None:
    """Meridians and parallels in degrees, projected onto the map (thin grey), labelled at the map's edges."""
    if crs_wkt is None or lonlat is None:
        return
    west, south, east, north = lonlat
    if east < west:  # a grid across the antimeridian: no graticule rather than a wrong one
        return
    to_crs = transformer("EPSG:4326", crs_wkt)
    d_lon, d_lat = _graticule_step(east - west), _graticule_step(north - south)
    height, width = shape

    def pixels(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = to_crs.transform(lon, lat)
        cols, rows = to_pixel * (np.asarray(x), np.asarray(y))
        return cols / step[0] - 0.5, rows / step[1] - 0.5

    style = {"color": "#777777", "linewidth": 0.4, "alpha": 0.8}
    for lon in np.arange(np.ceil(west / d_lon) * d_lon, east, d_lon):
        cols, rows = pixels(np.full(64, lon), np.linspace(south, north, 64))
        ax.plot(cols, rows, **style)
        bottom = np.argmax(rows)
        if -0.5 <= cols[bottom] <= width - 0.5:
            ax.text(cols[bottom], height - 0.5, f"{lon:g}°E", fontsize=6, color="#555555", ha="center", va="top")
    for lat in np.arange(np.ceil(south / d_lat) * d_lat, north, d_lat):
        cols, rows = pixels(np.linspace(west, east, 64), np.full(64, lat))
        ax.plot(cols, rows, **style)
        left = np.argmin(cols)
        if -0.5 <= rows[left] <= height - 0.5:
            ax.text(-0.5, rows[left], f"{lat:g}°N ", fontsize=6, color="#555555", ha="right", va="center")


def _rings(geom: Any) -> list[Any]:
    """Every boundary ring (or line) of a polygon, multipolygon or line geometry."""
    boundary = shapely.boundary(geom) if geom.geom_type.endswith("Polygon") else geom
    return list(getattr(boundary, "geoms", [boundary]))


def classes_of(attrs: dict[str, Any]) -> dict[int, str] | None:
    """A layer's class codes -> names from its attrs, or None for a continuous layer."""
    classes = attrs.get("classes")
    return {int(k): str(v) for k, v in classes.items()} if classes else None


def people_classes(negative: str, positive: str) -> dict[int, tuple[str, str]]:
    """Class code -> (name, colour) of a signed people layer's map in decades of people per pixel: reds where the
    layer is negative (``negative``, e.g. "under drought"), blues where positive. A town and the herders around it
    are both visible, which a linear ramp of people hides; 0: no one. Codes are ``people_bins``'."""
    reds, blues = ("fcbba1", "fb6a4a", "cb181d", "67000d"), ("deebf7", "9ecae1", "4292c6", "08519c")
    sizes = ("under 10", "10-100", "100-1,000", "1,000 or more")
    out = {-(i + 1): (f"{size}, {negative}", red) for i, (size, red) in enumerate(zip(sizes, reds))}
    out.update({i + 1: (f"{size}, {positive}", blue) for i, (size, blue) in enumerate(zip(sizes, blues))})
    out[0] = ("no one", "f7f7f7")  # land where the population puts nobody: counted, not without data
    return dict(sorted(out.items()))


def people_bins(signed: np.ndarray) -> np.ndarray:
    """``people_classes`` codes of a signed people layer (int16): 0 where it counts no one, -32768 where it has no
    value (no data, or outside the area)."""
    values = np.asarray(signed, dtype="float64")
    size = np.digitize(np.abs(np.nan_to_num(values)), [10, 100, 1000]) + 1
    out = np.where(values < 0, -size, np.where(values == 0, 0, size)).astype("int16")
    return np.where(np.isfinite(values), out, -32768).astype("int16")


def binned_png(cog: str | Path, png: str | Path, *, title: str, classes: dict[int, tuple[str, str]],
               codes: Callable[[np.ndarray], np.ndarray], outlines: list[tuple[str, Any]] | None = None) -> Path:
    """Draw ``cog`` to ``png`` as the class map of ``codes`` of its values (int16, -32768 for none; e.g.
    ``people_bins``) with ``classes`` (code -> name, colour) in the legend: a continuous layer read in classes.

    Like every quick look it reads the layer decimated to at most ``MAX_PIXELS`` a side (its overviews, averaged over
    the pixels with data), never the full-resolution layer: a map pixel of a continent-wide people layer is classed by
    the mean people per pixel under it (the sign shows the net of negative and positive pixels)."""
    with tempfile.TemporaryDirectory() as tmp, rasterio.open(cog) as src:
        shape = _map_shape(src)
        values = src.read(1, out_shape=shape, resampling=Resampling.average)
        transform = src.transform * Affine.scale(src.width / shape[1], src.height / shape[0])
        coded = Path(tmp) / "classes.tif"
        with rasterio.open(coded, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="int16",
                           nodata=-32768, crs=src.crs, transform=transform) as dst:
            dst.write(codes(values), 1)
        drawn = quicklook_png(coded, Path(tmp) / "map.png", title=title, outlines=outlines,
                              classes={c: name for c, (name, _) in classes.items()},
                              colours={c: colour for c, (_, colour) in classes.items()})
        return Path(shutil.copyfile(drawn, png))
