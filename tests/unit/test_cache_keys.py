"""Cache keys hold what a layer reads, and a miss says in words what changed."""
from __future__ import annotations

from pathlib import Path

from tasks.config import RunConfig
from tasks.io.runtime.cache_keys import (
    LAND_SOC_SETTINGS,
    PRODUCTIVITY_SETTINGS,
    cache_key,
    describe_change,
    inputs_of,
    key_document,
    settings_fingerprint,
)
from tasks.io.runtime.layer_cache import CacheDir, remember, why_recomputed
from tasks.io.sources.integrity import file_fingerprint


def test_settings_hold_only_their_fields_never_the_years_or_the_outputs(tmp_path: Path) -> None:
    a = RunConfig(native_bounds=(0, 0, 1000, 1000), years=(2001, 2023), out_dir=tmp_path / "a")
    b = a.model_copy(update={"years": (2001, 2024), "out_dir": tmp_path / "b", "tile_size": 256, "periods": ("baseline",)})
    for fields in (PRODUCTIVITY_SETTINGS, LAND_SOC_SETTINGS):
        assert settings_fingerprint(a, fields) == settings_fingerprint(b, fields)
    c = a.model_copy(update={"productivity": a.productivity.model_copy(update={"percentile": 80.0})})
    assert settings_fingerprint(c, PRODUCTIVITY_SETTINGS) != settings_fingerprint(a, PRODUCTIVITY_SETTINGS)
    assert settings_fingerprint(c, LAND_SOC_SETTINGS) == settings_fingerprint(a, LAND_SOC_SETTINGS)


def test_a_default_file_is_keyed_by_its_content(tmp_path: Path) -> None:
    model = tmp_path / "soc.yaml"
    model.write_text("a: 1\n")
    cfg = RunConfig(native_bounds=(0, 0, 1000, 1000))
    doc = settings_fingerprint(cfg, LAND_SOC_SETTINGS, soc_model=model)
    assert doc["soc_model"] == file_fingerprint(str(model))
    model.write_text("a: 2\n")
    assert settings_fingerprint(cfg, LAND_SOC_SETTINGS, soc_model=model) != doc


def test_inputs_keep_the_years_a_layer_reads() -> None:
    inputs = {"lc": {"years": {"2000": ["a"], "2015": ["b"], "2024": ["c"]}}, "soc": {"file": "sha"}}
    assert inputs_of(inputs, "lc", (2000, 2015)) == {"years": {"2000": ["a"], "2015": ["b"]}}
    assert inputs_of(inputs, "soc", (2000, 2015)) == {"file": "sha"}
    assert inputs_of(inputs, None) is None


def test_a_miss_says_what_changed(tmp_path: Path) -> None:
    old = {"period": "report_2", "annual": {"2022": "k1", "2023": "k2"}, "settings": {"productivity": {"percentile": 90}},
           "land_cover": {"years": {"2008": ["x"]}}}
    new = {**old, "annual": {"2022": "k1", "2023": "k3"}}
    assert describe_change(key_document("productivity", old), key_document("productivity", new)) == \
        "its window's annual NDVI layers changed (2023)"
    new = {**old, "settings": {"productivity": {"percentile": 80}}, "land_cover": {"years": {"2008": ["y"]}}}
    assert describe_change(old, new) == ("its land cover items changed (2008); "
                                         "its settings changed (productivity.percentile)")
    cache = CacheDir(tmp_path)
    assert why_recomputed(cache, "report_2", "productivity", old) is None  # never cached here
    remember(cache, "report_2", "productivity", old)
    assert why_recomputed(cache, "report_2", "productivity", old) == "its cache entry is gone"
    assert why_recomputed(cache, "report_2", "productivity", {**old, "annual": {"2022": "k0", "2023": "k2"}}) == \
        "its window's annual NDVI layers changed (2022)"
    assert cache_key("productivity", old) != cache_key("productivity", new)
