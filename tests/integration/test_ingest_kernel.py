"""The ingest kernel (one task per window of the tile, each composite opened once) gives the pixels of the general
loader (odc-stac + ``annual_ndvi``), on the whole sample grid, on a tile that scenes cover only in part, with a
region that leaves windows unread, and over HTTP from the local file server (``chunk=16``: windows of 32 x 80 px)."""
from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest

from tasks.constants import NODATA
from tasks.io.runtime.local_stac import LocalStac
from tasks.io.sources.ingest import aligned_scenes
from tasks.io.sources.inputs import scene_inputs
from tasks.io.sources.run import analysis_geobox, run_bbox, run_context
from tasks.io.sources.search import open_api, search_items
from tasks.stages.annual_ndvi import annual_tile_layers
from tests.helpers import run_area
from tests.integration.conftest import sample_config

pytestmark = pytest.mark.integration


def _both(items: list, source: object, geobox: object, area: object = None, chunk: int = 16) -> tuple:
    kw = dict(year=2002, min_valid=6, area=area)
    fast = [np.asarray(a.values) for a in annual_tile_layers(scene_inputs(items, source, geobox, chunk=chunk), **kw)]
    with dask.config.set(scheduler="threads"):
        inputs = scene_inputs(items, source, geobox, chunk=chunk, general=True)
        general = [np.asarray(a.values) for a in annual_tile_layers(inputs, **kw)]
    return fast, general


@pytest.mark.parametrize("window", ["whole", "part", "region"])
def test_kernel_equals_the_general_loader(sample_dir: Path, local_stac: LocalStac, tmp_path: Path, window: str) -> None:
    cfg = sample_config(sample_dir, local_stac.api_url, tmp_path / "catalog")
    source = run_context(cfg).ndvi
    items = search_items(open_api(local_stac.api_url), source, bbox=run_bbox(cfg, source), years=(2002, 2002))
    grid = analysis_geobox(cfg, source)
    area = None
    if window == "part":  # a window reaching 8 px past the scenes on every side: those pixels have no composite
        grid = grid.pad(8)
    elif window == "region":
        cfg = sample_config(sample_dir, local_stac.api_url, tmp_path / "catalog", region="111.88,43.70,111.92,43.74")
        area = run_area(cfg, grid)
    assert aligned_scenes(items, source, grid) is not None, "the sample's scenes are on the analysis grid"
    (mean, top), (mean_ref, top_ref) = _both(items, source, grid, area)
    np.testing.assert_array_equal(mean, mean_ref)
    np.testing.assert_array_equal(top, top_ref)
    valid = mean != NODATA
    assert valid.any() and ((top != NODATA) == valid).all() and (top[valid] >= mean[valid]).all()
    if window == "part":
        assert (mean[:8] == NODATA).all() and (mean[:, -8:] == NODATA).all()  # past the scenes' edges
    if window == "region":
        assert (~valid).sum() > valid.sum()  # most of the grid lies outside the small box


def test_scenes_off_the_grid_go_through_the_general_loader(sample_dir: Path, local_stac: LocalStac,
                                                           tmp_path: Path) -> None:
    cfg = sample_config(sample_dir, local_stac.api_url, tmp_path / "catalog")
    source = run_context(cfg).ndvi
    items = search_items(open_api(local_stac.api_url), source, bbox=run_bbox(cfg, source), years=(2002, 2002))
    grid = analysis_geobox(cfg, source)
    shifted = grid.translate_pix(0.5, 0)  # half a pixel off: needs resampling
    assert aligned_scenes(items, source, shifted) is None


def test_a_file_that_is_not_where_its_item_says_falls_back_to_the_general_loader(
        sample_dir: Path, local_stac: LocalStac, tmp_path: Path) -> None:
    cfg = sample_config(sample_dir, local_stac.api_url, tmp_path / "catalog")
    source = run_context(cfg).ndvi
    items = search_items(open_api(local_stac.api_url), source, bbox=run_bbox(cfg, source), years=(2002, 2002))
    grid = analysis_geobox(cfg, source)
    moved = items[0].clone()  # its metadata says one pixel east of where its files are
    t = list(moved.properties["proj:transform"])
    t[2] += t[0]
    moved.properties["proj:transform"] = t
    lying = [moved, *items[1:]]
    assert aligned_scenes(lying, source, grid) is not None  # planned from the metadata ...
    (mean, top), (mean_ref, top_ref) = _both(lying, source, grid)  # ... but the files decide: same pixels
    np.testing.assert_array_equal(mean, mean_ref)
    np.testing.assert_array_equal(top, top_ref)
