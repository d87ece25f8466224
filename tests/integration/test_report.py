"""Zonal tables, workbooks and the HTML report of a real run, and `ldn report` for a user's polygons."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app
from tests.helpers import latest_version

pytestmark = pytest.mark.integration

PERIODS = ("baseline", "report_1", "report_2")


def _sdg_items(root: Path) -> dict[str, pystac.Item]:
    cat = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {i.properties["ldn:period"]: i for i in cat.get_items(recursive=True)
            if i.properties.get("ldn:indicator") == "sdg-15-3-1"}


def test_tables_workbooks_and_report_are_published_with_checksums(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    items = _sdg_items(root)
    assert sorted(items) == sorted(PERIODS)
    for period, item in items.items():
        for name in ("sdg_15_3_1", "lpd", "lpd_land_cover", "lpd_transitions", "land_cover", "land_cover_transitions",
                     "land_cover_annual", "soc", "soc_land_cover", "soc_transitions"):
            assert f"{name}_csv" in item.assets and f"{name}_parquet" in item.assets, (period, name)
        assert ("status_csv" in item.assets) == (period != "baseline")
        assert item.assets["unccd_xlsx"].media_type.endswith("spreadsheetml.sheet")
        assert item.assets["report"].media_type == pystac.MediaType.HTML
        for key, asset in item.assets.items():
            data = Path(asset.get_absolute_href()).read_bytes()
            assert asset.extra_fields["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest(), key
            assert asset.extra_fields["file:size"] == len(data), key
        csv = pd.read_csv(item.assets["sdg_15_3_1_csv"].get_absolute_href())
        parquet = pd.read_parquet(item.assets["sdg_15_3_1_parquet"].get_absolute_href())
        pd.testing.assert_frame_equal(csv, parquet, check_exact=False, rtol=1e-6, atol=1e-6, check_dtype=False)
    version = json.loads((Path(items["baseline"].get_self_href()).parents[2] / "catalog.json").read_text())
    assert any(link["rel"] == "describedby" and link["type"] == "text/html" for link in version["links"])


@pytest.mark.parametrize("period", PERIODS)
def test_cross_tables_add_up_to_their_margins(full_run: tuple[Path, Path], period: str) -> None:
    """LPD per land cover class and per transition add up to the LPD table (less the pixels with no transition);
    SOC by class and by transition add up to the SOC table (UNCCD SO1-2, SO1-3)."""
    item = _sdg_items(full_run[1])[period]
    table = lambda name: pd.read_csv(item.assets[f"{name}_csv"].get_absolute_href())  # noqa: E731
    lpd = table("lpd").groupby(["zone", "class"])["area_km2"].sum()
    by_class = table("lpd_land_cover").groupby(["zone", "lpd_class"])["area_km2"].sum()
    by_transition = table("lpd_transitions").groupby(["zone", "lpd_class"])["area_km2"].sum()
    exact = {"rtol": 1e-7, "atol": 1e-4}  # the CSVs hold 6 decimals: sums of 49 rounded cells differ by < 5e-5
    assert (by_class.values <= lpd.values + 1e-4).all()
    np.testing.assert_allclose(by_class.values, by_transition.values, **exact)
    np.testing.assert_allclose(by_class.values, lpd.values, rtol=1e-3, atol=1.0)  # nodata land cover: < 1 km2 here
    soc = table("soc").set_index("zone")
    by_lc = table("soc_land_cover").groupby("zone")[["stock_initial_t", "stock_final_t"]].sum()
    by_tr = table("soc_transitions").groupby("zone")[["stock_initial_t", "stock_final_t", "area_km2"]].sum()
    for frame in (by_lc, by_tr):
        np.testing.assert_allclose(frame.loc[soc.index, "stock_initial_t"], soc["stock_initial_t"], **exact)
        np.testing.assert_allclose(frame.loc[soc.index, "stock_final_t"], soc["stock_final_t"], **exact)
    np.testing.assert_allclose(by_tr.loc[soc.index, "area_km2"], soc["soc_area_km2"], **exact)


@pytest.mark.parametrize("period", PERIODS)
def test_zones_add_up_to_the_region_and_to_land(full_run: tuple[Path, Path], period: str) -> None:
    """China and Mongolia cover the sample: their areas sum to the whole grid and to its class areas."""
    _, root = full_run
    item = _sdg_items(root)[period]
    zonal = pd.read_csv(item.assets["sdg_15_3_1_csv"].get_absolute_href())
    region = pd.read_csv(item.assets["summary"].get_absolute_href()).set_index("indicator")
    assert sorted(zonal.zone.unique()) == ["China", "Mongolia"]
    assert set(region.index) <= set(zonal.indicator)
    for indicator, rows in zonal.groupby("indicator"):
        assert rows.total_km2.sum() == pytest.approx(region.loc["sdg_15_3_1", "total_km2"], rel=1e-4)
        parts = rows.degraded_km2 + rows.stable_km2 + rows.improved_km2 + rows.nodata_km2
        np.testing.assert_allclose(parts, rows.land_km2, rtol=1e-4)  # classes add up to land (0.01 %)
        if indicator not in region.index:  # trajectory, state, performance: zonal only
            continue
        # the region summary follows the zonal rule (water is not land) for every indicator
        for col in ("degraded_km2", "stable_km2", "improved_km2", "nodata_km2", "water_km2", "land_km2"):
            assert rows[col].sum() == pytest.approx(region.loc[indicator, col], rel=1e-4, abs=1e-6), (indicator, col)


def test_class_maps_are_stored_unscaled(full_run: tuple[Path, Path]) -> None:
    """Class codes are read as they are: no class map inherits a scale factor from its inputs."""
    _, root = full_run
    cat = pystac.Catalog.from_file(str(root / "catalog.json"))
    for item in cat.get_items(recursive=True):
        for key, asset in item.assets.items():
            if "classification:classes" in asset.extra_fields:
                with rasterio.open(asset.get_absolute_href()) as src:
                    assert src.scales[0] == 1.0 and src.offsets[0] == 0.0, (item.id, key)
                assert asset.extra_fields["raster:bands"][0].get("scale") in (None, 1.0), (item.id, key)


def _section(html: str, title: str) -> str:
    """The report's section headed ``title`` (an ``<h2>`` with its contents id), up to the next section."""
    return re.split(r"<h2[ >]", re.split(rf"<h2 id='s\d+'>{re.escape(title)}</h2>", html)[1])[0]


def test_the_report_shows_maps_tables_and_the_method(full_run: tuple[Path, Path]) -> None:
    _, root = full_run
    html = Path(_sdg_items(root)["report_1"].assets["report"].get_absolute_href()).read_text()
    # the bar chart and the NDVI series; per period 8 class maps (10 with status and the LDN balance) and 5 charts;
    # no LDN target chart (the sample covers a sliver of Mongolia: partial coverage, no verdict, no chart)
    # + activity map, drought chart, 3 worst-year maps, 3 worst-year people maps
    assert len(re.findall(r"src='data:image/png;base64,", html)) == 2 + 3 * (8 + 5) + 2 * 2 + 1 + 1 + 3 + 3
    assert html.count("<h3>LDN balance: no net loss per land type (km2)</h3>") == 2, "a section per reporting period"
    for text in ("Period report_1 (2016-2019)", "The layers read productivity 2004-2019, land cover 2015-2019.",
                 "China", "Mongolia", "Status against the baseline", "SDG 15.3.1 method",
                 "Productivity trajectory, report_1 (2016-2019)", "Drought class of the worst year, report_1 (2016-2019)",
                 "People per cell, by the worst year&#x27;s drought, report_1 (2016-2019)",
                 "degraded land in report_1 (2016-2019)", "<a href=\"../method.html\">Method notes</a>",
                 "<a href=\"../catalog.json\">STAC catalog of this version</a>",
                 "<a href=\"../lpd/lpd-sample-zamyn-uud-report_1/lpd-sample-zamyn-uud-report_1.json\">lpd</a>",
                 "<th>declining (km²)</th>\n      <th>declining (%)</th>",
                 "Land cover transitions (km2), all zones", "LPD within each land cover class (final year), all zones",
                 "SOC stock by land cover class, all zones", "<td><b>all zones (sum)</b></td>", "MODIS sinusoidal",
                 "Land cover year by year, all zones", "Land cover by class and year, the run's whole area (km2)",
                 "Annual NDVI of the region", "<b>NDVI: modis-13q1</b>", "STAC collection"):
        assert text in html, text
    assert "<th>class_name</th>" not in html.split("Land productivity dynamics (km2")[1].split("</table>")[0], \
        "no empty pivot column"
    assert "productivity 2004-2019, land cover 2015-2019)" not in html, "one label per period, its reporting years"
    version = Path(_sdg_items(root)["report_1"].assets["report"].get_absolute_href()).parent.parent
    for href in re.findall(r"<a href=\"(\.\./[^\"]+)\"", html):  # every link of the report resolves in the version
        assert (version / "report" / href).resolve().is_file(), href
    assert "&lt;NA&gt;" not in html and "<NA>" not in html, "a missing value reads '-', never pandas' <NA>"
    assert "These tables are the run's" not in html, "the run's report: its zones are the drought and people tables'"


def test_run_artifacts_are_in_prefect(full_run: tuple[Path, Path]) -> None:
    """A table artifact per period and a markdown summary; other runs of the session share the keys (history)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        def artifacts(key: str) -> list:
            return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))

        tables = artifacts("sdg-15-3-1-sample-zamyn-uud-report-1")
        assert any(a.type == "table" and "Mongolia" in str(a.data) for a in tables)
        summaries = artifacts("ldn-run-sample-zamyn-uud")
        assert any(a.type == "markdown" and "| report_2 | Mongolia |" in str(a.data) for a in summaries)
    _, catalog = full_run
    ours = [a for a in tables if (catalog / "versions").resolve().as_uri() in str(a.data)]
    assert ours, "links point at the published version, not the staging folder"
    rows = json.loads(ours[-1].data) if isinstance(ours[-1].data, str) else ours[-1].data
    layer = rows[0]["layer"]
    assert layer.endswith("sdg-15-3-1-sample-zamyn-uud-report_1.tif") and Path(layer.removeprefix("file://")).is_file()
    assert Path(rows[0]["table"].removeprefix("file://")).is_file()


def test_ldn_targets_are_tracked_published_and_printed(full_run: tuple[Path, Path]) -> None:
    """The sample covers a sliver of Mongolia and China: Mongolia's targets keep their numbers with no verdict,
    DPR Korea's is not covered, the unmeasurable ones say why; one table for the run, listed by every SDG item,
    a workbook sheet, a report section with a chart, a Prefect artifact and `ldn targets`."""
    from openpyxl import load_workbook
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    _, root = full_run
    items = _sdg_items(root)
    hrefs = {item.assets["targets_csv"].get_absolute_href() for item in items.values()}
    assert len(hrefs) == 1 and all("targets_parquet" in item.assets for item in items.values())
    table = pd.read_csv(hrefs.pop())
    by = {target: rows for target, rows in table.groupby("target_id")}
    desert = by["mng-desertified-land-2030"]
    assert list(desert["period"]) == list(PERIODS) and set(desert["status"]) == {"partial coverage"}
    assert desert["measured"].between(0, 100).all() and desert["note"].str.contains("of MNG's area").all()
    assert list(by["prk-afforestation-2024"]["status"]) == ["not covered"]
    for target in ("mng-settlement-green-areas-2020", "chn-grassland-share", "chn-forest-stock-2030",
                   "chn-ldn-commitment", "rus-ldn-commitment"):
        assert list(by[target]["status"]) == ["not measurable"] and by[target]["measured"].isna().all(), target
    sdg = pd.read_csv(items["report_1"].assets["sdg_15_3_1_csv"].get_absolute_href())
    mng = sdg[(sdg.zone_id == "MNG") & (sdg.indicator == "sdg_15_3_1")]
    assert desert[desert.period == "report_1"]["measured"].iloc[0] == pytest.approx(mng.degraded_pct.iloc[0], abs=1e-6)

    book = load_workbook(items["report_2"].assets["unccd_xlsx"].get_absolute_href(), read_only=True)
    assert "LDN targets" in book.sheetnames
    html = Path(items["report_1"].assets["report"].get_absolute_href()).read_text()
    section = _section(html, "National LDN targets")
    assert "not a causal claim" in section and "a proxy for the national 'desertified land' definition" in section
    assert section.count("src='data:image/png;base64,") == 0 and "partial coverage" in section  # no verdict, no chart
    assert "The run covers only part of MNG" in section and "percentage points" in section
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["ldn-targets-sample-zamyn-uud"])))
    assert any(a.type == "table" and "mng-desertified-land-2030" in str(a.data) for a in found)

    result = CliRunner().invoke(app, ["targets", "--catalog", str(root)])
    assert result.exit_code == 0, result.output
    assert "MNG  Desertified land" in result.output and "partial coverage" in result.output
    assert "not covered: the run's zones do not include PRK" in result.output
    result = CliRunner().invoke(app, ["targets", "--catalog", str(root), "--country", "prk", "--csv"])
    assert result.exit_code == 0 and result.output.splitlines()[0].startswith("target_id,country,")
    assert len(result.output.splitlines()) == 2
    result = CliRunner().invoke(app, ["targets", "--catalog", str(root), "--country", "JPN"])
    assert result.exit_code == EXIT_USER_ERROR and "no target of JPN" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _geojson(path: Path, features: list[tuple[str, list]], crs: str | None = None) -> Path:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        for name, ring in features]}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path



@pytest.mark.parametrize("period", PERIODS)
def test_the_land_cover_series_covers_every_year_and_meets_the_zones(full_run: tuple[Path, Path], period: str) -> None:
    """The land cover item publishes its class areas year by year over the window (SO1-1); every year adds up to the
    same area, and the first and last years are the zones' initial and final land cover summed."""
    _, root = full_run
    cat = pystac.Catalog.from_file(str(root / "catalog.json"))
    land = next(i for i in cat.get_items(recursive=True)
                if i.properties.get("ldn:indicator") == "land-cover" and i.properties.get("ldn:period") == period)
    first, last = land.properties["ldn:window"]
    yearly = pd.read_csv(land.assets["annual_areas"].get_absolute_href())
    assert sorted(yearly.year.unique()) == list(range(first, last + 1))
    totals = yearly.groupby("year").area_km2.sum()
    np.testing.assert_allclose(totals, totals.iloc[0], rtol=1e-9)
    zonal = pd.read_csv(_sdg_items(root)[period].assets["land_cover_csv"].get_absolute_href())
    for year, column in ((first, "initial_km2"), (last, "final_km2")):
        by_class = zonal.groupby("class")[column].sum()
        in_year = yearly[yearly.year == year].set_index("class_code").area_km2
        np.testing.assert_allclose(by_class.reindex(in_year.index).fillna(0), in_year, rtol=1e-4, atol=1e-5)
    report = pd.read_csv(_sdg_items(root)[period].assets["land_cover_annual_csv"].get_absolute_href())
    pd.testing.assert_frame_equal(report, yearly)


def test_ldn_report_regenerates_tables_for_user_polygons(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, root = full_run
    zones = _geojson(tmp_path / "farms.geojson", [
        ("north farm", [[111.5, 43.8], [111.9, 43.8], [111.9, 43.95], [111.5, 43.95], [111.5, 43.8]]),
        ("south farm", [[112.0, 43.5], [112.4, 43.5], [112.4, 43.7], [112.0, 43.7], [112.0, 43.5]]),
    ])
    before = sorted(p.name for p in (root / "versions").iterdir())
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--zones", str(zones), "--catalog", str(root), "--out", str(out),
                                      "--periods", "report_2"])
    assert result.exit_code == 0, result.stderr
    assert "report_2: SDG 15.3.1 per zone" in result.stdout and "north farm" in result.stdout
    table = pd.read_parquet(out / "zonal_report_2_sdg_15_3_1.parquet")
    assert sorted(table.zone.unique()) == ["north farm", "south farm"]
    assert (out / "zonal_report_2_unccd.xlsx").is_file() and (out / "zonal_report.html").is_file()
    assert (out / "zonal_report_2_land_cover_annual.csv").is_file(), "the yearly land cover comes from the catalog"
    assert sorted(p.name for p in (root / "versions").iterdir()) == before, "reports never touch the catalog"
    # the drought and people tables come from the run's passes: per the run's zones, and said so (not passed off
    # as the farms')
    assert "note: the drought and people tables are the run's, per its zones (China, Mongolia)" in result.stdout
    html = (out / "zonal_report.html").read_text()
    assert html.count("These tables are the run's, per its zones (China, Mongolia), not per this report's") == 2


def test_ldn_report_of_a_version_makes_the_runs_own_tables(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    """``ldn report`` reads a published version's layers into the records the run handed its report
    (``published_layers``) and builds the inputs with the same code (``report_inputs``): with the run's zones, every
    table is the run's own, byte for byte."""
    _, root = full_run
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--catalog", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    published = next((latest_version(root) / "report").glob("zonal-*_sdg_15_3_1.csv"))
    stem = published.name.split("_", 1)[0]  # zonal-<region>
    made = sorted(out.glob("zonal_*.csv"))
    assert len(made) > 20
    for path in made:
        theirs = published.with_name(path.name.replace("zonal_", f"{stem}_", 1))
        assert theirs.is_file(), f"the run published no {theirs.name}"
        assert path.read_bytes() == theirs.read_bytes(), f"{path.name} differs from the run's {theirs.name}"


@pytest.mark.parametrize(("args", "match"), [
    (["--periods", "report_9"], r"no published layers for period 'report_9': choose one of \['baseline', 'report_1', 'report_2'\]"),
    (["--zones", "ZONES_FAR"], r"no zone overlaps the layers .* pass zones that cover the published area"),
    (["--zones", "ZONES_BOWTIE"], r"zone 'bow' in .* has an invalid geometry"),
    (["--zones", "missing.gpkg"], r"zone file missing.gpkg does not exist"),
])
def test_ldn_report_bad_input(full_run: tuple[Path, Path], tmp_path: Path, args: list[str], match: str) -> None:
    _, root = full_run
    far = _geojson(tmp_path / "far.geojson", [("far", [[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]])])
    bow = _geojson(tmp_path / "bow.geojson", [("bow", [[111.5, 43.5], [112, 44], [112, 43.5], [111.5, 44], [111.5, 43.5]])])
    args = [{"ZONES_FAR": str(far), "ZONES_BOWTIE": str(bow)}.get(a, a) for a in args]
    result = CliRunner().invoke(app, ["report", "--catalog", str(root), "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == EXIT_USER_ERROR
    assert re.search(match, result.stderr) and result.stderr.count("\n") == 1, result.stderr


def test_the_method_notes_are_published_with_every_version(full_run: tuple[Path, Path]) -> None:
    """What the metadata cites as "method notes section N" is readable by anyone with the outputs."""
    _, root = full_run
    version = root / "versions" / json.loads((root / "catalog.json").read_text())["ldn:latest"]
    page = (version / "method.html").read_text()
    assert "<h2>2. Productivity (land productivity dynamics, LPD)</h2>" in page and "<table>" in page
    links = json.loads((version / "catalog.json").read_text())["links"]
    assert any(link["href"] == "./method.html" and link["rel"] == "describedby" for link in links)
    html = Path(_sdg_items(root)["report_1"].assets["report"].get_absolute_href()).read_text()
    assert "'>Method notes</h2>" in html and "2. Productivity (land productivity dynamics, LPD)" in html
    assert "<h2>6. The LDN balance (counterbalancing, &quot;no net loss&quot; per land type)</h2>" in page, \
        "what the LDN balance's metadata cites as UNCCD method notes section 6 is published"


def test_the_published_method_notes_are_the_teams_method() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "method" / "SDG_15_3_1.md"
    if not shared.is_file():
        pytest.skip("no ../shared/method (a user's clone): nothing to compare the published copy with")
    from tasks.io.outputs.method_doc import method_markdown

    assert method_markdown() == shared.read_text(encoding="utf-8"), \
        "catalogs/method_notes.md is the copy published with every version: update it with ../shared/method"
    from tasks.io.outputs.method_doc import unccd_markdown

    assert unccd_markdown() == (shared.parent / "UNCCD_SO2_SO3.md").read_text(encoding="utf-8"), \
        "catalogs/method_notes_unccd.md is the copy published with every version: update it with ../shared/method"


def test_activities_are_set_beside_the_indicators_and_published(full_run: tuple[Path, Path]) -> None:
    """`ldn run` on the sample shows the fictitious sample registry: per activity and period the footprint and its
    ring, the summary by country, area and status, and a report section with a map, all labelled."""
    from tasks.io.sources.registry import SAMPLE_ACTIVITIES, read_activities

    _, root = full_run
    items = _sdg_items(root)
    for key in ("activities_csv", "activities_parquet", "activity_summary_csv", "activity_summary_parquet"):
        assert len({item.assets[key].get_absolute_href() for item in items.values()}) == 1, key
    stats = pd.read_csv(items["report_1"].assets["activities_csv"].get_absolute_href())
    sample = read_activities(SAMPLE_ACTIVITIES)
    assert set(stats["activity_id"]) == {a.id for a in sample}
    coverage = dict(zip(stats["activity_id"], stats["coverage"]))
    assert coverage["SAMPLE-07"] == "no footprint" and coverage["SAMPLE-08"] == "outside the region"
    grazing = stats[stats["activity_id"] == "SAMPLE-02"].set_index(["period", "zone"])  # started 2017-05-01
    assert list(grazing.xs("footprint", level="zone")["timing"]) == ["before", "spans the start", "after"]
    assert (grazing["land_km2"] > 0).all()
    shares = grazing[["sdg_degraded_pct", "sdg_stable_pct", "sdg_improved_pct"]].sum(axis=1)
    assert np.allclose(shares, 100)
    summary = pd.read_csv(items["report_1"].assets["activity_summary_csv"].get_absolute_href())
    assert len(summary) == 6 * summary["country"].nunique() and summary["total"].sum() == len(sample)
    html = Path(items["report_1"].assets["report"].get_absolute_href()).read_text()
    section = _section(html, "Land degradation activities (NEAMSP registry)")
    assert "Fictitious sample data" in section and "not a causal claim" in section
    assert section.count("src='data:image/png;base64,") == 1 and "coloured by activity area" in section
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["ldn-activities-sample-zamyn-uud"])))
        runs = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ldn-run-sample-zamyn-uud"])))
    ours = [a for a in found if a.type == "table" and (root / "versions").resolve().as_uri() in str(a.description)]
    rows = json.loads(ours[-1].data) if isinstance(ours[-1].data, str) else ours[-1].data
    assert sum(r["total"] for r in rows) == len(sample) and all(r["total"] > 0 for r in rows)
    assert any(f"Activities: {len(sample)} in the registry" in str(a.data) for a in runs)


def test_ldn_report_sets_a_registry_beside_published_layers(full_run: tuple[Path, Path], tmp_path: Path) -> None:
    """`ldn report --activities` on a version already published: the registry's activities get their statistics,
    a wider ring takes in more land (of the footprint's land cover classes) and leaves the footprint as it was."""
    from tasks.io.sources.registry import SAMPLE_ACTIVITIES, open_registry, read_activities

    _, root = full_run
    with open_registry(tmp_path / "r.gpkg") as reg:
        reg.add(read_activities(SAMPLE_ACTIVITIES))
    tables = {}
    for ring in ("5", "8"):
        result = CliRunner().invoke(app, ["report", "--catalog", str(root), "--out", str(tmp_path / ring),
                                          "--activities", str(tmp_path / "r.gpkg"), "--ring-km", ring])
        assert result.exit_code == 0, result.output
        tables[ring] = pd.read_csv(tmp_path / ring / "zonal_activities.csv").set_index(["activity_id", "period", "zone"])
    published = pd.read_csv(_sdg_items(root)["report_1"].assets["activities_csv"].get_absolute_href())
    assert len(tables["5"]) == len(published)
    foot = [k for k in tables["5"].index if k[2] == "footprint"]
    ring = [k for k in tables["5"].index if k[2] == "ring"]
    assert tables["5"].loc[foot, "land_km2"].equals(tables["8"].loc[foot, "land_km2"])
    wider, narrower = tables["8"].loc[ring, "land_km2"], tables["5"].loc[ring, "land_km2"]
    # a ring kept to a class found only near the footprint (the planted trees) stays as it was
    assert (wider >= narrower - 1e-9).all() and (wider > narrower).sum() > len(ring) / 2
    bad = CliRunner().invoke(app, ["report", "--catalog", str(root), "--out", str(tmp_path / "x"),
                                   "--activities", str(tmp_path / "missing.gpkg")])
    assert bad.exit_code == EXIT_USER_ERROR and "does not exist" in bad.output
