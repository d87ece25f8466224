"""Next year's refresh computes what depends on the new year and links the rest; a change recomputes what reads it.

Each layer's cache key holds what its bytes depend on (``tasks.io.runtime.cache_keys``): a period's productivity the keys of
its window's annual layers, its settings, the land cover of its first year and the grid; land cover and SOC the
land cover items from the SOC stock's year to the window's end, the SOC stock, the climate zones, the legend and the
SOC model by content; SDG 15.3.1 and status the keys of the layers they combine. Never the run's years or the other
periods. These runs go through `ldn run` on the small sample (2001-2006) with short periods, counting the cache
entries each run adds (an entry added is a layer computed) and reading the one-line reasons it logs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.science.land_cover import LEGEND_FILE
from tasks.science.soc import SOC_MODEL_FILE
from tests.helpers import latest_version, version_checksums

pytestmark = pytest.mark.integration

PERIODS = {
    "baseline": {"productivity": [2001, 2005], "state_baseline": [2001, 2002], "state_target": [2003, 2005],
                 "land_cover": [2000, 2005]},
    "report_1": {"productivity": [2001, 2005], "state_baseline": [2001, 2003], "state_target": [2004, 2005],
                 "land_cover": [2001, 2005]},
}
KINDS = ("ndvi-tile", "ndvi-annual", "productivity", "land-soc", "sdg", "status", "ldn-balance", "drought",
         "drought-period", "people", "report", "report-period", "report-ndvi")


def _settings(tmp: Path, periods: dict, **extra: object) -> Path:
    """A run file (and its periods file) of its own: one written later never changes an earlier one."""
    n = len(list(tmp.glob("run-*.yaml")))
    (tmp / f"periods-{n}.yaml").write_text(yaml.safe_dump({"periods": periods}))
    run = {"periods_file": str(tmp / f"periods-{n}.yaml"), "productivity": {"min_years": 4}, **extra}
    path = tmp / f"run-{n}.yaml"
    path.write_text(yaml.safe_dump(run))
    return path


def _ldn(sample: Path, out: Path, years: str, settings: Path, *extra: str) -> str:
    """`ldn run` in its own process (its log is what a data engineer reads); returns stdout + stderr."""
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample), "--years", years,
                           "--config", str(settings), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def _entries(out: Path) -> dict[str, int]:
    root = out / ".cache"
    return {k: sum(1 for e in (root / k).glob("*/entry.json")) if (root / k).is_dir() else 0 for k in KINDS}


def _added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in KINDS}


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> dict:
    """The sample run for 2001-2005, then next year's refresh to 2001-2006, in one catalog."""
    tmp = tmp_path_factory.mktemp("refresh")
    sample = tmp / "sample"
    shutil.copytree(sample_dir, sample)
    settings = _settings(tmp, PERIODS)
    out = tmp / "catalog"
    _ldn(sample, out, "2001-2005", settings)
    first, visuals = _entries(out), _visuals(out)
    log = _ldn(sample, out, "2001-2006", settings)
    return {"tmp": tmp, "sample": sample, "settings": settings, "out": out, "first": first, "second": _entries(out),
            "log": log, "visuals": (visuals, _visuals(out))}


def _visuals(out: Path) -> int:
    return sum(1 for _ in (out / ".cache" / "visual").glob("*/entry.json"))


def test_next_years_refresh_computes_the_new_year_and_links_every_period(refreshed: dict) -> None:
    added = _added(refreshed["first"], refreshed["second"])
    # one tile-year and one year's mosaic for 2006; no period's window holds 2006, so every period layer is linked;
    # the report lists the new year's layers, so it is made again, from every period's tables as they were and
    # the zones' NDVI of the new year alone; the drought layers of 2006 alone (the SPI's fit is unchanged) and the
    # people under its drought
    assert added == {"ndvi-tile": 1, "ndvi-annual": 1, "productivity": 0, "land-soc": 0, "sdg": 0, "status": 0,
                     "ldn-balance": 0, "drought": 1, "drought-period": 0, "people": 1, "report": 1,
                     "report-period": 0, "report-ndvi": 1}, added
    log = refreshed["log"]
    assert "drought: SPI-12 of 1 year(s)" in log and "6 year(s) from the cache" in log
    assert "6 tile-years: 5 linked from the cache, 1 computed" in log
    # the five years published before are linked whole: one lookup per year, a tile task for the new year's alone
    assert "annual NDVI restore: 6 of 6 tasks done" in log and "annual NDVI tiles: 1 of 1 tasks done" in log
    assert "annual NDVI mosaics: 1 of 1 tasks done" in log
    # the sample's population has a year 2006: the new year's people are a pass over the grid (next test: none)
    assert "people: 1 drought and 0 SO2-3 table(s) summed over the analysis grid" in log
    assert "recomputed" not in log, "nothing was computed that the cache held"
    before, after = refreshed["visuals"]
    assert before > 10 and after == before + 1, "the refresh drew only the new year's drought class map"
    linked = next(line for line in log.splitlines() if "zonal tables of" in line)
    assert "unchanged layers and zones, linked from the cache" in linked and "baseline" in linked and "report_1" in linked


def test_a_new_reporting_period_computes_only_that_period(refreshed: dict) -> None:
    tmp, out = refreshed["tmp"], refreshed["out"]
    periods = {**PERIODS, "report_2": {"productivity": [2002, 2006], "state_baseline": [2002, 2004],
                                       "state_target": [2005, 2006], "land_cover": [2002, 2006]}}
    before = _entries(out)
    _ldn(refreshed["sample"], out, "2001-2006", _settings(tmp, periods))
    # its own drought years (2006, which took the latest period's water before) and its worst year; their people
    # and its own people on degraded land
    assert _added(before, _entries(out)) == {"ndvi-tile": 0, "ndvi-annual": 0, "productivity": 1, "land-soc": 1,
                                             "sdg": 1, "status": 1, "ldn-balance": 1, "drought": 1,
                                             "drought-period": 1, "people": 3, "report": 1, "report-period": 1,
                                             "report-ndvi": 0}


def test_the_refresh_publishes_what_a_run_from_scratch_publishes(refreshed: dict) -> None:
    tmp = refreshed["tmp"]
    scratch = tmp / "scratch"
    _ldn(refreshed["sample"], scratch, "2001-2006", refreshed["settings"], "--no-cache")
    # the refresh's version (the second run) against a run that computed everything
    versions = sorted((refreshed["out"] / "versions").iterdir())
    refresh = version_checksums(versions[1])
    fresh = version_checksums(latest_version(scratch))
    assert refresh.keys() == fresh.keys() and len(refresh) > 50
    assert [k for k in refresh if refresh[k] != fresh[k]] == []


def test_a_new_year_past_the_population_sums_its_people_from_the_cells_a_pass_kept(refreshed: dict) -> None:
    """The population ends before the new year (WorldPop ends in 2020): next year's people read the latest
    population year on the latest water map, as the year before did, so the table is summed from the coarse cells'
    people the run's pass kept (``CellRecorder`` in ``tasks/io/outputs/people_tables.py``), without a pass; the same bytes as a run from
    scratch."""
    tmp = refreshed["tmp"] / "population-ends"
    sample = tmp / "sample"
    shutil.copytree(refreshed["sample"], sample)
    items = sample / "sample-population" / "items.ndjson"
    kept = [line for line in items.read_text().splitlines() if int(json.loads(line)["id"].rsplit("-", 1)[1]) <= 2005]
    items.write_text("\n".join(kept) + "\n")
    out = tmp / "catalog"
    first = _ldn(sample, out, "2001-2005", refreshed["settings"])
    assert "summed over the analysis grid" in first
    assert sum(1 for _ in (out / ".cache" / "people-cells").glob("*/entry.json")) == 1, "the latest year's cells"
    log = _ldn(sample, out, "2001-2006", refreshed["settings"])
    assert "people: 1 drought table(s) summed from the coarse cells' people a pass over the analysis grid kept" in log
    assert "summed over the analysis grid (" not in log, "no pass over the grid"
    scratch = tmp / "scratch"
    _ldn(sample, scratch, "2001-2006", refreshed["settings"], "--no-cache")
    refresh = version_checksums(sorted((out / "versions").iterdir())[1])
    fresh = version_checksums(latest_version(scratch))
    assert refresh.keys() == fresh.keys() and len(refresh) > 50
    assert [k for k in refresh if refresh[k] != fresh[k]] == []
    # the kept cells damaged (a disk that filled up): dropped with a warning, the pass sums the new year again
    (cells,) = (out / ".cache" / "people-cells").glob("*/land.f8")
    cells.write_bytes(cells.read_bytes()[:-8])
    (year,) = [e.parent for e in (out / ".cache" / "people").glob("*/entry.json") if '"year": 2006' in e.read_text()
               and '"indicator": "drought-exposure"' in e.read_text()]
    shutil.rmtree(year)  # its item made again
    log = _ldn(sample, out, "2001-2006", refreshed["settings"])
    assert "do not read" in log and "people: 1 drought and 0 SO2-3 table(s) summed over the analysis grid" in log
    again = version_checksums(latest_version(out))
    assert [k for k in fresh if again.get(k) != fresh[k]] == []


def _copy(refreshed: dict, name: str) -> tuple[Path, Path]:
    """A copy of the refreshed catalog (with its cache) and of the sample, to change one input in."""
    tmp = refreshed["tmp"] / name
    shutil.copytree(refreshed["out"], tmp / "catalog")
    shutil.copytree(refreshed["sample"], tmp / "sample")
    return tmp / "catalog", tmp / "sample"


def _republish(sample: Path, collection: str, marker: str) -> None:
    """The item of ``collection`` whose line holds ``marker`` reprocessed upstream: a new ``updated``."""
    items = sample / collection / "items.ndjson"
    lines = items.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if marker in line)
    item = json.loads(lines[i])
    item["properties"]["updated"] = "2026-01-01T00:00:00Z"
    lines[i] = json.dumps(item)
    items.write_text("\n".join(lines) + "\n")


def test_a_reprocessed_scene_recomputes_its_year_and_the_periods_that_read_it(refreshed: dict) -> None:
    out, sample = _copy(refreshed, "reprocessed")
    _republish(sample, "modis-13Q1-061", '"MOD13Q1.A2003193.')
    before = _entries(out)
    log = _ldn(sample, out, "2001-2006", refreshed["settings"])
    # 2003's tile and mosaic; both periods hold 2003 (2001-2005): their productivity,
    # SDG 15.3.1 (and the people on its classes) and report_1's status; land cover and SOC do not read NDVI
    assert _added(before, _entries(out)) == {"ndvi-tile": 1, "ndvi-annual": 1, "productivity": 2, "land-soc": 0,
                                             "sdg": 2, "status": 1, "ldn-balance": 1, "drought": 0, "drought-period": 0,
                                             "people": 2, "report": 1, "report-period": 2, "report-ndvi": 1}
    assert "report_1: productivity recomputed: its window's annual NDVI layers changed (2003)" in log
    assert "2003: annual NDVI recomputed: its tiles changed" in log


@pytest.mark.parametrize("change, expected, reason", [
    ("soc_model", {"productivity": 0, "land-soc": 2, "sdg": 2, "status": 1, "ldn-balance": 1}, "land-soc recomputed: its settings changed (soc_model)"),
    ("land_cover_legend", {"productivity": 2, "land-soc": 2, "sdg": 2, "status": 1, "ldn-balance": 1},
     "productivity recomputed: its settings changed (land_cover_legend)"),
    ("percentile", {"productivity": 2, "land-soc": 0, "sdg": 2, "status": 1, "ldn-balance": 1},
     "productivity recomputed: its settings changed (productivity.percentile)"),
])
def test_a_changed_setting_recomputes_what_reads_it(refreshed: dict, change: str, expected: dict, reason: str) -> None:
    out, sample = _copy(refreshed, change)
    extra: dict[str, object] = {}
    if change == "soc_model":
        model = yaml.safe_load(SOC_MODEL_FILE.read_text())
        model["years_to_equilibrium"] = model["years_to_equilibrium"] + 5
        (out.parent / "soc.yaml").write_text(yaml.safe_dump(model))
        extra["soc_model"] = str(out.parent / "soc.yaml")
    elif change == "land_cover_legend":
        legend = yaml.safe_load(LEGEND_FILE.read_text())
        legend["matrix"][1][2] = 0  # grassland -> cropland: stable instead of improvement
        (out.parent / "legend.yaml").write_text(yaml.safe_dump(legend))
        extra["land_cover_legend"] = str(out.parent / "legend.yaml")
    else:
        extra["productivity"] = {"min_years": 4, "percentile": 80}
    settings = _settings(out.parent, PERIODS, **extra)
    before = _entries(out)
    log = _ldn(sample, out, "2001-2006", settings)
    added = _added(before, _entries(out))
    assert {k: added[k] for k in expected} == expected and added["ndvi-tile"] == added["ndvi-annual"] == 0, added
    assert reason in log


def test_a_changed_region_recomputes_everything(refreshed: dict) -> None:
    out, sample = _copy(refreshed, "region")
    meta = json.loads((sample / "region.json").read_text())
    w, s, e, n = meta["bbox"]
    box = f"{w},{s},{(w + e) / 2},{n}"  # the western half of the sample
    before = _entries(out)
    _ldn(sample, out, "2001-2006", refreshed["settings"], "--region", box)
    added = _added(before, _entries(out))
    assert added["ndvi-tile"] == 6 and added["productivity"] == 2 and added["land-soc"] == 2, added


def test_a_new_calibration_period_refits_every_drought_year_and_says_why(refreshed: dict) -> None:
    out, sample = _copy(refreshed, "calibration")
    before = _entries(out)
    log = _ldn(sample, out, "2001-2006", refreshed["settings"], "--spi-calibration", "1992-2020")
    added = _added(before, _entries(out))
    # every year's SPI (2000-2006) and both periods' worst years, and the people under them; no other layer reads
    # the precipitation
    assert {k: added[k] for k in ("drought", "drought-period", "people", "productivity", "land-soc", "sdg")} == {
        "drought": 7, "drought-period": 2, "people": 9, "productivity": 0, "land-soc": 0, "sdg": 0}, added
    assert ("drought 2003 recomputed: the SPI's calibration period changed; the precipitation of its calibration "
            "years changed (1991)") in log


def test_a_reprocessed_population_year_recomputes_only_the_people_that_read_it(refreshed: dict) -> None:
    out, sample = _copy(refreshed, "population")
    _republish(sample, "sample-population", '"sample-population-2003"')  # WorldPop republished 2003
    before = _entries(out)
    _ldn(sample, out, "2001-2006", refreshed["settings"])
    added = _added(before, _entries(out))
    # the people under 2003's drought and the worst years' people of both periods (their years hold 2003); no SPI,
    # no SDG, and no period's zonal tables (they do not read the people layers): only the report that lists them
    assert {k: added[k] for k in ("drought", "drought-period", "sdg", "productivity", "people", "report",
                                  "report-period")} == {"drought": 0, "drought-period": 0, "sdg": 0, "productivity": 0,
                                                        "people": 3, "report": 1, "report-period": 0}, added
