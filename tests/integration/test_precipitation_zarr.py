"""Monthly precipitation read in place from a Zarr store (UNCCD method notes section 1: "a collection-level Zarr",
TerraClimate's ``ppt``, ERA5's monthly sums), against the same months as COG items.

The store is the bundled sample's own months written by xarray (``tests.helpers.precipitation_zarr``), with 0-360
longitudes as ERA5 has them; read from a folder and over HTTP from the project's file server on 127.0.0.1. The drought
layers it gives are those of the COG items pixel for pixel; a year appended to the store changes the key of that year
only; a rewritten year changes its own; and a store that is wrong says so in one line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from tasks.config import SAMPLE_SOURCES, Source, load_sources
from tasks.errors import ConfigError, TransientReadError
from tasks.geo.grid import snapped_geobox
from tasks.io.runtime.local_stac import free_port, start_file_server, stop_process
from tasks.io.sources.precipitation import zarr_months, zarr_year_fingerprints
from tests.helpers import catalog_items, precipitation_zarr, read_asset

pytestmark = pytest.mark.integration

REGION = "sample-zamyn-uud"
RES = 1 / 24


def _source(href: str, **zarr: object) -> Source:
    spec = load_sources(SAMPLE_SOURCES).get("monthly-precipitation").model_dump(exclude_none=True)
    spec.pop("stac")
    return Source(**{**spec, "zarr": {"href": href, **zarr}})


def _grid():  # noqa: ANN202  (the sample's cells and one cell of margin round them, as precipitation_grid makes it)
    import rasterio

    first = next(iter(sorted(Path(SAMPLE_GRID[0]).glob("*/sample-ppt-*.tif"))))
    with rasterio.open(first) as src:
        left, bottom, right, top = src.bounds
    return snapped_geobox((left - RES / 2, bottom - RES / 2, right + RES / 2, top + RES / 2), "EPSG:4326", RES,
                          (-180.0, 90.0))


SAMPLE_GRID: list[str] = []
"""The folder of the sample's monthly COGs (set by the ``store`` fixture)."""


@pytest.fixture(scope="module")
def store(full_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    SAMPLE_GRID[:] = [str(full_sample / "sample-monthly-precipitation" / "data")]
    return precipitation_zarr(full_sample, tmp_path_factory.mktemp("zarr") / "ppt.zarr", lon360=True)


def test_a_zarr_store_gives_the_cog_items_drought_layers(full_run: tuple[Path, Path], store: Path,
                                                         tmp_path: Path) -> None:
    """The whole flow with the precipitation source a Zarr store (0-360 longitudes), from the full run's cache: every
    drought layer's pixels are those the COG items gave."""
    from flows.ldn_yearly import ldn_yearly
    from tasks.io.runtime.local_stac import serve_collections
    from tests.integration.conftest import sample_config

    sample, root = full_run
    sources = yaml.safe_load(Path(SAMPLE_SOURCES).read_text())
    entry = sources["sources"]["monthly-precipitation"]
    entry.pop("stac")
    entry["zarr"] = {"href": str(store)}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(sources))
    with serve_collections(sample) as stac:
        ldn_yearly(sample_config(sample, stac.api_url, tmp_path / "catalog", years=(2001, 2024), sources_file=path,
                                 cache_dir=root / ".cache"))
    ours, cogs = catalog_items(tmp_path / "catalog"), catalog_items(root)
    drought = [i for i in cogs if i.startswith(("drought-", "drought-worst-")) and "exposure" not in i]
    assert len(drought) == 28
    for item_id in drought:
        for asset in ("data", "spi_x1000") if "worst" not in item_id else ("data", "year"):
            np.testing.assert_array_equal(read_asset(ours[item_id], asset), read_asset(cogs[item_id], asset))
    item = ours[f"drought-{REGION}-2017"]
    assert f"{store}#2017" in item.properties["ldn:source_items"]


def test_zarr_months_over_http_equal_the_folders(store: Path) -> None:
    proc, url = start_file_server(store.parent)
    try:
        here = zarr_months(_source(str(store)), (2016, 2018), _grid(), chunk=8)
        there = zarr_months(_source(f"{url}/{store.name}"), (2016, 2018), _grid(), chunk=8)
        xr.testing.assert_equal(here.months.compute(), there.months.compute())  # attrs name the store
        prints = zarr_year_fingerprints(_source(f"{url}/{store.name}"), _grid())
        chunk = prints["2017"]["chunks"][0][1]
        assert {"size", "Last-Modified"} <= set(chunk), chunk  # what the server states of each chunk
    finally:
        stop_process(proc)
    assert here.months.sizes["time"] == 36 and not here.missing
    inside = here.months.isel(latitude=slice(1, -1), longitude=slice(1, -1))
    assert bool(inside.notnull().all()), "every cell of the store is read"
    assert bool(here.months.isel(latitude=0).isnull().all()), "the margin past the store is NaN, never filled"


def test_a_month_the_store_lacks_is_nan_and_listed(full_sample: Path, store: Path, tmp_path: Path) -> None:
    gap = precipitation_zarr(full_sample, tmp_path / "gap.zarr", drop=("2005-03",))
    read = zarr_months(_source(str(gap)), (2004, 2006), _grid(), chunk=8)
    assert read.missing == ["2005-03"]
    assert bool(read.months.sel(time="2005-03").isnull().all())
    assert bool(read.months.sel(time="2005-04").notnull().any())


def test_appending_a_year_changes_that_years_key_only(full_sample: Path, store: Path, tmp_path: Path) -> None:
    path = precipitation_zarr(full_sample, tmp_path / "grow.zarr", years=(1991, 2023), zarr_format=3)
    before = zarr_year_fingerprints(_source(str(path)), _grid())
    assert sorted(before) == [str(y) for y in range(1991, 2024)]
    later = precipitation_zarr(full_sample, tmp_path / "later.zarr", years=(2024, 2024), zarr_format=3)
    xr.open_zarr(later, consolidated=False).to_zarr(path, append_dim="time", consolidated=False)
    after = zarr_year_fingerprints(_source(str(path)), _grid())
    assert sorted(after) == [str(y) for y in range(1991, 2025)]
    assert {y: after[y] for y in before} == before, "the years already there keep their keys"


def test_rewriting_a_year_changes_its_key(full_sample: Path, store: Path, tmp_path: Path) -> None:
    path = precipitation_zarr(full_sample, tmp_path / "fix.zarr")
    before = zarr_year_fingerprints(_source(str(path)), _grid())
    ds = xr.open_zarr(path)
    year = ds.isel(time=slice(12 * 26, 12 * 27))  # 2017
    assert str(year.time.values[0])[:4] == "2017"
    (year * 1.1).drop_vars(["lat", "lon"]).to_zarr(path, region={"time": slice(12 * 26, 12 * 27)})
    after = zarr_year_fingerprints(_source(str(path)), _grid())
    assert [y for y in before if before[y] != after[y]] == ["2017"]


@pytest.mark.parametrize(("zarr", "asset", "message"), [
    ({}, "rain", "has no variable 'rain'"),
    ({"y": "latitude"}, None, "set `zarr.time`, `zarr.y` and `zarr.x`"),
])
def test_a_store_that_does_not_fit_its_settings_is_one_line(store: Path, zarr: dict, asset: str | None,
                                                            message: str) -> None:
    source = _source(str(store), **zarr)
    if asset is not None:
        spec = source.model_dump(exclude_none=True)
        spec["assets"]["precipitation"]["key"] = asset
        source = Source(**spec)
    with pytest.raises(ConfigError, match=message) as err:
        zarr_months(source, (2016, 2017), _grid(), chunk=8)
    assert "\n" not in str(err.value)


def test_a_missing_or_unreachable_store_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be opened.*check `zarr.href`"):
        zarr_months(_source(str(tmp_path / "nowhere.zarr")), (2016, 2017), _grid(), chunk=8)
    with pytest.raises((TransientReadError, ConfigError), match="cannot be (reached|opened)"):
        zarr_months(_source(f"http://127.0.0.1:{free_port()}/ppt.zarr"), (2016, 2017), _grid(), chunk=8)


def test_a_store_off_the_area_is_one_line(store: Path) -> None:
    far = snapped_geobox((10.0, 10.0, 11.0, 11.0), "EPSG:4326", RES, (-180.0, 90.0))
    with pytest.raises(ConfigError, match="has no cell on the run's area"):
        zarr_months(_source(str(store)), (2016, 2017), far, chunk=8)


def test_zarr_is_for_monthly_precipitation_only() -> None:
    with pytest.raises(ValueError, match="monthly precipitation only"):
        Source(role="population", zarr={"href": "x.zarr"}, assets={"total": {"key": "t", "dtype": "float32"}})
    with pytest.raises(ValueError, match="exactly one of"):
        Source(role="precipitation", zarr={"href": "x.zarr"}, stac={"api": "sample", "collection": "c"},
               crs="EPSG:4326", resolution=RES, assets={"precipitation": {"key": "ppt", "dtype": "float32"}})


def test_a_store_that_stops_answering_mid_read_is_one_line(store: Path) -> None:
    """The server goes away between opening the store and reading its chunks (the fit's read): one line, rerun."""
    from tasks.io.sources.precipitation import computed

    proc, url = start_file_server(store.parent)
    try:
        source = _source(f"{url}/{store.name}")
        read = zarr_months(source, (2016, 2017), _grid(), chunk=8)
    finally:
        stop_process(proc)
    with pytest.raises(TransientReadError, match="stopped answering while its months were read.*then rerun") as err:
        computed(source, read.months)
    assert "\n" not in str(err.value)


def test_a_stac_collections_zarr_asset_is_the_store(full_sample: Path, store: Path, tmp_path: Path) -> None:
    """A collection-level asset (``zarr: {asset: ...}`` with ``stac:``), as TerraClimate's and ERA5's collections
    publish their stores: looked up on the STAC API (served on 127.0.0.1), read over HTTP, the same months as the
    folder; the items name the collection's asset; an asset the collection lacks is one line."""
    import json
    import shutil

    from tasks.io.runtime.local_stac import serve_collections
    from tasks.io.sources.precipitation import resolved_zarr

    root = tmp_path / "stac" / "monthly-ppt"
    root.mkdir(parents=True)
    shutil.copytree(store, root / "ppt.zarr")
    (root / "collection.json").write_text(json.dumps({
        "type": "Collection", "stac_version": "1.0.0", "id": "monthly-ppt", "description": "monthly totals (mm)",
        "license": "other", "links": [],
        "extent": {"spatial": {"bbox": [[110.0, 43.0, 113.0, 45.0]]},
                   "temporal": {"interval": [["1991-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]]}},
        "assets": {"zarr-https": {"href": "ppt.zarr", "type": "application/vnd+zarr", "roles": ["data"],
                                  "xarray:storage_options": {}}}}))
    spec = _source(str(store)).model_dump(exclude_none=True)
    spec.pop("zarr")
    with serve_collections(tmp_path / "stac") as stac:
        source = Source(**{**spec, "stac": {"api": stac.api_url, "collection": "monthly-ppt"},
                           "zarr": {"asset": "zarr-https"}})
        found = resolved_zarr(source, stac.api_url)
        assert found.zarr is not None and found.zarr.href == f"{stac.files_url}/monthly-ppt/ppt.zarr"
        there = zarr_months(found, (2016, 2017), _grid(), chunk=8)
        here = zarr_months(_source(str(store)), (2016, 2017), _grid(), chunk=8)
        xr.testing.assert_equal(here.months.compute(), there.months.compute())
        assert there.items[2017] == ["monthly-ppt/zarr-https#2017"]
        wrong = Source(**{**spec, "stac": {"api": stac.api_url, "collection": "monthly-ppt"},
                          "zarr": {"asset": "zarr-abfs"}})
        with pytest.raises(ConfigError, match="has no asset 'zarr-abfs' \\(it has \\['zarr-https'\\]\\)"):
            resolved_zarr(wrong, stac.api_url)


def test_a_signed_collections_zarr_asset_is_refused_in_one_line() -> None:
    from tasks.io.sources.precipitation import resolved_zarr

    spec = load_sources(SAMPLE_SOURCES).get("monthly-precipitation").model_dump(exclude_none=True)
    source = Source(**{**spec, "stac": {"api": "https://planetarycomputer.microsoft.com/api/stac/v1",
                                        "collection": "terraclimate", "signing": "planetary-computer"},
                       "zarr": {"asset": "zarr-abfs"}})
    with pytest.raises(ConfigError, match="needs signed credentials.*give that store's `zarr.href`"):
        resolved_zarr(source, "http://127.0.0.1:9")  # refused before any request
