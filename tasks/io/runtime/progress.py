"""Progress of the flow's stages: a bar per stage on a terminal, a count line in the Prefect log always.

Bars are drawn only when stderr is a terminal, so logs, CI output and the one-line errors stay clean.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from prefect.futures import as_completed

__all__ = ["track_stage"]


def track_stage(name: str, futures: Sequence[Any], log: Any, *, since: float | None = None) -> float:
    """Wait for a stage's mapped task futures, showing a progress bar on a terminal and logging the count.

    Returns the seconds the stage took: from now, or for a stage that ran beside another before it was waited
    for, from ``since`` (``time.time()`` when it was submitted) to its last task's end.
    """
    started = time.monotonic()
    total = len(futures)
    if sys.stderr.isatty() and total:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=False) as bar:
            job = bar.add_task(name, total=total)
            for _ in as_completed(list(futures)):
                bar.advance(job)
    else:
        for _ in as_completed(list(futures)):
            pass
    failed = sum(1 for f in futures if f.state.is_failed() or f.state.is_crashed())
    seconds = time.monotonic() - started
    if since is not None and futures:
        seconds = max(f.state.timestamp.timestamp() for f in futures) - since
    log.info("%s: %d of %d tasks done in %.1f s%s", name, total - failed, total, seconds,
             f", {failed} failed" if failed else "")
    return seconds
