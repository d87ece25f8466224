"""The report's pure parts: sum-of-zones rows recompute shares from sums (never average them), periods are named
with their years, and method settings read as a table, not Python reprs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.io.outputs.report import period_labels
from tasks.io.outputs.report_html import TOTAL, column_header, method_table, prose, with_contents, with_totals


def test_totals_recompute_shares_from_the_sums() -> None:
    frame = pd.DataFrame({"zone": ["A", "B"], "land_km2": [100.0, 300.0], "degraded_km2": [10.0, 0.0],
                          "stable_km2": [80.0, 300.0], "improved_km2": [10.0, 0.0], "degraded_pct": [10.0, 0.0],
                          "stable_pct": [80.0, 100.0], "improved_pct": [10.0, 0.0], "nodata_km2": [0.0, 0.0]})
    out = with_totals(frame)
    total = out[out["zone"] == TOTAL].iloc[0]
    assert total["land_km2"] == 400.0 and total["degraded_km2"] == 10.0
    assert total["degraded_pct"] == pytest.approx(2.5), "10 of 400 km2, not the mean of 10 % and 0 %"
    assert total[["degraded_pct", "stable_pct", "improved_pct"]].sum() == pytest.approx(100.0)


def test_totals_per_group_follow_their_group() -> None:
    frame = pd.DataFrame({"zone": ["A", "B", "A", "B"], "class_name": ["grass", "grass", "tree", "tree"],
                          "initial_km2": [1.0, 3.0, 0.0, 0.0], "final_km2": [2.0, 3.0, 0.0, 1.0],
                          "change_km2": [1.0, 0.0, 0.0, 1.0], "change_pct": [100.0, 0.0, None, None]})
    out = with_totals(frame, ["class_name"])
    assert list(out["zone"]) == ["A", "B", TOTAL, "A", "B", TOTAL]
    grass = out.iloc[2]
    assert grass["class_name"] == "grass" and grass["change_km2"] == 1.0 and grass["change_pct"] == pytest.approx(25.0)
    assert pd.isna(out.iloc[5]["change_pct"]), "no initial area: no percentage"


def test_soc_total_change_is_of_the_summed_stock() -> None:
    frame = pd.DataFrame({"zone": ["A", "B"], "stock_initial_t": [100.0, 900.0], "change_t": [-10.0, 0.0],
                          "change_pct": [-10.0, 0.0]})
    assert with_totals(frame).iloc[-1]["change_pct"] == pytest.approx(-1.0)


def test_each_period_has_one_label_of_its_reporting_years() -> None:
    """Issue 34 item 12: one label per period everywhere, the calendar years it reports on (the default periods:
    2000-2015, 2016-2019, 2020-2023); the years the run recorded win; a period without windows keeps its name."""
    about = {"baseline": {"lpd window": [2001, 2015], "land-cover window": [2000, 2015]},
             "report_1": {"lpd window": (2004, 2019), "land-cover window": [2015, 2019]},
             "report_2": {"lpd window": [2008, 2023], "land-cover window": [2015, 2022]}}
    assert period_labels(about) == {"baseline": "baseline (2000-2015)", "report_1": "report_1 (2016-2019)",
                                    "report_2": "report_2 (2020-2023)"}
    assert period_labels({"report_1": about["report_1"]}) == {"report_1": "report_1 (2004-2019)"}
    assert period_labels({"report_1": {**about["report_1"], "reporting years": [2016, 2019]}}) == {
        "report_1": "report_1 (2016-2019)"}
    assert period_labels({"report_1": {}, "x": {"lpd window": None}}) == {"report_1": "report_1", "x": "x"}


def test_method_table_and_about_sheet_read_as_text(tmp_path: Path) -> None:
    """Issue 34 item 13: settings as named rows (no JSON, no nested lists): pairs of years as spans, a matrix line
    by line, the same rows in the report's method table and in the workbooks' about sheet."""
    import openpyxl

    from tasks.io.outputs.workbooks import write_workbook

    meta = {"lpd window": [2004, 2019], "lpd parameters": {"percentile": 90, "qa": [0, 1],
                                                           "period_windows": {"state_target": [2017, 2019]}},
            "land-cover parameters": {"matrix": [[0, -1], [1, 0]]}, "x": None}
    html = method_table(meta)
    assert "<th>LPD window</th><td>2004-2019</td>" in html
    assert "<th>LPD parameters: percentile</th><td>90</td>" in html and "<td>0, 1</td>" in html
    assert "<th>LPD parameters: period windows: state target</th><td>2017-2019</td>" in html
    assert "<th>land cover parameters: matrix, line 2</th><td>+1  0</td>" in html
    assert "{" not in html and "[" not in html and "<td>-</td>" in html
    book = openpyxl.load_workbook(write_workbook({}, tmp_path / "a.xlsx", about=meta))
    rows = [[c.value for c in r] for r in book["about"].iter_rows(min_row=3)]
    assert ["LPD parameters: period windows: state target", "2017-2019"] in rows
    assert ["land cover parameters: matrix, line 1", "0  -1"] in rows
    assert not any("{" in str(v) or "[" in str(v) for row in rows for v in row)


def test_annual_ndvi_series_comes_from_the_layers_statistics() -> None:
    from tasks.io.outputs.report import annual_ndvi_series
    from tasks.model import AssetSummary, LayerSummary

    def layer(indicator: str, year: int, mean: float) -> LayerSummary:
        asset = AssetSummary(key="data", path="x.tif", categorical=False, attrs={"scale_factor": 0.0001},
                             valid_pixels=1, total_pixels=1, mean=mean, minimum=mean, maximum=mean)
        return LayerSummary(indicator=indicator, item_id=f"{indicator}-{year}", year=year, period=None, window=None,
                            attrs={}, source_items=[], assets=[asset], tables={}, quicklook=None)

    series = annual_ndvi_series([layer("ndvi-annual", 2002, 1500.0), layer("ndvi-annual", 2001, 1400.0),
                                 layer("ndvi-annual-max", 2001, 2900.0), layer("lpd", 2001, 3.0)])
    assert list(series["year"]) == [2001, 2002]
    assert series["mean_ndvi"].tolist() == pytest.approx([0.14, 0.15])
    assert series.loc[0, "mean_max_ndvi"] == pytest.approx(0.29) and pd.isna(series.loc[1, "mean_max_ndvi"])


@pytest.mark.parametrize(("field", "header"), [
    ("degraded_km2", "degraded (km²)"), ("lc_degraded_pct", "land cover degraded (%)"),
    ("stock_initial_t", "stock initial (t C)"), ("delta_ldn_km2", "ΔLDN (km²)"),
    ("non_drought_pct_of_land", "no drought (% of land)"), ("extreme_pct_of_total", "extreme (% of total)"),
    ("nodata_km2", "no data (km²)"), ("nodata", "no data"), ("activity_id", "activity id"), ("zone", "zone"),
    ("tree-covered", "tree-covered"), ("sdg_stable_pct", "SDG stable (%)"), ("ldn_achieved", "LDN achieved"),
])
def test_a_field_name_reads_as_a_column_header_with_its_unit(field: str, header: str) -> None:
    assert column_header(field) == header


def test_prose_sets_code_spans_as_code_and_escapes_the_rest() -> None:
    assert prose("made by `ldn sample-data` <fast> & small") == \
        "made by <code>ldn sample-data</code> &lt;fast&gt; &amp; small"


def test_the_contents_link_every_section_but_not_the_method_notes_own_headings() -> None:
    page = ("<h1>T</h1><h2>A</h2><p>x</p><h2>Method notes</h2><details><div class='method'><h1>M</h1><h2>1. P</h2>"
            "</div></details>")
    out = with_contents(page)
    assert "<li><a href='#s1'>A</a></li><li><a href='#s2'>Method notes</a></li></ol></nav>" in out
    assert "<h2 id='s1'>A</h2>" in out and "<h2 id='s2'>Method notes</h2>" in out and "<h2>1. P</h2>" in out
    assert out.index("<nav") == out.index("</h1>") + len("</h1>")


def test_targets_are_charted_only_with_a_verdict_in_the_units_they_are_compared_in() -> None:
    """Issue 34 item 11: a share's proxy is charted as changes in percentage points beside the path's (not a
    relative change that explodes on a small start), the gap's unit is a column, and a country the run covers only
    in part keeps its numbers in the table with no chart."""
    from tasks.io.outputs.report_html import _targets_section, target_png
    from tasks.science.targets import TABLE_COLUMNS, Measurement, load_targets, track

    desert = next(t for t in load_targets().targets if t.id == "mng-desertified-land-2030")
    measured = [Measurement("baseline", 2015, 10.0), Measurement("report_1", 2019, 5.0),
                Measurement("report_2", 2023, 20.5)]
    whole = pd.DataFrame(track(desert, measured), columns=list(TABLE_COLUMNS))
    assert list(whole["status"]) == ["reference", "on track", "off track"]
    assert whole["gap"].iloc[2] == pytest.approx(10.5 - (67.9625 - 77.0625))
    assert target_png(whole)[:8] == b"\x89PNG\r\n\x1a\n"
    section = _targets_section(whole)
    assert section.count("<img") == 1 and "gap unit" in section and "percentage points" in section
    part = pd.DataFrame(track(desert, measured, coverage=0.0005), columns=list(TABLE_COLUMNS))
    section = _targets_section(part)
    assert "<img" not in section and "covers only part of MNG" in section and "20.50" in section
