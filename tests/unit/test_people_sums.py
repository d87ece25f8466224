"""The people pass's drought accumulation (SO3-2, UNCCD method notes 3) against a plain per-pixel loop.

``_add_droughts`` sums each coarse cell's people once and then fills every table from those cells; the reference
below walks the pixels one by one, as the method notes say it: a pixel's people go to the drought class of its coarse
cell, of the population year that cell's table reads, and to water apart where the table's water map says water.
"""
from __future__ import annotations

import numpy as np
import pytest

from tasks.constants import DROUGHT_CLASSES, NODATA
from tasks.io.outputs.people_tables import _DROUGHT_CODES, GROUPS, DroughtPeople, PeopleSums, _add_droughts, _Block


def _lookup() -> np.ndarray:
    at = {c: i for i, c in enumerate(_DROUGHT_CODES)}
    lookup = np.full(len(DROUGHT_CLASSES) + 1, at[NODATA])
    for c in DROUGHT_CLASSES:
        lookup[c] = at[c]
    return lookup


def _reference(droughts: list[DroughtPeople], block: _Block, flat: np.ndarray, fraction: np.ndarray,
               ncells: int, nz: int) -> PeopleSums:
    sums = PeopleSums(zones=())
    for _ in droughts:
        sums.drought.append(np.zeros((nz, len(GROUPS), len(_DROUGHT_CODES))))
        sums.drought_water.append(np.zeros((nz, len(GROUPS))))
        sums.drought_cells.append(np.zeros((len(GROUPS), ncells + 1)))
    assert block.cell is not None
    for t, spec in enumerate(droughts):
        for k, p in enumerate(flat):
            cell = int(block.cell[p])
            code = int(spec.classes[cell]) if cell < ncells else NODATA
            column = _DROUGHT_CODES.index(code if code in DROUGHT_CLASSES else NODATA)
            year = int(spec.population_year[cell if cell < ncells else 0])
            wet = spec.water is not None and bool(block.wet[spec.water][p])
            for g, name in enumerate(GROUPS):
                if name not in block.people[year]:
                    continue
                people = block.people[year][name][p] * fraction[k]
                if wet:
                    sums.drought_water[t][0, g] += people
                else:
                    sums.drought[t][0, g, column] += people
                    sums.drought_cells[t][g, cell] += people
    return sums


@pytest.mark.parametrize("seed", range(6))
def test_every_drought_table_equals_a_per_pixel_sum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ncells, npix = int(rng.integers(3, 40)), int(rng.integers(1, 400))
    years = [2000, 2005, 2010]
    by_sex = bool(seed % 2)
    people = {y: ({"total": rng.gamma(0.4, 5.0, npix), "female": rng.gamma(0.4, 2.5, npix),
                   "male": rng.gamma(0.4, 2.5, npix)} if by_sex else {"total": rng.gamma(0.4, 5.0, npix)})
              for y in years}
    for y in years:  # towns and empty land
        people[y]["total"][rng.random(npix) < 0.2] = 0.0
    wet = [rng.random(npix) < 0.15, rng.random(npix) < 0.3]
    cell = rng.integers(0, ncells + 1, npix)  # the last index: off the coarse grid
    block = _Block(people, wet, cell, [], None)
    droughts = []
    for t in range(5):  # year tables (one population year) and worst-year tables (a year per cell)
        codes = rng.choice([*DROUGHT_CLASSES, NODATA, 9], ncells)
        pyear = np.full(ncells, years[t % 3]) if t < 3 else rng.choice(years, ncells)
        droughts.append(DroughtPeople(codes, pyear, [None, 0, 1][t % 3]))
    flat = np.sort(rng.choice(npix, int(rng.integers(1, npix + 1)), replace=False))
    fraction = np.where(rng.random(flat.size) < 0.7, 1.0, rng.random(flat.size))
    sums = PeopleSums(zones=())
    for _ in droughts:
        sums.drought.append(np.zeros((1, len(GROUPS), len(_DROUGHT_CODES))))
        sums.drought_water.append(np.zeros((1, len(GROUPS))))
        sums.drought_cells.append(np.zeros((len(GROUPS), ncells + 1)))
    _add_droughts(sums, droughts, block, 0, flat, fraction, _lookup(), ncells)
    want = _reference(droughts, block, flat, fraction, ncells, 1)
    for t in range(len(droughts)):
        np.testing.assert_allclose(sums.drought[t], want.drought[t], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sums.drought_water[t], want.drought_water[t], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sums.drought_cells[t], want.drought_cells[t], rtol=1e-12, atol=1e-9)
