"""Tiles as mapped tasks: cutting the sample into tiles changes no published byte of data, a region
computes only its tiles, and a rerun with nothing new does no raster work at all."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask
from typer.testing import CliRunner

from flows.cli import app
from tasks.io.runtime.local_stac import serve_collections
from tests.integration.conftest import sample_config

pytestmark = pytest.mark.integration


def _latest(root: Path) -> Path:
    return root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]


def _rasters(root: Path) -> dict[str, Path]:
    version = _latest(root)
    return {p.relative_to(version).as_posix(): p for p in version.rglob("*.tif")}


def test_tiled_run_matches_the_single_tile_run_bit_for_bit(full_run: tuple[Path, Path], tmp_path: Path,
                                                           prefect_harness: None) -> None:
    from flows.ldn_yearly import ldn_yearly
    from tasks.io.sources.run import run_context

    sample, single = full_run
    with serve_collections(sample) as stac:
        cfg = sample_config(sample, stac.api_url, tmp_path / "catalog", years=(2001, 2024), tile_size=200)
        assert len(run_context(cfg).tiles) == 4
        ldn_yearly(cfg)
    one, tiled = _rasters(single), _rasters(tmp_path / "catalog")
    assert sorted(one) == sorted(tiled) and len(one) > 100
    for name, path in one.items():
        with rasterio.open(path) as a, rasterio.open(tiled[name]) as b:
            assert a.transform == b.transform and a.crs == b.crs
            np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)
    item = json.loads(next((_latest(tmp_path / "catalog") / "ndvi-annual").glob("*/*.json")).read_text())
    assert len(item["properties"]["ldn:tiles"]) == 4


def test_a_rerun_with_nothing_new_does_no_raster_work(full_run: tuple[Path, Path], tmp_path: Path,
                                                     prefect_harness: None, caplog: pytest.LogCaptureFixture) -> None:
    from flows.ldn_yearly import ldn_yearly

    sample, catalog = full_run
    copy = tmp_path / "catalog"
    shutil.copytree(catalog, copy)  # with its layer cache
    before = {k: p.read_bytes() for k, p in _rasters(copy).items()}
    with serve_collections(sample) as stac, caplog.at_level("INFO"):
        ldn_yearly(sample_config(sample, stac.api_url, copy, years=(2001, 2024)))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "24 linked from the cache, 0 computed from 0 scenes (nothing new: no scene read)" in text
    assert "period layers: 25, 25 linked from the cache (nothing new: no raster work)" in text
    assert "zonal report: unchanged layers and zones, linked from the cache" in text
    after = _rasters(copy)
    assert sorted(after) == sorted(before) and all(after[k].read_bytes() == v for k, v in before.items())
    assert len(list((copy / "versions").iterdir())) == 2


def test_a_region_keeps_the_grid_and_tiles_to_its_polygons(sample_dir: Path, published: Path, tmp_path: Path,
                                          prefect_harness: None) -> None:
    meta = json.loads((sample_dir / "region.json").read_text())
    west, south, east, north = meta["bbox"]
    middle = (south + north) / 2  # parallels are straight rows on the sinusoidal grid
    polygon = tmp_path / "south-half.geojson"
    polygon.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": [{"type": "Feature", "properties": {"name": "south"},
        "geometry": {"type": "Polygon", "coordinates": [[[west - 1, south - 1], [east + 1, south - 1], [east + 1, middle],
                                                          [west - 1, middle], [west - 1, south - 1]]]}}]}))
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample_dir), "--years", "2001-2003", "--out", str(out),
                                      "--region", str(polygon), "--tile-size", "16"])
    assert result.exit_code == 0, result.stderr
    assert "region south-half.geojson (1 polygons):" in result.stdout
    name = f"ndvi-annual/ndvi-annual-{meta['name']}-2002/ndvi-annual-{meta['name']}-2002.tif"
    region_tif, whole_tif = _rasters(out)[name], _rasters(published)[name]
    tiles = json.loads(region_tif.with_suffix(".json").read_text())["properties"]["ldn:tiles"]
    with rasterio.open(region_tif) as r, rasterio.open(whole_tif) as w:
        part, whole = r.read(1), w.read(1)
        col0 = round((r.transform.c - w.transform.c) / r.transform.a)
        row0 = round((r.transform.f - w.transform.f) / r.transform.e)
        assert col0 == 0 and row0 > 0 and part.shape[0] < whole.shape[0], "the grid keeps to the region's half"
        same = whole[row0: row0 + part.shape[0], : part.shape[1]]
        computed = part != r.nodata
        assert computed.sum() >= 0.9 * (same != w.nodata).sum(), f"the region's tiles are computed ({tiles})"
        np.testing.assert_array_equal(part[computed], same[computed])
    assert all(t.startswith("h") for t in tiles) and len(tiles) < 25


def test_a_region_keeps_every_layer_and_table_to_its_polygons(full_run: tuple[Path, Path], tmp_path: Path,
                                                             prefect_harness: None) -> None:
    """A triangle over the sample: every pixel whose centre is outside it is nodata in every layer, the summary
    and the zone tables add up to the triangle's land, and what does not depend on the comparison area (annual
    NDVI, trajectory, land cover) is the whole run's, pixel for pixel."""
    import pandas as pd
    import shapely
    import shapely.geometry
    from pyproj import Transformer

    sample, whole = full_run
    meta = json.loads((sample / "region.json").read_text())
    west, south, east, north = meta["bbox"]
    corners = [[west - 0.1, south - 0.1], [east + 0.1, south - 0.1], [west - 0.1, north + 0.1], [west - 0.1, south - 0.1]]
    polygon = tmp_path / "triangle.geojson"
    polygon.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "name": "triangle"}, "geometry": {"type": "Polygon", "coordinates": [corners]}}]}))
    out = tmp_path / "catalog"
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--years", "2001-2015", "--periods", "baseline",
                                      "--out", str(out), "--region", str(polygon)])
    assert result.exit_code == 0, result.stderr
    mine, theirs = _rasters(out), _rasters(whole)
    some = next(p for k, p in mine.items() if k.startswith("sdg-15-3-1/"))
    with rasterio.open(some) as src:
        h, w, t, crs = src.height, src.width, src.transform, src.crs
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(t.c + cols * t.a, t.f + rows * t.e)
    triangle = shapely.Polygon(corners)
    near = shapely.dwithin(triangle.boundary, shapely.points(lon, lat), 1e-4)  # the edge, to about 10 m
    inside = shapely.intersects_xy(triangle, lon, lat) & ~near
    outside_all = ~inside & ~near
    assert 0.3 < inside.mean() < 0.7
    drought = {k: p for k, p in mine.items() if k.startswith("drought")}
    assert drought, "the run's drought layers"
    for name, path in drought.items():  # on the precipitation's grid: a cell no part of which is in the triangle
        with rasterio.open(path) as src:
            a = src.read(1)
            touched = geometry_mask([triangle], out_shape=a.shape, transform=src.transform, all_touched=True,
                                    invert=True)
            empty = np.isnan(a) if np.isnan(src.nodata) else a == src.nodata
            assert empty[~touched].all() and not empty[touched].all(), name
    for name, path in mine.items():
        if name in drought:
            continue
        with rasterio.open(path) as src:
            a = src.read(1)
            outside = np.isnan(a[outside_all]) if np.isnan(src.nodata) else a[outside_all] == src.nodata
            assert outside.all(), f"{name}: {int((~outside).sum())} pixels outside the region have data"
        if name.split("/")[0] in ("ndvi-annual", "trajectory", "land-cover"):
            with rasterio.open(theirs[name]) as ref:
                np.testing.assert_array_equal(a[inside], ref.read(1)[inside], err_msg=name)
    version = _latest(out)
    summary = pd.read_csv(next(version.glob("sdg-15-3-1/*/*_summary.csv")))
    pixel_km2 = abs(t.a * t.e) / 1e6
    assert inside.sum() <= summary["total_km2"].iloc[0] / pixel_km2 <= (inside | near).sum()
    zones = pd.read_csv(next(version.glob("report/*_sdg_15_3_1.csv")))
    zone_land = zones[zones.indicator == "sdg_15_3_1"]["land_km2"].sum()
    assert zone_land == pytest.approx(summary["land_km2"].iloc[0], rel=1e-3), "the zones cover the region, no more"
    item = json.loads(next(version.glob("sdg-15-3-1/*/sdg-15-3-1-*.json")).read_text())
    assert item["properties"]["ldn:area"] == "triangle.geojson (1 polygons)"
    footprint = shapely.geometry.shape(item["geometry"])  # the data's footprint for STAC clients: the triangle
    assert footprint.within(triangle.buffer(1e-9)) and footprint.area < 0.7 * shapely.box(*item["bbox"]).area
    again = CliRunner().invoke(app, ["report", "--catalog", str(out), "--out", str(tmp_path / "report")])
    assert again.exit_code == 0, again.stderr
    rebuilt = pd.read_csv(next((tmp_path / "report").glob("*_sdg_15_3_1.csv")))
    assert rebuilt[rebuilt.indicator == "sdg_15_3_1"]["land_km2"].sum() == pytest.approx(zone_land, rel=1e-6), \
        "`ldn report` on the catalog cuts the zones to the region too"
