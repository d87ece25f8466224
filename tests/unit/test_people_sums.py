"""The people pass's drought accumulation (SO3-2, UNCCD method notes 3) against a plain per-pixel loop.

``_add_droughts`` sums each coarse cell's people once and then fills every table from those cells; the reference
below walks the pixels one by one, as the method notes say it: a pixel's people go to the drought class of its coarse
cell, of the population year that cell's table reads, and to water apart where the table's water map says water.
"""
from __future__ import annotations

import numpy as np
import pytest

from tasks.constants import DROUGHT_CLASSES, NODATA
from tasks.io.outputs.people_tables import (
    _DROUGHT_CODES,
    GROUPS,
    DroughtPeople,
    PeopleSums,
    _add_droughts,
    _Block,
    drought_lookup,
)


def _reference(droughts: list[DroughtPeople], block: _Block, flat: np.ndarray, fraction: np.ndarray,
               ncells: int, nz: int) -> tuple[PeopleSums, list[np.ndarray]]:
    sums = PeopleSums(zones=())
    cells = []  # per table: people [g, cell] on land
    for _ in droughts:
        sums.drought.append(np.zeros((nz, len(GROUPS), len(_DROUGHT_CODES))))
        sums.drought_water.append(np.zeros((nz, len(GROUPS))))
        cells.append(np.zeros((len(GROUPS), ncells + 1)))
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
                    cells[t][g, cell] += people
    return sums, cells


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
    for spec in droughts:
        sums.drought.append(np.zeros((1, len(GROUPS), len(_DROUGHT_CODES))))
        sums.drought_water.append(np.zeros((1, len(GROUPS))))
        sums.cell_years.append((spec.population_year, spec.water))
    half = flat.size // 2  # the zone's pixels in two calls, as two blocks add up
    for part in (slice(0, half), slice(half, None)):
        if flat[part].size:
            _add_droughts(sums, droughts, block, 0, flat[part], fraction[part], drought_lookup(), ncells)
    want, want_cells = _reference(droughts, block, flat, fraction, ncells, 1)
    for t in range(len(droughts)):
        np.testing.assert_allclose(sums.drought[t], want.drought[t], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sums.drought_water[t], want.drought_water[t], rtol=1e-12, atol=1e-9)
        for g in range(len(GROUPS)):
            np.testing.assert_allclose(sums.drought_cells(t, g), want_cells[t][g], rtol=1e-12, atol=1e-9)


# Trends.Earth's parity mode (UNCCD method notes 7.4-7.5), hand-worked.

def test_trends_earth_rounds_each_pixels_people_half_up_and_adds_the_rounded_sexes() -> None:
    from tasks.io.outputs.people_tables import te_whole_people

    female = np.array([0.49, 0.5, 1.5, 2.5, 0.0, 1234.4999])
    male = np.array([0.49, 0.49, 0.5, 2.5, 0.26, 0.5])
    out = te_whole_people({"female": female, "male": male, "total": female + male})
    assert out["female"].tolist() == [0, 1, 2, 3, 0, 1234]  # half up, as Earth Engine's round(); not half to even
    assert out["male"].tolist() == [0, 0, 1, 3, 0, 1]
    assert out["total"].tolist() == [0, 1, 3, 6, 0, 1235]  # the rounded women and men, not round(0.98) = 1 etc.
    totals = te_whole_people({"total": np.array([0.98, 2.5, 3.49])})
    assert totals["total"].tolist() == [1, 3, 3]


def _sdg_block(people: np.ndarray, sdg: np.ndarray, wet: np.ndarray | None = None) -> _Block:
    return _Block(people={2020: {"total": people}}, wet=[wet] if wet is not None else [], cell=None, sdg=[sdg],
                  vulnerability=None)


def test_trends_earth_caps_so2_3_people_at_int16_and_the_exact_rule_does_not() -> None:
    from tasks.io.outputs.people_tables import SDG_PEOPLE_CLASSES, SdgPeople, _add_sdg

    people = np.array([40000.0, 12.0, 3.0, 5.0])  # a city pixel above int16's 32767
    sdg = np.array([-1, 0, 1, -32768])
    flat, fraction, km2 = np.arange(4), np.array([1.0, 1.0, 0.5, 1.0]), np.ones(4)
    got = {}
    for rule in ("exact", "trends_earth"):
        sums = PeopleSums(zones=(), rule=rule)
        sums.sdg.append(np.zeros((1, len(GROUPS), len(SDG_PEOPLE_CLASSES))))
        sums.sdg_km2.append(np.zeros((1, len(SDG_PEOPLE_CLASSES))))
        _add_sdg(sums, 0, SdgPeople("unused.tif", None, 2020), _sdg_block(people, sdg), 0, flat, fraction, km2)
        got[rule] = sums.sdg[0][0, 0].tolist()
    # improved, stable, degraded, no data, water
    assert got["exact"] == [1.5, 12.0, 40000.0, 5.0, 0.0]
    assert got["trends_earth"] == [1.5, 12.0, 32767.0, 5.0, 0.0]


def test_trends_earths_vulnerability_mean_is_its_unweighted_pixel_mean_times_ten() -> None:
    from tasks.io.outputs.people_tables import _add_vulnerability, vulnerability_table
    from tasks.io.sources.zones import Zone

    index = np.array([0.2, 0.4, np.nan, 0.6])
    wet = np.array([False, False, False, True])  # water: out of our means, in Trends.Earth's
    people = np.array([10.0, 30.0, 5.0, 0.0])
    block = _Block(people={2020: {"total": people}}, wet=[wet], cell=None, sdg=[], vulnerability=index)
    flat, fraction, km2 = np.arange(4), np.ones(4), np.array([1.0, 3.0, 1.0, 1.0])
    tables = {}
    for rule in ("exact", "trends_earth"):
        sums = PeopleSums(zones=(Zone("Z", "zone", None),), rule=rule)
        sums.vulnerability_area, sums.vulnerability_pixels = np.zeros((1, 2)), np.zeros((1, 2))
        sums.vulnerability_people = {2020: np.zeros((1, len(GROUPS), 2))}
        _add_vulnerability(sums, [2020], block, 0, flat, fraction, km2)
        tables[rule] = vulnerability_table(sums, 2020, by_sex=False, where={"year": 2020}).set_index("zone_id")
    exact, te = tables["exact"].loc["Z"], tables["trends_earth"].loc["Z"]
    assert exact["area_weighted_mean"] == pytest.approx((0.2 * 1 + 0.4 * 3) / 4)
    assert exact["total_weighted_mean"] == pytest.approx((0.2 * 10 + 0.4 * 30) / 40)
    assert te["area_weighted_mean"] == exact["area_weighted_mean"]  # ours, kept beside
    assert te["total_weighted_mean"] == pytest.approx(10 * (0.2 + 0.4 + 0.6) / 3)  # every pixel with an index, x10
    assert tables["trends_earth"].loc["all", "total_weighted_mean"] == pytest.approx(4.0)


# Next year's table from the coarse cells' people a pass kept (``CellRecorder``): the pass's sums to the last bit.

@pytest.mark.parametrize("seed", range(4))
def test_a_year_table_replayed_from_the_kept_cells_equals_the_pass_bit_for_bit(seed: int, tmp_path) -> None:
    from rasterio.windows import Window

    from tasks.io.outputs.people_tables import CellPeople, CellRecorder, replay_year_droughts
    from tasks.io.sources.zones import Zone

    rng = np.random.default_rng(100 + seed)
    ncells, nz, by_sex = int(rng.integers(3, 60)), int(rng.integers(1, 4)), bool(seed % 2)
    zones = tuple(Zone(f"Z{z}", f"zone {z}", None) for z in range(nz))
    pairs = [(2005, None), (2005, 0), (2010, 1)]  # (population year, water map): a table of each, and one sharing
    droughts = [DroughtPeople(rng.choice([*DROUGHT_CLASSES, NODATA, 9], ncells), np.broadcast_to(np.int64(y), ncells), w)
                for y, w in [*pairs, pairs[1]]]

    def empty() -> PeopleSums:
        sums = PeopleSums(zones=zones)
        for spec in droughts:
            sums.drought.append(np.zeros((nz, len(GROUPS), len(_DROUGHT_CODES))))
            sums.drought_water.append(np.zeros((nz, len(GROUPS))))
            sums.cell_years.append((np.asarray(spec.population_year), spec.water))
        return sums

    passed, recorder = empty(), CellRecorder(tmp_path / "cells", pairs)
    for b in range(int(rng.integers(1, 6))):  # blocks, each with some zones' pixels, in the pass's order
        npix = int(rng.integers(1, 300))
        people = {y: ({"total": rng.gamma(0.4, 5.0, npix), "female": rng.gamma(0.4, 2.5, npix),
                       "male": rng.gamma(0.4, 2.5, npix)} if by_sex else {"total": rng.gamma(0.4, 5.0, npix)})
                  for y in (2005, 2010)}
        block = _Block(people, [rng.random(npix) < 0.2, rng.random(npix) < 0.4], rng.integers(0, ncells + 1, npix),
                       [], None)
        for z in sorted(rng.choice(nz, int(rng.integers(1, nz + 1)), replace=False)):
            flat = np.sort(rng.choice(npix, int(rng.integers(1, npix + 1)), replace=False))
            fraction = np.where(rng.random(flat.size) < 0.7, 1.0, rng.random(flat.size))
            here, per_cell = _add_droughts(passed, droughts, block, int(z), flat, fraction, drought_lookup(), ncells)
            recorder(Window(0, b * 1024, 10, 10), int(z), block, here, per_cell)
    recorder.close()
    passed.uncovered_km2 = {2005: rng.random(nz), 2010: rng.random(nz)}
    kept = {}
    for i, pair in enumerate(pairs):
        files, meta = recorder.entry(pair, passed)
        entry = tmp_path / f"entry-{i}"
        entry.mkdir()
        for name, path in files.items():
            (entry / name).write_bytes(path.read_bytes())
        kept[pair] = CellPeople.load(entry, meta)
    replayed = replay_year_droughts(zones, droughts, kept, ncells, "exact")
    for t in range(len(droughts)):
        assert np.array_equal(replayed.drought[t], passed.drought[t])
        assert np.array_equal(replayed.drought_water[t], passed.drought_water[t])
        for g in range(len(GROUPS)):
            assert np.array_equal(replayed.drought_cells(t, g), passed.drought_cells(t, g))
    assert replayed.uncovered_km2.keys() == {2005, 2010}
    # a damaged entry is refused, never read as fewer people (the stage drops it and makes the pass)
    entry = tmp_path / "entry-0"
    (entry / "land.f8").write_bytes((entry / "land.f8").read_bytes()[:-8])
    with pytest.raises(ValueError, match="incomplete"):
        CellPeople.load(entry, recorder.entry(pairs[0], passed)[1])
