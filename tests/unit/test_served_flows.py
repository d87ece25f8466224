"""A flow served by object (``flow.serve()``, ``Runner.add_flow``: how ``ldn serve`` ran until each run became its
own ``python -m prefect.engine`` process) reaches its subprocess through cloudpickle, which copies a Prefect
flow's function by value: the copy's globals hold only the names its body uses. Prefect then validates every
(sub)flow's parameters from the function's annotations, so a flow whose annotations are postponed strings
(``from __future__ import annotations``) cannot resolve them there ("`Ldn_YearlyModel` is not fully defined").
These checks do the same round trip in this process, in a second, where tests/integration/test_schedule.py needs
a Prefect server and a served run.
"""
from __future__ import annotations

import ast
from pathlib import Path

import cloudpickle
import pytest

from flows import ldn_yearly as yearly_module
from flows.options import RUN_CONFIG_FIELDS, RefreshRun
from flows.refresh import refresh_indicators
from tasks.config import RunConfig
from tasks.model import AssetSummary, Layers, LayerSummary

FLOW_MODULES = tuple(Path(yearly_module.__file__).with_name(name) for name in ("ldn_yearly.py", "refresh.py", "options.py"))


@pytest.mark.parametrize("path", FLOW_MODULES, ids=lambda p: p.name)
def test_flow_modules_keep_their_annotations_real(path: Path) -> None:
    tree = ast.parse(path.read_text())
    postponed = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert not postponed, f"{path.name}:{postponed}: a served run could not validate its flows' parameters"


def test_the_refresh_flow_and_its_subflow_validate_after_a_round_trip_by_value() -> None:
    served = cloudpickle.loads(cloudpickle.dumps(refresh_indicators))
    assert served.validate_parameters({"run": {"years": [2001, 2002]}})["run"] == RefreshRun(years=(2001, 2002))
    subflow = served.fn.__globals__["ldn_yearly"]  # the copy's own, as the served process sees it
    cfg = RunConfig(bbox=(100.0, 40.0, 101.0, 41.0))
    assert subflow.validate_parameters({"cfg": cfg})["cfg"] == cfg
    for stage in ("ingest_annual_ndvi", "period_indicators", "drought_hazard", "publish_outputs"):
        copied = cloudpickle.loads(cloudpickle.dumps(getattr(yearly_module, stage)))
        assert copied.fn.__annotations__["run"].__name__ == "RunContext"


def test_a_deployment_saved_with_the_old_option_names_still_validates() -> None:
    """Before the options took RunConfig's field names a deployment saved ``sources``, ``source``, ``out`` and
    ``min_valid``: its scheduled runs still validate, to the same run as the new names."""
    served = cloudpickle.loads(cloudpickle.dumps(refresh_indicators))
    old = {"sources": "catalogs/sources.yaml", "source": "modis-13q1", "out": "/srv/ldn/catalog", "min_valid": 5}
    new = RefreshRun(sources_file="catalogs/sources.yaml", ndvi_source="modis-13q1", out_dir="/srv/ldn/catalog",
                     min_valid_composites=5)
    assert served.validate_parameters({"run": old})["run"] == new
    assert RefreshRun.model_validate(new.model_dump(mode="json")) == new  # what `ldn serve` saves reads back


def test_options_named_like_run_config_fields_mean_them() -> None:
    """Every option named like a RunConfig field is copied into it as given (no rename table); the others are
    the run's own (its area, inputs, run file, pgstac, the nested methods) or read with a default or negation."""
    options, fields = set(RefreshRun.model_fields), set(RunConfig.model_fields)
    assert set(RUN_CONFIG_FIELDS) <= options & fields
    assert (options & fields) - set(RUN_CONFIG_FIELDS) == {"sources_file", "use_cache", "region", "bbox"}



def test_layers_reach_a_subflow_whole_and_are_recorded_in_brief() -> None:
    """A stage's layers go to the next subflow as they are; Prefect's record of the parameter (512 kB at most in
    its API) is their count per collection, whatever their number."""
    asset = AssetSummary(key="data", path="/x.tif", categorical=True, attrs={"tiles": ["h25v04"] * 500},
                         valid_pixels=1, total_pixels=1, mean=None, minimum=None, maximum=None)
    layers = Layers(items=tuple(LayerSummary(indicator="drought" if i % 2 else "lpd", item_id=f"x-{i}", year=None,
                                             attrs={}, source_items=[], assets=[asset]) for i in range(400)))
    assert Layers.model_validate(layers) is layers  # what a subflow's parameter validation hands on
    assert layers.model_dump(mode="json") == {"layers": 400, "collections": {"lpd": 200, "drought": 200}}
