"""A run's own temporary Prefect API server: its database in a folder of the run's, gone with the run.

Without ``PREFECT_API_URL`` Prefect starts a temporary server for a flow and keeps its history in the
user's ``~/.prefect/prefect.db``, which grows by every run (86 MB seen), and a run killed with SIGKILL
left that server running. ``private_server`` starts the same server (Prefect's own
``SubprocessASGIServer``) with its database in ``$TMPDIR/ldn-prefect-<pid>-*``, a watchdog that stops
it when the run's process is gone however it ended, and removes the folder after the run; a later run
removes folders whose run is dead. The first run keeps an empty, migrated database of its Prefect
version in ``~/.cache/ldn-pipeline/`` (about 1 MB, never written again) that later runs start from. To keep flow-run history, run ``prefect server start`` and set
``PREFECT_API_URL``: then nothing here is started.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import prefect
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_LOGGING_TO_API_ENABLED,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    temporary_settings,
)

from tasks.io.runtime.processes import pid_alive, start_watchdog

__all__ = ["private_server", "WORKDIR_PREFIX"]

WORKDIR_PREFIX = "ldn-prefect-"
"""Prefix of a run's temporary Prefect folder under the temp directory: ``ldn-prefect-<pid>-<random>``."""


def _template() -> Path:
    """Where an empty, migrated Prefect database of this Prefect version is kept for the next runs to copy (a new
    database needs about 10 s of schema migrations at server start)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ldn-pipeline"
    return cache / f"prefect-{prefect.__version__}-empty.db"


def _keep_template(database: Path, template: Path) -> None:
    """Copy the just-migrated, still empty ``database`` to ``template`` (a consistent snapshot; atomic rename)."""
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        tmp = template.with_name(f".{template.name}.{os.getpid()}.tmp")
        with sqlite3.connect(database) as src, sqlite3.connect(tmp) as dst:
            src.backup(dst)  # consistent while the server holds the file open (WAL)
        os.replace(tmp, template)
    except (OSError, sqlite3.Error):  # a read-only home: every run migrates its own database
        pass


def _clear_stale() -> None:
    """Remove the Prefect folders of runs that are no longer alive (killed before they could tidy up)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{WORKDIR_PREFIX}*")):
        match = re.match(rf"{WORKDIR_PREFIX}(\d+)-", os.path.basename(path))
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def private_server() -> Iterator[str | None]:
    """Within the block, flows report to a temporary Prefect server of this run's (its API URL is yielded), unless
    ``PREFECT_API_URL`` names a server already (None is yielded and nothing is started)."""
    if PREFECT_API_URL.value():
        yield None
        return
    # the server's own stack (its web app and database, about a second to import) only when a server is started
    from prefect.server.api.server import SubprocessASGIServer  # noqa: PLC0415

    _clear_stale()
    workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
    database = Path(workdir) / "prefect.db"
    template = _template()
    if template.is_file():
        shutil.copyfile(template, database)  # migrated already: the server starts as fast as on ~/.prefect's
    server = watchdog = None
    try:
        with temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{database}"}):
            server = SubprocessASGIServer()
            server.start()  # the settings above reach the server process through its environment
        if not template.is_file():
            _keep_template(database, template)
        assert server.server_process is not None
        watchdog = start_watchdog(server.server_process.pid)
        # the run's logs stay in the terminal: the server's database is gone after the run, and a log line sent to it
        # as it stops would print "Error logging to API" after the run's last line
        with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_LOGGING_TO_API_ENABLED: False}):
            yield server.api_url
    finally:
        if server is not None:
            server.stop()
        if watchdog is not None:
            watchdog.wait(timeout=10)  # it returns once the server is gone
        shutil.rmtree(workdir, ignore_errors=True)
