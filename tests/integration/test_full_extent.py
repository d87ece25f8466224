"""The main job at its real extent: all of North-East Asia, coarse, through `ldn run`, in a few minutes.

The 60 km sample never shows what only the real extent shows. Here `ldn sample-data --region NE-ASIA` writes
MOD13Q1-shaped composites for all 36 MODIS tiles of the default region at every 16th pixel (300 x 300 px
tiles, the real tile lattice and names, rim tiles filled off the map), land cover and SOC on both sides of 180
degrees, and `ldn run --sample-dir` runs them through the real flow with the real region and country zones.
It is the test that would have caught the region failing on 30 of its 36 tiles, and the zone tables failing
on a zone cut into a polygon and a line; it checks every tile, every period, the six countries adding up to
the region, the planted changes (one straddling the 180th meridian) and the report.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from flows.cli import app
from tasks.io.samples.rehearsal import KM_PER_DEG, REHEARSAL_PATCHES, RehearsalPatch
from tests.helpers import catalog_items, read_asset

pytestmark = pytest.mark.integration

R = 6371007.181
PERIODS = ("baseline", "report_1", "report_2")
COUNTRIES = ("China", "Mongolia", "DPR Korea", "Republic of Korea", "Japan", "Russian Far East")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The coarse North-East Asia generated and run once: (inputs, catalog root, what `ldn run` printed)."""
    inputs = tmp_path_factory.mktemp("rehearsal") / "ne-asia"
    made = CliRunner().invoke(app, ["sample-data", "--region", "NE-ASIA", "--out", str(inputs)])
    assert made.exit_code == 0, made.output
    assert f"run them with: ldn run --sample-dir {inputs}" in made.stdout
    out = inputs.parent / "catalog"
    ldn = str(Path(sys.executable).with_name("ldn"))
    done = subprocess.run([ldn, "run", "--sample-dir", str(inputs), "--out", str(out)], capture_output=True,
                          text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    return inputs, out, done.stdout


def _lonlat(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A published layer's values and the lon (continued east past 180 degrees) and lat of each pixel centre."""
    with rasterio.open(path) as src:
        values, t = src.read(1), src.transform
    cols, rows = np.meshgrid(np.arange(values.shape[1]) + 0.5, np.arange(values.shape[0]) + 0.5)
    x, y = t.c + cols * t.a, t.f + rows * t.e
    lat = np.degrees(y / R)
    lon = np.degrees(x / (R * np.cos(y / R)))  # the sinusoidal inverse, without wrapping at 180
    return values, lon, lat


def test_every_tile_every_period_published(rehearsal: tuple[Path, Path, str]) -> None:
    inputs, out, stdout = rehearsal
    region = json.loads((inputs / "region.json").read_text())
    assert len(region["tiles"]) == 36
    assert "36 tiles" in stdout and "published 132 layers" in stdout
    items = catalog_items(out)
    # 2 status, 2 LDN balance, drought (25 years, 3 periods), people (25 years, 3 worst years, 3 SO2-3)
    assert len(items) == 2 * 24 + 7 * len(PERIODS) + 2 + 2 + 25 + 3 + 25 + 3 + 3
    for year in (2001, 2012, 2024):
        assert sorted(items[f"ndvi-annual-rehearsal-ne-asia-{year}"].properties["ldn:tiles"]) == sorted(region["tiles"])
    for period in PERIODS:
        for layer in ("trajectory", "state", "performance", "lpd", "land-cover", "soc", "sdg-15-3-1"):
            assert f"{layer}-rehearsal-ne-asia-{period}" in items
    assert {"status-rehearsal-ne-asia-report_1", "status-rehearsal-ne-asia-report_2"} <= set(items)
    assert {"ldn-balance-rehearsal-ne-asia-report_1", "ldn-balance-rehearsal-ne-asia-report_2"} <= set(items)


@pytest.mark.parametrize("period", PERIODS)
def test_six_countries_add_up_to_the_region(rehearsal: tuple[Path, Path, str], period: str) -> None:
    _, out, _ = rehearsal
    sdg = catalog_items(out)[f"sdg-15-3-1-rehearsal-ne-asia-{period}"]
    summary = pd.read_csv(sdg.assets["summary"].get_absolute_href())
    land = float(summary.loc[summary.indicator == "sdg_15_3_1", "land_km2"].iloc[0])
    zones = pd.read_csv(sdg.assets["sdg_15_3_1_csv"].get_absolute_href())
    assert set(zones["zone"]) >= set(COUNTRIES)
    by_zone = zones.groupby("zone")["land_km2"].first() if "land_km2" in zones else None
    assert by_zone is not None
    # North-East Asia is about 18.8 M km2 of land; the zones are cut to the region by exact pixel coverage, the
    # region by pixel centres, so the two agree to the pixels on the border (well under 0.1 %)
    assert 18.0e6 < land < 19.5e6
    assert by_zone[list(COUNTRIES)].sum() == pytest.approx(land, rel=1e-3)
    assert by_zone["China"] > by_zone["Russian Far East"] > by_zone["Mongolia"] > by_zone["Japan"] > by_zone["DPR Korea"]


def test_planted_changes_come_out_across_the_continent_and_across_180_degrees(rehearsal: tuple[Path, Path, str]) -> None:
    _, out, _ = rehearsal
    items = catalog_items(out)
    lpd, lon, lat = _lonlat(items["lpd-rehearsal-ne-asia-report_2"].assets["data"].get_absolute_href())
    expected = {"decline": (1, 2), "greening": (5,), "abrupt_loss": (1, 2), "stable": (3, 4)}
    least = {"decline": 0.9, "greening": 0.9, "abrupt_loss": 0.75, "stable": 0.9}  # as the sample's planted truth
    for patch in REHEARSAL_PATCHES:
        core = patch.mask(lon, lat) & ~_rim(patch, lon, lat) & (lpd != -32768)
        assert core.sum() > 500, patch.name
        share = float(np.isin(lpd[core], expected[patch.kind]).mean())
        assert share >= least[patch.kind], f"{patch.name}: {share:.2f} of its pixels in LPD {expected[patch.kind]}"
    # the Chukotka loss straddles the meridian: found on both sides of it, in one seamless layer
    chukotka = next(p for p in REHEARSAL_PATCHES if p.kind == "abrupt_loss")
    inside = chukotka.mask(lon, lat) & (lpd != -32768)
    east_of_180 = inside & (lon > 180.2)
    west_of_180 = inside & (lon < 179.8)
    assert east_of_180.sum() > 200 and west_of_180.sum() > 200
    assert np.isin(lpd[east_of_180], (1, 2)).mean() > 0.75 and np.isin(lpd[west_of_180], (1, 2)).mean() > 0.75
    # nothing is published outside the region: the Sea of Okhotsk, inside the grid's rectangle, is nodata
    okhotsk = (lon > 145) & (lon < 150) & (lat > 50) & (lat < 55)
    assert okhotsk.sum() > 100 and (lpd[okhotsk] == -32768).all()


def test_report_and_maps_of_the_continent(rehearsal: tuple[Path, Path, str]) -> None:
    _, out, stdout = rehearsal
    sdg = catalog_items(out)["sdg-15-3-1-rehearsal-ne-asia-report_2"]
    html = Path(sdg.assets["report"].get_absolute_href()).read_text()
    for country in COUNTRIES:
        assert country in html and country in stdout
    for item in catalog_items(out).values():
        with Image.open(item.assets["quicklook"].get_absolute_href()) as png:
            assert png.width >= 400 and png.height >= 200, item.id
    values = read_asset(sdg)
    assert ((values >= -1) & (values <= 1)).sum() > 0.25 * values.size  # the continent, not an empty frame


def _rim(patch: RehearsalPatch, lon: np.ndarray, lat: np.ndarray, km: float = 12.0) -> np.ndarray:
    """Pixels within a few coarse pixels of a planted disc's rim, where a pixel is part in, part out."""
    dx = (lon - patch.lon) * KM_PER_DEG * np.cos(np.radians(lat))
    dy = (lat - patch.lat) * KM_PER_DEG
    return np.abs(np.hypot(dx, dy) - patch.radius_km) < km


def test_the_planted_gobi_drought_and_the_drought_tables_of_the_continent(rehearsal: tuple[Path, Path, str]) -> None:
    """SO3-1 at the real extent: the 2017 drought planted over the Gobi comes out severe or extreme there, the
    precipitation grid spans every longitude (Chukotka), no cell wholly outside the region has a value, and the
    six countries' land under drought adds up to the region's land of the SDG tables."""
    inputs, out, _ = rehearsal
    planted = json.loads((inputs / "truth.json").read_text())["precipitation"]["drought"]
    items = catalog_items(out)
    item = items["drought-rehearsal-ne-asia-2017"]
    classes = read_asset(item)
    with rasterio.open(item.assets["data"].get_absolute_href()) as src:
        transform, width = src.transform, src.width
    assert transform.a * width == pytest.approx(360.0), "every longitude: the region crosses 180 degrees"
    rows, cols = np.mgrid[0:classes.shape[0], 0:classes.shape[1]]
    lon, lat = transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e
    centre_lon, centre_lat = planted["centre"]
    km = np.hypot((lon - centre_lon) * np.cos(np.radians(centre_lat)) * KM_PER_DEG, (lat - centre_lat) * KM_PER_DEG)
    core = (km < planted["radius_km"] * 0.8) & (classes != -32768)
    assert core.sum() > 100 and np.isin(classes[core], (3, 4)).mean() > 0.95
    assert (classes != -32768).mean() < 0.5, "cells wholly outside the region (sea, Kazakhstan, Alaska) are nodata"
    table = pd.read_csv(item.assets["areas"].get_absolute_href())
    countries = table[table.zone_id != "all"]
    assert set(countries.zone) == set(COUNTRIES)
    everything = table[table.zone_id == "all"].iloc[0]
    assert countries.land_km2.sum() == pytest.approx(everything.land_km2, rel=1e-9)
    sdg = pd.read_csv(items["sdg-15-3-1-rehearsal-ne-asia-report_2"].assets["sdg_15_3_1_csv"].get_absolute_href())
    land = sdg[sdg.indicator == "sdg_15_3_1"].land_km2.sum()
    assert everything.land_km2 == pytest.approx(land, rel=1e-6), "the same land as the SDG tables (report_2's water)"
    assert everything.severe_land_km2 + everything.extreme_land_km2 > 1e5


def test_people_under_the_gobi_drought_and_on_degraded_land_of_the_continent(rehearsal: tuple[Path, Path, str]) -> None:
    """SO3-2 and SO2-3 at the real extent: the Gobi drought of 2017 covers half of Mongolia's people (Ulaanbaatar
    lies inside it, the northern herders do not) and none of Japan's, a year reads the five-yearly population's
    nearest year, the population covers every zone (Chukotka east of 180 included), and the six countries' people
    add up to the region's."""
    _, out, _ = rehearsal
    items = catalog_items(out)
    item = items["drought-exposure-rehearsal-ne-asia-2017"]
    assert item.properties["ldn:parameters"]["population_year"] == 2015
    table = pd.read_csv(item.assets["people"].get_absolute_href()).set_index("zone")
    assert set(table.index) == {*COUNTRIES, "all zones"}
    share = (table.severe_total + table.extreme_total) / table.total_population
    assert share["Mongolia"] > 0.4 and share["Mongolia"] > 5 * share["China"] and share["Japan"] < 0.05, share
    assert (table.uncovered_km2 == 0).all(), "the population covers every zone, Chukotka east of 180 included"
    assert abs(table.drop(index="all zones").total_population.sum() - table.loc["all zones"].total_population) <= 6
    for period in PERIODS:
        people = pd.read_csv(items[f"sdg-population-rehearsal-ne-asia-{period}"].assets["people"].get_absolute_href())
        everyone = people[people.zone_id == "all"].iloc[0]
        assert everyone.total_population > 1e8, "Tokyo, Shanghai, Seoul, Beijing and the farmland around them"
        parts = sum(everyone[f"{c}_total"] for c in ("improved", "stable", "degraded", "no_data"))
        assert abs(parts - everyone.total_population) <= 4

