"""Counts moved between grids sum-preserving (``tasks.geo.counts``; UNCCD method notes 1): hand-worked aligned
grids, an exact-overlap reference on unaligned ones, whole totals across projections and blocks, the population
year a table reads, and what a population source must declare."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from tasks.config import Source
from tasks.geo.counts import move_counts
from tasks.io.sources.population import year_used

UTM = "EPSG:32649"
SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


def test_aligned_grids_share_each_cell_equally_by_hand() -> None:
    """A 1 km cell over 4 x 4 pixels of 250 m: each pixel gets exactly a sixteenth of it."""
    counts = np.array([[160.0, 32.0], [0.0, 16.0]])
    src = Affine(1000, 0, 500_000, 0, -1000, 4_800_000)
    dst = Affine(250, 0, 500_000, 0, -250, 4_800_000)
    out = move_counts(counts, src, UTM, dst, UTM, (8, 8))
    assert np.allclose(out, np.kron(counts, np.ones((4, 4))) / 16, rtol=0, atol=1e-12)


def _overlap(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    return np.clip(np.minimum(a1[:, None], b1[None, :]) - np.maximum(a0[:, None], b0[None, :]), 0, None)


@pytest.mark.parametrize("pixel", [300.0, 231.65635826395825, 2500.0])
def test_unaligned_grids_match_the_exact_overlap_shares(pixel: float) -> None:
    """An independent reference: each cell's count shared by the exact overlapped area (1-D overlaps multiplied),
    finer and coarser than the source."""
    rng = np.random.default_rng(7)
    counts = rng.gamma(0.6, 40, size=(6, 7)) * (rng.random((6, 7)) < 0.7)
    x0, y0 = 500_130.0, 4_800_070.0
    src = Affine(1000, 0, x0, 0, -1000, y0)
    dst = Affine(pixel, 0, x0 - 1000, 0, -pixel, y0 + 1000)
    shape = (int(9000 / pixel) + 1, int(10000 / pixel) + 1)
    out = move_counts(counts, src, UTM, dst, UTM, shape)
    sx, sy = x0 + np.arange(8) * 1000.0, y0 - np.arange(7) * 1000.0
    tx, ty = dst.c + np.arange(shape[1] + 1) * pixel, dst.f - np.arange(shape[0] + 1) * pixel
    ox = _overlap(sx[:-1], sx[1:], tx[:-1], tx[1:]) / 1000  # (source column, target column): share of the width
    oy = _overlap(-sy[:-1], -sy[1:], -ty[:-1], -ty[1:]) / 1000
    exact = np.einsum("rc,ri,cj->ij", counts, oy, ox)
    assert out.sum() == pytest.approx(counts.sum(), rel=1e-9)
    assert np.allclose(out, exact, rtol=1e-6, atol=1e-6)


def test_totals_are_kept_across_projections_and_blocks() -> None:
    """A lon/lat 30" source onto a sinusoidal 231 m grid, cut into blocks: every cell inside lands whole, once."""
    from pyproj import Transformer

    rng = np.random.default_rng(11)
    res = 1 / 120
    src = Affine(res, 0, 111.5, 0, -res, 44.0)
    counts = rng.poisson(3.0, size=(24, 30)).astype(float)
    fwd = Transformer.from_crs("EPSG:4326", SINUSOIDAL, always_xy=True)
    xs, ys = fwd.transform([111.5, 111.5 + 30 * res, 111.5, 111.5 + 30 * res],
                           [44.0, 44.0, 44.0 - 24 * res, 44.0 - 24 * res])
    pixel = 231.65635826395825
    left, top = min(xs) - 5 * pixel, max(ys) + 5 * pixel
    shape = (int((top - min(ys)) / pixel) + 10, int((max(xs) - left) / pixel) + 10)
    dst = Affine(pixel, 0, left, 0, -pixel, top)
    whole = move_counts(counts, src, "EPSG:4326", dst, SINUSOIDAL, shape)
    assert whole.sum() == pytest.approx(counts.sum(), rel=1e-9)
    h, w = shape[0] // 2, shape[1] // 3
    parts = np.zeros(shape)
    for r0, rows in ((0, h), (h, shape[0] - h)):
        for c0, cols in ((0, w), (w, w), (2 * w, shape[1] - 2 * w)):
            parts[r0:r0 + rows, c0:c0 + cols] = move_counts(counts, src, "EPSG:4326", dst * Affine.translation(c0, r0),
                                                            SINUSOIDAL, (rows, cols))
    assert np.allclose(parts, whole, rtol=0, atol=1e-9)
    # a zone made of whole source cells keeps its total to 1e-6 (the method notes' test)
    only = np.zeros_like(counts)
    only[4:12, 6:20] = counts[4:12, 6:20]
    assert move_counts(only, src, "EPSG:4326", dst, SINUSOIDAL, shape).sum() == pytest.approx(only.sum(), rel=1e-6)


def test_nan_counts_carry_no_one() -> None:
    out = move_counts(np.array([[np.nan, 8.0]]), Affine(1000, 0, 0, 0, -1000, 0), UTM, Affine(500, 0, 0, 0, -500, 0),
                      UTM, (2, 4))
    assert out.sum() == pytest.approx(8.0) and np.allclose(out[:, :2], 0)


@pytest.mark.parametrize(("year", "available", "used"), [
    (2023, list(range(2000, 2021)), 2020), (1995, list(range(2000, 2021)), 2000), (2012, list(range(2000, 2021)), 2012),
    (2013, [2000, 2005, 2010, 2015, 2020], 2015), (2012, [2000, 2005, 2010, 2015, 2020], 2010),
    (2017, [2015, 2020], 2015), (2018, [2015, 2020], 2020),
])
def test_the_population_year_used_is_the_nearest(year: int, available: list[int], used: int) -> None:
    assert year_used(year, available) == used


def _population(**assets: dict) -> dict:
    return {"role": "population", "stac": {"api": "https://example.org/stac", "collection": "pop"}, "assets": assets}


def test_a_population_source_counts_people() -> None:
    Source.model_validate(_population(female={"key": "f", "dtype": "float32"}, male={"key": "m", "dtype": "float32"}))
    Source.model_validate(_population(total={"key": "t", "dtype": "float32", "unit": "people"}))
    with pytest.raises(ValueError, match="'total', or 'female' and 'male'"):
        Source.model_validate(_population(female={"key": "f", "dtype": "float32"}))
    with pytest.raises(ValueError, match="a density"):
        Source.model_validate(_population(total={"key": "t", "dtype": "float32", "unit": "people/km2"}))
    with pytest.raises(ValueError, match="'vulnerability'"):
        Source.model_validate({"role": "vulnerability", "file": "dvi.tif", "assets": {"dvi": {"key": "b1",
                                                                                               "dtype": "float32"}}})


def _population_file(path, values: np.ndarray, nodata: float = -99999) -> str:  # noqa: ANN001
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=UTM, transform=Affine(1000, 0, 500_000, 0, -1000, 4_800_000),
                       nodata=nodata) as dst:
        dst.write(values.astype("float32"), 1)
    return str(path)


def _reader(href: str):  # noqa: ANN202
    from odc.geo.geobox import GeoBox

    from tasks.io.sources.population import PeopleReader, PopulationYears

    source = Source.model_validate({"role": "population", "file": href, "assets": {"total": {"key": "t",
                                                                                              "dtype": "float32"}}})
    grid = GeoBox((12, 12), Affine(500, 0, 500_000, 0, -500, 4_800_000), UTM)  # 6 x 6 km: the file covers 4 x 3 km
    return PeopleReader(PopulationYears("p", {2020: {"total": href}}, {2020: href}, False), source, grid)


def test_people_on_a_block_keep_the_files_total_and_say_what_is_missing(tmp_path) -> None:  # noqa: ANN001
    values = np.array([[4.0, 8.0, np.nan, 0.0], [1.0, -99999, 2.0, 3.0], [0.0, 0.0, 0.0, 12.0]])
    reader = _reader(_population_file(tmp_path / "pop.tif", values))
    people = reader.block(2020, (0, 0, 12, 12))["total"]
    assert people.sum() == pytest.approx(30.0) and reader.missing_cells == 2
    covered = reader.covered(2020, (0, 0, 12, 12))
    assert covered.sum() == 10 * 4 and not covered[6:, :].any() and not covered[:, 8:].any()  # 2 cells without data
    assert not covered[0:2, 4:6].any() and not covered[2:4, 2:4].any()
    halves = [reader.block(2020, (r, c, 6, 6))["total"].sum() for r in (0, 6) for c in (0, 6)]
    assert sum(halves) == pytest.approx(30.0)


def test_a_negative_count_stops_naming_the_file(tmp_path) -> None:  # noqa: ANN001
    from tasks.errors import ConfigError

    reader = _reader(_population_file(tmp_path / "bad.tif", np.array([[4.0, -3.0]])))
    with pytest.raises(ConfigError, match=r"bad.tif holds negative counts \(-3\)"):
        reader.block(2020, (0, 0, 12, 12))
