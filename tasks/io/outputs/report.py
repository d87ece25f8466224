"""The report of one set of published layers: per period the zonal tables, their files and workbook, the maps and
the HTML page, with the activity registry beside the indicators when given. A run's report task and `ldn report`
(from a published catalog) both assemble it here.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import shapely

from tasks.constants import ACTIVITY_AREAS, DROUGHT_CLASSES, OWN_TABLE_INDICATORS, SIGNED_PEOPLE_INDICATORS
from tasks.errors import ConfigError
from tasks.geo.areas import geodesic_area_km2
from tasks.io.outputs.activity_overlay import activity_statistics, activity_summary
from tasks.io.outputs.quicklook import binned_png, classes_of, people_bins, people_classes, quicklook_png
from tasks.io.outputs.report_html import ActivitySection, DroughtSection, PeopleSection, write_html_report
from tasks.io.outputs.styles import layer_style
from tasks.io.outputs.workbooks import write_drought_workbook, write_tables, write_workbook
from tasks.io.outputs.zonal import (
    layers_grid,
    region_on_grid,
    zonal_ndvi_series,
    zonal_tables,
)
from tasks.io.runtime.report_cache import PeriodTables, PeriodTablesCache
from tasks.io.sources.integrity import open_href
from tasks.io.sources.run import RunContext
from tasks.io.sources.zones import Zone, default_zones, read_zones, zones_on_grid
from tasks.model import LayerRef, LayerSummary, ReportFiles
from tasks.science.activities import Activity, period_spans
from tasks.science.drought import reporting_spans
from tasks.science.targets import TargetCatalog, period_years, targets_table

__all__ = ["REPORT_MAPS", "build_report", "ActivityOverlay", "DroughtReport", "drought_report", "PeopleReport",
           "people_report", "period_labels", "zones_of_the_run",
           "refs_from_layers", "about_period", "load_zones", "annual_ndvi_series", "run_sources", "report_inputs"]


REPORT_MAPS: tuple[tuple[tuple[str, str], str], ...] = (
    (("sdg-15-3-1", "data"), "SDG 15.3.1"),
    (("lpd", "data"), "Land productivity dynamics"),
    (("trajectory", "data"), "Productivity trajectory"),
    (("state", "data"), "Productivity state"),
    (("performance", "data"), "Productivity performance"),
    (("land-cover", "data"), "Land cover sub-indicator"),
    (("land-cover", "final"), "Land cover at the end of the period"),
    (("soc", "data"), "Soil organic carbon sub-indicator"),
    (("status", "data"), "Status against the baseline"),
    (("ldn-balance", "data"), "LDN balance: gains and losses since the baseline"),
)
"""(indicator, asset) -> caption of the class maps the report shows per period, in this order."""


def build_report(layers: list[LayerRef], zones: tuple[Zone, ...], out_dir: str | Path, *, title: str,
                 about: dict[str, dict[str, Any]], periods: list[str] | None = None,
                 stem: str = "zonal", area: shapely.Geometry | None = None, series: pd.DataFrame | None = None,
                 sources: list[tuple[str, str]] | None = None, annual: dict[int, str] | None = None,
                 land_cover_years: dict[str, pd.DataFrame] | None = None,
                 targets: TargetCatalog | None = None, activities: ActivityOverlay | None = None,
                 period_cache: PeriodTablesCache | None = None, drought: DroughtReport | None = None,
                 people: PeopleReport | None = None, links: list[tuple[str, str]] | None = None) -> ReportFiles:
    """Zonal tables (CSV, Parquet), one UNCCD workbook per period and one HTML report, under ``out_dir``.

    ``area`` (lon/lat polygons: the region the layers were kept to) cuts every zone to it, so a zone
    beside the region gets no table of pixels that were never computed.

    ``periods`` defaults to every period the layers have (in their order); asking for one they do
    not have lists those they do. ``land_cover_years`` (period -> the land cover item's ``annual_areas`` table:
    class areas year by year over the run's area) becomes the period's ``land_cover_annual`` table (SO1-1).
    ``targets`` are tracked over the periods (``tasks.science.targets``): one ``targets`` table (CSV, Parquet)
    listed with every period's files, a sheet of each workbook and a section of the report. ``activities`` (a
    registry's records) are set beside the indicators: an ``activities`` table (footprint and ring per period), an
    ``activity_summary`` table (per country, area and status), both listed with every period's files, and a report
    section with a map. ``period_cache`` keeps each period's tables and maps and links those whose layers did not
    change (``tasks.io.runtime.report_cache``). ``drought`` (``drought_report``) adds the SO3-1 tables (every
    year's and every period's worst year's, listed with every period's files), the drought workbook in
    Trends.Earth's shape and a report section with its maps and chart; ``people`` (``people_report``) the SO3-2,
    SO3-3 and SO2-3 tables, their sheets in the drought and period workbooks and a section. ``links`` (name, href)
    head the report (the version's method page and catalog); each period links the STAC items of its layers.
    """
    have = list(dict.fromkeys(r.period for r in layers))
    if not have:
        raise ConfigError("no published layers with a reporting period: run `ldn run` with periods that fit the years")
    for p in periods or []:
        if p not in have:
            raise ConfigError(f"no published layers for period {p!r}: choose one of {have}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = period_labels({p: about.get(p, {}) for p in [*have, *about]})
    files: dict[str, dict[str, str]] = {}
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    maps: dict[str, list[tuple[str, bytes]]] = {}
    for period in periods or have:
        if period_cache is not None and (kept := period_cache.get(period, out_dir)) is not None:
            frames[period], files[period], maps[period] = kept.frames, kept.files, kept.maps
            continue
        refs = {(r.indicator, r.asset): r for r in layers if r.period == period}
        grid = layers_grid(r.path for r in refs.values())
        on_grid = zones_on_grid(zones, *grid, within=region_on_grid(area, *grid))  # once per period: tables and maps
        outlines = [(zone.name, g) for zone, g in on_grid]
        tables = zonal_tables(layers, zones, period=period, on_grid=on_grid)
        if land_cover_years and period in land_cover_years:
            tables["land_cover_annual"] = land_cover_years[period]
        frames[period] = tables
        files[period] = write_tables(tables, out_dir, f"{stem}_{period}")
        maps[period] = []  # captions without the period's label, which the whole report adds: cached per period
        with tempfile.TemporaryDirectory() as tmp:
            for key, caption in REPORT_MAPS:
                if key not in refs or not refs[key].classes:
                    continue
                ref = refs[key]
                style = layer_style(title=caption, classes=ref.classes, units=None, scale=None, nodata=None,
                                    minimum=None, maximum=None)
                png = quicklook_png(ref.path, Path(tmp) / "map.png", title=f"{caption}, {period}", classes=ref.classes,
                                    colours={code: colour for code, (_, colour) in style.classes.items()},
                                    outlines=outlines)
                maps[period].append((caption, png.read_bytes()))
        if period_cache is not None:
            period_cache.put(period, PeriodTables(frames=tables, files=dict(files[period]), maps=maps[period]))
    tracked = None
    if targets is not None:
        years = {p: y for p in frames if (y := period_years(about.get(p, {}))) is not None}
        tracked = targets_table(targets, frames, years, labels=labels,
                                zone_km2={z.zone_id: geodesic_area_km2(z.geometry) for z in zones})
    for period, tables in frames.items():
        population = people.sdg[people.sdg.period == period] if people is not None and not people.sdg.empty else None
        book = write_workbook(tables, out_dir / f"{stem}_{period}_unccd.xlsx",
                              about={"period": period, **about.get(period, {}),
                                     **(_people_rule(people) if population is not None else {})},
                              targets=tracked, population=population)
        files[period]["unccd_xlsx"] = str(book)
    if tracked is not None:
        written = write_tables({"targets": tracked}, out_dir, stem)
        for period in files:
            files[period].update(written)
    section = None
    if activities is not None:
        section = _activity_section(activities, layers, frames, about, area, out_dir, stem, labels)
        for period in files:
            files[period].update(section[1])
    theirs = zones_of_the_run(drought, people, zones)  # `ldn report --zones`: their tables stay the run's
    drought_section = _drought_section(drought, out_dir, stem, people, theirs, labels) if drought is not None else None
    people_section = _people_section(people, out_dir, stem, theirs, labels) if people is not None else None
    for period in files:  # the run's drought and people tables are listed with every period's files
        for extra in (drought_section, people_section):
            files[period].update(extra.files if extra is not None else {})
    by_zone = zonal_ndvi_series(annual, zones, area=area, cache=period_cache) if annual else None
    items = {period: item_links([r for r in layers if r.period == period], out_dir) for period in frames}
    labelled = {p: [(f"{caption}, {labels[p]}", png) for caption, png in shown] for p, shown in maps.items()}
    html_path = write_html_report(out_dir / f"{stem}_report.html", title=title, tables=frames, maps=labelled, about=about,
                                  labels=labels, series=series, links=links, items=items,
                                  sources=sources, zone_series=by_zone, targets=tracked,
                                  activities=section[0] if section else None, drought=drought_section,
                                  people=people_section)
    return ReportFiles(tables=files, html=str(html_path), frames=frames)


def zones_of_the_run(drought: DroughtReport | None, people: PeopleReport | None,
                     zones: tuple[Zone, ...]) -> list[str] | None:
    """The zones the run's own drought and people tables are per, when those are not ``zones`` (``ldn report
    --zones`` with zones of its own); else None. Those tables come from the run's passes over the precipitation and
    the population, which a report from published layers does not repeat: the report says whose zones they are."""
    frames = [f for f in (drought.years if drought else None, people.years if people else None,
                          people.sdg if people else None) if f is not None and "zone_id" in f]
    named = sorted({str(z) for f in frames for z in f.loc[f["zone_id"] != "all", "zone"]})
    return named if not set(named) <= {z.name for z in zones} else None  # zones without data have no row


def _people_rule(people: PeopleReport | None) -> dict[str, Any]:
    """The people rule for a workbook's "about" sheet where its people tables follow Trends.Earth's (said only then)."""
    return {"people rule": people.about["people rule"]} if people is not None and "people rule" in people.about else {}


def _drought_section(drought: DroughtReport, out_dir: Path, stem: str, people: PeopleReport | None,
                     theirs: list[str] | None = None, labels: dict[str, str] | None = None) -> DroughtSection:
    """The drought tables as files and a workbook (with the people under drought and their vulnerability when
    ``people`` has them), and the section's maps: each period's worst-year class."""
    files = write_tables({"drought_years": drought.years, "drought_periods": drought.periods}
                         if not drought.periods.empty else {"drought_years": drought.years}, out_dir, stem)
    files["drought_xlsx"] = str(write_drought_workbook(
        drought.years, drought.periods, out_dir / f"{stem}_drought.xlsx",
        about={**drought.about, **_people_rule(people)},
        people=people.years if people is not None else None,
        vulnerability=people.vulnerability if people is not None else None))
    maps = []
    for period, path in drought.maps.items():
        window = drought.periods[drought.periods.period == period]
        years = f"{int(window.first_year.iloc[0])}-{int(window.last_year.iloc[0])}" if len(window) else period
        caption = f"Drought class of the worst year, {(labels or {}).get(period, f'{period} ({years})')}"
        maps.append((caption, _class_map(path, caption, DROUGHT_CLASSES)))
    return DroughtSection(years=drought.years, periods=drought.periods, maps=maps, about=drought.about, files=files,
                          zones_of_the_run=theirs)


def _class_map(path: str, caption: str, classes: dict[int, tuple[str, str]],
               codes: Callable[[np.ndarray], np.ndarray] | None = None) -> bytes:
    """A report map (PNG bytes) of a layer's ``classes`` (code -> name, colour) with the country borders: of its
    values, or of the class ``codes`` of its values (int16, -32768 for none)."""
    with tempfile.TemporaryDirectory() as tmp:
        if codes is not None:
            return binned_png(path, Path(tmp) / "map.png", title=caption, classes=classes, codes=codes).read_bytes()
        png = quicklook_png(path, Path(tmp) / "map.png", title=caption,
                            classes={c: name for c, (name, _) in classes.items()},
                            colours={c: colour for c, (_, colour) in classes.items()})
        return png.read_bytes()


def _people_section(people: PeopleReport, out_dir: Path, stem: str, theirs: list[str] | None = None,
                    labels: dict[str, str] | None = None) -> PeopleSection:
    """The people tables as files, and the section's maps: each period's people under its worst year's drought."""
    tables = {"people_drought_years": people.years, "people_drought_periods": people.periods,
              "drought_vulnerability": people.vulnerability, "people_sdg": people.sdg}
    files = write_tables({k: v for k, v in tables.items() if not v.empty}, out_dir, stem)
    maps = []
    for period, path in people.maps.items():
        caption = f"People per cell, by the worst year's drought, {(labels or {}).get(period, period)}"
        maps.append((caption, _class_map(path, caption, PEOPLE_BINS, codes=people_bins)))
    return PeopleSection(years=people.years, periods=people.periods, vulnerability=people.vulnerability,
                         sdg=people.sdg, maps=maps, about=people.about, files=files, zones_of_the_run=theirs)


PEOPLE_BINS: dict[int, tuple[str, str]] = people_classes(*SIGNED_PEOPLE_INDICATORS["drought-exposure-worst"])
"""The report's exposure maps: people per cell in decades, reds under drought, blues not."""


@dataclass(frozen=True)
class ActivityOverlay:
    """The activity registry a report sets beside the indicators, and how (``tasks.io.outputs.activity_overlay``)."""

    activities: tuple[Activity, ...]
    registry: str
    ring_km: float = 5.0
    point_km: float = 1.0
    sample: bool = False


def _activity_section(overlay: ActivityOverlay, layers: list[LayerRef], frames: dict[str, Any],
                      about: dict[str, dict[str, Any]], area: shapely.Geometry | None, out_dir: Path,
                      stem: str, labels: dict[str, str]) -> tuple[ActivitySection, dict[str, str]]:
    """The activities' statistics and summary tables (written) and the report section with its map."""
    windows = {p: (y.land_cover[0], y.sdg) for p in frames if (y := period_years(about.get(p, {}))) is not None}
    stats = activity_statistics(overlay.activities, layers, period_spans(windows), ring_km=overlay.ring_km,
                                point_km=overlay.point_km, on_grid_area=lambda c, t, s: region_on_grid(area, c, t, s))
    summary = activity_summary(overlay.activities)
    written = write_tables({"activities": stats, "activity_summary": summary}, out_dir, stem)
    last = list(frames)[-1] if frames else None
    ref = next((r for r in layers if r.period == last and (r.indicator, r.asset) == ("sdg-15-3-1", "data")), None)
    png, caption = None, ""
    if ref is not None and ref.classes:
        with rasterio.open(ref.path) as src:
            grid = (src.crs.to_wkt(), src.transform, src.shape)
        placed = {row.activity_id for row in stats.itertuples() if row.coverage in ("inside", "partly outside")} \
            if not stats.empty else set()
        marks = [(region_on_grid(a.footprint, *grid), ACTIVITY_AREAS[a.area][1])  # continued past 180 degrees as the grid is
                 for a in overlay.activities if a.id in placed and a.footprint is not None]
        shown = {ACTIVITY_AREAS[a.area][0]: ACTIVITY_AREAS[a.area][1] for a in overlay.activities if a.id in placed}
        style = layer_style(title="SDG 15.3.1", classes=ref.classes, units=None, scale=None, nodata=None, minimum=None,
                            maximum=None)
        caption = f"Activities over SDG 15.3.1, {labels.get(last or '', last)}, coloured by activity area"
        with tempfile.TemporaryDirectory() as tmp:
            png = quicklook_png(ref.path, Path(tmp) / "activities.png", title=f"Activities over SDG 15.3.1 ({last})",
                                classes=ref.classes, colours={c: col for c, (_, col) in style.classes.items()},
                                marks=marks, mark_legend=shown).read_bytes()
    section = ActivitySection(registry=overlay.registry, statistics=stats, summary=summary, map_png=png,
                              map_caption=caption, ring_km=overlay.ring_km, point_km=overlay.point_km,
                              sample=overlay.sample)
    return section, written


def item_links(refs: list[LayerRef], out_dir: Path) -> list[tuple[str, str]]:
    """(indicator, href) of the STAC item of each layer in ``refs`` (the item's JSON beside its data asset, as a
    version lays them out): relative to the report's folder for local files, so the links hold inside a published
    version and beside ``ldn report``'s output; the URL itself for a catalog served over HTTP."""
    out: dict[str, str] = {}
    for ref in refs:
        if ref.asset != "data" or ref.indicator in out:
            continue
        path = ref.path.removeprefix("/vsicurl/")
        folder, _, _ = path.rpartition("/")
        item = f"{folder}/{folder.rpartition('/')[2]}.json"
        out[ref.indicator] = item if "://" in item else os.path.relpath(item, out_dir).replace(os.sep, "/")
    return list(out.items())


def period_labels(about: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each period's one label, used wherever the report, its maps, targets and activities name it:
    ``report_1 (2016-2019)``, the calendar years it reports on (``reporting years`` in its metadata, as the run
    takes them from the periods file; else ``reporting_spans`` of the windows the metadata names); just the name
    when no window is known. The windows themselves are in each period's method table."""
    def span(meta: dict[str, Any]) -> tuple[int, int] | None:
        ends = [w for key in ("sdg-15-3-1 window", "lpd window", "land-cover window", "window")
                if isinstance(w := meta.get(key), (list, tuple)) and len(w) == 2]
        return (min(int(w[0]) for w in ends), max(int(w[1]) for w in ends)) if ends else None

    spans = reporting_spans({p: s for p, meta in about.items() if (s := span(meta)) is not None})
    labels = {}
    for period, meta in about.items():
        given = meta.get("reporting years")
        years = (int(given[0]), int(given[1])) if isinstance(given, (list, tuple)) and len(given) == 2 \
            else spans.get(period)
        labels[period] = f"{period} ({years[0]}-{years[1]})" if years else period
    return labels


def refs_from_layers(layers: list[LayerSummary]) -> list[LayerRef]:
    """Report inputs from the layers a run just wrote (before they are published)."""
    return [LayerRef(indicator=layer.indicator, period=layer.period, asset=a.key, path=a.path,
                     classes=classes_of(a.attrs) if a.categorical else None)
            for layer in layers if layer.period and layer.indicator not in OWN_TABLE_INDICATORS for a in layer.assets]


def about_period(layers: list[LayerSummary], period: str) -> dict[str, Any]:
    """The method metadata of a period's SDG layer and sub-indicators, for the workbook and report."""
    out: dict[str, Any] = {}
    for layer in layers:
        if layer.period == period and layer.indicator in ("sdg-15-3-1", "lpd", "land-cover", "soc"):
            out[f"{layer.indicator} method"] = layer.attrs.get("method")
            out[f"{layer.indicator} window"] = list(layer.window) if layer.window else None
            params = {k: v for k, v in layer.attrs.items() if k not in ("method", "classes", "long_name", "_FillValue")}
            if params:
                out[f"{layer.indicator} parameters"] = params
    return out


@dataclass(frozen=True)
class DroughtReport:
    """The SO3-1 part of a report, from the drought items' own tables: km2 per class, zone and year (``years``) and
    per zone and reporting period's worst year (``periods``), each period's worst-year class map (``maps``) and
    how the layers were made (``about``)."""

    years: pd.DataFrame
    periods: pd.DataFrame
    maps: dict[str, str]
    about: dict[str, Any]


def _read_table(layer: LayerSummary, name: str) -> pd.DataFrame:
    try:
        with open_href(layer.tables[name]) as f:
            return pd.read_csv(f)
    except OSError as err:
        raise ConfigError(f"the {name} table of {layer.item_id} cannot be read ({err}): check that the catalog's files "
                          "are all there, or publish the version again") from None


def drought_report(layers: list[LayerSummary]) -> DroughtReport | None:
    """The drought items of a version as a report's SO3-1 part; None when it has none."""
    years = sorted((x for x in layers if x.indicator == "drought" and "areas" in x.tables), key=lambda x: x.year or 0)
    periods = [x for x in layers if x.indicator == "drought-worst" and "areas" in x.tables]
    if not years:
        return None
    first = years[0].attrs
    about = {"method": first.get("method"), "calibration": first.get("calibration"),
             "class rule": first.get("class_rule"), "precipitation source": first.get("precipitation_source"),
             "grid": first.get("grid"),
             "worst-year rule": periods[0].attrs.get("worst_year_rule") if periods else None,
             "missing months": [m for x in years for m in (x.attrs.get("missing_months") or [])]}
    return DroughtReport(
        years=pd.concat([_read_table(x, "areas") for x in years], ignore_index=True),
        periods=pd.concat([_read_table(x, "areas").assign(period=x.period) for x in periods], ignore_index=True)
        if periods else pd.DataFrame(),
        maps={str(x.period): x.asset_path() for x in periods}, about=about)


@dataclass(frozen=True)
class PeopleReport:
    """The SO3-2, SO3-3 and SO2-3 part of a report, from the people items' own tables: people per drought class,
    zone and year (``years``) and per period's worst year (``periods``), the vulnerability means per year
    (``vulnerability``), the people per SDG 15.3.1 class per period (``sdg``), each period's worst-year exposure
    map (``maps``) and how they were made (``about``)."""

    years: pd.DataFrame
    periods: pd.DataFrame
    vulnerability: pd.DataFrame
    sdg: pd.DataFrame
    maps: dict[str, str]
    about: dict[str, Any]


def _concat(layers: list[LayerSummary], name: str) -> pd.DataFrame:
    frames = [_read_table(x, name) for x in layers if name in x.tables]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "population_years" in out.columns:  # "2017" reads back as a number, "2016,2017" as text: text for both
        out["population_years"] = out["population_years"].astype(str)
    return out


def people_report(layers: list[LayerSummary]) -> PeopleReport | None:
    """The people items of a version as a report's SO3-2, SO3-3 and SO2-3 part; None when it has none."""
    years = sorted((x for x in layers if x.indicator == "drought-exposure"), key=lambda x: x.year or 0)
    worst = [x for x in layers if x.indicator == "drought-exposure-worst"]
    sdg = [x for x in layers if x.indicator == "sdg-population"]
    if not (years or worst or sdg):
        return None
    first = (years or worst or sdg)[0].attrs
    about = {"method": first.get("method"), "population source": first.get("population_source"),
             "by sex": first.get("by_sex"),
             "population years": {str(x.year or x.period): x.attrs.get("population_year") or x.attrs.get(
                 "population_years") for x in [*years, *worst, *sdg]}}
    if first.get("people_rule"):  # Trends.Earth's parity mode: said wherever its tables are shown
        about["people rule"] = first["people_rule"]
    return PeopleReport(years=_concat(years, "people"), periods=_concat(worst, "people"),
                        vulnerability=_concat(years, "vulnerability"), sdg=_concat(sdg, "people"),
                        maps={str(x.period): x.asset_path() for x in worst}, about=about)


def report_inputs(layers: list[LayerSummary]) -> dict[str, Any]:
    """What ``build_report`` reads from a version's layers besides the zones: the rasters of every period (``refs``),
    the region's annual NDVI series, the annual NDVI layers by year, each period's yearly land cover table and the
    drought layers' tables and maps (``drought_report``).
    The same for the layers a run just wrote and for a published version (``published_layers``): ``ldn run``'s
    report and ``ldn report``'s are made from the same inputs."""
    land_cover_years = {}
    for layer in layers:
        if layer.indicator == "land-cover" and layer.period and "annual_areas" in layer.tables:
            try:
                with open_href(layer.tables["annual_areas"]) as f:
                    land_cover_years[layer.period] = pd.read_csv(f)
            except OSError as err:
                raise ConfigError(f"the land cover table of period {layer.period} cannot be read ({err}): check that "
                                  "the catalog's files are all there, or publish the version again") from None
    return {"refs": refs_from_layers(layers), "series": annual_ndvi_series(layers),
            "annual": {int(layer.year): layer.asset_path() for layer in layers
                       if layer.indicator == "ndvi-annual" and layer.year},
            "land_cover_years": land_cover_years, "drought": drought_report(layers), "people": people_report(layers)}


def load_zones(zones: str | Path | None, zone_field: str | None = None) -> tuple[Zone, ...]:
    """The user's zone file, or the default North-East Asia countries when ``zones`` is None."""
    return default_zones() if zones is None else read_zones(zones, name_field=zone_field)


def annual_ndvi_series(layers: list[LayerSummary]) -> pd.DataFrame:
    """The region's annual NDVI (mean and mean of the annual maxima over the pixels with data) per year, from
    the statistics every annual layer already carries: no raster is read again."""
    rows: dict[int, dict[str, float]] = {}
    for layer in layers:
        if layer.indicator not in ("ndvi-annual", "ndvi-annual-max") or layer.year is None:
            continue
        main = next((a for a in layer.assets if a.key == "data"), None)
        if main is None or main.mean is None:
            continue
        scale = float(main.attrs.get("scale_factor") or 1.0)
        column = "mean_ndvi" if layer.indicator == "ndvi-annual" else "mean_max_ndvi"
        rows.setdefault(int(layer.year), {})[column] = main.mean * scale
    return pd.DataFrame([{"year": y, **v} for y, v in sorted(rows.items())])


def run_sources(run: RunContext) -> list[tuple[str, str]]:
    """(name, description) of the inputs a run used, and the expert recode polygons it applied, for the report."""
    cfg, sources = run.cfg, run.sources
    out = []
    for label, name in (("NDVI", cfg.ndvi_source), ("land cover", cfg.land_cover_source), ("SOC", cfg.soc_source)):
        try:
            source = sources.get(name)
        except ConfigError:
            continue
        where = f"STAC collection {source.stac.collection}" if source.stac else f"file {Path(str(source.file)).name}"
        out.append((f"{label}: {name}", f"{' '.join(source.description.split())} ({where})"))
    if cfg.recode_polygons is not None:
        out.append(("expert recode polygons", f"{Path(cfg.recode_polygons).name}, applied to SDG 15.3.1 after "
                                              "computation (see the SDG items' ldn:parameters)"))
    return out
