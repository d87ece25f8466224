"""People under drought (SO3-2), people on degraded land (SO2-3) and their drought vulnerability (SO3-3), per zone.

One pass over the analysis grid serves every table: each block's people (total, female, male) of each population
year needed come sum-preserving from the population source (``tasks.io.sources.population``), and are split, as the
SDG tables split km2, by each zone's exact coverage of each pixel. A drought table (a year's classes, or a period's
worst year's, on the precipitation's coarse cells) adds each pixel's people to the class of the coarse cell whose
centre is nearest, as ``drought_areas`` adds its km2; an SO2-3 table adds them to the pixel's SDG 15.3.1 class.
Water (final land cover class 7) holds no one: people the source puts there are counted apart. Sums are float64;
the published tables round people to whole persons at the end (half to even). Trends.Earth's parity mode
(``rule="trends_earth"``, method notes 7.4-7.5) rounds each pixel's people first, caps them at int16 for SO2-3 and
takes the vulnerability mean as Trends.Earth does: unweighted over pixels and 10 times too large.

The people of each coarse precipitation cell are kept from one pass for the next: a year's drought table needs, per
zone, the people of each coarse cell on the land of its water map, which depend only on the population year and the
water map, not on the year's drought classes. The pass records, for each (block, zone) it adds, the cells touched and
their people (``CellRecorder``); next year's refresh, whose new drought year reads a population year and a water map
a pass has seen, adds its table from those records in the pass's own order (``replay_year_droughts``): the same
float64 operations on the same values, so every published number is the one the pass would give, without reading,
warping or splitting a pixel of the population again.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import rasterio
import shapely
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tasks.constants import DROUGHT_CLASSES, NODATA, WATER
from tasks.geo.areas import pixel_areas_km2
from tasks.geo.grid import grid_crs, transformer
from tasks.io.outputs.drought_areas import coarse_cell_index, wraps_around
from tasks.io.outputs.layers import read_block
from tasks.io.outputs.zonal import BLOCK, region_on_grid, zone_blocks
from tasks.io.sources.population import PeopleReader
from tasks.io.sources.zones import Zone, zones_on_grid

__all__ = ["GROUPS", "DroughtPeople", "SdgPeople", "PeopleSums", "BlockPeople", "people_pass", "drought_people_table",
           "sdg_people_table", "vulnerability_table", "SDG_PEOPLE_CLASSES", "PeopleRule", "te_whole_people", "Pair",
           "drought_lookup", "CellRecorder", "CellPeople", "replay_year_droughts"]

GROUPS: tuple[str, ...] = ("total", "female", "male")
"""The people counted: everyone, women, men (a source without the sex split has totals only)."""

_DROUGHT_CODES = [*sorted(DROUGHT_CLASSES), NODATA]
_DROUGHT_NAMES = {c: DROUGHT_CLASSES[c][0].removesuffix(" drought").replace("-", "_") for c in DROUGHT_CLASSES}
SDG_PEOPLE_CLASSES: tuple[str, ...] = ("improved", "stable", "degraded", "no_data", "water")
"""What the SO2-3 pass sums apart: land by SDG 15.3.1 class, land without data, water (the tables count water as
without data, as Trends.Earth does, and show it apart too)."""
_SDG_INDEX = {1: 0, 0: 1, -1: 2}

Pair = tuple[int, int | None]
"""A population year and a water map (its index in ``people_pass``'s ``water``, None: no water known): what the people
of a coarse cell depend on, whatever drought classes a table gives the cell."""

PeopleRule = Literal["exact", "trends_earth"]
"""How people are summed: ``exact`` (the method notes) or ``trends_earth`` (its parity mode, method notes 7.4-7.5)."""

_TE_INT16_MAX = 32767
"""Trends.Earth's SO2-3 population is int16 per pixel; Earth Engine's cast saturates at the type's maximum."""

_TE_DVI_FACTOR = 10.0
"""Trends.Earth's vulnerability mean is Σ(value) / 1000 / pixels of an index stored x 10000: 10 times the mean."""


def _per_pixel(rule: PeopleRule) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """What a rule does to each block's people per pixel before they are summed."""
    if rule == "exact":
        return lambda people: people
    if rule == "trends_earth":
        return te_whole_people
    raise ValueError(f"unknown people rule {rule!r}: use 'exact' or 'trends_earth'")


def te_whole_people(people: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One block's people per pixel as Trends.Earth sums them (method notes 7.4): each band rounded to whole persons
    per pixel (half away from zero, as Earth Engine's ``round()``) before any sum, and the total of a source split by
    sex the sum of the rounded women and men (Trends.Earth adds its two bands)."""
    out = {g: np.floor(v + 0.5) for g, v in people.items()}
    if "female" in out and "male" in out:
        out["total"] = out["female"] + out["male"]
    return out


@dataclass(frozen=True)
class DroughtPeople:
    """One SO3-2 table to fill: drought classes on the coarse cells and the population year of each cell."""

    classes: np.ndarray
    """Flat int codes per coarse cell (``NODATA`` where none), in any integer type that holds them."""
    population_year: np.ndarray
    """Flat population year per coarse cell (a year's table: one year, e.g. ``np.broadcast_to``; a period's worst
    year: each cell's)."""
    water: int | None
    """Index of the water map (in ``people_pass``'s ``water``) whose class 7 holds no one; None: no water known."""


@dataclass(frozen=True)
class SdgPeople:
    """One SO2-3 table to fill: a period's SDG 15.3.1 layer, its water map and the population year it reads."""

    sdg: str
    water: int | None
    population_year: int


@dataclass
class PeopleSums:
    """What the pass adds up, per zone ``z`` and group ``g``: see each field."""

    zones: tuple[Zone, ...]
    drought: list[np.ndarray] = field(default_factory=list)
    """Per drought table: people [z, g, class] on land (classes ``_DROUGHT_CODES``)."""
    drought_water: list[np.ndarray] = field(default_factory=list)
    """Per drought table: people [z, g] the source puts on water (not counted)."""
    land_cells: dict[Pair, np.ndarray] = field(default_factory=dict)
    """Per population year and water map: people [g, cell] on land of every zone, per coarse cell (the last: off
    the coarse grid). Every drought table's cells read these (``drought_cells``): one array per year and water map,
    not one per table."""
    cell_years: list[tuple[np.ndarray, int | None]] = field(default_factory=list)
    """Per drought table: the population year of each coarse cell and the water map (``DroughtPeople``)."""
    sdg: list[np.ndarray] = field(default_factory=list)
    """Per SO2-3 table: people [z, g, class] (``SDG_PEOPLE_CLASSES``)."""
    sdg_km2: list[np.ndarray] = field(default_factory=list)
    """Per SO2-3 table: km2 [z, class]."""
    uncovered_km2: dict[int, np.ndarray] = field(default_factory=dict)
    """Per population year: km2 [z] of the zone that no populated source cell (nor an empty one) covers."""
    vulnerability_area: np.ndarray | None = None
    """[z, 2]: sum of km2 x index and km2, over land with an index."""
    vulnerability_people: dict[int, np.ndarray] = field(default_factory=dict)
    """Per population year: [z, g, 2]: sum of people x index and people, over land with an index."""
    vulnerability_pixels: np.ndarray | None = None
    """[z, 2]: sum of the index and count of pixels with one, water included (Trends.Earth's unweighted mean)."""
    rule: PeopleRule = "exact"
    """How the people were summed (``PeopleRule``)."""

    def drought_cells(self, t: int, g: int) -> np.ndarray:
        """Drought table ``t``'s people of group ``g`` on land of every zone per coarse cell (the last: off the
        coarse grid, read in the table's first population year), each cell from its own population year."""
        pyear, water = self.cell_years[t]

        def of(y: Any) -> np.ndarray:
            kept = self.land_cells.get((int(y), water))
            return kept[g] if kept is not None else np.zeros(pyear.size + 1)

        if pyear.min() == pyear.max():  # a year's table: one population year
            return of(pyear[0])
        every = np.append(pyear, pyear[0])
        out = np.empty(every.size)
        for y in np.unique(pyear):
            chosen = every == y
            out[chosen] = of(y)[chosen]
        return out


@dataclass(frozen=True)
class BlockPeople:
    """One block of the pass as a layer writer sees it: its window, every year's people per group (2-D), each
    SO2-3 table's SDG 15.3.1 codes and each water map's water (2-D)."""

    window: Window
    people: dict[int, dict[str, np.ndarray]]
    sdg: list[np.ndarray]
    wet: list[np.ndarray]


def people_pass(grid: GeoBox, zones: tuple[Zone, ...], reader: PeopleReader, *, region: shapely.Geometry | None,
                cells: GeoBox | None, droughts: list[DroughtPeople], sdgs: list[SdgPeople], water: list[str],
                vulnerability: xr.DataArray | None = None, vulnerability_years: list[int] | None = None,
                block: int = BLOCK, on_block: Callable[[BlockPeople], None] | None = None,
                rule: PeopleRule = "exact", on_cells: Callable[..., None] | None = None) -> PeopleSums:
    """Every SO3-2, SO2-3 and SO3-3 sum of one run in one pass over the analysis ``grid`` (``PeopleSums``):
    ``droughts`` on the coarse ``cells``, ``sdgs`` on the grid, ``water`` the land cover maps they take water from,
    ``vulnerability`` the index on the grid (lazy) weighted by the populations of ``vulnerability_years``.
    ``on_block`` sees each block the zones touch (``BlockPeople``), so a layer is written from the same warp;
    ``rule="trends_earth"`` sums people rounded per pixel (``te_whole_people``), as Trends.Earth does; ``on_cells``
    sees, for each zone of each block in the order they are added, the coarse cells and their people per ``Pair``
    (``CellRecorder``, which keeps them for next year's table)."""
    per_pixel = _per_pixel(rule)
    crs, transform, shape = grid_crs(grid), grid.affine, (int(grid.shape[0]), int(grid.shape[1]))
    on_grid = zones_on_grid(zones, crs, transform, shape, within=region_on_grid(region, crs, transform, shape))
    nz, ng = len(on_grid), len(GROUPS)
    row_areas = pixel_areas_km2(crs, transform, shape)[:, 0]
    ncells = int(cells.shape[0]) * int(cells.shape[1]) if cells is not None else 0
    sums = PeopleSums(zones=tuple(zone for zone, _ in on_grid), rule=rule)
    for _ in droughts:
        sums.drought.append(np.zeros((nz, ng, len(_DROUGHT_CODES))))
        sums.drought_water.append(np.zeros((nz, ng)))
        sums.cell_years.append((np.asarray(_.population_year), _.water))
    for _ in sdgs:
        sums.sdg.append(np.zeros((nz, ng, len(SDG_PEOPLE_CLASSES))))
        sums.sdg_km2.append(np.zeros((nz, len(SDG_PEOPLE_CLASSES))))
    years = sorted({int(y) for d in droughts for y in pd.unique(d.population_year)} | {s.population_year for s in sdgs}
                   | set(vulnerability_years or []))
    sums.uncovered_km2 = {y: np.zeros(nz) for y in years}
    if vulnerability is not None:
        sums.vulnerability_area = np.zeros((nz, 2))
        if rule == "trends_earth":  # its unweighted pixel mean: summed only where a table shows it
            sums.vulnerability_pixels = np.zeros((nz, 2))
        sums.vulnerability_people = {y: np.zeros((nz, ng, 2)) for y in vulnerability_years or []}
    to_cells = transformer(crs, grid_crs(cells)) if cells is not None else None
    wrap = cells is not None and wraps_around(cells)
    lookup = drought_lookup()

    def load(job: tuple[Window, list, np.ndarray]) -> tuple[Window, list, np.ndarray, _Block, dict[int, np.ndarray]]:
        """A block's inputs (on a worker thread: the warps and reads release the GIL)."""
        window, covered, areas = job
        bounds = (window.row_off, window.col_off, window.height, window.width)
        moved = reader.blocks(tuple(years), bounds) if years else {}  # every year's people in one warp
        people = {y: per_pixel({g: v.ravel() for g, v in moved[y].items() if g != "covered"}) for y in years}
        reached = {y: moved[y]["covered"].ravel() for y in years}
        wet, sdg_codes = [], []
        for path in water:
            with rasterio.open(path) as src:
                wet.append(read_block(src, window).ravel() == WATER)
        for spec in sdgs:
            with rasterio.open(spec.sdg) as src:
                sdg_codes.append(read_block(src, window).ravel())
        index = None
        if cells is not None and to_cells is not None:
            cols, rows = np.meshgrid(window.col_off + np.arange(window.width) + 0.5,
                                     window.row_off + np.arange(window.height) + 0.5)
            index = coarse_cell_index(transform * (cols.ravel(), rows.ravel()), to_cells, cells, wrap)
        index_v = None
        if vulnerability is not None:
            r, c = window.row_off, window.col_off
            index_v = np.asarray(vulnerability[r:r + window.height, c:c + window.width].values,
                                 dtype="float64").ravel()
        return window, covered, areas, _Block(people, wet, index, sdg_codes, index_v), reached

    blocks = zone_blocks(on_grid, crs, transform, shape, row_areas, block)
    for window, covered, areas, here, reached in in_order(load, blocks, workers=os.cpu_count() or 1):
        if on_block is not None:
            h, w = window.height, window.width
            on_block(BlockPeople(window, {y: {g: v.reshape(h, w) for g, v in p.items()} for y, p in here.people.items()},
                                 [c.reshape(h, w) for c in here.sdg], [m.reshape(h, w) for m in here.wet]))
        for z, flat, fraction in covered:  # added in the blocks' order, whatever thread loaded them: the same sums
            km2 = fraction * areas[flat]
            for y in years:
                sums.uncovered_km2[y][z] += float(km2[~reached[y][flat]].sum())
            if droughts:
                touched, per_cell = _add_droughts(sums, droughts, here, z, flat, fraction, lookup, ncells)
                if on_cells is not None:
                    on_cells(window, z, here, touched, per_cell)
            for t, land in enumerate(sdgs):
                _add_sdg(sums, t, land, here, z, flat, fraction, km2)
            if here.vulnerability is not None:
                _add_vulnerability(sums, vulnerability_years or [], here, z, flat, fraction, km2)
    return sums


def in_order(load: Callable[[Any], Any], jobs: Iterable[Any], *, workers: int) -> Iterator[Any]:
    """``load`` of each job on ``workers`` threads, yielded in the jobs' order, at most ``workers`` + 1 ahead: a
    pass whose reads and warps run in parallel while its sums are added in one fixed order."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[Future[Any]] = deque()
        for job in jobs:
            pending.append(pool.submit(load, job))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class _Block:
    """One block's inputs, flat: people per year and group, water maps, coarse cells, SDG codes, the index."""

    people: dict[int, dict[str, np.ndarray]]
    wet: list[np.ndarray]
    cell: np.ndarray | None
    sdg: list[np.ndarray]
    vulnerability: np.ndarray | None


def drought_lookup() -> np.ndarray:
    """A drought class code (0 to the last class; any other: the last index) -> its column in a drought table."""
    codes_at = {c: i for i, c in enumerate(_DROUGHT_CODES)}
    lookup = np.full(len(DROUGHT_CLASSES) + 1, codes_at[NODATA])
    for c in DROUGHT_CLASSES:
        lookup[c] = codes_at[c]
    return lookup


def _cell_classes(spec: DroughtPeople, here: np.ndarray, ncells: int, lookup: np.ndarray) -> np.ndarray:
    """The table column (``drought_lookup``) of each coarse cell ``here`` (the index ``ncells``: off the grid)."""
    codes = np.full(here.size, NODATA, dtype=np.int64)
    inside = here < ncells
    codes[inside] = spec.classes[here[inside]]
    return lookup[np.where((codes >= 0) & (codes < len(DROUGHT_CLASSES)), codes, len(DROUGHT_CLASSES))]


def _add_droughts(sums: PeopleSums, droughts: list[DroughtPeople], block: _Block, z: int, flat: np.ndarray,
                  fraction: np.ndarray, lookup: np.ndarray,
                  ncells: int) -> tuple[np.ndarray, dict[Pair, tuple[np.ndarray, np.ndarray]]]:
    """A zone's pixels of one block added to every drought table: first each coarse cell's people on land and on
    water (per population year and water map, once for all the tables that share them), then each table's cells by
    their class, so the work per table is the block's few coarse cells, not its pixels nor the whole coarse grid.
    Returns the cells touched and their people [g, cell] on land and on water per ``Pair`` a table read."""
    assert block.cell is not None
    here, inverse = np.unique(block.cell[flat], return_inverse=True)  # the coarse cells this zone's block touches
    inside = here < ncells  # the last index: off the coarse grid
    weights: dict[int, dict[int, np.ndarray]] = {}
    per_cell: dict[Pair, tuple[np.ndarray, np.ndarray]] = {}

    def cell_sums(y: int, w: int | None) -> tuple[np.ndarray, np.ndarray]:
        """People [g, cell] on land and on water of the population year ``y`` with the water map ``w``."""
        if (y, w) not in per_cell:
            if y not in weights:
                weights[y] = {g: block.people[y][name][flat] * fraction
                              for g, name in enumerate(GROUPS) if name in block.people[y]}
            wet = block.wet[w][flat] if w is not None else None
            land, water = np.zeros((len(GROUPS), here.size)), np.zeros((len(GROUPS), here.size))
            if wet is not None:  # the cells of land and of water pixels, once for every group
                dry = ~wet
                on_land, on_water = inverse[dry], inverse[wet]
            for g, values in weights[y].items():
                if wet is None:
                    land[g] = np.bincount(inverse, weights=values, minlength=here.size)
                else:
                    land[g] = np.bincount(on_land, weights=values[dry], minlength=here.size)
                    water[g] = np.bincount(on_water, weights=values[wet], minlength=here.size)
            per_cell[(y, w)] = (land, water)
        return per_cell[(y, w)]

    for t, spec in enumerate(droughts):
        klass = _cell_classes(spec, here, ncells, lookup)
        pyear = np.full(here.size, spec.population_year[0])
        pyear[inside] = spec.population_year[here[inside]]
        for y in np.unique(pyear):
            chosen = pyear == y
            land, water = cell_sums(int(y), spec.water)
            for g in weights[int(y)]:
                sums.drought[t][z, g] += np.bincount(klass[chosen], weights=land[g, chosen],
                                                     minlength=len(_DROUGHT_CODES))
                sums.drought_water[t][z, g] += float(water[g, chosen].sum())
    for (y, w), (land, _water) in per_cell.items():  # each cell's people of the year on the map's land, once
        if (y, w) not in sums.land_cells:
            sums.land_cells[(y, w)] = np.zeros((len(GROUPS), ncells + 1))
        sums.land_cells[(y, w)][:, here] += land  # a group the source lacks: zeros
    return here, per_cell


def _add_sdg(sums: PeopleSums, t: int, spec: SdgPeople, block: _Block, z: int, flat: np.ndarray,
             fraction: np.ndarray, km2: np.ndarray) -> None:
    """A zone's pixels of one block added to the SO2-3 table ``t``: by their SDG 15.3.1 class, water apart."""
    values = block.sdg[t][flat]
    klass = np.full(flat.size, 3)
    for code, i in _SDG_INDEX.items():
        klass[values == code] = i
    if spec.water is not None:
        klass[block.wet[spec.water][flat]] = 4
    sums.sdg_km2[t][z] += np.bincount(klass, weights=km2, minlength=len(SDG_PEOPLE_CLASSES))
    for g, name in enumerate(GROUPS):
        if name in block.people[spec.population_year]:
            people = block.people[spec.population_year][name][flat]
            if sums.rule == "trends_earth":  # its SO2-3 population is int16 per pixel
                people = np.minimum(people, _TE_INT16_MAX)
            sums.sdg[t][z, g] += np.bincount(klass, weights=people * fraction, minlength=len(SDG_PEOPLE_CLASSES))


def _add_vulnerability(sums: PeopleSums, years: list[int], block: _Block, z: int, flat: np.ndarray,
                       fraction: np.ndarray, km2: np.ndarray) -> None:
    """A zone's land pixels with an index added to the SO3-3 sums (water: the latest water map's)."""
    assert block.vulnerability is not None and sums.vulnerability_area is not None
    v = block.vulnerability[flat]
    if sums.vulnerability_pixels is not None:  # Trends.Earth's mean: every pixel with an index, water too
        some = np.isfinite(v)
        sums.vulnerability_pixels[z] += [float((fraction[some] * v[some]).sum()), float(fraction[some].sum())]
    dry = ~block.wet[-1][flat] if block.wet else np.ones(flat.size, bool)
    ok = np.isfinite(v) & dry
    sums.vulnerability_area[z] += [float((km2[ok] * v[ok]).sum()), float(km2[ok].sum())]
    for y in years:
        for g, name in enumerate(GROUPS):
            if name in block.people[y]:
                w = block.people[y][name][flat][ok] * fraction[ok]
                sums.vulnerability_people[y][z, g] += [float((w * v[ok]).sum()), float(w.sum())]


def _people(value: float) -> int:
    """A sum of people as a whole number (round half to even, as stated in every table's footnote)."""
    return int(np.rint(value))


def _rows(sums: PeopleSums, per_zone: Any) -> list[dict[str, Any]]:
    rows = []
    for label, z in [*((zone, i) for i, zone in enumerate(sums.zones)), (None, None)]:
        rows.append({"zone_id": label.zone_id if label else "all", "zone": label.name if label else "all zones",
                     **per_zone(z)})
    return rows


def _zone_sum(array: np.ndarray, z: int | None) -> np.ndarray:
    return array[z] if z is not None else array.sum(axis=0)


def _uncovered(sums: PeopleSums, years: list[int], z: int | None) -> float:
    """km2 of a zone (all zones: None) that the population of ``years`` does not cover (the most of those years)."""
    return max((float(_zone_sum(sums.uncovered_km2[y], z)) for y in years if y in sums.uncovered_km2), default=0.0)


def drought_people_table(sums: PeopleSums, t: int, *, by_sex: bool, where: dict[str, Any],
                         population_years: list[int]) -> pd.DataFrame:
    """People (total, female, male) per drought class of the drought table ``t``, per zone and for all zones: each
    group's population on land, people and % of it per class and without data, the people on water apart, and the
    km2 the population of ``population_years`` does not cover (no one is counted there: a partial result)."""
    groups = GROUPS if by_sex else GROUPS[:1]

    def per_zone(z: int | None) -> dict[str, Any]:
        sums_z, water = _zone_sum(sums.drought[t], z), _zone_sum(sums.drought_water[t], z)
        row: dict[str, Any] = {**where, "uncovered_km2": _uncovered(sums, population_years, z)}
        for g, name in enumerate(groups):
            population = float(sums_z[g].sum())
            row[f"{name}_population"] = _people(population)
            for i, code in enumerate(_DROUGHT_CODES):
                label = _DROUGHT_NAMES.get(code, "nodata")
                row[f"{label}_{name}"] = _people(sums_z[g, i])
                row[f"{label}_{name}_pct"] = 100 * sums_z[g, i] / population if population > 0 else np.nan
            row[f"water_{name}"] = _people(water[g])
        return row

    return pd.DataFrame(_rows(sums, per_zone))


def sdg_people_table(sums: PeopleSums, t: int, *, by_sex: bool, where: dict[str, Any],
                     population_year: int) -> pd.DataFrame:
    """SO2-3 of the table ``t``: per zone and for all zones, km2 and % of the area per SDG 15.3.1 class (improved,
    stable, degraded, without data: water included there, as Trends.Earth counts it, and shown apart), and the
    people (total, female, male) and % of each group's population; the SO2-3 figure is the degraded share. The km2
    the population does not cover are counted (``uncovered_km2``: a partial result where not 0)."""
    groups = GROUPS if by_sex else GROUPS[:1]
    shown = ("improved", "stable", "degraded", "no_data")

    def merged(values: np.ndarray) -> np.ndarray:  # the last axis: improved, stable, degraded, no data + water
        return np.concatenate([values[..., :3], values[..., 3:4] + values[..., 4:5]], axis=-1)

    def per_zone(z: int | None) -> dict[str, Any]:
        km2, people = _zone_sum(sums.sdg_km2[t], z), _zone_sum(sums.sdg[t], z)
        area = float(km2.sum())
        row: dict[str, Any] = {**where, "area_km2": area, "uncovered_km2": _uncovered(sums, [population_year], z)}
        for i, name in enumerate(shown):
            row[f"{name}_km2"] = float(merged(km2)[i])
            row[f"{name}_pct_of_area"] = 100 * merged(km2)[i] / area if area > 0 else np.nan
        row["water_km2"] = float(km2[4])
        for g, group in enumerate(groups):
            total = float(people[g].sum())
            row[f"{group}_population"] = _people(total)
            for i, name in enumerate(shown):
                row[f"{name}_{group}"] = _people(merged(people[g])[i])
                row[f"{name}_{group}_pct"] = 100 * merged(people[g])[i] / total if total > 0 else np.nan
            row[f"water_{group}"] = _people(people[g, 4])
        return row

    return pd.DataFrame(_rows(sums, per_zone))


def vulnerability_table(sums: PeopleSums, year: int, *, by_sex: bool, where: dict[str, Any]) -> pd.DataFrame:
    """SO3-3: per zone and for all zones, the index's mean over land weighted by area, and weighted by the people
    (total, female, male) of the population ``year``. In Trends.Earth's parity mode (``sums.rule``) the people's
    columns hold what Trends.Earth's sheet does: its unweighted pixel mean, 10 times too large, in the total's
    column only (method notes 7.5)."""
    assert sums.vulnerability_area is not None
    groups = GROUPS if by_sex else GROUPS[:1]
    by_area = sums.vulnerability_area
    if sums.rule == "trends_earth":
        assert sums.vulnerability_pixels is not None
        pixels = sums.vulnerability_pixels

        def te_zone(z: int | None) -> dict[str, Any]:
            area, each = _zone_sum(by_area, z), _zone_sum(pixels, z)
            row: dict[str, Any] = {**where, "area_weighted_mean": area[0] / area[1] if area[1] > 0 else np.nan,
                                   "km2_with_index": float(area[1])}
            for name in groups:
                row[f"{name}_weighted_mean"] = np.nan
            row["total_weighted_mean"] = _TE_DVI_FACTOR * each[0] / each[1] if each[1] > 0 else np.nan
            return row

        return pd.DataFrame(_rows(sums, te_zone))

    def per_zone(z: int | None) -> dict[str, Any]:
        area = _zone_sum(by_area, z)
        people = _zone_sum(sums.vulnerability_people[year], z)
        row: dict[str, Any] = {**where, "area_weighted_mean": area[0] / area[1] if area[1] > 0 else np.nan,
                               "km2_with_index": float(area[1])}
        for g, name in enumerate(groups):
            row[f"{name}_weighted_mean"] = people[g, 0] / people[g, 1] if people[g, 1] > 0 else np.nan
        return row

    return pd.DataFrame(_rows(sums, per_zone))


# The coarse cells' people kept from one pass for next year's table (see the module's docstring).

class CellRecorder:
    """``people_pass``'s ``on_cells`` for the pairs ``keep``: each (block, zone)'s coarse cells and their people on
    land (per group the source has) streamed to files in ``folder``, and their people on water summed per record.
    Only pairs that a year's table reads belong in ``keep``: such a table reads its pair in every record."""

    def __init__(self, folder: Path, keep: list[Pair]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.keep = folder, list(dict.fromkeys(keep))
        self._here: IO[bytes] = open(folder / "here.i8", "wb")
        self._land: dict[Pair, IO[bytes]] = {p: open(folder / f"land-{i}.f8", "wb") for i, p in enumerate(self.keep)}
        self._water: dict[Pair, list[np.ndarray]] = {p: [] for p in self.keep}
        self._groups: dict[Pair, list[int]] = {}
        self._index: list[tuple[int, int, int, int]] = []

    def __call__(self, window: Window, z: int, block: _Block, here: np.ndarray,
                 per_cell: dict[Pair, tuple[np.ndarray, np.ndarray]]) -> None:
        if not self.keep:
            return
        self._index.append((int(window.row_off), int(window.col_off), z, int(here.size)))
        self._here.write(np.ascontiguousarray(here, dtype=np.int64).tobytes())
        for pair in self.keep:
            groups = self._groups.setdefault(pair, [g for g, name in enumerate(GROUPS) if name in block.people[pair[0]]])
            land, water = per_cell[pair]
            self._land[pair].write(np.ascontiguousarray(land[groups]).tobytes())
            self._water[pair].append(np.array([float(water[g].sum()) for g in groups]))

    def close(self) -> None:
        self._here.close()
        for f in self._land.values():
            f.close()

    def entry(self, pair: Pair, sums: PeopleSums) -> tuple[dict[str, Path], dict[str, Any]]:
        """The files and metadata of the cache entry of ``pair`` once the pass is done: with the population year's
        uncovered km2 and vulnerability sums, which the pass adds over the same records whatever its tables."""
        i = self.keep.index(pair)
        groups = self._groups.get(pair, [])
        small: dict[str, Any] = {"index": np.array(self._index, dtype=np.int64).reshape(-1, 4),
                 "water": np.array(self._water[pair]).reshape(len(self._index), len(groups)),
                 "uncovered_km2": sums.uncovered_km2[pair[0]]}
        if sums.vulnerability_area is not None:
            small["vulnerability_area"] = sums.vulnerability_area
            small["vulnerability_people"] = sums.vulnerability_people[pair[0]]
        if sums.vulnerability_pixels is not None:
            small["vulnerability_pixels"] = sums.vulnerability_pixels
        np.savez(self.folder / f"sums-{i}.npz", **small)
        files = {"here.i8": self.folder / "here.i8", "land.f8": self.folder / f"land-{i}.f8",
                 "sums.npz": self.folder / f"sums-{i}.npz"}
        return files, {"groups": groups, "zones": [zone.zone_id for zone in sums.zones], "records": len(self._index),
                       "population_year": pair[0], "rule": sums.rule}


@dataclass(frozen=True)
class CellPeople:
    """One pair's records, as ``CellRecorder`` kept them: per record its zone, its cells and their people on land
    (``groups`` rows) and on water (summed), and the pass's sums that depend on the pair's population year alone."""

    zones: tuple[str, ...]
    groups: tuple[int, ...]
    zone: np.ndarray
    here: list[np.ndarray]
    land: list[np.ndarray]
    water: np.ndarray
    uncovered_km2: np.ndarray
    extra: dict[str, np.ndarray]

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> CellPeople:
        with np.load(folder / "sums.npz") as f:
            small = {k: f[k] for k in f.files}
        index = small.pop("index")
        sizes = index[:, 3]
        ends = np.cumsum(sizes)
        here = np.split(np.fromfile(folder / "here.i8", dtype=np.int64), ends[:-1])
        groups = tuple(meta["groups"])
        flat = np.fromfile(folder / "land.f8", dtype=np.float64)
        total = int(sizes.sum())
        if sum(h.size for h in here) != total or flat.size != total * len(groups) or len(index) != meta["records"]:
            raise ValueError(f"cache entry {folder} is incomplete: {flat.size} people values and "
                             f"{sum(h.size for h in here)} cells for {total} cells of {len(index)} records")
        land = [part.reshape(len(groups), n) for part, n in zip(np.split(flat, len(groups) * ends[:-1]), sizes)]
        return cls(tuple(meta["zones"]), groups, index[:, 2], here, land, small.pop("water"),
                   small.pop("uncovered_km2"), small)


def replay_year_droughts(zones: tuple[Zone, ...], droughts: list[DroughtPeople], kept: dict[Pair, CellPeople],
                         ncells: int, rule: PeopleRule) -> PeopleSums:
    """The ``PeopleSums`` a people pass would give for year tables ``droughts`` alone (one population year each),
    from the records ``kept`` of each table's pair: every table's classes looked up on the recorded cells and its
    people added record by record, in the order the pass adds them, so the sums are the pass's to the last bit."""
    assert all(int(np.min(d.population_year)) == int(np.max(d.population_year)) for d in droughts), "year tables only"
    sums = PeopleSums(zones=zones, rule=rule)
    nz, lookup = len(zones), drought_lookup()
    for spec in droughts:
        pair = (int(np.asarray(spec.population_year).flat[0]), spec.water)
        cells = kept[pair]
        table, water = np.zeros((nz, len(GROUPS), len(_DROUGHT_CODES))), np.zeros((nz, len(GROUPS)))
        for r, here in enumerate(cells.here):
            z = int(cells.zone[r])
            klass = _cell_classes(spec, here, ncells, lookup)
            for k, g in enumerate(cells.groups):
                table[z, g] += np.bincount(klass, weights=cells.land[r][k], minlength=len(_DROUGHT_CODES))
                water[z, g] += cells.water[r, k]
        sums.drought.append(table)
        sums.drought_water.append(water)
        sums.cell_years.append((np.asarray(spec.population_year), spec.water))
    for pair, cells in kept.items():  # each cell's people of the year on the map's land, as the pass adds them
        land_cells = np.zeros((len(GROUPS), ncells + 1))
        for r, here in enumerate(cells.here):
            full = np.zeros((len(GROUPS), here.size))
            full[list(cells.groups)] = cells.land[r]
            land_cells[:, here] += full
        sums.land_cells[pair] = land_cells
        sums.uncovered_km2[pair[0]] = cells.uncovered_km2
        if "vulnerability_area" in cells.extra:
            sums.vulnerability_area = cells.extra["vulnerability_area"]
            sums.vulnerability_people[pair[0]] = cells.extra["vulnerability_people"]
        if "vulnerability_pixels" in cells.extra:
            sums.vulnerability_pixels = cells.extra["vulnerability_pixels"]
    return sums
