"""The ``ldn`` command line: thin wrappers around the flows, one module per command group.

``_app`` holds the Typer app and what the commands share; ``run`` (``sample-data``, ``run``, ``serve``),
``layers``, ``publish`` and ``report`` each add their commands to it when imported, here. A new command
goes into the module of its group, or a new module imported below.
"""
from __future__ import annotations

from flows.cli import run  # noqa: F401  (registers sample-data, run and serve: first, so they lead the help)
from flows.cli._app import EXIT_USER_ERROR, app

# isort: split
from flows.cli import layers, publish, registry, report  # noqa: F401  (each registers its commands on the app)

__all__ = ["app", "main", "EXIT_USER_ERROR"]


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m flows.cli``."""
    app()
