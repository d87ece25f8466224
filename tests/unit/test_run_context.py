"""The run context: the facts a run derives from its config, resolved once (``tasks.io.sources.run``).

It must give every task what re-deriving the facts from the config gave (the same grid, tiles, region, search box
and periods, so the layers and the cache keys are unchanged), travel to Dask workers and into Prefect's flow
parameters, and keep a run's facts fixed when a file it read is edited while the run goes on.
"""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tasks.config import PERIODS_FILE, SAMPLE_SOURCES, RunConfig, load_sources
from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT
from tasks.errors import ConfigError
from tasks.geo.grid import lonlat_bounds
from tasks.geo.tiles import lattice_tiles
from tasks.io.sources.clip import area_fingerprint, inside
from tasks.io.sources.region import region_grid, resolve_region
from tasks.io.sources.run import RunContext, analysis_geobox, run_context
from tests.helpers import run_area

ZAMYN_UUD = "111.86,43.68,111.94,43.76"


def _config(tmp_path: Path, **kw: object) -> RunConfig:
    made = region_grid(resolve_region(ZAMYN_UUD), crs=MODIS_SINUSOIDAL_WKT, resolution=MODIS_PIXEL_SIZE,
                       origin=MODIS_GRID_ORIGIN, tile_size=16)
    sources = tmp_path / "sources.yaml"
    shutil.copy(SAMPLE_SOURCES, sources)
    return RunConfig(sources_file=sources, native_bounds=made.native_bounds, tile_size=16, region=ZAMYN_UUD,
                     years=(2001, 2024), **kw)  # type: ignore[arg-type]


def test_the_context_holds_what_the_building_blocks_give(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    run = run_context(cfg)
    source = load_sources(cfg.sources_file).get(cfg.ndvi_source)
    grid = analysis_geobox(cfg, source)
    assert run.ndvi == source and run.land_cover == load_sources(cfg.sources_file).get(cfg.land_cover_source)
    assert run.land_units is None  # performance by land cover alone unless a land-unit source is named
    assert run.grid == grid
    box = grid.boundingbox
    assert list(run.tiles) == lattice_tiles((box.left, box.bottom, box.right, box.top), resolution=MODIS_PIXEL_SIZE,
                                            origin=MODIS_GRID_ORIGIN, size_px=16)
    assert len(run.tiles) > 1
    assert run.search_bbox == lonlat_bounds(cfg.native_bounds, MODIS_SINUSOIDAL_WKT)  # type: ignore[arg-type]
    assert run.area_key == area_fingerprint(cfg) == ZAMYN_UUD
    # what every period layer's key shares: the grid, the region and the id its items are named by; not the years
    assert run.grid_key == {"crs": grid.crs.to_wkt(), "transform": list(grid.affine)[:6], "shape": list(grid.shape),
                            "area": ZAMYN_UUD, "region_id": cfg.region_id}
    assert run.area is not None and run.area_polygons is not None
    expected = run_area(cfg, grid)
    assert expected is not None and run.area.label == expected.label
    np.testing.assert_array_equal(inside(run.area, 16).values, inside(expected, 16).values)
    window = grid[0:16, 0:16]
    on_window, expected_window = run.area_on(window), run_area(cfg, window)
    assert on_window is not None and expected_window is not None
    np.testing.assert_array_equal(inside(on_window, 16).values, inside(expected_window, 16).values)
    assert list(run.periods) == list(yaml.safe_load(PERIODS_FILE.read_text())["periods"])  # all fit 2001-2024


def test_a_whole_grid_run_has_no_area_and_named_periods_are_kept(tmp_path: Path) -> None:
    cfg = _config(tmp_path).model_copy(update={"region": None, "periods": ("baseline",)})
    run = run_context(cfg)
    assert run.area is None and run.area_polygons is None and run.area_key is None
    assert run.area_on(run.grid) is None
    assert list(run.periods) == ["baseline"]


def test_the_context_travels_to_workers_and_into_prefect_parameters(tmp_path: Path) -> None:
    run = run_context(_config(tmp_path))
    back = pickle.loads(pickle.dumps(run))  # Dask ships it to every worker
    assert back.grid == run.grid and back.tiles == run.tiles and back.periods == run.periods
    assert back.area is not None and run.area is not None and back.area.footprint.equals(run.area.footprint)
    summary = run.model_dump(mode="json")  # what Prefect stores as a flow parameter: short, JSON, no polygons
    assert json.loads(json.dumps(summary)) == summary
    assert summary["region"] == run.cfg.region_id and summary["tiles"] == len(run.tiles)
    assert len(json.dumps(summary)) < 1000
    with pytest.raises(Exception):
        run.cfg = run.cfg  # type: ignore[misc]  # frozen: a task cannot change the run's facts


def test_an_edit_to_a_file_during_the_run_does_not_reach_its_tasks(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    run = run_context(cfg)
    doc = yaml.safe_load(cfg.sources_file.read_text())
    doc["sources"][cfg.ndvi_source]["role"] = "land_cover"  # broken after the run started
    cfg.sources_file.write_text(yaml.safe_dump(doc))
    assert run.ndvi.role == "ndvi" and run.source(cfg.ndvi_source, "ndvi") is run.ndvi
    with pytest.raises(ConfigError, match="not 'ndvi'"):  # a new run reads the file again and says what is wrong
        run_context(cfg)


@pytest.mark.parametrize("change, message", [
    ({"ndvi_source": "esa-cci-lc"}, "has role 'land_cover', not 'ndvi'"),
    ({"land_cover_source": "modis-13q1"}, "must be a land_cover STAC collection"),
    ({"periods": ("no-such-period",)}, "unknown period"),
    ({"productivity": {"land_unit_source": "esa-cci-lc"}}, "not 'land_units'"),
])
def test_a_wrong_source_or_period_is_one_line_before_any_task(tmp_path: Path, change: dict, message: str) -> None:
    cfg = RunConfig(**{**_config(tmp_path).model_dump(), **change})
    with pytest.raises(ConfigError, match=message) as err:
        run_context(cfg)
    assert "\n" not in str(err.value)


def test_the_context_is_the_one_thing_tasks_take() -> None:
    """Every task of the stages takes the run's context first, never the raw config (which would re-derive)."""
    import inspect

    from prefect import Task

    import tasks.io.sources.search
    import tasks.stages.annual_ndvi
    import tasks.stages.land_degradation
    import tasks.stages.productivity
    import tasks.stages.publish
    import tasks.stages.report

    found = []
    for module in (tasks.stages.annual_ndvi, tasks.stages.land_degradation, tasks.stages.productivity,
                   tasks.stages.publish, tasks.stages.report, tasks.io.sources.search):
        for name, obj in vars(module).items():
            if isinstance(obj, Task) and obj.fn.__module__ == module.__name__:
                first = next(iter(inspect.signature(obj.fn).parameters.values()))
                found.append((name, first.name, first.annotation))
    assert len(found) >= 14
    assert all(param == "run" and annotation in ("RunContext", RunContext) for _, param, annotation in found), found
