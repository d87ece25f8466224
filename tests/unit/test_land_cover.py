"""Land cover: legend validation, all 49 transitions, aggregation errors, areas, and real maps."""
from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
import yaml

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.geo.areas import pixel_areas_km2
from tasks.science.land_cover import (
    LEGEND_FILE,
    LandCoverLegend,
    aggregate,
    annual_class_sums,
    class_area_table,
    lc_degradation,
    load_legend,
    transition_areas,
    transition_code,
)
from tests.helpers import realdata

# the method notes' matrix, typed out (rows initial, columns final)
NOTES = [
    [0, -1, -1, -1, -1, -1, 0],
    [1, 0, 1, -1, -1, -1, 0],
    [1, -1, 0, -1, -1, -1, 0],
    [-1, -1, -1, 0, -1, -1, 0],
    [1, 1, 1, 1, 0, 1, 0],
    [1, 1, 1, 1, -1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
]


def test_all_49_transitions_through_the_default_matrix() -> None:
    legend = load_legend()
    i, j = np.meshgrid(np.arange(1, 8), np.arange(1, 8), indexing="ij")
    a = xr.DataArray(i.astype("int16"), dims=("y", "x"))
    b = xr.DataArray(j.astype("int16"), dims=("y", "x"))
    assert lc_degradation(a, b, legend).values.tolist() == NOTES
    assert transition_code(a, b).values.tolist() == (i * 10 + j).tolist()
    nod = xr.DataArray(np.array([[NODATA, 1]], "int16"), dims=("y", "x"))
    assert lc_degradation(nod, nod, legend).values.tolist() == [[NODATA, 0]]
    assert transition_code(nod, nod).values.tolist() == [[NODATA, 11]]


@pytest.mark.realdata
def test_default_nesting_and_matrix_equal_trends_earth_files() -> None:
    folder = realdata("trends_earth_fixtures")
    te = json.loads((folder / "land_cover_nesting_unccd_esa.json").read_text())
    legend = load_legend()
    te_lookup = {int(child): int(parent) for parent, children in te["nesting"].items() for child in children
                 if int(parent) > 0}  # TE also maps its nodata (-32768)
    ours = legend.lookup()
    assert {k: v for k, v in te_lookup.items() if k != 0} == ours
    matrix = json.loads((folder / "land_cover_transition_matrix_unccd.json").read_text())
    meaning = {"degradation": -1, "stable": 0, "improvement": 1}
    for t in matrix["definitions"]["transitions"]:
        assert NOTES[t["initial"]["code"] - 1][t["final"]["code"] - 1] == meaning[t["meaning"]]


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.update(matrix=d["matrix"][:6]), r"matrix must be 7 x 7"),
    (lambda d: d["matrix"][0].__setitem__(0, 2), r"matrix values must be -1, 0 or 1, got \[2\]"),
    (lambda d: d["nesting"][2].append(50), r"source code 50 is nested in both class 1 and class 2"),
    (lambda d: d["nesting"].update({8: [99]}), r"nesting names classes \[8\]"),
])
def test_bad_legend_files(tmp_path: Path, edit, match: str) -> None:
    data = yaml.safe_load(LEGEND_FILE.read_text())
    edit(data)
    path = tmp_path / "legend.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match) as info:
        load_legend(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_aggregate_names_unmapped_codes_and_keeps_nodata() -> None:
    legend = load_legend()
    ok = xr.DataArray(np.array([[10, 130, 0, 210]], "uint8"), dims=("y", "x"))
    assert aggregate(ok, legend).values.tolist() == [[3, 2, NODATA, 7]]
    bad = xr.DataArray(np.array([[10, 131, 77]], "uint8"), dims=("y", "x"))
    with pytest.raises(ConfigError, match=r"landcover2001.tif holds codes \[77, 131\] that the legend does not nest"):
        aggregate(bad, legend, where="landcover2001.tif")


def test_transition_table_adds_up() -> None:
    legend = load_legend()
    a = xr.DataArray(np.array([[1, 2, 3], [NODATA, 7, 7]], "int16"), dims=("y", "x")).chunk(1)
    b = xr.DataArray(np.array([[1, 3, 2], [1, 7, 1]], "int16"), dims=("y", "x")).chunk(1)
    areas = np.array([[2.0], [3.0]])
    table = transition_areas(a, b, areas, legend)
    assert len(table) == 49
    got = {r.transition: r.area_km2 for r in table.itertuples() if r.area_km2}
    assert got == {11: 2.0, 23: 2.0, 32: 2.0, 77: 3.0, 71: 3.0}
    assert table.attrs["nodata_km2"] == 3.0



def annual_class_areas(series: xr.DataArray, areas_km2: np.ndarray, legend: LandCoverLegend) -> pd.DataFrame:
    """The SO1-1 table as the land cover stage makes it: ``annual_class_sums`` computed, then ``class_area_table``."""
    years = [int(y) for y in series.year.values]
    return class_area_table(years, list(dask.compute(*annual_class_sums(series, areas_km2))), legend)


def test_annual_class_areas_hand_worked() -> None:
    """Two years of a 2 x 3 map with rows of 2 and 3 km2: each class's km2 per year, nodata on its own row."""
    legend = load_legend()
    series = xr.DataArray(np.array([[[1, 2, 3], [NODATA, 7, 7]],
                                    [[1, 3, 3], [1, 7, NODATA]]], "int16"),
                          dims=("year", "y", "x"), coords={"year": [2015, 2016]}).chunk({"year": 1, "y": 1, "x": 2})
    table = annual_class_areas(series, np.array([[2.0], [3.0]]), legend)
    assert list(table.columns) == ["year", "class_code", "class_name", "area_km2"]
    assert len(table) == 2 * 8 and list(table.class_code[:8]) == [1, 2, 3, 4, 5, 6, 7, NODATA]
    got = {(r.year, r.class_code): r.area_km2 for r in table.itertuples() if r.area_km2}
    assert got == {(2015, 1): 2.0, (2015, 2): 2.0, (2015, 3): 2.0, (2015, 7): 6.0, (2015, NODATA): 3.0,
                   (2016, 1): 5.0, (2016, 3): 4.0, (2016, 7): 3.0, (2016, NODATA): 3.0}
    assert table.class_name[1] == "grassland" and table.class_name[7] == "nodata"


@pytest.mark.parametrize("seed", range(5))
def test_annual_class_areas_match_numpy_and_the_transition_margins(seed: int) -> None:
    """On random class maps with nodata and weights that are 0 outside a region: every year equals a plain numpy
    sum of the pixel areas per class, each year's total is the region's area, and the first and last years are
    the margins of the transition table."""
    rng = np.random.default_rng(seed)
    legend = load_legend()
    years, h, w = int(rng.integers(2, 6)), int(rng.integers(5, 40)), int(rng.integers(5, 40))
    codes = rng.integers(1, 8, (years, h, w)).astype("int16")
    codes[rng.random(codes.shape) < 0.1] = NODATA
    weights = rng.random((h, w)) * (rng.random((h, w)) < 0.8)  # 0 outside the region
    series = xr.DataArray(codes, dims=("year", "y", "x"), coords={"year": list(range(2000, 2000 + years))})
    table = annual_class_areas(series.chunk({"year": 1, "y": 7, "x": 9}), weights, legend)
    for k, year in enumerate(range(2000, 2000 + years)):
        rows = table[table.year == year].set_index("class_code").area_km2
        for code in range(1, 8):
            assert rows[code] == pytest.approx(weights[codes[k] == code].sum(), rel=1e-12, abs=1e-12)
        assert rows[NODATA] == pytest.approx(weights[codes[k] == NODATA].sum(), rel=1e-12, abs=1e-12)
        assert rows.sum() == pytest.approx(weights.sum(), rel=1e-12)
    first, last = series.isel(year=0, drop=True), series.isel(year=-1, drop=True)
    both = (first != NODATA) & (last != NODATA)  # the transition table counts pixels with both classes
    tr = transition_areas(first.where(both, NODATA).astype("int16").chunk(8), last.where(both, NODATA).astype("int16").chunk(8),
                          weights, legend)
    kept = table[(table.year == 2000)].set_index("class_code").area_km2
    by_from = tr.groupby("from_code").area_km2.sum()
    only_first = {c: weights[(codes[0] == c) & ~both.values].sum() for c in range(1, 8)}
    for code in range(1, 8):
        assert by_from[code] + only_first[code] == pytest.approx(kept[code], rel=1e-9, abs=1e-12)


NG_LEGEND = {  # the New Guinea maps' legend (README) -> 7 UNCCD classes
    "classes": {1: ["tree-covered", "787f1b"], 2: ["grassland", "ffac42"], 3: ["cropland", "fffb6e"],
                4: ["wetland", "00db84"], 5: ["artificial", "e60017"], 6: ["other land", "fff3d7"],
                7: ["water body", "0053c4"]},
    "source_nodata": [255],
    "nesting": {1: [2], 2: [3, 6], 3: [1], 4: [], 5: [5], 6: [7], 7: [9]},
    "matrix": NOTES,
}


@pytest.mark.realdata
@pytest.mark.parametrize("subset", ["", "s"])
def test_real_new_guinea_maps_areas_add_up(tmp_path: Path, subset: str) -> None:
    folder = realdata("landcover_new_guinea_2001_2015")
    path = tmp_path / "ng.yaml"
    path.write_text(yaml.safe_dump(NG_LEGEND))
    legend = load_legend(path)
    maps, raws = [], []
    for year in (2001, 2015):
        with rasterio.open(folder / f"landcover{year}{subset}.tif") as src:
            data = src.read(1)
            raws.append(data)
            crs, transform = src.crs, src.transform
            if src.nodata is None:  # the float subsets: NaN without a nodata tag is nodata, not class 0
                assert np.issubdtype(data.dtype, np.floating) and np.isnan(data).any()
        maps.append(aggregate(xr.DataArray(data, dims=("y", "x")).chunk(512), legend, where=f"landcover{year}{subset}"))
    first, last = maps
    areas = pixel_areas_km2(crs.to_wkt(), transform, first.shape)
    valid = (first != NODATA) & (last != NODATA)
    valid_km2 = float((valid * areas).sum())
    table = transition_areas(first, last, areas, legend)
    assert table["area_km2"].sum() == pytest.approx(valid_km2, rel=1e-4)
    class_km2 = sum(float(((first == c) & valid).sum() * areas[0, 0]) for c in range(1, 8))
    assert class_km2 == pytest.approx(valid_km2, rel=1e-4)
    total = first.size * areas[0, 0]
    assert table["area_km2"].sum() + table.attrs["nodata_km2"] == pytest.approx(total, rel=1e-9)
    # the README's count of changed pixels is of the raw codes ...
    a, b = raws
    both = (a != 255) & (b != 255) & ~np.isnan(a.astype(float)) & ~np.isnan(b.astype(float))
    assert int(((a != b) & both).sum()) == {"": 223_047, "s": 3_613}[subset]
    # ... while the table counts 7-class changes: grassland <-> shrubland nest into one class
    nest = {2: 1, 3: 2, 6: 2, 1: 3, 5: 5, 7: 6, 9: 7}
    a7 = np.vectorize(lambda v: nest.get(v, 0))(a[both])
    b7 = np.vectorize(lambda v: nest.get(v, 0))(b[both])
    changed = table[table.from_code != table.to_code]["area_km2"].sum()
    assert changed / areas[0, 0] == pytest.approx(int((a7 != b7).sum()), abs=0.5)
    assert not (first == 0).any()  # never class 0
