"""The people of each coarse precipitation cell, kept from one people pass for the next (SO3-2, UNCCD method notes 3).

A year's drought table needs, per zone, the people of each coarse cell on the land of its water map: what the people
pass sums from every pixel (``people_tables._add_droughts``), and what depends only on the population year and the
water map, not on the year's drought classes. The pass records, for each (block, zone) it adds, the cells touched and
their people (``CellRecorder``); next year's refresh, whose new drought year reads a population year and a water map
a pass has seen, adds its table from those records in the pass's own order (``replay_year_droughts``): the same
float64 operations on the same values, so every published number is the one the pass would give, without reading,
warping or splitting a pixel of the population again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from rasterio.windows import Window

from tasks.io.outputs.people_tables import (
    _DROUGHT_CODES,
    GROUPS,
    DroughtPeople,
    Pair,
    PeopleRule,
    PeopleSums,
    _Block,
    _cell_classes,
    drought_lookup,
)
from tasks.io.sources.zones import Zone

__all__ = ["CellRecorder", "CellPeople", "replay_year_droughts"]


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
