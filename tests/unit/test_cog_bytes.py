"""The published COG is the same file whatever GDAL does with its scratch overviews: ``cog_from_tiled`` makes them at
ZSTD level 1 (``COG_SCRATCH_OVERVIEWS``) and must write byte for byte what the COG driver writes at its default."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

from tasks.constants import COG_PROFILE, COG_SCRATCH_OVERVIEWS
from tasks.io.outputs.cog import cog_from_tiled


def _tiled(path: Path, data: np.ndarray, nodata: float) -> Path:
    height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=data.dtype,
                       crs="EPSG:4326", transform=from_origin(110.0, 44.0, 0.002, 0.002), nodata=nodata, tiled=True,
                       blockxsize=512, blockysize=512) as dst:
        dst.write(data, 1)
        dst.update_tags(long_name="a layer")
    return path


@pytest.mark.parametrize("kind", ["classes", "continuous"])
def test_scratch_overviews_do_not_change_the_published_bytes(tmp_path: Path, kind: str) -> None:
    """Odd sizes (2,049 x 1,537: two overview levels, partial blocks), nodata in patches, texture that compresses
    like imagery: the COG from ``cog_from_tiled`` equals the driver's own at its default scratch level."""
    rng = np.random.default_rng(7)
    shape = (1537, 2049)
    if kind == "classes":
        data = rng.choice(np.array([-1, 0, 1], "int16"), shape)
        data[100:400, 300:900] = -32768
        nodata: float = -32768
    else:
        data = np.cumsum(rng.normal(size=shape), axis=1).astype("float32")
        data[100:400, 300:900] = np.nan
        nodata = float("nan")
    tiled = _tiled(tmp_path / "tiled.tif", data, nodata)
    ours = cog_from_tiled(tiled, tmp_path / "ours.tif", categorical=kind == "classes")
    theirs = tmp_path / "theirs.tif"
    rasterio.shutil.copy(tiled, theirs, driver="COG", **COG_PROFILE,
                         OVERVIEW_RESAMPLING="NEAREST" if kind == "classes" else "AVERAGE")
    with rasterio.open(ours) as src:
        assert src.overviews(1) == [2, 4]  # the scratch overviews were made and copied
    assert hashlib.sha256(ours.read_bytes()).digest() == hashlib.sha256(theirs.read_bytes()).digest()
    assert COG_PROFILE["COMPRESS"] != "ZSTD" or "ZSTD_LEVEL_OVERVIEW" not in COG_SCRATCH_OVERVIEWS, (
        "a ZSTD COG would get its overviews at the scratch level")
