"""Configuration as data: STAC sources (catalogs/*.yaml) and run parameters, validated by pydantic.

A source says where a dataset is (a STAC API collection, or a local file), which assets to read,
and how to read them: dtype, scale, nodata, valid range and QA rules. Nothing about a source is
hard-coded elsewhere; ``load_sources`` turns a YAML file into validated models and any mistake
into a one-line ``ConfigError`` that names the file, the field and the fix.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tasks.constants import CATALOGS_DIR, DEFAULT_CHUNK, DEFAULT_OUTPUTS, FSSPEC_DRIVERS, MODIS_TILE_PX
from tasks.errors import ConfigError, validation_message
from tasks.geo.boxes import lonlat_box_problem
from tasks.model import Tile

__all__ = [
    "check_run_file",
    "env_seconds",
    "read_yaml_mapping",
    "MAX_CONFIG_BYTES",
    "DroughtParams",
    "PeopleParams",
    "POPULATION_BANDS",
    "is_density",
    "Period",
    "PeriodCatalog",
    "ProductivityParams",
    "FaoWocatParams",
    "PrecomputedLpd",
    "load_periods",
    "PERIODS_FILE",
    "AssetSpec",
    "StacSpec",
    "ZarrSpec",
    "QaRule",
    "Source",
    "SourceCatalog",
    "BBox",
    "RunConfig",
    "load_sources",
    "load_model",
    "validation_message",
    "SAMPLE_API",
    "PRODUCTION_SOURCES",
    "SAMPLE_SOURCES",
]

SAMPLE_API = "sample"
"""``stac.api`` value meaning: the bundled sample region's STAC API that the run starts on 127.0.0.1."""

PRODUCTION_SOURCES: Path = CATALOGS_DIR / "sources.yaml"
"""The real production sources (Planetary Computer MODIS and ESA CCI, user-supplied SoilGrids)."""

SAMPLE_SOURCES: Path = CATALOGS_DIR / "sample_sources.yaml"
"""The bundled offline sample region, shaped exactly like the production collections."""

PERIODS_FILE: Path = CATALOGS_DIR / "periods.yaml"
"""Default reporting periods: baseline, report_1, report_2."""

DType = Literal["int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"]



def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name``, else ``default``; a bad value is one line."""
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds: set it to e.g. {default:g}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive: set it to e.g. {default:g}")
    return value

POPULATION_BANDS: tuple[str, ...] = ("total", "female", "male")
"""The asset names a population source may have (people per pixel); ``total`` is ``female + male`` when absent."""


def is_density(unit: str) -> bool:
    """True when a declared unit is people per area (``people/km2``, ``persons per sq km``), not a count."""
    text = unit.lower().replace(" ", "")
    return "/" in text or "per" in text or "km2" in text or "km²" in text or "sqkm" in text


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AssetSpec(_Frozen):
    """How to read one asset: its key in the STAC item and how raw values become physical ones."""

    key: str = Field(description="Asset key in the STAC item, e.g. '250m_16_days_NDVI'.")
    dtype: DType = Field(description="Data type of the stored raster.")
    scale: float = Field(1.0, description="physical = raw * scale + offset.")
    offset: float = Field(0.0, description="physical = raw * scale + offset.")
    nodata: float | None = Field(None, description="Fill value of the raw raster, if any.")
    valid_range: tuple[float, float] | None = Field(
        None, description="Inclusive [min, max] of valid raw values; others are treated as nodata."
    )
    out_of_range: Literal["nodata", "corrupt"] = Field(
        "nodata", description="What a raw value outside `valid_range` that is not `nodata` means: missing data, or "
                              "`corrupt`: the product never holds one (MOD13Q1 NDVI), so a scene with one was read "
                              "from damaged bytes and stops the run (no checksum needed to see it).")
    codes: list[int] | None = Field(
        None, min_length=1, description="Every raw value the raster can hold, its fill included (e.g. MOD13Q1's pixel "
                                        "reliability -1..3); any other value was read from damaged bytes and stops "
                                        "the run.")
    unit: str | None = Field(None, description="Unit of the physical value.")

    @field_validator("scale")
    @classmethod
    def _scale_nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale must not be 0; use 1 for unscaled data")
        return v

    @field_validator("valid_range")
    @classmethod
    def _range_ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"valid_range {list(v)} is reversed; write it as [min, max]")
        return v

    @model_validator(mode="after")
    def _corrupt_needs_a_range(self) -> "AssetSpec":
        if self.out_of_range == "corrupt" and self.valid_range is None:
            raise ValueError("out_of_range: corrupt needs a valid_range to be outside of; add valid_range: [min, max]")
        return self


class StacSpec(_Frozen):
    """Where a source lives on a STAC API."""

    api: str = Field(description=f"STAC API root URL, or '{SAMPLE_API}' for the bundled sample region.")
    collection: str = Field(min_length=1, description="Collection id on that API.")
    signing: Literal["none", "planetary-computer"] = Field(
        "none", description="How asset hrefs are signed before reading."
    )
    properties: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Item properties that must match exactly (filtered client-side, e.g. platform: terra).",
    )
    composites_per_year: int | None = Field(
        None, ge=1, le=366, description="Composites a complete year has (23 for MODIS 16-day); checks the newest year.")

    @field_validator("api")
    @classmethod
    def _api_is_url(cls, v: str) -> str:
        if v != SAMPLE_API and not v.startswith(("http://", "https://")):
            raise ValueError(f"api {v!r} is not an http(s) URL; give the STAC API root or '{SAMPLE_API}'")
        return v.rstrip("/")


class ZarrSpec(_Frozen):
    """A collection-level Zarr store of monthly totals, read in place (TerraClimate's ``ppt``, ERA5's monthly sums, a
    national grid written with xarray): one (time, y, x) array, the variable named by the asset's ``key``. The store
    is given by its ``href``, or as the ``asset`` of the source's STAC collection (a collection-level asset)."""

    href: str | None = Field(None, description="The store: a local folder or an fsspec URL (https://, s3://, ...).")
    asset: str | None = Field(
        None, description="Key of the STAC collection's collection-level asset that is the store (with `stac:`); its "
                          "`xarray:storage_options` are used.")
    time: str = Field("time", description="Name of the monthly time coordinate (dates of each month).")
    y: str = Field("lat", description="Name of the latitude (or y) coordinate.")
    x: str = Field("lon", description="Name of the longitude (or x) coordinate; 0-360 longitudes are understood.")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options of the store (e.g. {anon: true} for a public bucket).")

    @field_validator("href")
    @classmethod
    def _href_given(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("zarr.href is empty: give the store's folder or URL")
        return v.strip().rstrip("/") if v is not None else None

    @model_validator(mode="after")
    def _one_place(self) -> ZarrSpec:
        if (self.href is None) == (self.asset is None):
            raise ValueError("give exactly one of zarr.href (the store's folder or URL) or zarr.asset (the key of the "
                             "STAC collection's asset that is the store)")
        return self


class QaRule(_Frozen):
    """Which values of a QA asset mark a usable observation."""

    asset: str = Field(description="Name (in this source's `assets`) of the QA asset.")
    valid_values: list[int] = Field(min_length=1, description="QA values kept; all others are masked.")


class Source(_Frozen):
    """One input dataset: a STAC collection or a local raster file."""

    description: str = ""
    role: Literal["ndvi", "land_cover", "soc", "climate_zones", "land_units", "precipitation", "population",
                  "vulnerability"]
    stac: StacSpec | None = None
    file: Path | None = Field(None, description="A local raster to use instead of a STAC collection.")
    zarr: ZarrSpec | None = Field(None, description="A Zarr store of monthly totals (precipitation sources only).")
    crs: str | None = Field(None, description="Native CRS (WKT or 'EPSG:n') when items do not carry one.")
    resolution: float | None = Field(None, gt=0, description="Native pixel size in CRS units.")
    grid_origin: tuple[float, float] = Field(
        (0.0, 0.0), description="A corner of the native pixel grid (x, y), so analysis grids align with it."
    )
    assets: dict[str, AssetSpec] = Field(min_length=1)
    qa: QaRule | None = None
    years: tuple[int, int] | None = Field(None, description="First and last year the source covers.")
    verify_checksums: bool = Field(
        True, description="Check each asset's STAC `file:checksum` against its bytes before reading it (one extra "
                          "read of every file); false skips the check (the checksums still key the layer cache).")

    @model_validator(mode="after")
    def _consistent(self) -> Source:
        from_collection = self.zarr is not None and self.zarr.asset is not None
        if from_collection and self.stac is None:
            raise ValueError("zarr.asset names an asset of a STAC collection: give the collection as `stac: {api: ..., "
                             "collection: ...}`, or the store's own `zarr.href`")
        if sum(x is not None for x in (self.stac, self.file, self.zarr)) != (2 if from_collection else 1):
            raise ValueError("give exactly one of `stac` (a collection on a STAC API), `file` (a local raster) or, "
                             "for monthly precipitation, `zarr` (a Zarr store: its `href`, or with `stac` the "
                             "collection's `asset`)")
        if self.zarr is not None and self.role != "precipitation":
            raise ValueError(f"`zarr` is read for monthly precipitation only, not for a {self.role} source: publish "
                             "it as COG items or give a `file`")
        if self.qa is not None and self.qa.asset not in self.assets:
            raise ValueError(f"qa.asset {self.qa.asset!r} is not one of the assets {sorted(self.assets)}")
        if self.role == "ndvi":
            if "ndvi" not in self.assets:
                raise ValueError("an ndvi source needs an asset named 'ndvi' under `assets`")
            if self.qa is None:
                raise ValueError("an ndvi source needs a `qa` rule (asset and valid_values)")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years {list(self.years)} is reversed; write [first, last]")
        if self.role == "precipitation":
            if "precipitation" not in self.assets:
                raise ValueError("a precipitation source needs an asset named 'precipitation' (monthly totals, mm)")
            if self.stac is None and self.zarr is None:
                raise ValueError("a precipitation source is a STAC collection of monthly items (one COG per month) "
                                 "or a Zarr store of monthly totals (`zarr: {href: ...}`), not one file")
            if self.crs is None or self.resolution is None:
                raise ValueError("a precipitation source needs `crs` and `resolution`: the SPI is fitted on its own grid")
        if self.role == "population":
            self._population_assets()
        if self.role == "vulnerability" and "vulnerability" not in self.assets:
            raise ValueError("a vulnerability source needs an asset named 'vulnerability' (the index, 0-1)")
        return self

    def _population_assets(self) -> None:
        """A population source counts people per pixel: ``total``, or ``female`` and ``male`` (and maybe ``total``)."""
        names = set(self.assets)
        if not names <= set(POPULATION_BANDS) or not ("total" in names or {"female", "male"} <= names):
            raise ValueError(f"a population source's assets are 'total', or 'female' and 'male' (people per pixel), "
                             f"not {sorted(names)}")
        for key, spec in self.assets.items():
            if spec.unit is not None and is_density(spec.unit):
                raise ValueError(f"population asset {key!r} is in {spec.unit!r}, a density: the tables need people "
                                 "per pixel (a count); use the source's count product (e.g. WorldPop's '_UNadj' "
                                 "counts, GPW's 'population count')")


class SourceCatalog(_Frozen):
    """A file of named sources."""

    sources: dict[str, Source] = Field(min_length=1)

    def get(self, name: str) -> Source:
        """Return the source called ``name``; a missing name lists the ones that exist."""
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(
                f"no source named {name!r}; the file defines {sorted(self.sources)}: pick one of them"
            ) from None


ModelT = TypeVar("ModelT", bound=BaseModel)


MAX_CONFIG_BYTES = 10_000_000
"""The largest configuration file read (10 MB): a run, sources, periods, legend, SOC model or targets file is a few
kB; anything far larger is a wrong path (a raster, a dump), refused before a byte of it is read."""


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping a YAML file holds; a missing or unreadable file, one above ``MAX_CONFIG_BYTES``, bad YAML or
    another top-level type is a one-line ``ConfigError`` naming ``what`` (e.g. "sources file") and the fix."""
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else 0
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{what} {path} is {size / 1e6:,.0f} MB, not a configuration file (at most "
                              f"{MAX_CONFIG_BYTES // 1_000_000} MB): check the path")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist: pass an existing YAML file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder: pass a YAML file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {err.start}): save it as UTF-8 YAML") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path} is not valid YAML{at}: fix the syntax") from None
    except OSError as err:  # no permission, an unreadable device: after the cases above, which are OSErrors too
        raise ConfigError(f"{what} {path} cannot be read ({err.strerror or err}): check the path and its "
                          "permissions") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {path} must be a YAML mapping, not {type(raw).__name__}")
    return raw


def load_model(model: type[ModelT], path: str | Path, what: str) -> ModelT:
    """Read a YAML file into ``model``; a missing file, bad YAML or invalid value is a one-line ``ConfigError``."""
    raw = read_yaml_mapping(path, what)
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(validation_message(err, str(path))) from None


def load_sources(path: str | Path) -> SourceCatalog:
    """Read and validate a sources YAML file; every problem becomes a one-line ``ConfigError``."""
    return load_model(SourceCatalog, path, "sources file")


YearSpan = tuple[int, int]


class Period(_Frozen):
    """One reporting period's windows (inclusive years)."""

    productivity: YearSpan = Field(description="Trajectory and performance window.")
    state_baseline: YearSpan = Field(description="State: baseline years.")
    state_target: YearSpan = Field(description="State: recent years compared with the baseline.")
    land_cover: YearSpan = Field(description="Land cover and SOC change: initial and final year.")

    @model_validator(mode="after")
    def _windows(self) -> Period:
        p0, p1 = self.productivity
        for name in ("productivity", "state_baseline", "state_target", "land_cover"):
            a, b = getattr(self, name)
            if a > b:
                raise ValueError(f"{name} {a}-{b} is reversed: write [first, last]")
        if p1 - p0 + 1 < 4:
            raise ValueError(f"productivity {p0}-{p1} has {p1 - p0 + 1} years; the trajectory needs at least 4")
        (b0, b1), (t0, t1) = self.state_baseline, self.state_target
        if not (p0 <= b0 and t1 <= p1):
            raise ValueError(f"state windows {b0}-{b1} -> {t0}-{t1} must lie inside productivity {p0}-{p1}")
        if b1 >= t0:
            raise ValueError(f"state target {t0}-{t1} must start after the state baseline {b0}-{b1}")
        return self


class PeriodCatalog(_Frozen):
    """Named reporting periods."""

    periods: dict[str, Period] = Field(min_length=1)


def load_periods(path: str | Path = PERIODS_FILE) -> PeriodCatalog:
    """Read and validate a periods YAML file; problems become a one-line ``ConfigError``."""
    return load_model(PeriodCatalog, path, "periods file")


class PrecomputedLpd(_Frozen):
    """A precomputed LPD raster (JRC, FAO-WOCAT, custom) used instead of the computed one."""

    name: str = Field(description="What the layer is, recorded in metadata, e.g. 'JRC LPD 2000-2015'.")
    path: Path = Field(description="Raster file (any CRS; reprojected onto the analysis grid by nearest neighbour).")
    legend: dict[int, int] = Field(min_length=1, description="Layer value -> LPD class 1..5.")
    nodata: float | None = Field(None, description="The layer's nodata value, if its file does not declare one.")
    periods: list[str] | None = Field(None, description="Periods it replaces; default: all.")

    @field_validator("legend")
    @classmethod
    def _lpd_codes(cls, v: dict[int, int]) -> dict[int, int]:
        bad = sorted({c for c in v.values() if c not in (1, 2, 3, 4, 5)})
        if bad:
            raise ValueError(f"legend maps to {bad}; LPD classes are 1..5")
        return v


class FaoWocatParams(_Frozen):
    """Parameters of the FAO-WOCAT LPD (method notes 2.6), recorded in the LPD item's metadata."""

    interval: int = Field(3, ge=1, le=10, description="Years averaged at the start and the end of the window.")
    biomass_thresholds: tuple[float, float] = Field(
        (0.4, 0.7), description="Initial biomass: NDVI <= first is low, <= second medium, above high.")
    desert_max_ndvi: float = Field(
        0.25, ge=-1, le=1, description="Desert mask: LPD 4 where the window's largest valid composite is <= this.")
    use_mtid: bool = Field(True, description="Steadiness from the trend class and MTID (else the trend and the sign of S).")

    @field_validator("biomass_thresholds")
    @classmethod
    def _rising(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not -1 <= v[0] < v[1] <= 1:
            raise ValueError(f"biomass_thresholds {list(v)} must rise within [-1, 1], e.g. [0.4, 0.7]")
        return v


def _check_bbox(v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:

    if (problem := lonlat_box_problem(*v)) is not None:
        raise ValueError(problem)
    return v  # west > east: the box crosses the antimeridian (searched as two boxes)


BBox = Annotated[tuple[float, float, float, float], AfterValidator(_check_bbox)]
"""(west, south, east, north) in degrees, WGS84; west > east crosses the antimeridian."""


class ProductivityParams(_Frozen):
    """Parameters of the productivity sub-indicator (method notes section 2)."""

    method: Literal["trends_earth", "fao_wocat"] = Field(
        "trends_earth", description="LPD from trajectory, state and performance (Trends.Earth's table), or FAO-WOCAT's.")
    fao_wocat: FaoWocatParams = Field(default_factory=FaoWocatParams, description="FAO-WOCAT parameters.")
    trajectory_method: Literal["trends_earth", "gpg_v2"] = "trends_earth"
    state_method: Literal["trends_earth", "gpg_v2"] = "trends_earth"
    min_years: int = Field(10, ge=3, description="Fewest valid years in the trajectory window.")
    min_state_baseline: int = Field(3, ge=2, description="Fewest valid years in the state baseline.")
    percentile: float = Field(90.0, gt=0, le=100, description="Performance: percentile of the unit's NDVI.")
    min_unit_pixels: int = Field(100, ge=1, description="Performance: smaller units fall back to land cover only.")
    ratio_threshold: float = Field(0.5, gt=0, lt=1, description="Performance: degraded where ratio <= this.")
    land_unit_source: str | None = Field(
        None, description="Source (role land_units: soil taxonomy or ecoregions) crossed with land cover for units."
    )
    comparison_bbox: BBox | None = Field(
        None, description="Performance percentiles from pixels in this lon/lat box only (west, south, east, north; "
        "west > east only for a run across 180 degrees); default: the whole run."
    )
    precomputed_lpd: PrecomputedLpd | None = Field(None, description="Use this LPD layer instead of computing one.")


class DroughtParams(_Frozen):
    """SO3-1 drought hazard (UNCCD method notes section 2): the SPI's calibration period and the class rule."""

    calibration: tuple[int, int] = Field(
        (1991, 2020), description="First and last year of the gamma fit (default: the WMO normal 1991-2020).")
    class_rule: Literal["trends_earth", "gpg"] = Field(
        "trends_earth", description="Where an exact class boundary (-1000, -1500, -2000) goes: Trends.Earth's milder "
                                    "class (default) or the GPG/McKee table's more severe one.")
    worst_year: Literal["every_year", "trends_earth"] = Field(
        "every_year", description="A period's worst year over every year (the method notes), or `trends_earth`: "
                                  "Trends.Earth's parity mode (4-year blocks using their first 3 years, a nodata year "
                                  "wins), to compare with its tables side by side.")

    @field_validator("calibration")
    @classmethod
    def _calibration_span(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"calibration {v[0]}-{v[1]} is reversed; write first-last, e.g. 1991-2020")
        if v[1] - v[0] < 9:
            raise ValueError(f"calibration {v[0]}-{v[1]} has {v[1] - v[0] + 1} years: a gamma fit per calendar month "
                             "needs at least 10 (30 is the WMO normal)")
        return v


class PeopleParams(_Frozen):
    """SO3-2, SO3-3 and SO2-3 (UNCCD method notes sections 3-5): how people and the vulnerability index are summed."""

    rule: Literal["exact", "trends_earth"] = Field(
        "exact", description="`exact` (the method notes): people summed in float64 from the sum-preserving "
                             "population, whole persons at the end, vulnerability means weighted by area and by "
                             "people; `trends_earth`: Trends.Earth's parity mode (method notes 7.4-7.5: people "
                             "rounded per pixel before summing, int16 for SO2-3; the vulnerability mean unweighted "
                             "and 10x), to compare with its tables side by side.")


class RunConfig(_Frozen):
    """Parameters of one run, as the user wrote them, validated; everything the flow needs, nothing it has to guess.

    Data only: what the run derives from it (the sources read from ``sources_file``, the grid, the tiles, the
    region, the periods) is resolved once per run by ``tasks.io.sources.run.run_context``.
    """

    sources_file: Path = Field(SAMPLE_SOURCES, description="YAML file of sources.")
    ndvi_source: str = Field("modis-13q1", description="Name of the NDVI source in `sources_file`.")
    stac_api: str | None = Field(
        None, description="Resolved STAC API URL; replaces the source's `api` (set for the sample region)."
    )
    bbox: BBox | None = Field(None, description="Area of interest (west, south, east, north), degrees.")
    native_bounds: tuple[float, float, float, float] | None = Field(
        None, description="Area of interest as (left, bottom, right, top) in the NDVI source's own CRS; with "
        "`bbox` too, the grid is these bounds and `bbox` is the lon/lat area searched.")
    tile_size: int = Field(MODIS_TILE_PX, ge=16, le=20000,
                           description="Edge of the processing tiles in pixels (4800: the MODIS h/v tiles).")
    tiles: tuple[Tile, ...] | None = Field(
        None, description="The tiles to compute (name, native bounds); default: every lattice cell over the grid.")
    region_id: str = Field(
        "sample-zamyn-uud", pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Short id of the area, used in item ids (`--region-id`)."
    )
    region: str | None = Field(
        None, description="The region whose polygons the run keeps to (a `--region` value: NE-ASIA, a country code, "
        "a bbox or a polygon file); pixels outside them are nodata. None: the whole grid.")
    years: tuple[int, int] = Field((2001, 2024), description="First and last calendar year, inclusive.")
    min_valid_composites: int = Field(
        6, ge=1, le=23, description="A pixel-year with fewer valid 16-day composites is nodata."
    )
    out_dir: Path = Field(DEFAULT_OUTPUTS / "catalog", description="Root of the published static catalog.")
    publish_url: str | None = Field(
        None, description="Object storage each version is also published to, switched atomically (an fsspec URL: "
        "s3://bucket/prefix; `--out s3://...`); `out_dir` then holds the run's staging, cache and local copies.")
    chunk: int = Field(DEFAULT_CHUNK, ge=64, le=8192, description="Spatial Dask chunk edge in pixels.")
    land_cover_source: str = Field("esa-cci-lc", description="Name of the land cover source (performance units).")
    periods_file: Path = Field(PERIODS_FILE, description="YAML file of reporting periods.")
    periods: tuple[str, ...] | None = Field(None, description="Periods to compute; default: all that fit `years`.")
    productivity: ProductivityParams = Field(default_factory=ProductivityParams)
    soc_source: str = Field("soilgrids-soc", description="Name of the SOC stock source (year-2000 stock).")
    climate_source: str | None = Field(
        "ipcc-climate-zones", description="Name of the IPCC climate-zone source; None to use `soc_single_f`."
    )
    soc_single_f: float | None = Field(None, gt=0, le=1, description="One SOC change factor f for the whole run.")
    land_cover_legend: Path | None = Field(None, description="Land cover legend YAML; default catalogs/land_cover.yaml.")
    soc_model: Path | None = Field(None, description="SOC model YAML; default catalogs/soc.yaml.")
    cache_dir: Path | None = Field(
        None, description="Layer cache (default `<out_dir>/.cache`); unchanged inputs are not recomputed.")
    cache_url: str | None = Field(
        None, description="Object storage behind the local cache, shared by machines and runs: an fsspec URL "
        "such as s3://bucket/ldn-cache (credentials and endpoint from the usual environment, e.g. AWS_*).")
    use_cache: bool = Field(True, description="Reuse cached layers whose inputs and parameters are unchanged.")
    zones: Path | None = Field(
        None, description="Zone polygons (GeoPackage/GeoJSON) for the zonal tables; default: North-East Asia countries.")
    zone_field: str | None = Field(None, description="Field of `zones` that names each zone; default `name`.")
    ldn_targets: Path | None = Field(
        None, description="National LDN targets YAML tracked in the report; default catalogs/ldn_targets.yaml.")
    activities: str | None = Field(
        None, description="Activity registry set beside the indicators in the report: a GeoPackage, a GeoJSON or CSV "
        "file, or a postgresql:// DSN; default: the fictitious sample registry on the bundled sample sources, "
        "else none.")
    activity_ring_km: float = Field(5.0, gt=0, le=100, description="Width of the ring around each activity (km).")
    activity_point_km: float = Field(1.0, gt=0, le=50, description="Radius of the disc an activity's point stands for (km).")
    recode_polygons: Path | None = Field(
        None, description="GeoPackage/GeoJSON of expert recode polygons applied to SDG 15.3.1 after computation."
    )
    ldn_balance_land_types: str | None = Field(
        None, description="Source (role land_units) whose integer codes are the LDN balance's land types, instead of "
        "the baseline's initial land cover (crossed with the performance land units when configured).")

    exclude_scenes: tuple[str, ...] = Field(
        (), description="STAC item ids left out of the run, whatever source they belong to: a damaged scene the "
        "provider has not repaired yet (the run stops naming it). Each is listed in the run's log and in the "
        "metadata of the annual layers of its year (`excluded_scenes`).")
    precipitation_source: str | None = Field(
        None, description="Source (role precipitation: monthly totals) of the SO3-1 drought layers; default: the "
        "sources file's precipitation source when it has exactly one, else no drought layers (the run says so); "
        "`none` turns them off.")
    drought: DroughtParams = Field(default_factory=DroughtParams)
    people: PeopleParams = Field(default_factory=PeopleParams)
    population_source: str | None = Field(
        None, description="Source (role population: people per pixel, by sex or total) of the SO3-2 exposure and "
        "SO2-3 tables; default: the sources file's population source when it has exactly one; `none` turns them off.")
    vulnerability_source: str | None = Field(
        None, description="Source (role vulnerability: an index 0-1) of the SO3-3 means; default: the sources file's "
        "vulnerability source when it has exactly one; `none` turns them off.")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "area" in data:
            raise ValueError("`area` is now `region` (the polygons the run keeps to, as --region) and the layer id "
                             "`region` is now `region_id` (as --region-id): rename both in the run file")
        return data

    @model_validator(mode="after")
    def _one_area(self) -> RunConfig:
        if self.bbox is None and self.native_bounds is None:
            raise ValueError("give `bbox` (lon/lat) or `native_bounds` (source CRS)")
        if self.native_bounds is not None:
            left, bottom, right, top = self.native_bounds
            if not (right > left and top > bottom):
                raise ValueError(f"native_bounds {list(self.native_bounds)} are empty: need left < right, bottom < top")
        return self

    @field_validator("cache_url", "publish_url")
    @classmethod
    def _store_url_scheme(cls, v: str | None, info: Any) -> str | None:
        if v is None:
            return v
        import fsspec

        name = info.field_name
        scheme, sep, rest = v.partition("://")
        if not sep or not scheme or not rest.strip("/"):
            raise ValueError(f"{name} {v!r} is not a URL: write e.g. s3://bucket/ldn-"
                             f"{'cache (a folder goes in cache_dir)' if name == 'cache_url' else 'layers'}")
        try:
            fsspec.get_filesystem_class(scheme)
        except ValueError:
            raise ValueError(f"{name} scheme {scheme}:// is unknown to fsspec: use s3://, gs://, az://, ...") from None
        except ImportError:
            raise ValueError(f"{name} {scheme}:// needs its fsspec driver: pip install "
                             f"{FSSPEC_DRIVERS.get(scheme, 'the driver')}") from None
        return v.rstrip("/")

    @field_validator("out_dir", "cache_dir")
    @classmethod
    def _a_folder(cls, v: Path | None, info: Any) -> Path | None:
        """The catalog and the cache are folders: a path that is (or lies under) a file fails here, in one line."""
        if v is None:
            return v
        for part in (Path(v), *Path(v).parents):
            if part.exists():
                if not part.is_dir():
                    flag = "--out" if info.field_name == "out_dir" else "--cache-dir"
                    raise ConfigError(f"{flag} {v} {'is' if part == Path(v) else 'lies under'} a file "
                                      f"({part}), not a folder: pass a folder (it is created when missing)")
                break
        return v

    @field_validator("years")
    @classmethod
    def _years_ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        first, last = v
        if first > last:
            raise ValueError(f"years {first}-{last} are reversed; write first-last, e.g. 2001-2024")
        if first < 2000 or last > 2100:
            raise ValueError(f"years {first}-{last} are outside 2000-2100; MODIS starts in 2000")
        return v

    def api_url(self, source: Source) -> str:
        """The STAC API to search for ``source``: the override when set, else the source's own."""
        assert source.stac is not None
        url = self.stac_api or source.stac.api
        if url == SAMPLE_API:
            raise ConfigError(
                f"source {self.ndvi_source!r} points at the bundled sample API, which only `ldn run` without "
                "--sources starts: run `ldn run`, or give the API with --stac-api"
            )
        return url


def check_run_file(path: str | Path) -> dict[str, Any]:
    """A run file's settings (``--config``) checked on their own, before a run resolves anything: every setting
    against ``RunConfig`` (an unknown one, a typo, a wrong type or value, a nested block's setting), with the same
    one-line message the full check gives later; the area the run takes from its options stands in where the file
    names none. Returns the settings."""
    values = read_yaml_mapping(path, "run config")
    area = {} if {"bbox", "native_bounds"} & set(values) else {"bbox": (0.0, 0.0, 1.0, 1.0)}
    try:
        RunConfig(**{**area, **values})
    except ValidationError as err:
        raise ConfigError(validation_message(err, str(path))) from None
    return values
