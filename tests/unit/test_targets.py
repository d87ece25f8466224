"""LDN targets (``tasks.science.targets``): the shipped catalog, the line from baseline to target, on or off track
decided exactly (hand-worked cases and an integer reference), and one-line errors for a bad targets file."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.errors import ConfigError
from tasks.science.targets import TRACK_STATUSES, LdnTarget, Measurement, load_targets, path_value, track


def _target(**kw: object) -> LdnTarget:
    doc: dict[str, object] = {"id": "t", "country": "MNG", "title": "a target", "indicator": "afforested_area",
                              "comparison": "level", "baseline": {"year": 2015, "value": 0},
                              "target": {"year": 2024, "value": 900}, "unit": "ha", "source": "a document"}
    doc.update(kw)
    return LdnTarget.model_validate(doc)


def test_the_shipped_targets_are_the_ones_the_programme_asked_for() -> None:
    targets = {t.id: t for t in load_targets().targets}
    desert = targets["mng-desertified-land-2030"]
    line = (desert.baseline.year, desert.baseline.value, desert.target.year, desert.target.value)
    assert line == (2014, 78.2, 2030, 60.0)
    assert desert.indicator == "degraded_share" and desert.proxy and "proxy" in desert.proxy
    forest = targets["mng-forest-cover-2030"]
    assert (forest.baseline.value, forest.target.value, forest.indicator) == (8.1, 9.0, "tree_cover_share")
    green = targets["mng-settlement-green-areas-2020"]
    assert green.indicator == "not_measurable" and (green.target.year, green.target.value) == (2020, 15.0)
    trees = targets["prk-afforestation-2024"]
    assert (trees.target.year, trees.target.value, trees.unit) == (2024, 1_670_000, "ha")
    assert targets["chn-grassland-share"].indicator == targets["chn-forest-stock-2030"].indicator == "not_measurable"
    for commitment in ("chn-ldn-commitment", "rus-ldn-commitment"):
        assert targets[commitment].target.value is None and targets[commitment].indicator == "not_measurable"
    assert all(t.source and (t.indicator == "not_measurable" or t.proxy) for t in targets.values())


def test_the_line_runs_from_the_baseline_to_the_target_as_written() -> None:
    desert = next(t for t in load_targets().targets if t.id == "mng-desertified-land-2030")
    assert path_value(desert, 2014) == Fraction(782, 10) and path_value(desert, 2030) == 60
    assert path_value(desert, 2022) == Fraction(782, 10) - Fraction(182, 10) / 2  # half way: 69.1 exactly
    assert path_value(_target(), 2019) == 400  # 0 -> 900 ha over 2015-2024: 100 ha a year


def test_level_on_the_line_is_on_track_and_a_hair_below_is_not() -> None:
    rows = track(_target(), [Measurement("report_1", 2019, 400.0), Measurement("report_2", 2022, 699.9999999999999)])
    assert [r["status"] for r in rows] == ["on track", "off track"]
    assert rows[0]["gap"] == 0 and rows[0]["path"] == 400 and rows[1]["path"] == 700
    lower = _target(baseline={"year": 2015, "value": 900}, target={"year": 2024, "value": 0})
    assert [r["status"] for r in track(lower, [Measurement("p", 2019, 500.0), Measurement("q", 2019, 500.5)])] == \
        ["on track", "off track"]  # line at 500: falling is progress


def test_change_hand_worked_for_mongolias_desertified_land() -> None:
    """Line 78.2 % (2014) -> 60 % (2030): 77.0625 in 2015, 72.5125 in 2019, a change of -4.55 percentage points.
    The proxy (SDG 15.3.1 degraded land) falls from 25 % to 20 % (-5 points): on track; to 24 % (-1): off track."""
    desert = next(t for t in load_targets().targets if t.id == "mng-desertified-land-2030")
    assert desert.comparison == "change"
    rows = track(desert, [Measurement("report_1", 2019, 20.0), Measurement("baseline", 2015, 25.0)])
    assert [r["status"] for r in rows] == ["reference", "on track"]
    assert rows[0]["period"] == "baseline" and rows[0]["path"] == 77.0625
    assert rows[1]["measured_change"] == -5.0 and rows[1]["path_change"] == pytest.approx(-4.55)
    assert rows[1]["gap"] == pytest.approx(-0.45) and rows[1]["gap_unit"] == "percentage points"
    assert rows[0]["change_unit"] == rows[1]["change_unit"] == "percentage points"
    slow = track(desert, [Measurement("baseline", 2015, 25.0), Measurement("report_1", 2019, 24.0)])
    assert slow[1]["status"] == "off track"


def test_relative_change_hand_worked_and_refused_from_zero() -> None:
    """relative_change (for quantities): the same line, the proxy from 25 to 22 (-12 %) against the line's
    -5.904... %: on track, the gap in points of relative change. From a measured 0 there is no reference: every
    measured period keeps its value, with no verdict, and says why."""
    desert = next(t for t in load_targets().targets if t.id == "mng-desertified-land-2030")
    relative = desert.model_copy(update={"comparison": "relative_change"})
    rows = track(relative, [Measurement("report_1", 2019, 22.0), Measurement("baseline", 2015, 25.0)])
    assert [r["status"] for r in rows] == ["reference", "on track"]
    assert rows[1]["measured_change"] == pytest.approx(-12.0)
    assert rows[1]["path_change"] == pytest.approx((72.5125 - 77.0625) / 77.0625 * 100)
    assert rows[1]["gap"] == pytest.approx(-12.0 - (72.5125 - 77.0625) / 77.0625 * 100)
    assert rows[1]["change_unit"] == "% of the reference value"
    assert rows[1]["gap_unit"] == "percentage points of relative change"
    rows = track(relative, [Measurement("baseline", 2015, 0.0), Measurement("report_1", 2019, 1.0)])
    assert [(r["status"], r["measured"]) for r in rows] == [("no reference", 0.0), ("no reference", 1.0)]
    assert all("is 0 in 2015" in r["note"] and r["gap"] is None for r in rows)


def test_nothing_to_compare_is_said_and_not_numbered() -> None:
    targets = {t.id: t for t in load_targets().targets}
    (row,) = track(targets["rus-ldn-commitment"], [Measurement("baseline", 2015, 10.0)])
    assert row["status"] == "not measurable" and row["measured"] is None and "no numeric target" in row["note"]
    (row,) = track(_target(), [Measurement("baseline", 2015, 10.0)], covered=False)
    assert row["status"] == "not covered" and row["measured"] is None and "MNG" in row["note"]
    (row,) = track(_target(), [])
    assert row["status"] == "no measurement"
    rows = track(targets["mng-forest-cover-2030"], [Measurement("baseline", 2015, 0.0),
                                                     Measurement("report_1", 2019, 1.0)])
    assert [r["status"] for r in rows] == ["reference", "on track"]  # a share from 0 has a change: +1 point
    assert rows[1]["measured_change"] == 1.0
    assert {r["status"] for t in targets.values() for r in track(t, [])} <= set(TRACK_STATUSES)


@settings(max_examples=300, deadline=None)
@given(b10=st.integers(0, 10_000), t10=st.integers(0, 10_000), y=st.integers(2000, 2040),
       m8=st.integers(-8_000, 16_000))
def test_level_status_agrees_with_integer_arithmetic(b10: int, t10: int, y: int, m8: int) -> None:
    """Independent reference: the baseline and target in tenths as a YAML file writes them, the measured value in
    eighths (exact in binary, as a table's float is what it is); on track for a rising line is
    m8/8 >= b10/10 + (t10 - b10)/10 * (y - 2015)/9, times 360 an inequality of integers."""
    if b10 == t10:
        return
    target = _target(baseline={"year": 2015, "value": b10 / 10}, target={"year": 2024, "value": t10 / 10})
    (row,) = track(target, [Measurement("p", y, m8 / 8)])
    lhs, rhs = 45 * m8, 36 * b10 + 4 * (t10 - b10) * (y - 2015)
    expected = lhs >= rhs if t10 > b10 else lhs <= rhs
    assert row["status"] == ("on track" if expected else "off track")


@pytest.mark.parametrize("entry, message", [
    ("indicator: afforested_area\n    unit: ha\n    baseline: {year: 2015, value: 0}", "needs target.year, target.value"),
    ("indicator: tree_cover_share\n    unit: ha\n    baseline: {year: 2015, value: 1}\n    target: {year: 2020, value: 2}",
     "tree_cover_share is measured in percent, not 'ha'"),
    ("indicator: degraded_share\n    unit: percent\n    baseline: {year: 2015, value: 1}\n    target: {year: 2010, value: 2}",
     "must be after baseline.year"),
    ("indicator: degraded_share\n    unit: percent\n    baseline: {year: 2015, value: 1}\n    target: {year: 2020, value: 1}",
     "better: higher"),
    ("indicator: not_measurable", "needs `not_measurable_because`"),
    ("indicator: forest_volume\n    not_measurable_because: x", "indicator"),
    ("indicator: degraded_share\n    unit: percent\n    baseline: {year: 1850, value: 1}\n    target: {year: 2020, value: 2}",
     "baseline.year"),
])
def test_a_bad_target_is_one_line_naming_the_entry_and_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(f"schema_version: 1\ntargets:\n  - id: bad-one\n    country: MNG\n    title: x\n    source: y\n"
                    f"    {entry}\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_targets(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_repeated_ids_and_a_wrong_schema_version_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    one = "  - {id: same, country: RUS, title: x, source: y, indicator: not_measurable, not_measurable_because: z}\n"
    path.write_text("schema_version: 1\ntargets:\n" + one + one)
    with pytest.raises(ConfigError, match=r"repeated: \['same'\]"):
        load_targets(path)
    path.write_text("schema_version: 2\ntargets:\n" + one)
    with pytest.raises(ConfigError, match="schema_version"):
        load_targets(path)


def _frames() -> dict[str, dict[str, object]]:
    """Two periods of zonal tables with the report's columns (the sample run's header lines), hand-filled."""
    import pandas as pd

    def sdg(pct: float) -> pd.DataFrame:
        return pd.DataFrame({"period": ["p"] * 3, "zone_id": ["MNG", "MNG", "CHN"], "zone": ["Mongolia"] * 2 + ["China"],
                             "land_km2": [1000.0] * 3, "indicator": ["sdg_15_3_1", "productivity", "sdg_15_3_1"],
                             "degraded_pct": [pct, 99.0, 50.0]})

    def cover(trees: float) -> pd.DataFrame:
        return pd.DataFrame({"zone_id": ["MNG", "MNG", "CHN"], "land_km2": [1000.0, 1000.0, 500.0],
                             "class": [1, 2, 1], "final_km2": [trees, 600.0, 5.0]})

    def moves(into: float) -> pd.DataFrame:
        return pd.DataFrame({"zone_id": ["MNG"] * 3 + ["CHN"], "initial_class": [2, 1, 3, 2],
                             "final_class": [1, 1, 1, 1], "area_km2": [into, 70.0, 1.5, 9.0]})

    return {"baseline": {"sdg_15_3_1": sdg(25.0), "land_cover": cover(80.0), "land_cover_transitions": moves(2.0)},
            "report_1": {"sdg_15_3_1": sdg(22.0), "land_cover": cover(82.5), "land_cover_transitions": moves(4.0)}}


def test_measurements_read_the_country_row_of_each_period() -> None:
    from tasks.science.targets import PeriodYears, measurements

    years = {"baseline": PeriodYears(sdg=2015, land_cover=(2000, 2015)),
             "report_1": PeriodYears(sdg=2019, land_cover=(2015, 2019))}
    targets = {t.id: t for t in load_targets().targets}
    frames = _frames()
    degraded = measurements(targets["mng-desertified-land-2030"], frames, years)  # type: ignore[arg-type]
    assert [(m.period, m.year, m.value) for m in degraded] == [("baseline", 2015, 25.0), ("report_1", 2019, 22.0)]
    trees = measurements(targets["mng-forest-cover-2030"], frames, years)  # type: ignore[arg-type]
    assert [(m.year, m.value) for m in trees] == [(2015, 8.0), (2019, 8.25)]  # class 1 over the land area, in %
    planted = _target(country="MNG", baseline={"year": 2015, "value": 0}, target={"year": 2024, "value": 900})
    areas = measurements(planted, frames, years)  # type: ignore[arg-type]
    assert [(m.year, m.value) for m in areas] == [(2015, 350.0), (2019, 550.0)]  # (2 + 1.5) km2, (4 + 1.5) km2 in ha
    assert "2000-2015; the target counts from 2015" in areas[0].note and "since" not in areas[1].note
    assert measurements(_target(country="JPN"), frames, years) == []  # type: ignore[arg-type]
    rows = track(targets["mng-forest-cover-2030"], trees)
    assert [r["status"] for r in rows] == ["reference", "on track"]  # +3.1 % against the line's +2.8 % (8.15625 -> 8.38125)


def test_a_period_without_land_with_data_gives_no_measurement_not_a_crash() -> None:
    """A zone whose SDG 15.3.1 is nodata everywhere has an undefined (NaN) degraded share: that period measures
    nothing (found on a run whose state windows were too short: the report failed on Fraction(NaN))."""
    from tasks.science.targets import PeriodYears, measurements

    years = {"baseline": PeriodYears(sdg=2015, land_cover=(2000, 2015)),
             "report_1": PeriodYears(sdg=2019, land_cover=(2015, 2019))}
    frames = _frames()
    frames["baseline"]["sdg_15_3_1"].loc[0, "degraded_pct"] = float("nan")  # type: ignore[union-attr]
    desert = next(t for t in load_targets().targets if t.id == "mng-desertified-land-2030")
    found = measurements(desert, frames, years)  # type: ignore[arg-type]
    assert [(m.period, m.value) for m in found] == [("report_1", 22.0)]
    assert [r["status"] for r in track(desert, found)] == ["reference"]
