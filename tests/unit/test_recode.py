"""Expert recode polygons: application across CRSs, per period, overlap and outside-raster handling."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tasks.errors import ConfigError
from tasks.geo.grid import lonlat_bounds
from tasks.io.sources.recode import RecodeOutsideRaster, apply_recodes, read_recodes

# a 20 x 20 MODIS-grid window near Zamyn-Uud
GEOBOX = GeoBox((20, 20), Affine(MODIS_PIXEL_SIZE, 0, 8962784.50123854, 0, -MODIS_PIXEL_SIZE, 4891424.004740481),
                MODIS_SINUSOIDAL_WKT)


def _geojson(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "recodes.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for geom, props in features]}))
    return path


def _box(w: float, s: float, e: float, n: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _left_half() -> dict:
    """A lon/lat polygon covering the left half of GEOBOX (the grid is slanted in lon/lat)."""
    left, bottom, right, top = GEOBOX.boundingbox
    mid = (left + right) / 2
    from pyproj import Transformer
    inv = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    xs = [left - 500, mid, mid, left - 500, left - 500]
    ys = [bottom - 500, bottom - 500, top + 500, top + 500, bottom - 500]
    lon, lat = inv.transform(xs, ys)
    return {"type": "Polygon", "coordinates": [list(map(list, zip(lon, lat)))]}


def _layer(value: int = -1) -> xr.DataArray:
    data = np.full((20, 20), value, "int16")
    data[0, 0] = NODATA
    return xr.DataArray(data, dims=("y", "x"))


def test_recode_applies_inside_the_polygon_for_its_periods(tmp_path: Path) -> None:
    path = _geojson(tmp_path, [(_left_half(), {"reason": "irrigation scheme misread as decline",
                                               "periods": "baseline,report_1", "degraded_to": 0})])
    recodes = read_recodes(path, MODIS_SINUSOIDAL_WKT)
    out, applied = apply_recodes(_layer(), recodes, period="baseline", geobox=GEOBOX, source=str(path))
    values = out.values
    assert (values[:, :10][values[:, :10] != NODATA] == 0).all() and (values[:, 10:] == -1).all()
    assert values[0, 0] == NODATA  # nodata is never recoded
    assert applied[0]["pixels_changed"] == 20 * 10 - 1 and applied[0]["reason"].startswith("irrigation")
    assert out.attrs["recodes"] == applied
    untouched, none = apply_recodes(_layer(), recodes, period="report_2", geobox=GEOBOX, source=str(path))
    assert none == [] and (untouched.values[1:] == -1).all()


def test_only_the_named_classes_change(tmp_path: Path) -> None:
    path = _geojson(tmp_path, [(_left_half(), {"reason": "new plantation", "improved_to": 0})])
    out, applied = apply_recodes(_layer(-1), read_recodes(path, MODIS_SINUSOIDAL_WKT), period="x", geobox=GEOBOX,
                                 source="p")
    assert applied[0]["pixels_changed"] == 0 and (out.values[1:] == -1).all()


def test_overlapping_polygons_for_the_same_period_are_an_error(tmp_path: Path) -> None:
    w, s, e, n = lonlat_bounds(tuple(GEOBOX.boundingbox), MODIS_SINUSOIDAL_WKT)
    path = _geojson(tmp_path, [(_box(w, s, e, n), {"reason": "a", "degraded_to": 0}),
                               (_box(w, s, (w + e) / 2, n), {"reason": "b", "periods": "report_1", "improved_to": 0})])
    with pytest.raises(ConfigError, match=r"recode polygons 0 and 1 in .*recodes.geojson overlap .* split them"):
        read_recodes(path, MODIS_SINUSOIDAL_WKT)
    disjoint_periods = _geojson(tmp_path, [(_box(w, s, e, n), {"reason": "a", "periods": "baseline", "degraded_to": 0}),
                                           (_box(w, s, e, n), {"reason": "b", "periods": "report_1", "degraded_to": 0})])
    assert len(read_recodes(disjoint_periods, MODIS_SINUSOIDAL_WKT)) == 2


def test_polygon_outside_the_raster_warns(tmp_path: Path) -> None:
    path = _geojson(tmp_path, [(_box(10, 10, 11, 11), {"reason": "typo in coordinates", "degraded_to": 0})])
    with pytest.warns(RecodeOutsideRaster, match=r"recode polygon 0 in p lies outside the layer's grid"):
        out, applied = apply_recodes(_layer(), read_recodes(path, MODIS_SINUSOIDAL_WKT), period="x",
                                     geobox=GEOBOX, source="p")
    assert applied == []


@pytest.mark.parametrize(("props", "geom", "match"), [
    ({"degraded_to": 0}, None, r"have no `reason` field"),
    ({"reason": "", "degraded_to": 0}, None, r"has an empty `reason`"),
    ({"reason": "x", "degraded_to": 5}, None, r"degraded_to = 5 is not -1, 0 or 1"),
    ({"reason": "x"}, None, r"changes nothing: set degraded_to"),
    ({"reason": "x", "degraded_to": 0},
     {"type": "Polygon", "coordinates": [[[111, 43], [112, 44], [112, 43], [111, 44], [111, 43]]]},
     r"is not a valid geometry \(Self-intersection.*repair it"),
])
def test_bad_features(tmp_path: Path, props: dict, geom: dict | None, match: str) -> None:
    path = _geojson(tmp_path, [(geom or _left_half(), props)])
    with pytest.raises(ConfigError, match=match):
        read_recodes(path, MODIS_SINUSOIDAL_WKT)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist: pass a GeoPackage or GeoJSON"):
        read_recodes("/nonexistent/recodes.gpkg", MODIS_SINUSOIDAL_WKT)


def test_a_chunked_layer_is_recoded_block_by_block_as_the_whole_one(tmp_path: Path) -> None:
    """Polygons crossing block edges: a Dask layer in 7 x 7 blocks stays lazy and gives the whole array's pixels
    and counts (the pixel-centre rule does not depend on the block)."""
    import dask.array as da
    from pyproj import Transformer

    inv = Transformer.from_crs(MODIS_SINUSOIDAL_WKT, "EPSG:4326", always_xy=True)
    left, bottom, right, top = GEOBOX.boundingbox
    px = MODIS_PIXEL_SIZE

    def lonlat_box(c0: float, r0: float, c1: float, r1: float) -> dict:  # a box in pixel units, as lon/lat
        xs = [left + c0 * px, left + c1 * px, left + c1 * px, left + c0 * px, left + c0 * px]
        ys = [top - r1 * px, top - r1 * px, top - r0 * px, top - r0 * px, top - r1 * px]
        lon, lat = inv.transform(xs, ys)
        return {"type": "Polygon", "coordinates": [list(map(list, zip(lon, lat)))]}

    rng = np.random.default_rng(7)
    data = rng.choice(np.array([-1, 0, 1, NODATA], "int16"), size=(20, 20))
    path = _geojson(tmp_path, [
        (lonlat_box(2.3, 3.1, 15.6, 9.2), {"reason": "a", "degraded_to": 1, "stable_to": -1}),
        (lonlat_box(4.5, 12.4, 19.7, 18.8), {"reason": "b", "improved_to": 0}),
    ])
    recodes = read_recodes(path, MODIS_SINUSOIDAL_WKT)
    whole, applied_whole = apply_recodes(xr.DataArray(data, dims=("y", "x")), recodes, period="x", geobox=GEOBOX,
                                         source="p")
    chunked, applied_chunked = apply_recodes(xr.DataArray(da.from_array(data, chunks=7), dims=("y", "x")), recodes,
                                             period="x", geobox=GEOBOX, source="p")
    assert isinstance(chunked.data, da.Array), "a Dask layer stays lazy"
    np.testing.assert_array_equal(chunked.values, whole.values)
    assert applied_chunked == applied_whole
    assert all(a["pixels_inside"] > 0 and a["pixels_changed"] > 0 for a in applied_whole)
