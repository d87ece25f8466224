"""The ``ldn`` command line: thin wrappers around the flows, one module per command group.

``_app`` holds the Typer app and its command table (``COMMANDS``: each command's module and help line);
``run`` (``sample-data``, ``run``, ``serve``), ``publish``, ``report`` (``report``, ``targets``), ``layers`` and
``registry`` each define their commands on their own ``cli`` app and import their stack at their top; ``ldn``
loads a command's module when that command runs. ``_options`` holds what the command modules share. A new
command goes into the module of its group, or a new module, and gets its line in ``COMMANDS``.
"""
from __future__ import annotations

from flows.cli._app import COMMANDS, EXIT_USER_ERROR, app

__all__ = ["app", "main", "EXIT_USER_ERROR", "COMMANDS"]


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m flows.cli``."""
    app()
