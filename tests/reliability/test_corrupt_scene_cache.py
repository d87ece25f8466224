"""A composite damaged or replaced in place is never published from, nor reused from the cache after repair.

The issue's case: 256 bytes overwritten in the middle of one COG decode without a GDAL error, the
run published them, and after the file was repaired the rerun took the wrong layers from the cache,
whose key (item id + ``updated``) could not see the file change.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tests.helpers import assert_same_pixels, latest_pixels
from tests.reliability.damage import decodes_with_a_warning

pytestmark = pytest.mark.reliability

SCENE = "MOD13Q1.A2002065.h26v04.061"


def _scene_file(sample: Path) -> Path:
    return sample / "modis-13Q1-061" / "data" / SCENE / f"{SCENE}_250m_16_days_NDVI.tif"


def _run(sample: Path, out: Path, years: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--years", years, "--out", str(out)])
    return result.exit_code, result.stderr


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != ".cache"}


def _without_checksums(sample: Path) -> None:
    """Strip ``file:checksum`` from the sample's MODIS items, as on most STAC APIs (the Planetary Computer's)."""
    items = sample / "modis-13Q1-061" / "items.ndjson"
    docs = [json.loads(line) for line in items.read_text().splitlines() if line.strip()]
    for doc in docs:
        for asset in doc["assets"].values():
            asset.pop("file:checksum", None)
    items.write_text("".join(json.dumps(d) + "\n" for d in docs))


def _repair_and_rerun(path: Path, good: bytes, sample: Path, out: Path, reference: dict[str, np.ndarray]) -> None:
    """Put the scene's good bytes back (the server's Last-Modified moves on): the rerun equals an undisturbed run."""
    path.write_bytes(good)
    later = time.time() + 10
    os.utime(path, (later, later))
    code, err = _run(sample, out, "2001-2002")
    assert code == 0, err
    assert_same_pixels(latest_pixels(out), reference)


@pytest.fixture
def reference(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> dict[str, np.ndarray]:
    """The layers of an undisturbed 2001-2002 run."""
    out = tmp_path_factory.mktemp("undisturbed") / "catalog"
    code, err = _run(sample_dir, out, "2001-2002")
    assert code == 0, err
    return latest_pixels(out)


def test_a_damaged_scene_with_a_checksum_fails_in_one_line_and_caches_nothing(
    sample_dir: Path, tmp_path: Path, reference: dict[str, np.ndarray], prefect_harness: None,
) -> None:
    sample = tmp_path / "sample-data"
    shutil.copytree(sample_dir, sample)
    item = json.loads(next(line for line in (sample / "modis-13Q1-061" / "items.ndjson").read_text().splitlines()
                           if SCENE in line))
    assert item["assets"]["250m_16_days_NDVI"]["file:checksum"].startswith("1220"), "the sample publishes checksums"
    out = tmp_path / "catalog"
    assert _run(sample, out, "2001-2001")[0] == 0  # a previous version to keep intact
    before = _tree(out)

    path = _scene_file(sample)
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(good) // 2: len(good) // 2 + 256] = np.random.default_rng(5).integers(0, 256, 256, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(damaged))
    code, err = _run(sample, out, "2001-2002")
    lines = err.strip().splitlines()
    assert code == EXIT_USER_ERROR and len(lines) == 1, err
    assert lines[0].startswith(f"error: scene '{SCENE}' is truncated or corrupt (its {len(good)} bytes do not match "
                               "the item's file:checksum"), lines[0]
    assert f"{SCENE}_250m_16_days_NDVI.tif; re-download or repair it at the source" in lines[0]
    assert f"or leave it out with --exclude-scene {SCENE}, then rerun" in lines[0]
    assert _tree(out) == before, "the previous version is untouched"
    assert len(list((out / ".cache" / "ndvi-tile").glob("*/entry.json"))) == 1, "2001's tile-year only"

    # the provider has not repaired it yet: the run goes on without it, as the message says, and says so
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--years", "2001-2002", "--out", str(out),
                                      "--exclude-scene", SCENE])
    assert result.exit_code == 0, result.stderr
    assert f"left out as asked (--exclude-scene): {SCENE}" in result.stdout
    items = {i.id: i for i in pystac.Catalog.from_file(str(out / "catalog.json")).get_items(recursive=True)}
    for indicator in ("ndvi-annual", "ndvi-annual-max"):
        assert items[f"{indicator}-sample-zamyn-uud-2002"].properties["ldn:parameters"]["excluded_scenes"] == [SCENE]
        assert SCENE not in items[f"{indicator}-sample-zamyn-uud-2002"].properties["ldn:source_items"]
        assert "excluded_scenes" not in items[f"{indicator}-sample-zamyn-uud-2001"].properties["ldn:parameters"]
    without = latest_pixels(out)
    layer = "ndvi-annual/ndvi-annual-sample-zamyn-uud-{0}/ndvi-annual-sample-zamyn-uud-{0}.tif"
    assert not np.array_equal(without[layer.format(2002)], reference[layer.format(2002)]), "a composite fewer"
    np.testing.assert_array_equal(without[layer.format(2001)], reference[layer.format(2001)])

    path.write_bytes(good)  # repaired
    code, err = _run(sample, out, "2001-2002")
    assert code == 0, err
    assert_same_pixels(latest_pixels(out), reference)


def test_a_scene_replaced_in_place_without_checksums_is_recomputed_after_repair(
    sample_dir: Path, tmp_path: Path, reference: dict[str, np.ndarray], prefect_harness: None,
) -> None:
    """No ``file:checksum`` (as on most STAC APIs): the cache keys on the file server's size/Last-Modified."""
    sample = tmp_path / "sample-data"
    shutil.copytree(sample_dir, sample)
    _without_checksums(sample)
    out = tmp_path / "catalog"

    path = _scene_file(sample)
    good = path.read_bytes()
    with rasterio.open(path) as src:  # a valid COG with other values: decodes without a word
        profile, data = src.profile, src.read(1)
    changed = np.where(data > 0, data // 2, data).astype(data.dtype)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(changed, 1)
    code, err = _run(sample, out, "2001-2002")
    assert code == 0, err
    wrong = latest_pixels(out)
    assert any(not np.array_equal(wrong[k], reference[k]) for k in reference), "the replaced scene was used"

    _repair_and_rerun(path, good, sample, out, reference)


def _random_bytes(path: Path) -> None:
    """The issue's damage: 256 random bytes inside the composite."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 256] = np.random.default_rng(5).integers(0, 256, 256, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _codes_no_file_holds(path: Path) -> None:
    """Damage that decodes without a GDAL error: a block of pixel-reliability codes MOD13Q1 never writes."""
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read(1)
    data[10:20, 10:20] = 9
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


@pytest.mark.parametrize("asset, damage", [("NDVI", _random_bytes), ("pixel_reliability", _codes_no_file_holds),
                                           ("NDVI", decodes_with_a_warning)],
                         ids=["random-bytes-in-ndvi", "impossible-qa-codes", "gdal-only-warns"])
def test_damaged_bytes_without_a_checksum_fail_in_one_line_and_cache_nothing(
    asset: str, damage: Callable[[Path], None], sample_dir: Path, tmp_path: Path, reference: dict[str, np.ndarray],
    prefect_harness: None,
) -> None:
    """The production case of MOD13Q1 on the Planetary Computer: items without ``file:checksum``. Values an intact
    file cannot hold (out of the declared range, QA codes outside the declared set) stop the run, and so does a
    file GDAL decodes only with a warning into values an intact one could hold."""
    sample = tmp_path / "sample-data"
    shutil.copytree(sample_dir, sample)
    _without_checksums(sample)
    out = tmp_path / "catalog"
    assert _run(sample, out, "2001-2001")[0] == 0  # a previous version to keep intact
    before = _tree(out)

    path = _scene_file(sample).with_name(f"{SCENE}_250m_16_days_{asset}.tif")
    good = path.read_bytes()
    damage(path)
    code, err = _run(sample, out, "2001-2002")
    lines = err.strip().splitlines()
    assert code == EXIT_USER_ERROR and len(lines) == 1, err
    assert lines[0].startswith(f"error: scene {SCENE}") or lines[0].startswith(f"error: scene '{SCENE}'"), lines[0]
    assert _tree(out) == before, "the previous version is untouched"
    assert len(list((out / ".cache" / "ndvi-tile").glob("*/entry.json"))) == 1, "2001's tile-year only"

    _repair_and_rerun(path, good, sample, out, reference)
