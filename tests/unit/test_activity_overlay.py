"""The footprint-versus-ring statistics against counts made by hand on rasters whose classes are known, and the
per-country summary of activities."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from tasks.io.outputs.activity_overlay import activity_statistics, activity_summary
from tasks.model import LayerRef
from tasks.science.activities import parse_activity

GOOD = {"id": "A-1", "name": "Tree belt", "organisations": "Org A; Org B", "country": "mng", "area": "restoration",
        "status": "ongoing", "start": "2017-05-01", "funding_amount": "1500000.50", "currency": "usd",
        "footprint": "POLYGON ((111.8 43.7, 111.9 43.7, 111.9 43.8, 111.8 43.7))"}

EASE = "EPSG:6933"  # equal-area cylindrical: every pixel has the same true area and a lon/lat box is a pixel box
PX = 1000.0


def _layers(tmp: Path, arrays: dict[tuple[str, str], np.ndarray], origin: tuple[float, float]) -> list[LayerRef]:
    refs = []
    for (indicator, asset), data in arrays.items():
        path = tmp / f"{indicator}-{asset}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                           dtype="int16", crs=EASE, transform=from_origin(*origin, PX, PX), nodata=-32768) as dst:
            dst.write(data.astype("int16"), 1)
        refs.append(LayerRef(indicator, "report_1", asset, str(path)))
    return refs


def test_statistics_match_hand_counts_and_the_ring_keeps_to_the_footprints_land_cover(tmp_path: Path) -> None:
    """A 40 x 40 km grid: the footprint is a 10 x 10 pixel box (exactly pixels: EASE-Grid is cylindrical); inside
    it 30 pixels degraded, 10 improved, 5 nodata, 5 water, on grassland (2), 10 turned cropland by the end. Around it
    grassland is all stable and cropland (3) all degraded: the ring, kept to grassland, must show no degraded land."""
    to_ease = Transformer.from_crs("EPSG:4326", EASE, always_xy=True)
    x0, y0 = to_ease.transform(111.0, 44.0)
    x0, y0 = round(x0 / PX) * PX, round(y0 / PX) * PX
    n = 40
    sdg = np.zeros((n, n), "int16")
    lc_initial = np.full((n, n), 2, "int16")
    lc_initial[:, :5] = 3  # a cropland strip at the west edge, inside the ring
    sdg[:, :5] = -1
    block = np.zeros((10, 10), "int16")
    block.flat[:30] = -1
    block.flat[30:40] = 1
    block.flat[40:45] = -32768
    final = lc_initial.copy()
    fblock = np.full((10, 10), 2, "int16")
    fblock.flat[45:50] = 7  # water: out of the land
    fblock.flat[50:60] = 3  # grassland turned cropland over the period
    r0 = c0 = 15
    sdg[r0:r0 + 10, c0:c0 + 10] = block
    final[r0:r0 + 10, c0:c0 + 10] = fblock
    refs = _layers(tmp_path, {("sdg-15-3-1", "data"): sdg, ("land-cover", "initial"): lc_initial,
                              ("land-cover", "final"): final}, (x0, y0))
    back = Transformer.from_crs(EASE, "EPSG:4326", always_xy=True)
    w, n_ = back.transform(x0 + c0 * PX, y0 - r0 * PX)
    e, s = back.transform(x0 + (c0 + 10) * PX, y0 - (r0 + 10) * PX)
    a = parse_activity({**GOOD, "footprint": shapely.box(w, s, e, n_).wkt, "start": "2016-06-01"})
    stats = activity_statistics([a], refs, {"report_1": (2016, 2019)}, ring_km=10, point_km=1)
    foot = stats[stats["zone"] == "footprint"].iloc[0]
    assert foot["timing"] == "spans the start" and foot["coverage"] == "inside" and foot["land_cover_classes"] == "2"
    pixel_km2 = foot["total_km2"] / 100  # (1e-5: the box is cut from lon/lat corners, a hair off the pixel edges)
    assert foot["land_km2"] == pytest.approx(95 * pixel_km2, rel=1e-5)
    # of the 95 land pixels (5 water left out) 5 have no data; 30 degraded, 10 improved, 50 stable
    assert foot["sdg_nodata_pct"] == pytest.approx(100 * 5 / 95, rel=1e-5)
    assert foot["sdg_degraded_pct"] == pytest.approx(100 * 30 / 90, rel=1e-5)
    assert foot["sdg_improved_pct"] == pytest.approx(100 * 10 / 90, rel=1e-5)
    assert foot["sdg_stable_pct"] == pytest.approx(100 * 50 / 90, rel=1e-5)
    assert foot["lc_changed_pct"] == pytest.approx(100 * 10 / 95, rel=1e-5)  # the water is out of the land
    ring = stats[stats["zone"] == "ring"].iloc[0]
    # (up to slivers of the footprint's own edge pixels, a hair outside its lon/lat corners)
    assert ring["sdg_degraded_pct"] < 1e-4 and ring["sdg_stable_pct"] > 100 - 1e-4 and ring["land_km2"] > 0
    whole = activity_statistics([a], refs, {"report_1": (2016, 2019)}, ring_km=20, point_km=1)
    wide = whole[whole["zone"] == "ring"].iloc[0]
    assert wide["sdg_degraded_pct"] < 1e-4  # the cropland strip is within 20 km, all degraded, and left out


def test_activities_outside_the_layers_or_without_footprint_are_flagged(tmp_path: Path) -> None:
    refs = _layers(tmp_path, {("sdg-15-3-1", "data"): np.zeros((20, 20), "int16")}, (10_000_000.0, 5_000_000.0))
    far = parse_activity({**GOOD, "id": "FAR", "footprint": "POINT (0 0)"})
    none = parse_activity({**GOOD, "id": "NONE", "footprint": None})
    stats = activity_statistics([far, none], refs, {"report_1": (2016, 2019)}, ring_km=5, point_km=1)
    assert dict(zip(stats["activity_id"], stats["coverage"])) == {"FAR": "outside the region", "NONE": "no footprint"}
    assert stats["zone"].isna().all()


def test_summary_lists_every_area_for_every_country() -> None:
    acts = [parse_activity({**GOOD, "id": f"A{i}", "status": s}) for i, s in enumerate(["ongoing", "planned", "ongoing"])]
    acts.append(parse_activity({**GOOD, "id": "C1", "country": "CHN", "area": "awareness"}))
    summary = activity_summary(acts)
    assert len(summary) == 12
    mng = summary[(summary["country"] == "MNG") & (summary["area"] == "restoration")].iloc[0]
    assert (mng["planned"], mng["ongoing"], mng["completed"], mng["total"]) == (1, 2, 0, 3)
    assert summary[summary["country"] == "CHN"]["total"].sum() == 1
