"""Where a task's raster graphs run when the task itself runs on a Dask worker (``--task-runner dask``).

A Prefect task that prefect-dask ships to a worker computes its graphs on the same cluster. While it
waits for them it must give its worker thread back (``worker_client`` secedes), or a cluster whose
threads all hold waiting tasks deadlocks; and its GeoTIFF writes need a distributed lock, since the
graph's blocks are written by other processes. Elsewhere (the flow's own process) nothing changes.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import dask

__all__ = ["on_a_worker", "computes_on_cluster", "computes_here", "computing_here"]

F = TypeVar("F", bound=Callable[..., Any])

_HERE: contextvars.ContextVar[bool] = contextvars.ContextVar("ldn_computes_here", default=False)


def computes_here() -> bool:
    """True inside a task that works on its worker's own disk (``tasks.io.runtime.shared_nothing``): its raster graphs
    run on that worker's threads, and the blocks of a GeoTIFF are written by this process only."""
    return _HERE.get()


_HOLDERS = 0
_HOLDERS_LOCK = threading.Lock()
_BEFORE: list[Any] = []


@contextlib.contextmanager
def computing_here() -> Iterator[None]:
    """While open, this thread's task computes its raster graphs on this process's threads (``computes_here``).

    Dask's scheduler setting is one per process, so it is held while any task of the process is inside (a worker with
    several threads runs several at once): the first to enter sets it, the last to leave restores what was there."""
    global _HOLDERS
    token = _HERE.set(True)
    with _HOLDERS_LOCK:
        if _HOLDERS == 0:
            _BEFORE[:] = [dask.config.get("scheduler", None)]
            dask.config.set(scheduler="threads")
        _HOLDERS += 1
    try:
        yield
    finally:
        with _HOLDERS_LOCK:
            _HOLDERS -= 1
            if _HOLDERS == 0:
                dask.config.set(scheduler=_BEFORE[0])
        _HERE.reset(token)


def on_a_worker() -> bool:
    """True inside a task running on a Dask distributed worker."""
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def computes_on_cluster(fn: F) -> F:
    """Run ``fn`` seceded from its worker's thread pool when it runs on a Dask worker, so the graphs it
    computes run on the cluster beside it instead of waiting for the thread it holds (unless it works on its
    worker's own disk, ``computes_here``: its graphs then stay on that worker's threads)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not on_a_worker() or computes_here():
            return fn(*args, **kwargs)
        from distributed import worker_client

        with worker_client():  # also the default scheduler of the graphs computed inside (no global config)
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
