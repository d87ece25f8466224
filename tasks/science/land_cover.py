"""Land cover sub-indicator (method notes section 3): 7 classes, transitions and their degradation.

A source legend (default ESA CCI LCCS) nests into the 7 UNCCD classes (1 tree-covered, 2 grassland,
3 cropland, 4 wetland, 5 artificial, 6 other land, 7 water body) through a data file
(``catalogs/land_cover.yaml``, or the user's own, validated). The transition code is
initial x 10 + final (11..77); a 7 x 7 matrix says which transitions are degradation (-1), stable (0)
or improvement (+1). Class maps are int16 with nodata -32768.
"""
from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.config import load_model
from tasks.constants import CATALOGS_DIR, NODATA, THREE_CLASS_NAMES, code_mapper
from tasks.errors import ConfigError

__all__ = [
    "LandCoverLegend",
    "load_legend",
    "aggregate",
    "check_codes",
    "transition_code",
    "transition_areas",
    "annual_class_sums",
    "class_area_table",
    "lc_degradation",
    "LEGEND_FILE",
]

LEGEND_FILE = CATALOGS_DIR / "land_cover.yaml"
"""Default legend: ESA CCI nested into the 7 UNCCD classes, and the UNCCD degradation matrix."""


class LandCoverLegend(BaseModel):
    """The 7 classes, the nesting of a source legend into them, and the degradation matrix."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    classes: dict[int, tuple[str, str]] = Field(description="UNCCD class code -> (name, colour hint).")
    source_nodata: list[int] = Field(default_factory=list, description="Source codes meaning no data.")
    nesting: dict[int, list[int]] = Field(description="UNCCD class -> the source codes it holds.")
    matrix: list[list[int]] = Field(description="7 x 7, rows initial, columns final; -1, 0 or +1.")

    @field_validator("classes")
    @classmethod
    def _seven(cls, v: dict[int, tuple[str, str]]) -> dict[int, tuple[str, str]]:
        if sorted(v) != list(range(1, 8)):
            raise ValueError(f"classes must be exactly 1..7, got {sorted(v)}")
        return v

    @field_validator("matrix")
    @classmethod
    def _matrix(cls, v: list[list[int]]) -> list[list[int]]:
        if len(v) != 7 or any(len(row) != 7 for row in v):
            raise ValueError(f"matrix must be 7 x 7 (rows initial, columns final), got {len(v)} rows of "
                             f"{sorted({len(r) for r in v})} values")
        bad = sorted({x for row in v for x in row} - {-1, 0, 1})
        if bad:
            raise ValueError(f"matrix values must be -1, 0 or 1, got {bad}")
        return v

    @model_validator(mode="after")
    def _nesting(self) -> LandCoverLegend:
        unknown = sorted(set(self.nesting) - set(self.classes))
        if unknown:
            raise ValueError(f"nesting names classes {unknown} that are not in 1..7")
        seen: dict[int, int] = {}
        for parent, codes in self.nesting.items():
            for code in codes:
                if code in seen and seen[code] != parent:
                    raise ValueError(f"source code {code} is nested in both class {seen[code]} and class {parent}")
                seen[code] = parent
        clash = sorted(set(seen) & set(self.source_nodata))
        if clash:
            raise ValueError(f"source codes {clash} are both nested and declared source_nodata")
        return self

    def lookup(self) -> dict[int, int]:
        """Source code -> UNCCD class."""
        return {code: parent for parent, codes in self.nesting.items() for code in codes}


def load_legend(path: str | Path = LEGEND_FILE) -> LandCoverLegend:
    """Read and validate a land cover legend file; problems become a one-line ``ConfigError``."""
    return load_model(LandCoverLegend, path, "land cover legend")


def check_codes(present: np.ndarray, legend: LandCoverLegend, *, where: str = "the land cover") -> None:
    """Fail in one line when the distinct codes ``present`` in a source-legend map hold one the legend does not
    nest into the 7 classes (or a fraction, for float rasters); NaN and ``source_nodata`` codes are allowed."""
    lookup = legend.lookup()
    present = present[~np.isnan(present)] if np.issubdtype(present.dtype, np.floating) else present
    unmapped = sorted(int(v) for v in present if int(v) not in lookup and int(v) not in legend.source_nodata)
    if unmapped or (np.issubdtype(present.dtype, np.floating) and np.any(present != np.round(present))):
        shown = unmapped[:10] if unmapped else sorted(float(v) for v in present if v != round(v))[:10]
        raise ConfigError(
            f"{where} holds codes {shown} that the legend does not nest into the 7 classes: add them to "
            "`nesting` (or `source_nodata`) in the legend file"
        )


def aggregate(source: xr.DataArray, legend: LandCoverLegend, *, where: str = "the land cover",
              checked: bool = False) -> xr.DataArray:
    """The 7-class map of a source-legend map; a code present in the data but not nested is an error.

    Codes listed in ``source_nodata`` (and NaN, for float rasters without a nodata tag) become
    -32768, never class 0. The data's distinct codes are checked first (one pass), so an unmapped
    code fails before anything is written; ``checked=True`` leaves that to the caller
    (``check_codes`` on the codes it collected in the pass that reads the data anyway).
    """
    values = source.data

    if not checked:
        present = da.unique(values).compute() if isinstance(values, da.Array) else np.unique(np.asarray(values))
        check_codes(present, legend, where=where)
    out = xr.apply_ufunc(code_mapper(legend.lookup()), source, dask="parallelized", output_dtypes=["int16"])
    out.attrs.update({"long_name": "land cover (7 UNCCD classes)", "_FillValue": NODATA,
                      "classes": {k: v[0] for k, v in legend.classes.items()}})
    return out


def transition_code(initial: xr.DataArray, final: xr.DataArray) -> xr.DataArray:
    """initial x 10 + final (11..77), nodata where either map is nodata."""
    ok = (initial >= 1) & (initial <= 7) & (final >= 1) & (final <= 7)
    out = xr.where(ok, initial.astype("int16") * 10 + final.astype("int16"), NODATA).astype("int16")
    out.attrs.update({"long_name": "land cover transition (initial x 10 + final)", "_FillValue": NODATA})
    return out


def lc_degradation(initial: xr.DataArray, final: xr.DataArray, legend: LandCoverLegend) -> xr.DataArray:
    """-1 degradation, 0 stable, +1 improvement from the matrix; nodata where either map is nodata."""
    table = np.full((8, 8), NODATA, dtype="int16")
    table[1:, 1:] = np.asarray(legend.matrix, dtype="int16")

    def _lookup(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ok = (a >= 1) & (a <= 7) & (b >= 1) & (b <= 7)
        return np.where(ok, table[np.where(ok, a, 0), np.where(ok, b, 0)], NODATA).astype("int16")

    out = xr.apply_ufunc(_lookup, initial, final, dask="parallelized", output_dtypes=["int16"])
    out.attrs.update({"long_name": "land cover sub-indicator (3 classes)", "_FillValue": NODATA,
                      "classes": THREE_CLASS_NAMES, "matrix": legend.matrix})
    return out


def transition_areas(initial: xr.DataArray, final: xr.DataArray, areas_km2: "np.ndarray | da.Array",
                     legend: LandCoverLegend) -> "pd.DataFrame":
    """km2 of every from-to class pair (49 rows) plus a row of nodata area, from true pixel areas.

    ``areas_km2`` is (rows, 1) or (rows, cols) on the maps' grid (see ``tasks.geo.areas``), or a Dask array
    of it that is 0 outside the run's region (``tasks.io.sources.clip.area_weights``). Summed block
    by block for Dask input, so the area never has to fit in memory.
    """
    code = transition_code(initial, final)
    c = code.data if isinstance(code.data, da.Array) else da.from_array(code.values, chunks=code.shape)
    w = (areas_km2.rechunk(c.chunks) if isinstance(areas_km2, da.Array)
         else da.from_array(np.broadcast_to(areas_km2, code.shape), chunks=c.chunks))

    def _block(codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        idx = np.where(codes == NODATA, 0, codes).astype(np.intp)  # 0 collects nodata
        return np.bincount(idx.ravel(), weights=weights.ravel(), minlength=78)[None, None, :78]

    sums = da.map_blocks(_block, c, w, new_axis=2, dtype="float64",
                         chunks=(tuple(1 for _ in c.chunks[0]), tuple(1 for _ in c.chunks[1]), (78,)))
    (totals,) = dask.compute(sums.sum(axis=(0, 1)))
    rows = []
    for i in range(1, 8):
        for j in range(1, 8):
            rows.append({"from_code": i, "from": legend.classes[i][0], "to_code": j, "to": legend.classes[j][0],
                         "transition": i * 10 + j, "degradation": legend.matrix[i - 1][j - 1],
                         "area_km2": float(totals[i * 10 + j])})
    table = pd.DataFrame(rows)
    table.attrs["nodata_km2"] = float(totals[0])
    return table


def annual_class_sums(series: xr.DataArray, areas_km2: "np.ndarray | da.Array", *, dim: str = "year") -> list:
    """Lazy per-year km2 sums of a 7-class series (``dim``, y, x): a Dask array of 8 per year (index 0 the
    nodata km2, 1-7 the classes), to compute with whatever else reads the series (``class_area_table``)."""
    data = series.transpose(dim, ...).data
    c = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=(1, *data.shape[1:]))
    w = (areas_km2.rechunk(c.chunks[1:]) if isinstance(areas_km2, da.Array)
         else da.from_array(np.broadcast_to(areas_km2, c.shape[1:]), chunks=c.chunks[1:]))

    def _block(codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        idx = np.where((codes >= 1) & (codes <= 7), codes, 0).astype(np.intp)  # 0 collects nodata
        return np.bincount(idx.ravel(), weights=weights.ravel(), minlength=8)[None, None, :8]

    per_year = []
    for k in range(series.sizes[dim]):
        layer = c[k]
        per_year.append(da.map_blocks(_block, layer, w, new_axis=2, dtype="float64",
                                      chunks=(tuple(1 for _ in layer.chunks[0]), tuple(1 for _ in layer.chunks[1]), (8,)))
                        .sum(axis=(0, 1)))
    return per_year


def class_area_table(years: "list[int]", totals: "list[np.ndarray]", legend: LandCoverLegend) -> "pd.DataFrame":
    """The SO1-1 land cover series table from ``annual_class_sums``' computed sums: a row per year and class
    (1-7, then nodata as -32768) with its km2."""
    return pd.DataFrame([{"year": year, "class_code": code if code else NODATA,
                          "class_name": legend.classes[code][0] if code else "nodata", "area_km2": float(t[code])}
                         for year, t in zip(years, totals) for code in (*range(1, 8), 0)])
