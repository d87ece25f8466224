"""A run on a Dask cluster fails in one line when the cluster goes away, instead of hanging or dumping a traceback.

Dask waits for ever for a worker to run what is queued: a cluster whose workers all died leaves the
run hanging with no word. A scheduler that dies mid-run surfaces as hundreds of lines ending in
``ClosedClientError``. ``ClusterWatch`` asks the scheduler for its workers every few seconds; when it
has had none, or has not answered, for ``LDN_DASK_LOST_TIMEOUT`` seconds (default 60), it closes the
client, which ends every computation waiting on it, and ``lost_cluster_error`` turns what those
computations raise into one ``ClusterLost`` line naming the cause and the fix.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from tasks.config import env_seconds
from tasks.errors import LdnError

__all__ = ["ClusterLost", "ClusterWatch", "LOST_TIMEOUT", "lost_timeout", "lost_cluster_error"]

LOST_TIMEOUT = 60.0
"""Seconds a cluster may have no worker, or its scheduler not answer, before the run gives up."""

_CHECK_EVERY = 2.0


class ClusterLost(LdnError):
    """The Dask cluster of the run lost every worker, or its scheduler, mid-run."""


def lost_timeout() -> float:
    """``LOST_TIMEOUT``, or ``$LDN_DASK_LOST_TIMEOUT`` seconds."""
    return env_seconds("LDN_DASK_LOST_TIMEOUT", LOST_TIMEOUT)


class ClusterWatch:
    """A daemon thread that closes ``client`` once its cluster has had no worker, or no scheduler, for ``timeout`` s."""

    def __init__(self, client: Any, address: str, timeout: float) -> None:
        self.client, self.address, self.timeout = client, address, timeout
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ldn-cluster-watch", daemon=True)

    def __enter__(self) -> ClusterWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _probe(self) -> str | None:
        """None while the cluster can work, else what is wrong."""
        try:
            workers = self.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.workers))
        except Exception as err:  # noqa: BLE001  (comm, timeout and closed-client errors have no common base)
            return f"its scheduler stopped answering ({type(err).__name__})"
        return None if workers else "it has no worker left"

    def _run(self) -> None:
        since: float | None = None
        while not self._stop.wait(_CHECK_EVERY):
            problem = self._probe()
            if problem is None:
                since = None
                continue
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= self.timeout:
                self.reason = f"{problem} for {self.timeout:.0f} s"
                try:
                    self.client.close(timeout=5)  # every computation waiting on the cluster ends now
                except Exception:  # noqa: BLE001
                    pass
                return


_LOSS_TYPES = ("ClosedClientError", "CommClosedError", "CancelledError", "FutureCancelledError", "StreamClosedError",
               "KilledWorker")


def lost_cluster_error(err: BaseException, address: str, watch: ClusterWatch | None) -> ClusterLost | None:
    """A one-line ``ClusterLost`` when ``err`` comes from losing the cluster at ``address`` (or the watch gave up),
    else None: the error is the run's own."""
    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and len(chain) < 20:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    lost = any(type(e).__name__ in _LOSS_TYPES for e in chain)
    if watch is not None and watch.reason is not None:
        return ClusterLost(f"the Dask cluster at {address} stopped working: {watch.reason}; restart its scheduler and "
                           "workers and rerun (finished tiles are cached; published versions are untouched)")
    if lost:
        name = next(type(e).__name__ for e in chain if type(e).__name__ in _LOSS_TYPES)
        return ClusterLost(f"the Dask cluster at {address} went away mid-run ({name}): restart its scheduler and "
                           "workers and rerun (finished tiles are cached; published versions are untouched)")
    return None
