"""Progress of the flow's stages: a bar per stage on a terminal, a count line in the Prefect log always.

Bars are drawn only when stderr is a terminal, so logs, CI output and the one-line errors stay clean.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from prefect.futures import as_completed

from tasks.model import ProductivityTile, TileYear

__all__ = ["track_stage", "ingest_summary", "tile_period_summary"]


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


def ingest_summary(tiles: list[TileYear | None], seconds: float, http_bytes: int | None = None,
                   linked: Sequence[tuple[str, int]] = ()) -> str:
    """One line for the log: tile-years linked from the cache (``linked``: the (tile, year) of the years restored
    whole, which ran no tile task) or computed, scenes, bytes decoded, bytes downloaded (``http_bytes``, from GDAL's
    network statistics, when known) and throughput."""
    done = [t for t in tiles if t is not None]
    new = [t for t in done if not t.from_cache]
    scenes = sum(len(t.source_items) for t in new)
    mb = sum(t.bytes_decoded for t in new) / 1e6
    rate = f", {mb / seconds:.1f} MB/s decoded" if seconds > 0 else ""
    pulled = f", {http_bytes / 1e6:.1f} MB read over HTTP" if http_bytes is not None else ""
    checked = sum(t.bytes_checked for t in new) / 1e6
    verified = f", {checked:.1f} MB of files checked against their file:checksum" if checked else ""
    tail = f" ({mb:.1f} MB decoded{pulled}{verified}{rate})" if new else " (nothing new: no scene read)"
    every = [(t.tile, t.year) for t in done] + list(linked)
    return (f"{len({t for t, _ in every})} tiles x {len({y for _, y in every})} years = {len(every)} tile-years: "
            f"{len(every) - len(new)} linked from the cache, {len(new)} computed from {scenes} scenes{tail}")


def tile_period_summary(tiles: list[ProductivityTile], seconds: float) -> str:
    """One line for the log: tile-periods linked from the cache or computed, annual pixels read and throughput."""
    new = [t for t in tiles if not t.from_cache]
    mpx = sum(t.pixels for t in new) / 1e6
    rate = f", {mpx / seconds:.1f} M pixel-years/s" if new and seconds > 0 else ""
    return (f"{len(tiles)} tile-periods: {len(tiles) - len(new)} linked from the cache, {len(new)} computed"
            f"{f' from {mpx:.1f} M annual pixel-years{rate}' if new else ''}")
