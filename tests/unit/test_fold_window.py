"""The ingest kernel's fold (``fold_window``) against a plain reference on random scenes of every raw type it
accepts: the valid values' exact integer sum, count and maximum (masked arrays, int64), on windows that scenes
cover in part, with extreme values of the type, pixels no scene makes valid, and a fill value inside or outside
the valid range. The fast path for 8- and 16-bit integers must equal the general one bit for bit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from tasks.config import AssetSpec, QaRule
from tasks.io.sources.ingest import SceneGrid, _valid_qa, fold_window

RES = 10.0
HEIGHT, WIDTH = 37, 53
CASES = {
    # dtype, nodata, valid range (None: no range test)
    "int16-fill-outside": ("int16", -3000, (-2000, 10000)),
    "int16-fill-inside": ("int16", 0, (-32768, 32767)),
    "int16-no-range": ("int16", -32768, None),
    "uint16": ("uint16", 65535, (0, 65534)),
    "int8": ("int8", None, (-128, 127)),
    "uint8": ("uint8", 0, None),
    "int32": ("int32", -1, (0, 2**31 - 1)),
    "float32": ("float32", None, (-1.0, 1.0)),
}


def _scene(tmp: Path, name: str, values: np.ndarray, codes: np.ndarray, row_off: int, col_off: int) -> SceneGrid:
    x0, y0 = col_off * RES, -row_off * RES
    hrefs = {}
    for key, data in (("ndvi", values), ("qa", codes)):
        path = tmp / f"{name}-{key}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                           dtype=data.dtype, crs="EPSG:3857", transform=from_origin(x0, y0, RES, RES)) as dst:
            dst.write(data, 1)
        hrefs[key] = str(path)
    return SceneGrid(name, hrefs, row_off, col_off, values.shape[0], values.shape[1], origin=(x0, y0),
                     resolution=(RES, -RES))


def _random(rng: np.random.Generator, dtype: str, shape: tuple[int, int]) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-1.5, 1.5, shape).astype(dtype)
    info = np.iinfo(dtype)
    out = rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.int64).astype(dtype)
    out.flat[rng.integers(0, out.size, out.size // 8)] = info.min  # the type's extremes, often
    out.flat[rng.integers(0, out.size, out.size // 8)] = info.max
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fold_window_equals_a_masked_reference(tmp_path: Path, case: str, seed: int) -> None:
    dtype, nodata, valid_range = CASES[case]
    rng = np.random.default_rng(seed)
    spec = AssetSpec(key="v", dtype=dtype, nodata=nodata, valid_range=valid_range)
    # QA rules: a run of values (one comparison), scattered values (a table), a 2-byte QA (np.isin)
    qa_type, valid_values = [("int8", [0, 1]), ("int8", [0, 2]), ("int16", [-1, 2])][seed]
    rule = QaRule(asset="qa", valid_values=valid_values)
    scenes, stack, good = [], [], []
    for i in range(7):
        # scenes of their own size and place, some reaching past the window's edges
        r0, c0 = int(rng.integers(-5, 20)), int(rng.integers(-5, 30))
        h, w = int(rng.integers(10, 30)), int(rng.integers(10, 40))
        values, codes = _random(rng, dtype, (h, w)), rng.integers(-1, 4, (h, w), dtype=np.int64).astype(qa_type)
        if nodata is not None:
            values[rng.random((h, w)) < 0.2] = nodata
        scenes.append(_scene(tmp_path, f"s{i}", values, codes, r0, c0))
        full = np.zeros((HEIGHT + 40, WIDTH + 60), dtype=values.dtype)
        ok = np.zeros(full.shape, dtype=bool)
        full[r0 + 10:r0 + 10 + h, c0 + 10:c0 + 10 + w] = values
        valid = np.isin(codes, rule.valid_values)
        if nodata is not None:
            valid &= values != nodata
        if valid_range is not None:
            valid &= (values >= valid_range[0]) & (values <= valid_range[1])
        ok[r0 + 10:r0 + 10 + h, c0 + 10:c0 + 10 + w] = valid
        stack.append(full[10:10 + HEIGHT, 10:10 + WIDTH])
        good.append(ok[10:10 + HEIGHT, 10:10 + WIDTH])

    mean, top = fold_window(scenes, (0, HEIGHT), (0, WIDTH), ndvi=spec, qa_name="qa", qa_rule=rule,
                            finish=lambda raw, count: raw, gdal_env={})

    data = np.ma.masked_array(np.stack(stack), mask=~np.stack(good))
    exact = np.dtype("int64") if np.dtype(dtype).kind in "iu" else np.dtype("float64")
    count = data.count(axis=0)
    total = data.astype(exact).sum(axis=0).filled(0)
    some = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        want_mean = np.where(some, total, 0) / np.where(some, count, np.nan)
    want_top = np.where(some, data.max(axis=0).filled(0).astype("float64"), np.nan)
    assert some.any() and not some.all()  # both kinds of pixel are tried
    np.testing.assert_array_equal(mean, want_mean)
    np.testing.assert_array_equal(top, want_top)


@given(dtype=st.sampled_from(["int8", "uint8", "int16", "uint16"]), first=st.integers(-40000, 70000),
       length=st.integers(1, 300), extra=st.lists(st.integers(-40000, 70000), max_size=3))
@settings(max_examples=200, deadline=None)
def test_valid_qa_equals_isin_on_every_value_of_the_type(dtype: str, first: int, length: int, extra: list[int]) -> None:
    """The QA test (one comparison for a run of values, a table or ``np.isin`` otherwise) on every value a 1- or
    2-byte QA can hold, against ``np.isin``; runs that reach past the type's range and scattered values included."""
    info = np.iinfo(dtype)
    every = np.arange(info.min, info.max + 1).astype(dtype)
    for valid in (list(range(first, first + length)), list(range(first, first + length)) + extra):
        want = np.isin(every.astype(np.int64), np.asarray(valid, dtype=np.int64))
        np.testing.assert_array_equal(_valid_qa(every, valid), want)
