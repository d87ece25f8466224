"""A served run (``ldn serve``) hands the flow to a subprocess with cloudpickle, and cloudpickle copies a Prefect
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
from flows.refresh import RefreshRun, refresh_indicators
from tasks.config import RunConfig

FLOW_MODULES = (Path(yearly_module.__file__), Path(yearly_module.__file__).with_name("refresh.py"))


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
    for stage in ("ingest_annual_ndvi", "period_indicators", "publish_outputs"):
        copied = cloudpickle.loads(cloudpickle.dumps(getattr(yearly_module, stage)))
        assert copied.fn.__annotations__["run"].__name__ == "RunContext"
