"""The LDN balance (UNCCD method notes section 6): gains and losses from the status, land types, the balance per
land type and the two verdicts, hand-worked on an equal-area grid, against a plain-Python reference on random
maps, and as the measured value of a "no net loss" target."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from tasks.constants import NODATA
from tasks.io.outputs.workbooks import counterbalancing_summary
from tasks.io.outputs.zonal import zonal_tables
from tasks.io.sources.zones import Zone
from tasks.model import LayerRef
from tasks.science.ldn_balance import (
    balance_code,
    balance_table,
    balance_verdicts,
    gains_losses,
    land_type_names,
    land_types,
)
from tasks.science.targets import LdnTarget, PeriodYears, measurements, track

EQUAL_AREA = "EPSG:6933"  # EASE-Grid 2.0: a 1000 m pixel is 1 km2 exactly
LAND_COVER = {1: "tree-covered", 2: "grassland", 3: "cropland", 4: "wetland", 5: "artificial", 6: "other land",
              7: "water body"}


def test_gains_are_status_6_and_7_losses_1_and_2_and_the_rest_neutral() -> None:
    status = xr.DataArray(np.array([1, 2, 3, 4, 5, 6, 7, NODATA, 0, 8], "int16"), dims="x")
    out = gains_losses(status)
    assert out.dtype == np.int16
    assert out.values.tolist() == [-1, -1, 0, 0, 0, 1, 1, NODATA, NODATA, NODATA]
    assert out.attrs["classes"] == {-1: "loss", 0: "neutral", 1: "gain"} and out.attrs["_FillValue"] == NODATA


def test_land_types_are_the_land_cover_or_unit_times_ten_plus_land_cover() -> None:
    lc = xr.DataArray(np.array([1, 2, 7, 3, NODATA, 0], "int16"), dims="x")
    assert land_types(lc).values.tolist() == [1, 2, 7, 3, NODATA, NODATA]
    units = xr.DataArray(np.array([0, 12, 3275, np.nan, 4, -1]), dims="x")
    assert land_types(lc, units).values.tolist() == [1, 122, 32757, NODATA, NODATA, NODATA]
    names = land_type_names([1, 122, NODATA], LAND_COVER, crossed=True)
    assert names == {1: "tree-covered on unit 0", 122: "grassland on unit 12"}
    assert land_type_names([2, 7], LAND_COVER, crossed=False) == {2: "grassland", 7: "water body"}


def _write(path: Path, data: np.ndarray, transform: Affine) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="int16", crs=EQUAL_AREA, transform=transform, nodata=NODATA) as dst:
        dst.write(data.astype("int16"), 1)
    return str(path)


def _zone(box: shapely.Polygon, name: str) -> Zone:
    t = Transformer.from_crs(EQUAL_AREA, "EPSG:4326", always_xy=True)
    geom = shapely.transform(shapely.segmentize(box, 10.0), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return Zone(name.upper(), name, geom)


def test_a_hand_built_status_map_balances_as_counted_by_hand(tmp_path: Path) -> None:
    """4 x 4 pixels of 1 km2 on EASE-Grid 2.0, one zone over all of them.

    status (rows):          land type (baseline land cover):
      7 6 1 3                 2 2 2 2
      2 4 5 3                 2 2 2 2
      6 1 4 4                 6 6 6 6
      -- 7 -- 2               7 7 1 -

    grassland (2): gains 7, 6 = 2; losses 1, 2 = 2; neutral 3, 4, 5, 3 = 4: delta 0, balanced (counted as achieved);
    other land (6): gain 1, loss 1, neutral 2: delta 0; water (7): one pixel without status, one gain (a status on
    a water land type: still counted); tree-covered (1): no status: area 0; the pixel without a land type has a
    loss (status 2): left out, counted as 1 km2 without land type. Net: gains 4, losses 3 -> +1, every land type
    balanced."""
    status = np.array([[7, 6, 1, 3], [2, 4, 5, 3], [6, 1, 4, 4], [NODATA, 7, NODATA, 2]])
    lc = np.array([[2, 2, 2, 2], [2, 2, 2, 2], [6, 6, 6, 6], [7, 7, 1, NODATA]])
    transform = Affine(1000.0, 0, 0, 0, -1000.0, 4000.0)
    gl = gains_losses(xr.DataArray(status.astype("int16"), dims=("y", "x"))).values
    types = land_types(xr.DataArray(lc.astype("int16"), dims=("y", "x"))).values
    refs = [LayerRef("ldn-balance", "p", "data", _write(tmp_path / "gl.tif", gl, transform)),
            LayerRef("ldn-balance", "p", "land_type", _write(tmp_path / "lt.tif", types, transform), LAND_COVER)]
    tables = zonal_tables(refs, (_zone(shapely.box(0, 0, 4000, 4000), "all"),), period="p")
    table = tables["ldn_balance"].set_index("land_type")
    assert list(table.index) == [1, 2, 3, 4, 5, 6, 7]
    expect = {2: (2, 2, 4, 0), 6: (1, 1, 2, 0), 7: (1, 0, 0, 1), 1: (0, 0, 0, 1)}  # gains, losses, neutral, no status
    for code, (gain, loss, neutral, none) in expect.items():
        row = table.loc[code]
        assert (row.gains_km2, row.losses_km2, row.neutral_km2, row.nodata_km2) == pytest.approx(
            (gain, loss, neutral, none), rel=1e-9, abs=1e-9), code
        assert row.delta_ldn_km2 == pytest.approx(gain - loss, abs=1e-9) and row.ldn_achieved
    assert table.loc[2].area_km2 == pytest.approx(8.0) and table.loc[2].delta_ldn_pct == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(table.loc[1].delta_ldn_pct), "a land type without status has no percentage"
    (summary,) = tables["ldn_balance_summary"].to_dict("records")
    assert summary["gains_km2"] == pytest.approx(4.0) and summary["losses_km2"] == pytest.approx(3.0)
    assert summary["net_balance_achieved"] and summary["every_land_type_balanced"]
    assert summary["land_types_assessed"] == 3 and summary["no_land_type_km2"] == pytest.approx(1.0)
    sheet = counterbalancing_summary(tables["ldn_balance"], tables["ldn_balance_summary"])
    assert list(sheet.columns[:5]) == ["Land Type", "Gains (sq km)", "Losses (sq km)", "Δ LDN (sq km)", "LDN Achieved"]
    total = sheet.iloc[-1]
    assert total["Land Type"] == "Total" and total["Δ LDN (sq km)"] == pytest.approx(1.0)
    assert total["LDN Achieved"] == "Yes" and total["Every land type balanced"] == "Yes"


def test_one_land_types_loss_fails_like_for_like_though_the_net_balance_holds(tmp_path: Path) -> None:
    """Two zones split down the middle: the west loses grassland (2 losses) and gains other land (3 gains): net +1,
    but grassland is not balanced; the east has only neutral land."""
    status = np.array([[1, 6, 4, 4], [2, 6, 4, 4], [3, 6, 4, 4]])
    lc = np.array([[2, 6, 2, 2], [2, 6, 2, 2], [2, 6, 2, 2]])
    transform = Affine(1000.0, 0, 0, 0, -1000.0, 3000.0)
    gl = gains_losses(xr.DataArray(status.astype("int16"), dims=("y", "x"))).values
    refs = [LayerRef("ldn-balance", "p", "data", _write(tmp_path / "gl.tif", gl, transform)),
            LayerRef("ldn-balance", "p", "land_type", _write(tmp_path / "lt.tif", lc, transform), LAND_COVER)]
    zones = (_zone(shapely.box(0, 0, 2000, 3000), "west"), _zone(shapely.box(2000, 0, 4000, 3000), "east"))
    summary = zonal_tables(refs, zones, period="p")["ldn_balance_summary"].set_index("zone")
    west, east = summary.loc["west"], summary.loc["east"]
    assert west.delta_ldn_km2 == pytest.approx(1.0) and west.net_balance_achieved
    assert not west.every_land_type_balanced and west.failing_land_types == "grassland (-2.00 km2)"
    assert east.delta_ldn_km2 == pytest.approx(0.0, abs=1e-9) and east.every_land_type_balanced
    assert east.land_types_assessed == 1


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_balance_agrees_with_a_plain_python_count(data: st.DataObject) -> None:
    """Independent reference: a loop over pixels in plain Python, status codes straight from the method notes'
    definitions (gain 6-7, loss 1-2), with arbitrary pixel areas; the table and verdicts must match it."""
    n = data.draw(st.integers(1, 60))
    status = data.draw(st.lists(st.sampled_from([1, 2, 3, 4, 5, 6, 7, NODATA]), min_size=n, max_size=n))
    types = data.draw(st.lists(st.sampled_from([1, 2, 3, 6, 7, 12, 26, NODATA]), min_size=n, max_size=n))
    areas = data.draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
    gl = gains_losses(xr.DataArray(np.array(status, "int16"), dims="x")).values
    typed = np.array(types) != NODATA
    codes = balance_code(np.array(types)[typed], gl[typed])
    km2: dict[int, float] = defaultdict(float)
    for c, a in zip(codes.tolist(), np.array(areas, float)[typed].tolist()):
        km2[c] += a
    names = {t: f"type {t}" for t in {1, 2, 3, 6, 7, 12, 26}}
    table = balance_table(km2, names).set_index("land_type")
    reference: dict[int, list[int]] = {t: [0, 0, 0, 0] for t in names}  # gains, losses, neutral, no status
    for s, t, a in zip(status, types, areas):
        if t == NODATA:
            continue
        slot = 0 if s in (6, 7) else 1 if s in (1, 2) else 2 if 3 <= s <= 5 else 3
        reference[t][slot] += a
    for t, (gain, loss, neutral, none) in reference.items():
        row = table.loc[t]
        assert (row.gains_km2, row.losses_km2, row.neutral_km2, row.nodata_km2) == (gain, loss, neutral, none)
        assert row.ldn_achieved == (gain >= loss)
    verdict = balance_verdicts(table.reset_index())
    total_gain = sum(r[0] for r in reference.values())
    total_loss = sum(r[1] for r in reference.values())
    assert verdict["net_balance_achieved"] == (total_gain >= total_loss)
    assessed = [t for t, r in reference.items() if r[0] + r[1] + r[2] > 0]
    assert verdict["every_land_type_balanced"] == all(reference[t][0] >= reference[t][1] for t in assessed)


def test_a_no_net_loss_target_is_measured_by_the_net_balance() -> None:
    target = LdnTarget.model_validate({
        "id": "mng-no-net-loss", "country": "MNG", "title": "No net loss of healthy land by 2030 against 2015",
        "indicator": "ldn_balance", "comparison": "level", "proxy": "the net LDN balance of the layers",
        "baseline": {"year": 2015, "value": 0}, "target": {"year": 2030, "value": 0}, "unit": "km2",
        "better": "higher", "source": "a test"})
    summary = lambda delta, every: pd.DataFrame([{  # noqa: E731
        "zone_id": "MNG", "zone": "Mongolia", "delta_ldn_km2": delta, "every_land_type_balanced": every,
        "failing_land_types": "" if every else "grassland (-3.00 km2)"}])
    frames = {"report_1": {"ldn_balance_summary": summary(6.9, True)},
              "report_2": {"ldn_balance_summary": summary(-0.5, False)}}
    years = {"report_1": PeriodYears(sdg=2019, land_cover=(2015, 2019)),
             "report_2": PeriodYears(sdg=2023, land_cover=(2015, 2022))}
    found = measurements(target, frames, years)
    assert [(m.period, m.year, m.value) for m in found] == [("report_1", 2019, 6.9), ("report_2", 2023, -0.5)]
    assert "grassland" in found[1].note
    rows = track(target, found)
    assert [r["status"] for r in rows] == ["on track", "off track"] and rows[1]["gap"] == -0.5
