"""Test helpers: where the shared real data is, and a small version of the sample region."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin
from scipy import stats

from tasks.config import PRODUCTION_SOURCES
from tasks.io.samples.sample_data import SampleRegion, load_sample_region
from tasks.io.sources.clip import area_fingerprint, region_area
from tasks.science.drought import SPI_LIMIT

if TYPE_CHECKING:
    import pystac
    from odc.geo.geobox import GeoBox

    from tasks.config import RunConfig
    from tasks.io.sources.clip import RunArea

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LDN_SHARED_DIR", REPO.parent / "shared"))
REALDATA = SHARED / "realdata"


def realdata(*parts: str) -> Path:
    """Path to a file or folder under ../shared/realdata; skip the test with a reason when absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real test data {path} is absent (it lives in the team's ../shared folder, not in the repo; "
            "set LDN_SHARED_DIR to its location to run this test)"
        )
    return path


def small_region() -> SampleRegion:
    """The sample region cut down for fast tests: 64 x 64 pixels, 2001-2006, every QA case present."""
    return load_sample_region(
        size_px=64,
        ndvi_years=(2001, 2006),
        aqua_years=(2003, 2003),
        land_cover_years=(2000, 2006),
        patches=[
            {"name": "decline", "kind": "decline", "offset_km": (-4, 4), "radius_km": 2, "rate_per_year": -0.05},
            {"name": "greening", "kind": "greening", "offset_km": (4, 4), "radius_km": 2, "rate_per_year": 0.05,
             "land_cover": {"year": 2002, "from": 130, "to": 61}},
            {"name": "stable", "kind": "stable", "offset_km": (-4, -4), "radius_km": 2},
        ],
        persistent_cloud={"offset_km": (3, -3), "radius_km": 2, "year": 2002, "prob": 0.9},
        fill_strip={"year": 2003, "doy": 161, "rows": (0, 8)},
        town={"offset_km": (0, 0), "radius_km": 1},
    )


def readme_snippet(name: str) -> str:
    """The README's Python block that starts with ``# readme-snippet: <name>`` (so the docs stay runnable)."""
    import re

    text = (REPO / "README.md").read_text()
    found = re.search(rf"```python\n# readme-snippet: {re.escape(name)}\n(.*?)```", text, re.S)
    assert found, f"the README lost its {name!r} snippet"
    return found.group(1)


def catalog_items(root: Path) -> dict[str, "pystac.Item"]:
    """Every item of the latest published version under the catalog ``root``, by id."""
    import pystac

    return {i.id: i for i in pystac.Catalog.from_file(str(root / "catalog.json")).get_items(recursive=True)}


def read_asset(item: "pystac.Item", key: str = "data") -> "np.ndarray":
    """Band 1 of one asset of a published item."""
    import rasterio

    with rasterio.open(item.assets[key].get_absolute_href()) as src:
        return src.read(1)


def exact_te_state(bl: list[int], tg: list[int]) -> tuple[int, int, int]:
    """Trends.Earth state in rational arithmetic (an independent reference): (baseline class, target class, change).

    Deciles (linear interpolation) of the baseline years plus min - 5 % and max + 5 % of their range; a
    mean is class 1 if <= p10, else the largest k + 1 with mean > p(10k), at most 10; the change is 0
    when the two means differ by at most 100 (0.01 NDVI in stored units).
    """
    from fractions import Fraction

    lo, hi = min(bl), max(bl)
    sample = sorted([Fraction(v) for v in bl] + [lo - Fraction(hi - lo, 20), hi + Fraction(hi - lo, 20)])
    m = len(sample)
    dec = []
    for k in range(1, 11):
        pos = Fraction(k * (m - 1), 10)
        f = int(pos)
        dec.append(sample[f] if f >= m - 1 else sample[f] + (pos - f) * (sample[f + 1] - sample[f]))

    def cls(v: Fraction) -> int:
        return 1 if v <= dec[0] else min(max(k + 1 for k in range(1, 11) if v > dec[k - 1]), 10)

    mb, mt = Fraction(sum(bl), len(bl)), Fraction(sum(tg), len(tg))
    cb, ct = cls(mb), cls(mt)
    return cb, ct, 0 if abs(mb - mt) <= 100 else ct - cb


def version_pixels(version: Path) -> dict[str, "np.ndarray"]:
    """Every raster of one published version folder, decoded, by its path in the version."""
    import rasterio

    out = {}
    for tif in sorted(version.rglob("*.tif")):
        with rasterio.open(tif) as src:
            out[str(tif.relative_to(version))] = src.read()
    return out


def latest_pixels(catalog: Path) -> dict[str, "np.ndarray"]:
    """``version_pixels`` of the newest version under a catalog root."""
    return version_pixels(sorted((catalog / "versions").iterdir())[-1])


def assert_same_pixels(a: dict[str, "np.ndarray"], b: dict[str, "np.ndarray"]) -> None:
    """The same rasters with the same pixels (NaN equal to NaN in float layers)."""
    import numpy as np

    assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name


def version_checksums(version: Path) -> dict[str, str]:
    """sha256 of every file of one published version, by its path in the version; in text files (JSON, HTML, CSV,
    QML, Markdown) the version's own id and ISO timestamps are masked, the only bytes two runs of the same inputs
    may write differently."""
    import hashlib
    import re

    stamp = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
    out = {}
    for path in sorted(p for p in version.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix in (".json", ".html", ".csv", ".qml", ".md", ".xml", ".txt"):
            data = stamp.sub(b"TIME", data.replace(version.name.encode(), b"VERSION"))
        out[str(path.relative_to(version))] = hashlib.sha256(data).hexdigest()
    return out


def latest_version(catalog: Path) -> Path:
    """The newest version folder under a catalog root."""
    return sorted((catalog / "versions").iterdir())[-1]


def run_area(cfg: "RunConfig", geobox: "GeoBox") -> "RunArea | None":
    """``cfg``'s region on ``geobox`` resolved afresh (what a run's context resolves once): for tests that have a
    config and a grid but no run."""
    return region_area(cfg.region, area_fingerprint(cfg), geobox)


def spi_reference(series: np.ndarray, first: int, calibration: tuple[int, int]) -> np.ndarray:
    """December's SPI-12 per year of one pixel's monthly totals (from January of ``first``) as the method notes write
    it, with scipy, independently of the code under test: Thom's gamma (location 0) on the calibration years'
    Jan-Dec totals that have all twelve months, q the share of zero totals among them, H = q + (1 - q) G(x),
    SPI = inverse normal of H clipped to +-3.09; NaN for a year with a missing month and for a pixel whose
    calibration years hold no rain."""
    annual = series.reshape(-1, 12).sum(axis=1)
    fitted = annual[calibration[0] - first: calibration[1] - first + 1]
    fitted = fitted[~np.isnan(fitted)]
    if not (fitted > 0).any():
        return np.full(annual.shape, np.nan)
    q = np.mean(fitted == 0)
    rain = fitted[fitted > 0]
    a = np.log(rain.mean()) - np.log(rain).mean()
    alpha = (1 + np.sqrt(1 + 4 * a / 3)) / (4 * a)
    beta = rain.mean() / alpha
    h = q + (1 - q) * stats.gamma.cdf(annual, alpha, scale=beta)
    return np.clip(stats.norm.ppf(h), -SPI_LIMIT, SPI_LIMIT)


SHORT_PERIODS = {"periods": {"short": {"productivity": [2001, 2006], "state_baseline": [2001, 2003],
                                       "state_target": [2004, 2006], "land_cover": [2001, 2006]}}}
"""A periods file with one period that the small sample's six NDVI years (2001-2006) fit."""


def short_run_file(folder: Path) -> Path:
    """A run file in ``folder`` for the small sample's whole pipeline in seconds: ``SHORT_PERIODS`` (written beside it),
    32 px tiles, trends from 4 years."""
    import yaml

    (folder / "periods.yaml").write_text(yaml.safe_dump(SHORT_PERIODS))
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump({"periods_file": str(folder / "periods.yaml"), "tile_size": 32,
                                    "productivity": {"min_years": 4}}))
    return path


def precipitation_zarr(sample: Path, out: Path, *, lon360: bool = False, drop: tuple[str, ...] = (),
                       chunks: tuple[int, int, int] = (12, 16, 16), years: tuple[int, int] | None = None,
                       zarr_format: int = 2) -> Path:
    """The sample's monthly precipitation COGs as one Zarr store of (time, lat, lon) totals, as TerraClimate's ``ppt``
    is published: cell-centre coordinates, latitudes descending, ``lon360`` for 0-360 longitudes (ERA5's), months
    ``drop``ped (``YYYY-MM``) left out of the store, written by xarray in ``chunks``: Zarr v2 with consolidated
    metadata (as TerraClimate's and ERA5's stores are; an HTTP server lists no folders), or ``zarr_format=3``."""
    import numpy as np
    import pandas as pd
    import rasterio
    import xarray as xr

    files = sorted((sample / "sample-monthly-precipitation" / "data").glob("*/sample-ppt-*.tif"))
    months = [f.stem.removeprefix("sample-ppt-") for f in files]
    keep = [(m, f) for m, f in zip(months, files) if m not in drop
            and (years is None or years[0] <= int(m[:4]) <= years[1])]
    planes = []
    for _, f in keep:
        with rasterio.open(f) as src:
            planes.append(src.read(1))
            transform, (h, w) = src.transform, src.shape
    lon = transform.c + (np.arange(w) + 0.5) * transform.a
    lat = transform.f + (np.arange(h) + 0.5) * transform.e
    if lon360:
        lon = np.mod(lon, 360.0)
    da = xr.DataArray(np.stack(planes), dims=("time", "lat", "lon"),
                      coords={"time": pd.to_datetime([m for m, _ in keep]), "lat": lat, "lon": lon}, name="ppt")
    da.encoding = {"chunks": chunks}
    da.to_dataset().to_zarr(out, mode="w", zarr_format=zarr_format, consolidated=zarr_format == 2)
    return out


def production_sources(folder: Path) -> Path:
    """The production sources with their two user files (SOC stock, climate zones) present in ``folder`` as a user
    has them (uniform placeholders: a plan reads only their grid, a run would read their pixels)."""
    doc = yaml.safe_load(PRODUCTION_SOURCES.read_text())
    for name, file, dtype, nodata in (("soilgrids-soc", "soc.tif", "int16", -32768),
                                      ("ipcc-climate-zones", "climate.tif", "uint8", 0)):
        with rasterio.open(folder / file, "w", driver="GTiff", width=360, height=180, count=1, dtype=dtype,
                           crs="EPSG:4326", transform=from_origin(-180, 90, 1, 1), nodata=nodata) as dst:
            dst.write(np.ones((180, 360), dtype), 1)
        doc["sources"][name]["file"] = str(folder / file)
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
