"""The ``ldn`` Typer app: its command table, loaded one command module at a time, and one-line errors.

A command module (``flows/cli/<group>.py``) imports its whole stack at its top and registers its commands on its own
``cli`` app; ``COMMANDS`` names each command's module and the line ``ldn --help`` lists for it, so the help loads
no command module and a command loads only its own (``ldn layers list`` does not import Prefect). This is the
lazily loaded command group of Click's documentation, with the modules named in one table instead of imports
hidden inside functions. Every error a user can fix is printed as one line (``error: ...``) with a non-zero exit
code; nothing already published is touched.
"""
from __future__ import annotations

import importlib
import logging
from difflib import get_close_matches
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from tasks.errors import LdnError, file_error


class Listed(NamedTuple):
    """Where a command lives and what ``ldn --help`` says about it (its docstring's first paragraph)."""

    module: str
    summary: str


COMMANDS: dict[str, Listed] = {
    "sample-data": Listed("flows.cli.run", "Generate the bundled offline sample region (deterministic: same files "
                                           "on every machine)."),
    "run": Listed("flows.cli.run", "Compute and publish every SDG 15.3.1 layer with zonal tables and a report "
                                   "(default: the offline sample)."),
    "serve": Listed("flows.cli.run", "Serve the `refresh-indicators` flow with a yearly schedule to the Prefect API "
                                     "($PREFECT_API_URL)."),
    "publish": Listed("flows.cli.publish", "Load a published version into a pgstac database (search index for "
                                           "stac-fastapi-pgstac)."),
    "report": Listed("flows.cli.report", "Zonal tables (CSV, Parquet), UNCCD workbooks and an HTML report for your "
                                         "zones, from published layers;\nwith --activities, the registry's "
                                         "activities beside the indicators too."),
    "targets": Listed("flows.cli.report", "The national LDN targets table of a published version: per target and "
                                          "period the measured value, the path to\nthe target and on or off track, "
                                          "read from what the run published (nothing is recomputed)."),
    "layers": Listed("flows.cli.layers", "List and fetch published layers (no recomputation)."),
    "registry": Listed("flows.cli.registry", "The NEAMSP activity registry: who does what where (GeoPackage by "
                                             "default, or PostGIS)."),
}
"""Every ``ldn`` command, in the order the help lists them: a new command goes into its group's module (or a new
module with a ``cli`` app) and gets a line here; tests/unit/test_cli_commands.py checks the two agree."""


STACKS: dict[str, str] = {"flows.cli.run": "flows.cli.run_stack"}
"""Command modules whose work is in a second module, their stack (Prefect, Dask, the readers and writers): the
command module imports only what its options need, so its help and a typo in an option are answered in about a
second, and a command loads its stack (``load_stack``) once its options are checked."""


class CommandTable(TyperGroup):
    """The root group: lists ``COMMANDS`` from the table and loads a command's module when it is invoked.

    (Contexts and commands are typed ``Any``: Typer brings its own copy of click, whose types are not public.)
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary)  # the help's line: nothing loaded

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name in COMMANDS and name not in self.commands:
            self.add_command(load_command(name), name)
        elif name and not name.startswith("-") and name not in COMMANDS:
            close = get_close_matches(name, list(COMMANDS))
            ctx.fail(f"No such command {name!r}." + (f" Did you mean {', '.join(map(repr, close))}?" if close else ""))
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; an error the user can fix (``LdnError``, whichever command raised it) and a file-system
        error no command explained (no permission, a read-only disk, a folder that is a file) become one line and
        exit code 2, not a traceback."""
        try:
            return super().invoke(ctx)
        except LdnError as err:
            raise fail(str(err)) from None
        except Exception as err:
            if type(err).__module__.startswith(("typer", "click")):  # exits, aborts and usage errors: typer's own
                raise
            bad = file_error(err)
            if bad is None:
                raise
            raise fail(f"{bad.filename}: {bad.strerror or bad} ({type(bad).__name__}): check that the path exists and "
                       "that this user can read and write it, then rerun") from None


def load_command(name: str) -> Any:
    """The click command ``name`` as its module (``COMMANDS[name].module``) defines it on its ``cli`` app."""
    module: Any = _by_name(COMMANDS[name].module)
    command = typer.main.get_group(module.cli).commands.get(name)
    if command is None:
        raise LookupError(f"{COMMANDS[name].module} defines no command {name!r}: fix COMMANDS in flows/cli/_app.py")
    return command


def load_stack(module: str) -> Any:
    """The stack of the command module ``module`` (``STACKS``), imported when one of its commands runs past its
    options."""
    return _by_name(STACKS[module])


def _by_name(module: str) -> Any:
    """The one place a module is imported by its name: a command's (``COMMANDS``) or a command module's stack."""
    return importlib.import_module(module)


app = typer.Typer(
    name="ldn",
    cls=CommandTable,
    help="SDG 15.3.1 land degradation indicators for North-East Asia: compute, publish, retrieve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USER_ERROR = 2
"""Exit code for errors the user can fix (bad input, unreachable source, ...)."""


class _NoUserErrorTracebacks(logging.Filter):
    """Drop tracebacks from log records about errors the user can fix: the CLI explains them in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LdnError):
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_logs() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NoUserErrorTracebacks())
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    logging.getLogger("urllib3.connection").setLevel(logging.ERROR)  # "Failed to parse headers" of an answer cut at
    # its deadline (tasks.io.sources.deadline), which the run then says in one line


@app.callback()
def _setup() -> None:
    """SDG 15.3.1 land degradation indicators for North-East Asia: compute, publish, retrieve."""
    _quiet_logs()


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` (one line, on stderr) and return the exit to raise: code ``EXIT_USER_ERROR``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)
