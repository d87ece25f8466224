"""Incremental refresh: annual NDVI of unchanged years comes from the layer cache without reading scenes;
a year whose items changed is recomputed; the published bytes are the same either way."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.integration


def _latest_tifs(root: Path) -> dict[str, str]:
    version = root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in version.rglob("*.tif")}


def test_a_second_run_links_unchanged_years_and_recomputes_a_changed_one(
    sample_copy: Path, tmp_path: Path, prefect_harness: None, caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "catalog"
    args = ["run", "--sample-dir", str(sample_copy), "--years", "2001-2003", "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.stderr
    before = _latest_tifs(out)
    assert len(list((out / ".cache" / "ndvi-tile").glob("*/entry.json"))) == 3
    assert len(list((out / ".cache" / "ndvi-annual").glob("*/entry.json"))) == 3

    # 2002's composites are reprocessed upstream: same ids, new `updated` (and here, its scenes are gone)
    items = sample_copy / "modis-13Q1-061" / "items.ndjson"
    lines = []
    for line in items.read_text().splitlines():
        doc = json.loads(line)
        if doc["properties"]["start_datetime"].startswith("2002"):
            doc["properties"]["updated"] = "2026-11-25T00:00:00Z"
        lines.append(json.dumps(doc))
    items.write_text("\n".join(lines) + "\n")
    caplog.clear()
    with caplog.at_level("INFO"):
        second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.stderr
    assert _latest_tifs(out) == before, "cached and recomputed layers are the same bytes"
    assert len(list((out / ".cache" / "ndvi-tile").glob("*/entry.json"))) == 4
    assert len(list((out / ".cache" / "ndvi-annual").glob("*/entry.json"))) == 4
    line = next(r.getMessage() for r in caplog.records
                if "1 tiles x 3 years = 3 tile-years: 2 linked from the cache, 1 computed from 23 scenes" in r.getMessage())
    # the bytes GDAL downloaded from the local file server: some, and no more than 2002's 46 files hold
    pulled = float(re.search(r"([0-9.]+) MB read over HTTP", line).group(1)) * 1e6
    files = sum(f.stat().st_size for f in (sample_copy / "modis-13Q1-061" / "data").glob("*A2002*/*.tif"))
    assert 0 < pulled <= files + 0.05e6, (line, files)

    caplog.clear()
    with caplog.at_level("INFO"):
        unchanged = CliRunner().invoke(app, args)
    assert unchanged.exit_code == 0, unchanged.stderr
    assert any("3 linked from the cache, 0 computed from 0 scenes (nothing new: no scene read)" in r.getMessage()
               for r in caplog.records)
    assert any("annual NDVI tiles: 0 of 0 tasks done" in r.getMessage() for r in caplog.records), \
        "every year linked whole: no tile task"

    # a run stopped after 2003's tile-year was cached, before its mosaic: the year's tile task links the tile-year
    # from the cache and the mosaic is made again, the same bytes
    year_entry = next(e.parent for e in (out / ".cache" / "ndvi-annual").glob("*/entry.json")
                      if json.loads(e.read_text())["layers"][0]["year"] == 2003)
    shutil.rmtree(year_entry)
    caplog.clear()
    with caplog.at_level("INFO"):
        resumed = CliRunner().invoke(app, args)
    assert resumed.exit_code == 0, resumed.stderr
    messages = [r.getMessage() for r in caplog.records]
    assert any("annual NDVI tiles: 1 of 1 tasks done" in m for m in messages), messages
    assert any("3 linked from the cache, 0 computed from 0 scenes" in m for m in messages)
    assert any("annual NDVI mosaics: 1 of 1 tasks done" in m for m in messages)
    assert _latest_tifs(out) == before

    # --no-cache reads every scene again: break 2001's scenes and the run fails on them
    broken = list((sample_copy / "modis-13Q1-061" / "data").glob("MOD13Q1.A2001*/*NDVI*.tif"))
    assert len(broken) == 23
    for tif in broken:
        tif.write_bytes(b"")
    third = CliRunner().invoke(app, [*args, "--no-cache"])
    assert third.exit_code == 2 and "is truncated or corrupt" in third.stderr
    shutil.rmtree(out / ".cache")
