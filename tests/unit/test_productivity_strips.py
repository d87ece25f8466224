"""A productivity tile written window by window, or in the pipeline's two passes, holds exactly the pixels of its
layers computed whole."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox

from tasks.config import Period, RunConfig
from tasks.constants import MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, NODATA
from tasks.science.performance import UnitHistograms, UnitPercentiles, land_units, window_mean
from tasks.science.productivity import WINDOW_SUMS, productivity_layers
from tasks.stages.productivity import (
    TrendTile,
    write_lpd_tile,
    write_tile_layers,
    write_trend_tile,
)

HEIGHT, WIDTH, CHUNK = 300, 260, 128


def _tile(state_method: str = "trends_earth") -> tuple[GeoBox, xr.DataArray, xr.DataArray, Period, RunConfig]:
    """A 12-year int16 tile with sea, gaps and trends, its land cover, period and settings."""
    years, height, width, chunk = 12, HEIGHT, WIDTH, CHUNK
    geobox = GeoBox.from_bbox((0, 0, width * MODIS_PIXEL_SIZE, height * MODIS_PIXEL_SIZE), MODIS_SINUSOIDAL_WKT,
                              resolution=MODIS_PIXEL_SIZE)
    rng = np.random.default_rng(7)
    values = np.round(rng.uniform(1500, 4500, (1, height, width)) + rng.normal(0, 30, (1, height, width))
                      * np.arange(years)[:, None, None] + rng.normal(0, 150, (years, height, width))).astype("int16")
    values[:, :, :13] = NODATA  # sea
    values[rng.random(values.shape) < 0.05] = NODATA  # gaps
    cube = xr.DataArray(values, dims=("year", "y", "x"),
                        coords={"year": np.arange(2001, 2001 + years), "y": geobox.coords["y"].values,
                                "x": geobox.coords["x"].values}).chunk({"year": -1, "y": chunk, "x": chunk})
    lc = xr.DataArray(rng.choice(np.array([10, 30, 130, 200], "uint8"), (height, width)), dims=("y", "x"),
                      coords={"y": cube.y, "x": cube.x}).chunk(chunk)
    period = Period(productivity=(2001, 2012), state_baseline=(2001, 2009), state_target=(2010, 2012),
                    land_cover=(2001, 2012))
    cfg = RunConfig(native_bounds=tuple(geobox.boundingbox), years=(2001, 2012),
                    productivity={"min_years": 8, "state_method": state_method})
    return geobox, cube, lc, period, cfg


@pytest.mark.parametrize(("rows", "cols"), [(None, None), (128, None), (200, 128), (1000, 256), (128, 100)])
def test_windows_equal_the_whole_tile(tmp_path: Path, rows: int | None, cols: int | None) -> None:
    geobox, cube, lc, period, cfg = _tile()
    height, width = HEIGHT, WIDTH
    unit, fallback = land_units(lc)
    table = UnitPercentiles.of(UnitHistograms.of(unit, fallback, window_mean(cube, window=(2001, 2012)), None,
                                                 crossed=False), percentile=90.0, min_unit_pixels=100)
    layers = productivity_layers(cube, lc, period, cfg, percentiles=table)
    layout, files = write_tile_layers(layers, tmp_path / "tile", geobox, rows=rows, cols=cols)
    assert len(files) >= 15
    for indicator, (assets, _) in layers.items():
        for key, (layer, _) in assets.items():
            with rasterio.open(tmp_path / "tile" / layout[indicator]["assets"][key]["file"]) as src:
                written = src.read(1)
                assert src.transform == geobox.affine and (src.height, src.width) == (height, width)
            expected = layer.values
            np.testing.assert_array_equal(written, expected.astype(written.dtype), err_msg=f"{indicator}/{key}")


@pytest.mark.parametrize("state_method", ["trends_earth", "gpg_v2"])
def test_two_passes_equal_the_layers_computed_whole(tmp_path: Path, state_method: str) -> None:
    """Pass 1 writes trajectory, state and the window sums and counts the units from the sums read back; pass 2
    reads those and no annual layer: every asset, its metadata and the histograms are those computed in one go."""
    geobox, cube, lc, period, cfg = _tile(state_method)
    unit, fallback = land_units(lc)
    whole_hist = UnitHistograms.of(unit, fallback, window_mean(cube, window=(2001, 2012)), None, crossed=False)
    table = UnitPercentiles.of(whole_hist, percentile=90.0, min_unit_pixels=100)
    whole = productivity_layers(cube, lc, period, cfg, percentiles=table)

    layout1, files1, inherited = write_trend_tile(cube, lc, period, cfg, tmp_path / "pass1", geobox)
    trend = TrendTile("p", "t", str(tmp_path / "pass1"), layout1, inherited, from_cache=False)
    np.testing.assert_array_equal(UnitHistograms.load(trend.histograms).hist, whole_hist.hist)
    assert set(layout1) == {"trajectory", "state"} and f"{WINDOW_SUMS}_sum.tif" in files1
    layout, files = write_lpd_tile(trend, lc, period, cfg, table, tmp_path / "pass2", geobox)
    assert list(layout) == list(whole) == ["trajectory", "state", "performance", "lpd"]
    reference, _ = write_tile_layers(whole, tmp_path / "whole", geobox)
    assert layout == reference  # the same files, item attrs and asset attrs (the LPD's inherited ones too)
    for indicator, (assets, _) in whole.items():
        for key, (layer, _) in assets.items():
            with rasterio.open(tmp_path / "pass2" / layout[indicator]["assets"][key]["file"]) as src:
                np.testing.assert_array_equal(src.read(1), layer.values.astype(src.dtypes[0]),
                                              err_msg=f"{indicator}/{key}")
