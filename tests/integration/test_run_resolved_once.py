"""`ldn run` resolves its run once: one ``run_context`` and one read of the sources file, from the command's checks
to the last task, and the same for ``--plan``. (It used to build the run context three times, in the command's
checks, again in the flow's and once more in the yearly flow, and to parse the sources YAML up to five times.)

The two functions are counted where every module that imported them looks them up, so a new call anywhere in the
package is seen.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import flows.cli.run_stack  # noqa: F401  (the commands' whole stack, so every module that imports the two is loaded)
from flows.cli import app
from tasks.config import load_sources
from tasks.io.sources.run import run_context

pytestmark = pytest.mark.integration


def _count(monkeypatch: pytest.MonkeyPatch, original: Callable[..., Any], calls: list[str]) -> None:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(original.__name__)
        return original(*args, **kwargs)

    modules = [m for name, m in list(sys.modules.items()) if name.startswith(("tasks", "flows"))
               and getattr(m, original.__name__, None) is original]
    assert modules, f"no module imports {original.__name__}"
    for module in modules:
        monkeypatch.setattr(module, original.__name__, counted)


@pytest.mark.parametrize("plan", [False, True], ids=["run", "plan"])
def test_ldn_run_builds_its_run_context_once_and_reads_its_sources_once(
        plan: bool, sample_dir: Path, tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _count(monkeypatch, run_context, calls)
    _count(monkeypatch, load_sources, calls)
    args = ["run", "--sample-dir", str(sample_dir), "--years", "2001-2003", "--out", str(tmp_path / "catalog")]
    result = CliRunner().invoke(app, args + (["--plan"] if plan else []))
    assert result.exit_code == 0, result.output + result.stderr
    assert calls.count("run_context") == 1, calls
    assert calls.count("load_sources") == 1, calls
    assert (tmp_path / "catalog" / "catalog.json").is_file() != plan
