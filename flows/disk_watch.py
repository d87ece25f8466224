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
import tempfile
import threading
from pathlib import Path

from tasks.constants import LOW_SPACE
from tasks.errors import DiskFull, LdnError, UnwritablePath, disk_full, file_error

__all__ = ["DiskWatch", "LOW_SPACE", "run_failure"]


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


def run_failure(err: BaseException, disks: DiskWatch | None, out: str | Path) -> LdnError | None:
    """The one-line error a run that failed with ``err`` should end with when the cause is a full disk (``ENOSPC`` in
    ``err``'s chain, or a folder ``disks`` watched came near empty) or a file-system error naming a path; None when it
    is neither (``err`` says what it is). ``out`` is the run's ``--out``, named in the advice."""
    named = disk_full(err)
    low = disks.ran_out() if disks is not None else None
    if named is None and low is None:
        if (bad := file_error(err)) is not None:
            return UnwritablePath(
                f"{bad.filename}: {bad.strerror or bad} ({type(bad).__name__}): check that the path exists and that "
                "this user can write it, then rerun; published versions are untouched and finished work is cached")
        return None
    where = named or str(low or "")
    return DiskFull(
        f"no space left on the disk{f' of {where}' if where else ''}: free space where --out ({out}), the cache and "
        f"the temporary folder ({tempfile.gettempdir()}) live, or point them at a larger disk, then rerun; published "
        "versions are untouched and finished work is cached")
