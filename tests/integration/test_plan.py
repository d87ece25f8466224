"""`ldn run --plan`: the run resolved as a run resolves it, and what it would do printed, with nothing computed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import PRODUCTION_SOURCES
from tasks.io.runtime.local_stac import free_port
from tests.helpers import production_sources

pytestmark = pytest.mark.integration


def test_plan_of_the_sample_counts_scenes_and_the_cache_and_computes_nothing(sample_dir: Path, published: Path) -> None:
    versions = json.loads((published / "catalog.json").read_text())
    result = CliRunner().invoke(app, ["run", "--plan", "--sample-dir", str(sample_dir), "--years", "2001-2003",
                                      "--out", str(published)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "plan of the run (nothing is computed" in out
    assert "tiles:    1 (4800 px lattice); the ingest reads 1 of 1 windows: 4,096 px per composite" in out
    assert "scenes:   69 composites of modis-13Q1-061 in 3 years" in out and "2001: 23" in out
    # the published run's tile-years are in its cache under the keys this run would look up
    assert "3 of 3 tile-years would be linked from it, 0 computed" in out
    assert "output:   about" in out and "memory:   at most about" in out and "time:     about" in out
    assert "an estimate from the rates measured" in out
    assert json.loads((published / "catalog.json").read_text()) == versions, "no version published"
    assert "temporary server" not in out + result.stderr, "no Prefect server started"


def test_plan_of_north_east_asia_offline(tmp_path: Path) -> None:
    sources = production_sources(tmp_path)
    offline = f"http://127.0.0.1:{free_port()}/"  # nothing listens: a network that is not there
    result = CliRunner().invoke(app, ["run", "--plan", "--sources", str(sources), "--stac-api", offline,
                                      "--years", "2001-2024", "--out", str(tmp_path / "catalog")])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "tiles:    36 (4800 px lattice); the ingest reads 237 of 318 windows" in out
    for tile in ("h10v02", "h11v02", "h12v01", "h26v04", "h28v07"):
        assert f"    {tile} " in out
    assert "scenes:   unknown (" in out and "cache:    " in out and "empty" in out
    hours = float(out.split("time:     about ")[1].split(" h")[0])
    assert 1.0 < hours < 24.0
    assert not (tmp_path / "catalog").exists()


def test_plan_fails_in_one_line_where_the_run_would(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--plan", "--sources", str(PRODUCTION_SOURCES), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: source 'soilgrids-soc'") and "does not exist" in lines[0]
