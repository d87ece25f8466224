"""Test helpers: where the shared real data is, and a small version of the sample region."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.sample_data import SampleRegion, load_sample_region

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LDN_SHARED_DIR", REPO.parent / "shared"))
REALDATA = SHARED / "realdata"


def realdata(*parts: str) -> Path:
    """Path to a file or folder under ../shared/realdata; skip the test with a reason when absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real test data {path} is absent (it lives in the team's ../shared folder, not in the repo; "
            "set LDN_SHARED_DIR to its location to run this test)"
        )
    return path


def small_region() -> SampleRegion:
    """The sample region cut down for fast tests: 64 x 64 pixels, 2001-2006, every QA case present."""
    return load_sample_region(
        size_px=64,
        ndvi_years=(2001, 2006),
        aqua_years=(2003, 2003),
        land_cover_years=(2000, 2006),
        patches=[
            {"name": "decline", "kind": "decline", "offset_km": (-4, 4), "radius_km": 2, "rate_per_year": -0.05},
            {"name": "greening", "kind": "greening", "offset_km": (4, 4), "radius_km": 2, "rate_per_year": 0.05,
             "land_cover": {"year": 2002, "from": 130, "to": 61}},
            {"name": "stable", "kind": "stable", "offset_km": (-4, -4), "radius_km": 2},
        ],
        persistent_cloud={"offset_km": (3, -3), "radius_km": 2, "year": 2002, "prob": 0.9},
        fill_strip={"year": 2003, "doy": 161, "rows": (0, 8)},
        town={"offset_km": (0, 0), "radius_km": 1},
    )


def readme_snippet(name: str) -> str:
    """The README's Python block that starts with ``# readme-snippet: <name>`` (so the docs stay runnable)."""
    import re

    text = (REPO / "README.md").read_text()
    found = re.search(rf"```python\n# readme-snippet: {re.escape(name)}\n(.*?)```", text, re.S)
    assert found, f"the README lost its {name!r} snippet"
    return found.group(1)
