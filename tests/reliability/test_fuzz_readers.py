"""Fuzzed inputs to the sources, run-settings and zone-file readers: a valid result or one ``ConfigError`` line.

Hypothesis mutates a valid document (a value replaced by another type or junk, a key removed, the file
cut short or replaced by random bytes); whatever it makes, the reader either accepts it or raises a
``ConfigError`` of one line. Any other exception (a ``KeyError``, a ``TypeError``, a raw pydantic error
from deep inside a stage) is a bug: that is what a user would see as a traceback.
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.options import RefreshRun, build_run
from tasks.config import SAMPLE_SOURCES, RunConfig, load_sources
from tasks.errors import ConfigError
from tasks.io.sources.run import land_cover_source, ndvi_source
from tasks.io.sources.zones import read_zones

pytestmark = pytest.mark.reliability

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(-5, 5), max_size=5),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three of its values replaced by junk or removed."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JUNK)
    return doc


def _one_line(err: ConfigError) -> None:
    text = str(err)
    assert text and "\n" not in text, text


def _write(text: str | bytes, suffix: str) -> Path:
    f = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    f.write(text.encode() if isinstance(text, str) else text)
    f.close()
    return Path(f.name)


SOURCES = yaml.safe_load(SAMPLE_SOURCES.read_text())


@FUZZ
@given(mutated(SOURCES))
def test_a_mutated_sources_file_loads_or_is_one_line(doc: Any) -> None:
    path = _write(yaml.safe_dump(doc), ".yaml")
    try:
        catalog = load_sources(path)
        cfg = RunConfig(sources_file=path, native_bounds=(0, 0, 1000, 1000))
        ndvi_source(cfg, catalog), land_cover_source(cfg, catalog)  # the lookups a run makes first
        assert catalog.sources
    except ConfigError as err:
        _one_line(err)
    finally:
        path.unlink()


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_junk_bytes_as_a_sources_file_are_one_line(junk: bytes | str) -> None:
    path = _write(junk, ".yaml")
    try:
        load_sources(path)
    except ConfigError as err:
        _one_line(err)
    finally:
        path.unlink()


RUN = {"years": [2001, 2006], "min_valid_composites": 6, "tile_size": 64,
       "productivity": {"min_years": 4, "trajectory_method": "gpg_v2", "percentile": 90, "ratio_threshold": 0.5,
                        "comparison_bbox": [111.7, 43.5, 112.2, 43.9]},
       "soc_single_f": None, "periods": ["baseline"]}


@FUZZ
@given(mutated(RUN))
def test_mutated_run_settings_build_or_are_one_line(doc: Any) -> None:
    path = _write(yaml.safe_dump(doc), ".yaml")
    try:
        build_run(RefreshRun(config=path, out_dir=Path(tempfile.gettempdir()) / "ldn-fuzz-out"))
    except ConfigError as err:
        _one_line(err)
    finally:
        path.unlink()


ZONES = {"type": "FeatureCollection",
         "features": [{"type": "Feature", "properties": {"name": "east"},
                       "geometry": {"type": "Polygon",
                                    "coordinates": [[[111.9, 43.6], [112.1, 43.6], [112.1, 43.8], [111.9, 43.8],
                                                     [111.9, 43.6]]]}},
                      {"type": "Feature", "properties": {"name": "west"},
                       "geometry": {"type": "Polygon",
                                    "coordinates": [[[111.6, 43.6], [111.9, 43.6], [111.9, 43.8], [111.6, 43.8],
                                                     [111.6, 43.6]]]}}]}


@FUZZ
@given(mutated(ZONES))
def test_a_mutated_zone_file_reads_or_is_one_line(doc: Any) -> None:
    path = _write(json.dumps(doc), ".geojson")
    try:
        zones = read_zones(path, name_field="name")
        assert zones
    except ConfigError as err:
        _one_line(err)
    finally:
        path.unlink()
