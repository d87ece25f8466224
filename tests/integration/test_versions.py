"""A published version has one name: its folder, its catalog's id and description, and what ``ldn layers`` shows.

Two runs that begin in the same second both publish: the second as ``<name>-1``. Before the ``Version`` value the
folder got the suffix while the catalog's id and description kept the bare name, and ``ldn layers list`` showed
the version as ``1`` (the part of the id after its last hyphen).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pystac
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from tasks.config import RunConfig
from tasks.io.outputs.catalog import begin_version, publish_version
from tasks.io.outputs.items import write_item
from tasks.io.outputs.layers import layer_items, published_versions
from tasks.io.sources.run import run_context
from tasks.model import Version


def _publish(cfg: RunConfig, version: Version) -> Path:
    """One tiny layer staged and published under ``version`` (as a run that began in that second would)."""
    staging = replace(begin_version(cfg), version=version)
    layer = xr.DataArray(np.arange(64, dtype="int16").reshape(8, 8), dims=("y", "x"),
                         coords={"y": 1875.0 - 250.0 * np.arange(8), "x": 125.0 + 250.0 * np.arange(8)})
    layer = layer.rio.write_crs("EPSG:6933")
    layer.attrs = {"long_name": "a layer", "_FillValue": -32768}
    summary = write_item({"data": (layer, False)}, staging.path, indicator="ndvi-annual", item_id="same-2001",
                         year=2001)
    return publish_version(run_context(cfg), staging, [summary])


def test_two_runs_in_one_second_publish_two_versions_each_named_once(tmp_path: Path) -> None:
    cfg = RunConfig(native_bounds=(0.0, 0.0, 2000.0, 2000.0), region_id="same-second", years=(2001, 2001),
                    out_dir=str(tmp_path))
    second = Version("20261205T234138Z")
    first_catalog = _publish(cfg, second)
    again_catalog = _publish(cfg, second)

    assert first_catalog == tmp_path / "versions" / "20261205T234138Z" / "catalog.json"
    assert again_catalog == tmp_path / "versions" / "20261205T234138Z-1" / "catalog.json"
    for path, name in ((first_catalog, "20261205T234138Z"), (again_catalog, "20261205T234138Z-1")):
        doc = json.loads(path.read_text())
        assert doc["id"] == f"ldn-pipeline-{name}"
        assert f"published {name} " in doc["description"]
        assert Version.of_catalog(path).name == name
    versions, latest = published_versions(tmp_path)
    assert versions == ["20261205T234138Z-1", "20261205T234138Z"] and latest == "20261205T234138Z-1"
    assert {row["version"] for row in layer_items(tmp_path)} == {"20261205T234138Z-1"}
    assert {row["version"] for row in layer_items(tmp_path, "20261205T234138Z")} == {"20261205T234138Z"}
    root = pystac.Catalog.from_file(str(tmp_path / "catalog.json"))
    assert sorted(child.id for child in root.get_children()) == [
        "ldn-pipeline-20261205T234138Z", "ldn-pipeline-20261205T234138Z-1"]
