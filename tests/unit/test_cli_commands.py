"""The ``ldn`` command table (``flows.cli._app.COMMANDS``): it names every command of the command modules, lists each
with the line its docstring gives, and ``ldn --help`` loads no command module while a command loads only its own."""
from __future__ import annotations

import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import flows.cli
from flows.cli import COMMANDS, app
from flows.cli._app import STACKS, load_command
from tests.helpers import REPO

COMMAND_MODULES = sorted(f"flows.cli.{m.name}" for m in pkgutil.iter_modules(flows.cli.__path__)
                         if not m.name.startswith("_") and f"flows.cli.{m.name}" not in STACKS.values())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_listed_line_is_the_commands_own_first_paragraph(name: str) -> None:
    help_text = inspect.cleandoc(load_command(name).help or "")
    assert COMMANDS[name].summary == help_text.split("\n\n")[0]


def test_the_table_lists_every_command_of_every_command_module_once() -> None:
    defined = {}
    for module_name in COMMAND_MODULES:
        module = __import__(module_name, fromlist=["cli"])
        for name in typer.main.get_group(module.cli).commands:
            defined[name] = module_name
    assert defined == {name: listed.module for name, listed in COMMANDS.items()}


def test_the_help_lists_the_same_lines_before_and_after_the_commands_load(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    group = typer.main.get_command(app)

    def help_text() -> str:
        group.main(["--help"], prog_name="ldn", standalone_mode=False)
        return capsys.readouterr().out

    lazily = help_text()
    for name in COMMANDS:
        group.add_command(load_command(name), name)
    assert lazily == help_text() and all(f" {name} " in lazily for name in COMMANDS)


def _loaded_after(*args: str) -> set[str]:
    script = ("import sys, json\nfrom flows.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


def test_the_help_loads_no_command_module_and_a_command_only_its_own() -> None:
    listed = _loaded_after("--help")
    assert not listed & set(COMMAND_MODULES) and "prefect" not in listed and "xarray" not in listed
    layers = _loaded_after("layers", "versions", "--catalog", str(REPO / "no-such-catalog"))
    assert layers & set(COMMAND_MODULES) == {"flows.cli.layers"} and "prefect" not in layers


RUN_STACK = ("flows.cli.run_stack", "prefect", "dask.array", "distributed", "numba", "xarray", "rasterio", "pandas")
"""What `ldn run` imports to work, and its help and option checks must not wait for (issue 34 item 8)."""


@pytest.mark.parametrize(("args", "said"), [
    (("run", "--help"), "Usage: ldn run"),
    (("serve", "--help"), "Usage: ldn serve"),
    (("sample-data", "--help"), "Usage: ldn sample-data"),
    (("run", "--years", "2020-2010"), "error: --years: years 2020-2010 are reversed; write FIRST-LAST, e.g. 2010-2020"),
    (("run", "--years", "20x0"), "error: --years '20x0' is not YEAR or FIRST-LAST"),
    (("run", "--bbox", "1,2,3"), "error: --bbox '1,2,3' is not four numbers"),
    (("run", "--bbox", "10,50,20,40"), "error: --bbox south 50 > north 40"),
    (("run", "--sources", "no-such-sources.yaml"), "error: --sources no-such-sources.yaml: no such file"),
    (("run", "--tile-size", "big"), "Invalid value for '--tile-size': Input should be a valid integer"),
    (("run", "--task-runner", "gpu"), "'gpu' is not one of"),
])
def test_run_help_and_option_typos_are_answered_before_the_run_stack_loads(args: tuple[str, ...], said: str) -> None:
    """`ldn run --help` waited for Prefect, Dask and the readers to import (32 s under load): the options and what
    they alone can tell are checked in flows.cli.run, and flows.cli.run_stack loads only past them."""
    _answered_light(args, said)


@pytest.mark.parametrize(("settings", "said"), [
    ("productivity:\n  min_yeers: 10\n", "productivity.min_yeers: unknown field (a typo?)"),
    ("yeras: [2001, 2010]\n", "yeras: unknown field (a typo?)"),
    ("productivity:\n  trajectory_method: foo\n", "productivity.trajectory_method: Input should be 'trends_earth' or"),
    ("drought:\n  calibration: [2020, 1991]\n", "drought.calibration"),
])
def test_a_run_file_typo_is_answered_before_the_run_stack_loads(tmp_path: Path, settings: str, said: str) -> None:
    """The run file (`--config`) is checked against the run's settings model before the stack loads, with the
    message the full check gives later."""
    config = tmp_path / "run.yaml"
    config.write_text(settings)
    _answered_light(("run", "--config", str(config)), f"error: invalid configuration in {config}: {said}")


def _answered_light(args: tuple[str, ...], said: str) -> None:
    """``ldn <args>`` in a fresh interpreter says ``said`` and exits (0 for a help, else 2) without importing any of
    ``RUN_STACK``."""
    script = ("import sys, json\nfrom flows.cli import app\ntry:\n    app(sys.argv[1:], prog_name='ldn')\n"
              "except SystemExit as e:\n    code = e.code\nprint(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    code, loaded = json.loads(out.stderr.strip().splitlines()[-1])
    shown = " ".join((out.stdout + out.stderr).replace("│", " ").split())
    assert said in shown, shown[-800:]
    assert code == (0 if "--help" in args else 2)
    assert not set(RUN_STACK) & set(loaded), sorted(set(RUN_STACK) & set(loaded))


def test_a_mistyped_command_is_one_line_with_the_close_one() -> None:
    result = CliRunner().invoke(app, ["regstry", "list"])
    assert result.exit_code == 2 and "No such command 'regstry'. Did you mean 'registry'?" in result.output
