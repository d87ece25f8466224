"""GDAL's complaints while decoding a scene are errors, not log lines (issue 33, item 1).

A scene GDAL decodes "with a warning" comes back as pixels, here all of them values an intact file could hold,
so neither a checksum (the production items carry none) nor the plausibility check can see it.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox

from tasks.config import SAMPLE_SOURCES, load_sources
from tasks.geo.grid import lonlat_bounds
from tasks.io.sources.integrity import DecodeComplaint, decoding
from tasks.io.sources.load import load_cube, unreadable_scenes
from tests.reliability.damage import decodes_with_a_warning
from tests.reliability.faulty_stac import blob_server, url

pytestmark = pytest.mark.reliability

SCENE = "MOD13Q1.A2002065.h26v04.061"
SOURCE = load_sources(SAMPLE_SOURCES).get("modis-13q1")
NDVI = SOURCE.assets["ndvi"]


@pytest.fixture
def damaged(sample_dir: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A copy of one sample composite's NDVI that GDAL decodes with only a warning, and its intact values."""
    original = sample_dir / "modis-13Q1-061" / "data" / SCENE / f"{SCENE}_250m_16_days_NDVI.tif"
    path = tmp_path / original.name
    shutil.copy(original, path)
    with rasterio.open(path) as src:
        intact = src.read(1)
    decodes_with_a_warning(path)
    return path, intact


def test_without_the_watch_the_damage_decodes_silently(damaged: tuple[Path, np.ndarray]) -> None:
    """The gap: a plain read returns other pixels, each one a value the source can hold, and raises nothing."""
    path, intact = damaged
    with rasterio.open(path) as src:
        values = src.read(1)
    assert not np.array_equal(values, intact)
    assert NDVI.valid_range is not None
    assert np.all(((values >= NDVI.valid_range[0]) & (values <= NDVI.valid_range[1])) | (values == NDVI.nodata))


def test_inside_decoding_the_warning_is_a_one_line_error(damaged: tuple[Path, np.ndarray]) -> None:
    path, _ = damaged
    with rasterio.open(path) as src, pytest.raises(DecodeComplaint) as err:
        with decoding(SCENE, f"{path}?token=secret", "ndvi"):
            src.read(1)
    text = str(err.value)
    assert text.startswith(f"scene {SCENE}: GDAL decoded ndvi of {path} only with complaints (")
    assert "PackBitsDecode:Discarding" in text
    assert "--exclude-scene" in text and "secret" not in text and "\n" not in text


def test_a_clean_read_and_other_threads_are_untouched(sample_dir: Path, damaged: tuple[Path, np.ndarray]) -> None:
    """Outside ``decoding`` nothing changes; inside it an intact file reads as before."""
    path, intact = damaged
    original = sample_dir / "modis-13Q1-061" / "data" / SCENE / f"{SCENE}_250m_16_days_NDVI.tif"
    with rasterio.open(original) as src, decoding(SCENE, str(original), "ndvi"):
        assert np.array_equal(src.read(1), intact)
    with rasterio.open(path) as src:
        src.read(1)  # no error outside the block


def test_the_general_loader_and_the_probe_name_the_damaged_scene(damaged: tuple[Path, np.ndarray]) -> None:
    """odc-stac's reads (scenes off the analysis grid) go through ``decoding`` too, and so does the probe that names
    the culprit of a failed load."""
    path, _ = damaged
    with rasterio.open(path) as src:
        crs, transform, shape = src.crs, src.transform, src.shape
    qa = path.with_name(path.name.replace("NDVI", "pixel_reliability"))
    with rasterio.open(qa, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="int8", crs=crs,
                       transform=transform) as dst:
        dst.write(np.zeros((1, *shape), dtype="int8"))
    left, top = transform.c, transform.f
    bounds = (left, top + shape[0] * transform.e, left + shape[1] * transform.a, top)
    w, s, e, n = lonlat_bounds(bounds, crs)
    item = pystac.Item(SCENE, {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
                       [w, s, e, n], datetime(2002, 3, 6, tzinfo=timezone.utc), {})
    for name, href in (("ndvi", path), ("qa", qa)):
        asset = pystac.Asset(str(href), media_type=pystac.MediaType.GEOTIFF)
        asset.extra_fields.update({"proj:shape": list(shape), "proj:transform": list(transform)[:6],
                                   "proj:wkt2": crs.to_wkt()})
        item.add_asset(SOURCE.assets[name].key, asset)
    geobox = GeoBox(shape, transform, crs)
    cube = load_cube([item], SOURCE, geobox, chunk=256, verify=False)
    with pytest.raises(DecodeComplaint, match=f"scene {SCENE}: GDAL decoded ndvi of {path}"):
        cube["ndvi"].compute()
    bad = unreadable_scenes([item], SOURCE, geobox)
    assert [(b[0], b[2]) for b in bad] == [(SCENE, "is truncated or corrupt")] and "PackBitsDecode" in bad[0][3]


def test_gdal_retry_notices_are_not_complaints(sample_dir: Path, tmp_path: Path) -> None:
    """GDAL warns when it retries an HTTP request (here a 503, then the file); the read went on and succeeded, so
    that warning says nothing about the bytes."""
    original = sample_dir / "modis-13Q1-061" / "data" / SCENE / f"{SCENE}_250m_16_days_NDVI.tif"
    root = tmp_path / "blobs"
    root.mkdir()
    shutil.copy(original, root / original.name)
    with rasterio.open(original) as src:
        intact = src.read(1)
    with blob_server(root) as server, rasterio.Env(GDAL_HTTP_MAX_RETRY="2", GDAL_HTTP_RETRY_DELAY="0.1",
                                                   GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        href = f"/vsicurl/{url(server)}/{original.name}"
        server.fail_gets = 1  # the first GET answers 503 (the file is small: GDAL's first read holds it all)
        with decoding(SCENE, href, "ndvi"), rasterio.open(href) as src:
            values = src.read(1)
        assert server.fail_gets == 0, "GDAL met the 503 and retried"
    assert np.array_equal(values, intact)
