"""The HTML report as a reader meets it: headless Chromium loads it with no console error, every image decodes,
nothing runs off a 1400 px window sideways, and the page has the period sections (skipped with the reason where no
Chromium is installed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import check_page, chromium

pytestmark = pytest.mark.integration


def test_the_report_renders_in_a_browser(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    if chromium() is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium; tests/setup-system.sh does it as root)")
    root = full_run[1]
    version = root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]
    report = next(version.glob("report/*_report.html"))
    shot = tmp_path / "report.png"
    page = check_page(report.resolve().as_uri(), screenshot=shot, width=1400)
    assert page.errors == [], page.errors
    # nothing runs off the page sideways (the targets' 21 columns made it 7,879 px wide): a wide table scrolls in
    # its own box, so every column, the targets' status included, stays reachable
    assert page.width <= page.viewport, f"the page is {page.width} px wide in a {page.viewport} px window"
    assert page.overflowing == [], page.overflowing
    assert len(page.images) >= 10 and all(i["ok"] for i in page.images), [i for i in page.images if not i["ok"]]
    assert page.title.startswith("SDG 15.3.1 report") and page.height > 3000
    assert shot.stat().st_size > 50_000, "the screenshot holds a page, not a blank"
