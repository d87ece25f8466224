"""Runs that share an output folder or a layer cache: who is live, and one publisher at a time.

Two ``ldn run`` on the same ``--out`` (a scheduled refresh and a manual rerun) share the cache and
the root catalog. Each run holds an advisory lock (``flock``) on a marker file of its own under
``<cache>/.runs/`` for as long as it lives; the lock dies with the process, so a killed run never
blocks anyone. A run removes cache entries it no longer needs only when no other run is live (the
other may be reading them); the last run to finish tidies up. The version switch (rename into
``versions/`` and the root catalog rewrite) takes ``<out>/.publish.lock``: a second publisher waits,
says so, and gives up in one line after ``PUBLISH_WAIT`` seconds.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.errors import PublishError

__all__ = ["PUBLISH_WAIT", "other_runs_live", "publishing", "run_marker"]

PUBLISH_WAIT = 600.0
"""Seconds a run waits for another run's version switch before giving up (a switch takes well under a second)."""

log = logging.getLogger(__name__)


@contextmanager
def run_marker(cache_root: str | Path) -> Iterator[Path]:
    """Mark this run live on ``cache_root`` for the ``with`` block: a locked file in ``<cache_root>/.runs/``."""
    runs = Path(cache_root) / ".runs"
    runs.mkdir(parents=True, exist_ok=True)
    marker = runs / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.live"
    fd = os.open(marker, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: nobody else holds it
        yield marker
    finally:
        marker.unlink(missing_ok=True)
        os.close(fd)


def other_runs_live(cache_root: str | Path, *, mine: Path | None = None) -> list[str]:
    """The markers of live runs on ``cache_root`` other than ``mine``; stale markers of dead runs are removed."""
    runs = Path(cache_root) / ".runs"
    live = []
    for marker in sorted(runs.glob("*.live")) if runs.is_dir() else []:
        if mine is not None and marker == mine:
            continue
        try:
            fd = os.open(marker, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live.append(marker.name)
        else:  # nobody holds it: its run died without tidying up
            marker.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return live


@contextmanager
def publishing(out_dir: str | Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold ``<out_dir>/.publish.lock`` for the ``with`` block, waiting up to ``wait`` seconds (``PUBLISH_WAIT``)
    for another run's switch; a ``PublishError`` in one line when it does not end in time."""
    wait = PUBLISH_WAIT if wait is None else wait
    path = Path(out_dir) / ".publish.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishError(
                        f"another run is publishing into {out_dir} and did not finish within {wait:.0f} s: "
                        "wait for it (or stop it) and rerun; this run's layers are cached") from None
                if not told:
                    log.warning("another run is publishing into %s: waiting for it (up to %.0f s)", out_dir, wait)
                    told = True
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock
