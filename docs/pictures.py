"""Make the README's pictures from a run of the bundled sample: a styled layer as QGIS draws it on open, the
HTML report as a browser shows it, an LDN target's chart, the map of registered activities as the report draws them,
the LDN balance's quick-look, the drought chart with a worst-year map and the people under drought. Rerun after changing the styles or the report:

    python docs/pictures.py [--catalog outputs/catalog]

Needs a published catalog (``ldn run``), Debian's ``python3-qgis`` for the QGIS picture and Chromium for the
report; a missing one is reported and its picture left as it was.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.browser, from a checkout


def _latest(root: Path) -> Path:
    return root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]


def qgis_picture(version: Path, out: Path) -> None:
    """The LPD baseline layer drawn by QGIS with the style published beside it."""
    layer = next(version.glob("lpd/lpd-*-baseline/lpd-*-baseline.tif"))
    with tempfile.TemporaryDirectory() as xdg:
        done = subprocess.run(["/usr/bin/python3", str(HERE / "qgis_probe.py"), str(layer), "--png", str(out)],
                              capture_output=True, text=True,
                              env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": xdg})
    if done.returncode != 0:
        raise RuntimeError(f"QGIS could not draw {layer}: {done.stderr.strip()[-500:]}")
    print(f"wrote {out}: {done.stdout.strip().splitlines()[0][:120]}")


def report_picture(version: Path, out: Path, height: int = 2600) -> None:
    """The top of the HTML report as headless Chromium renders it."""
    from PIL import Image

    from tests.browser import check_page

    report = next(version.glob("report/*_report.html"))
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "page.png"
        page = check_page(report.resolve().as_uri(), screenshot=shot)
        if page.errors:
            raise RuntimeError(f"the report has console errors: {page.errors}")
        with Image.open(shot) as image:
            top = image.convert("RGB").crop((0, 0, image.width, min(height, image.height)))
            top = top.resize((top.width * 2 // 3, top.height * 2 // 3), Image.LANCZOS)
            top.quantize(colors=256).save(out, optimize=True)  # a README picture, not an archive: small
    print(f"wrote {out} ({len(page.images)} images, all loaded: {all(i['ok'] for i in page.images)})")


def targets_picture(version: Path, out: Path) -> None:
    """The report's chart of the first target the run could measure, from the published targets table."""
    import pandas as pd

    from tasks.io.outputs.report_html import target_png

    table = pd.read_csv(next(version.glob("report/*_targets.csv")))
    measured = table[table["measured"].notna() & table["path"].notna()]
    if measured.empty:
        raise RuntimeError("no target of the run has a measured value to draw")
    target = measured["target_id"].iloc[0]
    out.write_bytes(target_png(measured[measured["target_id"] == target]))
    print(f"wrote {out} ({target})")


def activities_picture(version: Path, out: Path) -> None:
    """The report's map of the registered activities over SDG 15.3.1, taken from the published report."""
    import base64
    import re

    html = next(version.glob("report/*_report.html")).read_text(encoding="utf-8")
    parts = re.split(r"<h2[^>]*>Land degradation activities", html)  # headings carry the contents' ids
    if len(parts) < 2:
        raise RuntimeError("the report has no activities section (the run had no activity registry)")
    section = parts[1]
    found = re.search(r"src='data:image/png;base64,([^']+)'", section)
    if found is None:
        raise RuntimeError("the activities section has no map (no SDG 15.3.1 layer)")
    out.write_bytes(base64.b64decode(found.group(1)))
    print(f"wrote {out}")


def balance_picture(version: Path, out: Path) -> None:
    """The quick-look of the last reporting period's LDN balance (gains and losses since the baseline)."""
    import shutil

    items = sorted(version.glob("ldn-balance/*/ldn-balance-*.png"))
    if not items:
        raise RuntimeError("the version has no LDN balance layer (no reporting period beside the baseline)")
    shutil.copyfile(items[-1], out)
    print(f"wrote {out} ({items[-1].stem})")


def drought_picture(version: Path, out: Path) -> None:
    """The drought class chart the report draws, year by year (the planted 2017 drought), beside the quick-look of
    report_1's worst year, as one picture."""
    import pandas as pd
    from PIL import Image

    from tasks.io.outputs.report_html import drought_years_png

    years = sorted(version.glob("drought/*/drought-*_areas.csv"))
    worst = sorted(version.glob("drought-worst/*report_1/drought-worst-*.png"))
    if not years or not worst:
        raise RuntimeError("the version has no drought layers (no precipitation source in the run)")
    chart = Path(tempfile.mkdtemp()) / "chart.png"
    chart.write_bytes(drought_years_png(pd.concat([pd.read_csv(p) for p in years])))
    with Image.open(chart) as a, Image.open(worst[0]) as b:
        width = max(a.width, b.width)
        both = Image.new("RGB", (width, a.height + b.height), "white")
        both.paste(a.convert("RGB"), (0, 0))
        both.paste(b.convert("RGB"), (0, a.height))
        both.quantize(colors=256).save(out, optimize=True)
    print(f"wrote {out} ({len(years)} years, {worst[0].stem})")


def people_picture(version: Path, out: Path) -> None:
    """The report's map of report_1's people under its worst year's drought (the planted 2017 drought over the town)."""
    from tasks.io.outputs.layers import published_layers
    from tasks.io.outputs.report import _people_section, people_report

    _, layers = published_layers(version.parent.parent)
    people = people_report(layers)
    if people is None or "report_1" not in people.maps:
        raise RuntimeError("the version has no people layers (no population source in the run)")
    section = _people_section(people, Path(tempfile.mkdtemp()), "people")
    caption, png = next((c, p) for c, p in section.maps if c.endswith("report_1"))
    out.write_bytes(png)
    print(f"wrote {out} ({caption})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", type=Path, default=HERE.parent / "outputs" / "catalog")
    args = ap.parse_args()
    version = _latest(args.catalog)
    failed = 0
    for make, name in ((qgis_picture, "qgis-lpd.png"), (report_picture, "report.png"),
                       (targets_picture, "targets.png"), (activities_picture, "activities.png"),
                       (balance_picture, "ldn-balance.png"), (drought_picture, "drought.png"),
                       (people_picture, "people.png")):
        try:
            make(version, HERE / name)
        except (OSError, RuntimeError, StopIteration) as err:
            print(f"{name}: not made ({err})", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
