"""The options of one refresh (``RefreshRun``), light to import: ``ldn run`` validates them, and answers a typo in
about a second, before the run's stack (Prefect, Dask, the readers) is imported. ``flows.options`` builds the checked
run from them. (No ``from __future__ import annotations`` here, as in flows/refresh.py: Prefect builds the flow's
parameter schema from ``RefreshRun``'s annotations.)
"""
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, model_validator

from tasks.constants import DEFAULT_OUTPUTS

__all__ = ["RefreshRun", "DEFAULT_SAMPLE_DIR", "RUN_CONFIG_FIELDS", "store_mirror"]


DEFAULT_SAMPLE_DIR: Path = DEFAULT_OUTPUTS / "sample-data"
"""Where `ldn run` generates the bundled sample region."""


def store_mirror(url: str) -> Path:
    """The local folder of a run that publishes to object storage (``--out s3://bucket/prefix``): its staging, its
    layer cache (unless ``--cache-dir``) and the local copy of each version it published, one folder per store
    (``outputs/stores/s3/bucket/prefix``), so the next run to the same store finds its cache."""
    scheme, _, rest = url.partition("://")
    parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
    return DEFAULT_OUTPUTS / "stores" / scheme / Path(*parts) if parts else DEFAULT_OUTPUTS / "stores" / scheme


class RefreshRun(BaseModel):
    """Every option of one refresh; all optional: the default is the bundled offline sample region.

    A field named like one of ``RunConfig``'s means the same and is copied into it as given (``RUN_CONFIG_FIELDS``);
    the others say how to find the run's area and inputs (``region``, ``bbox``, ``sample_dir``, ``config``), where
    else to publish (``pgstac``) or set a nested setting (the three methods). The earlier names (``sources``,
    ``source``, ``out``, ``min_valid``) are still read, so a deployment saved with them keeps running.
    """

    model_config = {"extra": "forbid"}

    @model_validator(mode="before")
    @classmethod
    def _out_url(cls, values: Any) -> Any:
        """``out`` given as a URL (``--out s3://bucket/prefix``) is where to publish; the run works in its local
        folder (``store_mirror``)."""
        if not isinstance(values, dict):
            return values
        for key in ("out_dir", "out"):
            value = values.get(key)
            if isinstance(value, str) and "://" in value and not value.startswith("file://"):
                values = {**values, key: store_mirror(value), "publish_url": value.rstrip("/")}
        return values

    sources_file: Path | None = Field(None, validation_alias=AliasChoices("sources_file", "sources"),
                                      description="Sources YAML; None: the bundled sample region (offline).")
    ndvi_source: str | None = Field(None, validation_alias=AliasChoices("ndvi_source", "source"),
                                    description="NDVI source name in the sources file (default modis-13q1).")
    stac_api: str | None = Field(None, description="STAC API URL overriding the source's `api`.")
    region: str | None = Field(
        None, description="Area: NE-ASIA (default with --sources), a country code (CHN, MNG, PRK, KOR, JPN, RUS), "
        "a bbox west,south,east,north or a polygon file; with the sample, only its tiles in this area are computed.")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="west, south, east, north (degrees); the same as region='w,s,e,n'.")
    region_id: str | None = Field(None, description="Short id of the area, used in layer ids (default from the region).")
    tile_size: int | None = Field(None, description="Tile edge in pixels (default 4800: the MODIS h/v tiles).")
    years: tuple[int, int] | None = Field(
        None, description="First and last year; default 2001 to last year (the sample: 2001-2024).")
    out_dir: Path = Field(DEFAULT_OUTPUTS / "catalog", validation_alias=AliasChoices("out_dir", "out"),
                          description="Root of the published catalog (a folder; a URL such as s3://bucket/prefix "
                                      "publishes there: `publish_url`).")
    publish_url: str | None = Field(
        None, description="Object storage the versions are published to (an fsspec URL: s3://bucket/prefix); "
                          "`out_dir` is then the run's local folder (``store_mirror``).")
    sample_dir: Path = Field(DEFAULT_SAMPLE_DIR, description="Sample region folder (used as is when complete).")
    min_valid_composites: int | None = Field(None, validation_alias=AliasChoices("min_valid_composites", "min_valid"),
                                             description="Fewest valid composites for a pixel-year (default 6).")
    periods: tuple[str, ...] | None = Field(None, description="Periods to compute (default: all that fit the years).")
    trajectory_method: str | None = None
    state_method: str | None = None
    productivity_method: str | None = Field(None, description="trends_earth (default) or fao_wocat (method notes 2.6).")
    precipitation_source: str | None = Field(
        None, description="Monthly precipitation source of the drought layers (SO3-1), or `none`; default: the "
                          "sources file's only precipitation source, if it has one.")
    population_source: str | None = Field(
        None, description="Population source (people per pixel) of the exposure and SO2-3 tables, or `none`; default: "
                          "the sources file's only population source, if it has one.")
    vulnerability_source: str | None = Field(
        None, description="Drought vulnerability source (index 0-1) of the SO3-3 means, or `none`; default: the "
                          "sources file's only vulnerability source, if it has one.")
    exclude_scenes: tuple[str, ...] | None = Field(
        None, description="STAC item ids to leave out of the run (a damaged scene the provider has not repaired yet).")
    spi_calibration: tuple[int, int] | None = Field(
        None, description="First and last year of the SPI's gamma fit (default 1991-2020).")
    config: Path | None = Field(None, description="YAML of run settings (any RunConfig field).")
    zones: Path | None = Field(None, description="Zone polygons for the tables; default North-East Asia countries.")
    zone_field: str | None = None
    pgstac: str | None = Field(None, description="Also load the new version into this pgstac database.")
    cache_dir: Path | None = Field(None, description="Layer cache folder (default <out>/.cache).")
    cache_url: str | None = Field(None, description="Object storage behind the layer cache (e.g. s3://bucket/ldn-cache).")
    use_cache: bool = Field(True, description="Reuse every cached layer (annual NDVI, productivity, land cover, SOC, "
                           "SDG 15.3.1, status, the report) whose inputs and settings are unchanged; false "
                           "recomputes all.")


RUN_CONFIG_FIELDS = ("ndvi_source", "stac_api", "region_id", "tile_size", "years", "out_dir", "min_valid_composites",
                     "periods", "zones", "zone_field", "cache_dir", "cache_url", "precipitation_source",
                     "population_source", "vulnerability_source", "exclude_scenes", "publish_url")
"""The options that are ``RunConfig`` fields of the same name and meaning, copied into it when given (after the run
file's settings). ``sources_file`` and ``use_cache`` are too, read with the sample's defaults and a negation."""
