"""Did a failed run fill a disk? A watch on the free space of the folders a run writes.

A full file system does not always say so: Python raises ``ENOSPC``, but GDAL often only logs the
failed write and the next step fails on a truncated file ("not recognized as being in a supported
file format"), a minute of tracebacks away from the cause. ``DiskWatch`` samples the free space of
the run's folders a few times a second; when a run fails and one of them came close to empty, the
run says "no space left" in one line. The failed run's staging is deleted right after the failure,
so looking afterwards would find space again.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["DiskWatch", "LOW_SPACE"]

LOW_SPACE = 1 << 20
"""Bytes of free space (for unprivileged writers) below which a folder's file system counts as full."""

_EVERY = 0.2


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class DiskWatch:
    """Samples the free space under ``folders`` while open; ``ran_out()`` names the first that came below ``LOW_SPACE``."""

    def __init__(self, *folders: str | Path) -> None:
        self.folders = list(dict.fromkeys(Path(f) for f in folders))
        self.low: dict[Path, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ldn-disk-watch", daemon=True)

    def _sample(self) -> None:
        for folder in self.folders:
            try:
                st = os.statvfs(_existing(folder))
            except OSError:
                continue
            free = st.f_bavail * st.f_frsize
            if free < self.low.get(folder, LOW_SPACE):
                self.low[folder] = free

    def _run(self) -> None:
        while not self._stop.wait(_EVERY):
            self._sample()

    def __enter__(self) -> DiskWatch:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def ran_out(self) -> Path | None:
        """The first folder whose file system had less than ``LOW_SPACE`` free at some sample, else None."""
        return next((f for f in self.folders if f in self.low), None)
