"""The README's run YAML example is valid run configuration (so users can copy it)."""
from __future__ import annotations

import re

import yaml

from tasks.config import RunConfig
from tests.helpers import REPO


def test_readme_run_yaml_example_validates() -> None:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```yaml\n# run.yaml\n(.*?)```", text, re.S)
    assert block, "the README lost its run.yaml example"
    settings = yaml.safe_load(block.group(1))
    cfg = RunConfig(bbox=(111.5, 43.5, 112.0, 43.9), **settings)
    assert cfg.productivity.trajectory_method == "gpg_v2"
    assert cfg.productivity.precomputed_lpd is not None and cfg.recode_polygons is not None
    assert cfg.activities == "registry.gpkg" and cfg.activity_ring_km == 5
