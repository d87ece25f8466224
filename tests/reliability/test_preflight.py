"""Mistakes a later stage would find are one line before anything starts: no sample, no server, no output.

Each case used to surface 30-60 s into a run, after the annual NDVI work (the issue measured 49-64 s);
now ``build_run`` checks them with the functions the stages call.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import SAMPLE_SOURCES
from tests.helpers import SHORT_PERIODS

pytestmark = pytest.mark.reliability



def _case(tmp_path: Path, name: str) -> tuple[dict, list[str]]:
    """Run-file settings and extra CLI options of one broken case."""
    periods = tmp_path / "periods.yaml"
    periods.write_text(yaml.safe_dump(SHORT_PERIODS))
    short = {"periods_file": str(periods)}
    if name == "min_years":
        return short, ["--years", "2001-2006"]
    if name == "legend":
        (tmp_path / "legend.yaml").write_text("classes: [1, 2\n")
        return {"land_cover_legend": str(tmp_path / "legend.yaml")}, []
    if name == "soc_model":
        return {"soc_model": str(tmp_path / "no-such-model.yaml")}, []
    if name == "recode":
        (tmp_path / "recode.geojson").write_text(
            '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, "features": '
            '[{"type": "Feature", "properties": {"degraded_to": 0}, "geometry": {"type": "Polygon", "coordinates": '
            '[[[111.8, 43.6], [111.9, 43.6], [111.9, 43.7], [111.8, 43.6]]]}}]}')
        return {"recode_polygons": str(tmp_path / "recode.geojson")}, []
    if name == "precomputed":
        return {"productivity": {"precomputed_lpd": {"name": "JRC", "path": str(tmp_path / "missing.tif"),
                                                     "legend": {1: 1}}}}, []
    if name == "land_units":
        return {"productivity": {"land_unit_source": "no-such-source"}}, []
    if name == "soc_start":
        model = yaml.safe_load((Path(__file__).resolve().parents[2] / "catalogs" / "soc.yaml").read_text())
        model["stock_year"] = 2010
        (tmp_path / "soc.yaml").write_text(yaml.safe_dump(model))
        return {"soc_model": str(tmp_path / "soc.yaml")}, []
    if name == "climate":
        return {"climate_source": None}, []
    if name == "years":
        return {}, ["--years", "2000-2003"]
    if name == "years_disjoint":
        return {}, ["--years", "2030-2040"]
    raise AssertionError(name)


@pytest.mark.parametrize(("name", "message"), [
    ("min_years", r"min_years 10 exceeds the 6 years of the window 2001-2006: lower min_years or widen the period"),
    ("legend", r"legend\.yaml is not valid YAML"),
    ("soc_model", r"no-such-model\.yaml does not exist"),
    ("recode", r"recode polygons .*recode\.geojson have no `reason` field"),
    ("precomputed", r"cannot read raster .*missing\.tif \(.*\): check the path"),
    ("land_units", r"no-such-source"),
    ("soc_start", r"period baseline's land cover starts in 2000, before the SOC stock's year 2010"),
    ("climate", r"the SOC model needs a climate zone source"),
    ("years", r"years 2000-2003 are outside the years source 'modis-13q1' covers \(2001-2024, .*\): run with "
              r"--years 2001-2003"),
    ("years_disjoint", r"years 2030-2040 are outside the years source 'modis-13q1' covers \(2001-2024, .*\): run "
                       r"with --years 2001-2024$"),  # no year in common: the source's years, not 2030-2024
])
def test_a_late_mistake_fails_first(tmp_path: Path, name: str, message: str) -> None:
    import re

    settings, extra = _case(tmp_path, name)
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(settings))
    sample = tmp_path / "sample-data"  # not generated: the check comes first
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--config", str(run_file),
                                      "--out", str(tmp_path / "out"), *extra])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), result.stderr
    assert not (tmp_path / "out").exists() and not sample.exists()
    assert "temporary server" not in result.stdout + result.stderr


def test_the_sample_and_production_configs_pass(tmp_path: Path) -> None:
    from flows.options import RefreshRun, build_run

    build_run(RefreshRun(out_dir=tmp_path / "out"))
    build_run(RefreshRun(sources_file=SAMPLE_SOURCES, out_dir=tmp_path / "out", stac_api="http://127.0.0.1:9/"))


def test_a_missing_source_file_is_named_before_any_work(tmp_path: Path) -> None:
    """The production sources read SoilGrids from a file each user downloads: missing, the run used to find out
    after the annual NDVI (hours into a continent)."""
    result = CliRunner().invoke(app, ["run", "--sources", "catalogs/sources.yaml", "--bbox", "111.5,43.5,112.0,43.9",
                                      "--years", "2001-2002", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == (
        f"error: source 'soilgrids-soc' (soc) in catalogs/sources.yaml reads the file soilgrids_ocs_0-30cm_mean.tif, "
        f"which does not exist here ({Path.cwd()}): download it and point `file` at it, or replace `file` by a "
        "`stac:` block")
    assert not (tmp_path / "out").exists()
