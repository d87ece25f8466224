"""Zonal tables: exact fractional coverage of true pixel areas, hand-worked and against geodesic areas."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from tasks.constants import NODATA
from tasks.errors import ConfigError
from tasks.io.outputs.workbooks import write_workbook
from tasks.io.outputs.zonal import sums_by_code, zonal_tables
from tasks.io.sources.zones import Zone, check_zones_cover, default_zones, read_zones
from tasks.model import LayerRef

EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global (cylindrical equal area)


def _write(path: Path, data: np.ndarray, crs: str, transform: Affine) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="int16", crs=crs, transform=transform, nodata=NODATA) as dst:
        dst.write(data.astype("int16"), 1)
    return str(path)


def _lonlat(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    from pyproj import Transformer

    t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely.transform(shapely.segmentize(geom, 10.0), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def test_default_zones_are_north_east_asia_with_the_russian_far_east_across_the_antimeridian() -> None:
    zones = {z.zone_id: z for z in default_zones()}
    assert list(zones) == ["CHN", "MNG", "PRK", "KOR", "JPN", "RUS"]
    rus = zones["RUS"].geometry
    assert rus.bounds[0] == -180.0 and rus.bounds[2] == 180.0, "Chukotka on both sides of the antimeridian is kept"
    assert rus.intersects(shapely.Point(-175.0, 66.0)) and rus.intersects(shapely.Point(135.0, 60.0))  # Chukotka, Khabarovsk
    assert not rus.intersects(shapely.Point(37.6, 55.75)) and not rus.intersects(shapely.Point(82.9, 55.0))  # Moscow, Novosibirsk
    assert zones["MNG"].geometry.contains(shapely.Point(106.9, 47.9))  # Ulaanbaatar


def test_a_pixel_on_a_border_is_shared_by_area(tmp_path: Path) -> None:
    """Hand-worked: a 4 x 4 grid of 1 km2 pixels, two zones split at x = 1.5 km (half a pixel)."""
    transform = Affine(1000.0, 0, 0, 0, -1000.0, 4000.0)
    sdg = np.array([[-1, -1, 0, 1]] * 4)
    path = _write(tmp_path / "sdg.tif", sdg, EQUAL_AREA, transform)
    west, east = shapely.box(0, 0, 1500, 4000), shapely.box(1500, 0, 4000, 4000)
    zones = (Zone("W", "west", _lonlat(west, EQUAL_AREA)), Zone("E", "east", _lonlat(east, EQUAL_AREA)))
    table = zonal_tables([LayerRef("sdg-15-3-1", "p", "data", path)], zones, period="p")["sdg_15_3_1"]
    w, e = table.set_index("zone_id").loc["W"], table.set_index("zone_id").loc["E"]
    assert w.total_km2 == pytest.approx(6.0, rel=1e-6) and e.total_km2 == pytest.approx(10.0, rel=1e-6)
    assert w.degraded_km2 == pytest.approx(6.0, rel=1e-6) and w.stable_km2 == pytest.approx(0.0, abs=1e-9)
    assert e.degraded_km2 == pytest.approx(2.0, rel=1e-6)  # the half pixels east of the border
    assert e.stable_km2 == pytest.approx(4.0, rel=1e-6) and e.improved_km2 == pytest.approx(4.0, rel=1e-6)
    assert e.degraded_pct == pytest.approx(20.0, rel=1e-6)


def test_zone_area_on_a_geographic_grid_equals_its_geodesic_area(tmp_path: Path) -> None:
    """Independent reference: pyproj's geodesic polygon area on WGS84 (per-row ellipsoidal pixels)."""
    rng = np.random.default_rng(7)
    transform = Affine(0.05, 0, 110.0, 0, -0.05, 50.0)
    data = rng.choice([-1, 0, 1, NODATA], size=(200, 200), p=[0.2, 0.5, 0.2, 0.1])
    path = _write(tmp_path / "sdg.tif", data, "EPSG:4326", transform)
    for _ in range(3):
        cx, cy = rng.uniform(112, 118), rng.uniform(42, 48)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = rng.uniform(0.5, 1.5, 9)
        poly = shapely.Polygon(np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)]))
        poly = shapely.segmentize(poly, 0.01)  # edges as drawn on the lon/lat grid
        geodesic = abs(Geod(ellps="WGS84").geometry_area_perimeter(poly)[0]) / 1e6
        row = zonal_tables([LayerRef("sdg-15-3-1", "p", "data", path)], (Zone("z", "z", poly),), period="p")["sdg_15_3_1"].iloc[0]
        assert row.total_km2 == pytest.approx(geodesic, rel=1e-4)
        classes = row.degraded_km2 + row.stable_km2 + row.improved_km2 + row.nodata_km2
        assert classes == pytest.approx(row.land_km2, rel=1e-4), "classes and nodata add up to land (0.01 %)"


def test_water_is_not_land_and_every_table_adds_up(tmp_path: Path) -> None:
    transform = Affine(1000.0, 0, 0, 0, -1000.0, 3000.0)
    initial = np.array([[2, 2, 7], [3, 3, 7], [6, 6, 6]])
    final = np.array([[2, 5, 7], [3, 2, 7], [6, 6, NODATA]])
    sdg = np.array([[0, -1, NODATA], [0, 1, NODATA], [0, 0, NODATA]])
    lpd = np.array([[4, 1, 4], [3, 5, 4], [4, 4, 4]])
    status = np.array([[4, 1, NODATA], [4, 7, NODATA], [4, 4, NODATA]])
    refs = [LayerRef("sdg-15-3-1", "r", "data", _write(tmp_path / "s.tif", sdg, EQUAL_AREA, transform)),
            LayerRef("land-cover", "r", "initial", _write(tmp_path / "i.tif", initial, EQUAL_AREA, transform),
                     {k: f"c{k}" for k in range(1, 8)}),
            LayerRef("land-cover", "r", "final", _write(tmp_path / "f.tif", final, EQUAL_AREA, transform),
                     {k: f"c{k}" for k in range(1, 8)}),
            LayerRef("land-cover", "r", "transition",
                     _write(tmp_path / "t.tif", np.where(final == NODATA, NODATA, initial * 10 + final), EQUAL_AREA, transform)),
            LayerRef("lpd", "r", "data", _write(tmp_path / "l.tif", lpd, EQUAL_AREA, transform)),
            LayerRef("status", "r", "data", _write(tmp_path / "st.tif", status, EQUAL_AREA, transform),
                     {k: f"s{k}" for k in range(1, 8)})]
    zone = (Zone("all", "all", _lonlat(shapely.box(0, 0, 3000, 3000), EQUAL_AREA)),)
    t = zonal_tables(refs, zone, period="r")
    sdg_row = t["sdg_15_3_1"].iloc[0]
    assert sdg_row.total_km2 == pytest.approx(9) and sdg_row.water_km2 == pytest.approx(2) and sdg_row.land_km2 == pytest.approx(7)
    assert (sdg_row.degraded_km2, sdg_row.stable_km2, sdg_row.improved_km2, sdg_row.nodata_km2) == pytest.approx((1, 4, 1, 1))
    assert sdg_row.degraded_pct == pytest.approx(100 / 6)  # of land with data
    lpd_t = t["lpd"]
    assert lpd_t.area_km2.sum() + lpd_t.nodata_km2.iloc[0] == pytest.approx(7), "LPD over land only"
    assert dict(zip(lpd_t["class"], lpd_t.area_km2)) == pytest.approx({1: 1, 2: 0, 3: 1, 4: 4, 5: 1})
    lc = t["land_cover"].set_index("class")
    assert lc.initial_km2.sum() == pytest.approx(9) and lc.final_km2.sum() == pytest.approx(9)
    assert lc.loc[7, "final_km2"] == pytest.approx(2) and lc.loc[NODATA, "final_km2"] == pytest.approx(1)
    cross = {(r.lpd_class, r.land_cover_class): r.area_km2 for r in t["lpd_land_cover"].itertuples() if r.area_km2}
    assert cross == pytest.approx({(4, 2): 1, (4, 6): 2, (1, 5): 1, (3, 3): 1, (5, 2): 1}), "LPD within final land cover"
    lpd_tr = t["lpd_transitions"]
    assert len(lpd_tr) == 5 * 49
    assert {(r.lpd_class, r.initial_class, r.final_class): r.area_km2 for r in lpd_tr.itertuples() if r.area_km2} == \
        pytest.approx({(4, 2, 2): 1, (4, 6, 6): 2, (1, 2, 5): 1, (3, 3, 3): 1, (5, 3, 2): 1}), "the pixel with no final class is left out"
    tr = t["land_cover_transitions"]
    assert len(tr) == 49
    assert tr[(tr.initial_class == 3) & (tr.final_class == 2)].area_km2.item() == pytest.approx(1)
    assert tr.area_km2.sum() + tr.nodata_km2.iloc[0] == pytest.approx(9), "transitions and nodata add up to the total"
    st = t["status"]
    assert st.area_km2.sum() + st.nodata_km2.iloc[0] == pytest.approx(7)


def test_the_workbook_has_the_unccd_tables_and_the_same_bytes_twice(tmp_path: Path) -> None:
    import openpyxl

    sdg = pd.DataFrame([{"period": "p", "zone_id": "A", "zone": "A", "total_km2": 10.0, "water_km2": 0.0,
                         "land_km2": 10.0, "indicator": "sdg_15_3_1", "degraded_km2": 1.0, "stable_km2": 8.0,
                         "improved_km2": 1.0, "degraded_pct": 10.0, "stable_pct": 80.0, "improved_pct": 10.0,
                         "nodata_km2": 0.0, "nodata_pct_of_land": 0.0}])
    a = write_workbook({"sdg_15_3_1": sdg}, tmp_path / "a.xlsx", about={"period": "p"})
    b = write_workbook({"sdg_15_3_1": sdg}, tmp_path / "b.xlsx", about={"period": "p"})
    assert a.read_bytes() == b.read_bytes()
    book = openpyxl.load_workbook(a)
    assert "SO1-4 SDG 15.3.1" in book.sheetnames and "about" in book.sheetnames
    sheet = book["SO1-4 SDG 15.3.1"]
    assert sheet["A1"].value.startswith("Proportion of land that is degraded") and sheet["A1"].font.bold
    header = [c.value for c in sheet[2]]
    assert header[:2] == ["period", "zone"] and "proportion degraded (% of land with data)" in header
    assert [c.value for c in sheet[4]][:2] == ["p", "all zones (sum)"] and sheet["A4"].font.bold
    assert sheet["C3"].number_format == "#,##0.00" and sheet.freeze_panes == "B3"



def test_the_workbook_has_the_land_cover_series_year_by_year(tmp_path: Path) -> None:
    """SO1-1 carries the land cover areas of every year of the window (as Trends.Earth's summary table does), one
    row per year, a column per class and the year's total."""
    import openpyxl

    rows = [{"year": y, "class_code": c, "class_name": n, "area_km2": a}
            for y, areas in ((2015, (5.0, 3.0, 0.0)), (2016, (4.0, 4.0, 0.0)))
            for c, n, a in zip((1, 2, NODATA), ("tree-covered", "grassland", "nodata"), areas)]
    book = openpyxl.load_workbook(write_workbook({"land_cover_annual": pd.DataFrame(rows)}, tmp_path / "a.xlsx",
                                                 about={"period": "p"}))
    sheet = book["SO1-1 land cover"]
    assert sheet["A1"].value == "Land cover area by class and year, the run's whole area (km2)"
    assert [c.value for c in sheet[2]] == ["year", "tree-covered", "grassland", "nodata", "total"]
    assert [c.value for c in sheet[3]] == [2015, 5.0, 3.0, 0.0, 8.0]
    assert [c.value for c in sheet[4]] == [2016, 4.0, 4.0, 0.0, 8.0]


def test_the_workbook_gives_soc_means_and_lpd_shares_per_land_cover_class(tmp_path: Path) -> None:
    """Trends.Earth's shape (issue 34 item 15): the SOC sheet's mean stock per class in t C/ha (tonnes over km2 x
    100; the totals' from their sums), the LPD x land cover blocks with each LPD class's % of the land cover class."""
    import openpyxl

    soc = pd.DataFrame([{"zone_id": z, "zone": z, "class": 3, "class_name": "grassland", "initial_area_km2": a,
                         "stock_initial_t": t0, "final_area_km2": a, "stock_final_t": t1, "change_t": t1 - t0}
                        for z, a, t0, t1 in (("A", 2.0, 8000.0, 7000.0), ("B", 0.0, 0.0, 0.0))])
    lpd = pd.DataFrame([{"zone_id": "A", "zone": "A", "land_cover_class": lc, "land_cover_name": lcn, "lpd_class": k,
                         "lpd_name": kn, "area_km2": a}
                        for lc, lcn, k, kn, a in ((3, "grassland", 1, "declining", 1.0), (3, "grassland", 5, "increasing", 3.0),
                                                  (6, "bare land", 1, "declining", 0.0), (6, "bare land", 5, "increasing", 0.0))])
    book = openpyxl.load_workbook(write_workbook({"soc_land_cover": soc, "lpd_land_cover": lpd}, tmp_path / "a.xlsx",
                                                 about={"period": "p"}))
    rows = [[c.value for c in r] for r in book["SO1-3 SOC"].iter_rows(min_row=2, max_row=5)]
    assert rows[0] == ["zone", "class_name", "initial_area_km2", "stock_initial_t", "mean_initial_t_ha",
                       "final_area_km2", "stock_final_t", "mean_final_t_ha", "change_t"]
    assert rows[1][4] == pytest.approx(40.0) and rows[1][7] == pytest.approx(35.0)  # 8000 t on 200 ha
    assert rows[2][4] is None  # no area, no mean
    assert rows[3][:2] == ["all zones (sum)", "grassland"] and rows[3][4] == pytest.approx(40.0)
    rows = [[c.value for c in r] for r in book["SO1-2 productivity"].iter_rows(min_row=2, max_row=5)]
    assert rows[0] == ["land cover", "declining", "increasing", "total", "declining (% of class)",
                       "increasing (% of class)"]
    assert rows[1] == ["grassland", 1.0, 3.0, 4.0, 25.0, 75.0]
    assert rows[2] == ["bare land", 0.0, 0.0, 0.0, None, None]
    assert rows[3] == ["total", 1.0, 3.0, 4.0, 25.0, 75.0]


def _gpkg(path: Path, geoms: list[shapely.Geometry], crs: str | None, geometry_type: str = "Polygon",
          **fields: list) -> Path:
    """Write polygons (or anything) to a GeoPackage with pyogrio, with or without a CRS."""
    import warnings

    from pyogrio.raw import write

    names = list(fields)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")  # on purpose, in one test
        write(path, shapely.to_wkb(np.array(geoms, dtype=object)), [np.array(fields[n], dtype=object) for n in names],
              names, geometry_type=geometry_type, crs=crs, driver="GPKG")
    return path


def test_user_zones_in_any_crs_read_as_lonlat(tmp_path: Path) -> None:
    box = shapely.box(12_400_000, 5_300_000, 12_500_000, 5_400_000)  # web mercator, Inner Mongolia
    zones = read_zones(_gpkg(tmp_path / "z.gpkg", [box], "EPSG:3857", name=["a farm"]))
    assert zones[0].name == "a farm"
    from pyproj import Transformer

    corners = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(
        [12_400_000, 12_500_000], [5_300_000, 5_400_000])
    expected = (corners[0][0], corners[1][0], corners[0][1], corners[1][1])
    assert zones[0].geometry.bounds == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("geoms", "crs", "match"), [
    ([shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])], "EPSG:4326", r"invalid geometry \(Self-intersection.*QGIS 'Fix geometries'"),
    ([shapely.box(0, 0, 1, 1)], None, r"has no CRS: set one"),
    ([shapely.LineString([(0, 0), (1, 1)])], "EPSG:4326", r"is a LineString, not a polygon"),
])
def test_bad_zone_files_get_one_line_errors(tmp_path: Path, geoms: list, crs: str | None, match: str) -> None:
    path = _gpkg(tmp_path / "z.gpkg", geoms, crs, geometry_type="Unknown", name=["z"] * len(geoms))
    with pytest.raises(ConfigError, match=match) as err:
        read_zones(path)
    assert "\n" not in str(err.value)


def test_zones_that_miss_the_area_and_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no zone overlaps the area .* pass zones that cover it"):
        check_zones_cover(default_zones(), (10.0, 40.0, 11.0, 41.0))
    with pytest.raises(ConfigError, match=r"zone file .* does not exist"):
        read_zones(tmp_path / "nope.gpkg")
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read zone file"):
        read_zones(tmp_path / "bad.geojson")
    with pytest.raises(ConfigError, match=r"has no field 'district'; its fields are \['name'\]"):
        read_zones(_gpkg(tmp_path / "z.gpkg", [shapely.box(111, 43, 112, 44)], "EPSG:4326", name=["x"]), name_field="district")


def test_zonal_ndvi_series_is_the_area_weighted_mean_over_pixels_with_data(tmp_path: Path) -> None:
    from tasks.io.outputs.zonal import zonal_ndvi_series

    transform = Affine(1000.0, 0, 0, 0, -1000.0, 2000.0)  # 2 x 4 pixels of 1 km2 (equal area)
    y1 = np.array([[1000, 2000, 3000, 3000], [NODATA, 2000, 5000, 7000]])
    y2 = y1 + 100
    paths = {2001: _write(tmp_path / "a.tif", y1, EQUAL_AREA, transform),
             2002: _write(tmp_path / "b.tif", y2, EQUAL_AREA, transform)}
    zones = (Zone("w", "west", _lonlat(shapely.box(0, 0, 2000, 2000), EQUAL_AREA)),
             Zone("e", "east", _lonlat(shapely.box(2000, 0, 4000, 2000), EQUAL_AREA)))
    series = zonal_ndvi_series(paths, zones).set_index(["zone", "year"])["mean_ndvi"]
    assert series[("west", 2001)] == pytest.approx((1000 + 2000 + 2000) / 3, rel=1e-6), "the nodata pixel is left out"
    assert series[("east", 2001)] == pytest.approx((3000 + 3000 + 5000 + 7000) / 4, rel=1e-6)
    assert series[("east", 2002)] - series[("east", 2001)] == pytest.approx(100, rel=1e-6)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([NODATA, 1, 2, 3, 5, 11, 77, 577, -1, 40_000, 10**7]), max_size=300), st.integers(0, 2**32 - 1))
def test_sums_by_code_equal_numpys_unique_and_bincount(codes: list[int], seed: int) -> None:
    # counted in place or sorted, each code's sums are numpy's own, float for float
    rng = np.random.default_rng(seed)
    array = np.array(codes, dtype="int64")
    weights = [rng.random(array.size) * scale for scale in (1.0, 1e-9, 1e9)]
    values, sums = sums_by_code(array, *weights)
    expected, inverse = np.unique(array, return_inverse=True)
    assert values.tolist() == expected.tolist()
    for got, w in zip(sums, weights):
        assert got.tobytes() == np.bincount(inverse, weights=w, minlength=expected.size).tobytes()


def test_a_zone_with_no_data_has_no_percentages_even_when_rounding_leaves_a_crumb(tmp_path: Path) -> None:
    # land and nodata are the same pixels summed in two orders: here land - nodata = +1.4e-9 km2, which gave 0.0 %
    transform = Affine(0.01, 0, 120.0, 0, -0.01, 50.0)
    ref = LayerRef("sdg-15-3-1", "r", "data", _write(tmp_path / "s.tif", np.full((300, 300), NODATA), "EPSG:4326", transform))
    zone = Zone("z", "z", shapely.box(120.0235, 47.0131, 122.9843, 49.9883))
    row = zonal_tables([ref], (zone,), period="r")["sdg_15_3_1"].iloc[0]
    assert row.land_km2 - row.nodata_km2 > 0, "the crumb this test is about"
    assert np.isnan([row.degraded_pct, row.stable_pct, row.improved_pct]).all()
    assert row.nodata_pct_of_land == pytest.approx(100)
