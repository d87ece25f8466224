"""The run's Dask cluster: start or reach it, check it can take the run's tasks, and watch it while the run goes on.

``dask_client`` gives a run its scheduler: Dask's threaded scheduler by default, an in-process ``local`` cluster
(``local_cluster_options``), or an existing cluster at an address, whose workers get the run's read settings.
``check_task_runner`` fails in one line unless tasks can run on the workers (``--task-runner dask``: a shared
Prefect server, ldn-pipeline installed, the output and cache folders at the same paths, or the cache's object
storage writable from every worker when the run shares nothing else, ``tasks.io.runtime.shared_nothing``). The only module of
``flows`` that imports ``distributed`` (inside the functions that need it: a run without a cluster does not load it).

A run on a Dask cluster fails in one line when the cluster goes away, instead of hanging or dumping a traceback.

Dask waits for ever for a worker to run what is queued: a cluster whose workers all died leaves the
run hanging with no word. A scheduler that dies mid-run surfaces as hundreds of lines ending in
``ClosedClientError``. ``ClusterWatch`` asks the scheduler for its workers every few seconds; when it
has had none, or has not answered, for ``LDN_DASK_LOST_TIMEOUT`` seconds (default 60), it closes the
client, which ends every computation waiting on it, and ``lost_cluster_error`` turns what those
computations raise into one ``ClusterLost`` line naming the cause and the fix.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL

from tasks.config import RunConfig, env_seconds
from tasks.errors import LdnError
from tasks.io.runtime.layer_cache import check_cache_url
from tasks.io.runtime.shared_nothing import forget_transfers, shares_nothing
from tasks.io.sources.load import ReadSettings, configure_reads

__all__ = ["forget_handoffs", "dask_client", "local_cluster_options", "uses_cluster", "check_task_runner", "written_folders", "THREADS",
           "LOCAL", "DASHBOARD_ENV", "LOCAL_MEMORY_FRACTION", "ClusterLost", "ClusterWatch", "LOST_TIMEOUT", "lost_timeout",
           "lost_cluster_error"]

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


LOCAL_MEMORY_FRACTION = 0.8
"""Share of the machine's memory (cgroup-aware) a ``--dask-address local`` cluster may use before it spills and pauses."""


THREADS = "threads"
"""``--dask-address threads`` (the default): Dask's threaded scheduler in this process, no cluster."""


LOCAL = "local"
"""``--dask-address local``: an in-process ``distributed`` cluster sized to this machine (memory limit, spilling)."""


DASHBOARD_ENV = "LDN_DASK_DASHBOARD"
"""Where a ``local`` cluster's dashboard listens: 127.0.0.1 on a free port unless this names another address on
purpose (e.g. ``0.0.0.0:8787`` to watch it from another machine)."""


def local_cluster_options() -> dict[str, Any]:
    """The ``local`` cluster: one in-process worker with a thread per core and a memory limit.

    GDAL and numpy release the GIL, so threads use every core without copying arrays between
    processes; the worker spills to disk and pauses new work as it nears the limit. Its HTTP servers
    (the scheduler's dashboard, /health and /metrics, the worker's) listen on 127.0.0.1 only, unless
    ``$LDN_DASK_DASHBOARD`` exposes the dashboard on purpose.
    """
    from distributed.system import MEMORY_LIMIT

    return {"n_workers": 1, "threads_per_worker": os.cpu_count() or 1, "processes": False,
            "memory_limit": int(MEMORY_LIMIT * LOCAL_MEMORY_FRACTION),
            "dashboard_address": os.environ.get(DASHBOARD_ENV) or "127.0.0.1:0",
            "worker_dashboard_address": "127.0.0.1:0"}


def uses_cluster(address: str | None) -> bool:
    """True when ``address`` names an existing Dask cluster (not the threaded scheduler nor a local cluster)."""
    return bool(address) and address not in (THREADS, LOCAL)


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """The Dask scheduler of a run while open: threads here by default, a local cluster, or the cluster at ``address``.

    By default (None or ``threads``) the raster work runs on Dask's threaded scheduler in this process:
    each tile task is a few tens of coarse Dask tasks (a strip of rows each) that release the GIL in
    GDAL, numpy and numba, so threads use every core with no scheduler of their own to feed (the
    in-process ``distributed`` cluster spent about 40 % of a tile-year in its own machinery;
    ``benchmarks/bench_ingest.py`` measures both). ``local`` starts that cluster anyway (memory limit
    and spilling, ``local_cluster_options``); any other address is an existing cluster, whose workers
    (ldn-pipeline installed) then compute the raster work, while Prefect's tasks stay here and pass paths.
    """
    configure_reads()  # reads in this process (the threaded scheduler, the in-process local cluster)
    if not address or address == THREADS:
        yield None
        return
    from distributed import Client, LocalCluster

    if address == LOCAL:
        options = local_cluster_options()
        # spilled data in a folder of this run's, removed after it (not /tmp/dask-scratch-space, left behind)
        with tempfile.TemporaryDirectory(prefix="ldn-dask-") as scratch, \
                LocalCluster(**options, local_directory=scratch) as cluster, Client(cluster) as client:
            print(f"local Dask cluster: {options['threads_per_worker']} threads, "
                  f"memory limit {options['memory_limit'] / 2**30:.1f} GiB")
            yield client
        return
    try:
        client = Client(address, timeout=15)
    except (OSError, TimeoutError, ValueError) as err:
        raise LdnError(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}): start it "
                       "(`dask scheduler` and `dask worker`s) or fix --dask-address") from None
    with client:
        print(f"Dask cluster {address}: {len(client.scheduler_info().get('workers', {}))} workers")
        _register_read_settings(client, address)
        with ClusterWatch(client, address, lost_timeout()) as watch:  # no worker, no scheduler: one line, no hang
            try:
                yield client
            except BaseException as err:  # a cancelled computation may arrive as a cancellation, not an Exception
                lost = lost_cluster_error(err, address, watch)
                if lost is None:
                    raise
                raise lost from None


def _register_read_settings(client: Any, address: str, attempts: int = 3) -> None:
    """Give every worker of ``client``'s cluster the run's GDAL read settings (``ReadSettings``, also to workers
    that join later). A worker lost on the way (a closed connection: it was killed or restarted) is asked again
    once the scheduler has let it go, 2 s later, up to ``attempts`` times; a worker that cannot import
    ldn-pipeline is one line."""
    for attempt in range(attempts):
        try:
            client.register_plugin(ReadSettings())
            return
        except OSError as err:  # distributed's CommClosedError: a worker went away mid-call
            if attempt == attempts - 1:
                raise LdnError(f"the Dask cluster at {address} kept losing workers while it was given the run's read "
                               f"settings ({type(err).__name__}): check its workers, then rerun") from None
            time.sleep(2.0)
        except Exception as err:  # noqa: BLE001  (a worker that cannot import ldn-pipeline)
            raise LdnError(f"the Dask workers at {address} cannot load ldn-pipeline's read settings "
                           f"({type(err).__name__}): pip install ldn-pipeline on every worker") from None


def check_task_runner(task_runner: str, address: str | None, client: Any | None, cfg: RunConfig | None = None) -> None:
    """Fail in one line unless tasks can run on the Dask workers: ``--task-runner dask`` needs an existing
    cluster, a Prefect server (not the temporary one each process would start) that every worker reports
    to, ldn-pipeline importable on every worker, and where the run's tasks write (``cfg``): its folders (the
    catalog and the cache) at the same paths on every worker or, when it shares nothing but object storage
    (``shares_nothing``), the cache's object storage writable from every worker."""
    if task_runner == "threads":
        return
    if not uses_cluster(address) or client is None:
        raise LdnError("--task-runner dask runs tasks on an existing Dask cluster: pass --dask-address "
                       "tcp://host:8786 (or set LDN_DASK_ADDRESS)")

    api = PREFECT_API_URL.value()
    if not api:
        raise LdnError("--task-runner dask needs a Prefect server that the Dask workers report to: run `prefect "
                       "server start`, then set PREFECT_API_URL to its /api here and on every worker")

    def facts() -> tuple[str | None, bool]:  # runs on each worker (pickled by value)
        import importlib.util  # noqa: PLC0415  (runs on a worker, pickled by value: its imports travel with it)

        try:
            from prefect.settings import PREFECT_API_URL as url  # noqa: PLC0415  (a worker may lack Prefect)
        except ImportError:
            return None, False
        return url.value(), importlib.util.find_spec("tasks.stages.annual_ndvi") is not None

    found = client.run(facts)
    elsewhere = sorted({str(url) if url else "no Prefect server" for url, _ in found.values() if url != api})
    if elsewhere:
        raise LdnError(f"{sum(url != api for url, _ in found.values())} of {len(found)} Dask workers report to "
                       f"{', '.join(elsewhere)} instead of {api}: start every worker with PREFECT_API_URL={api}")
    missing = sum(not ok for _, ok in found.values())
    if missing:
        raise LdnError(f"{missing} of {len(found)} Dask workers cannot import ldn-pipeline: pip install it on every "
                       "worker (the same version as here)")
    if cfg is None:
        return
    if shares_nothing(cfg):
        assert cfg.cache_url is not None
        _check_store_from_workers(client, cfg.cache_url)
    else:
        _check_shared(client, written_folders(cfg))


def _check_store_from_workers(client: Any, url: str) -> None:
    """Fail in one line unless every worker can write (and remove) a probe object in the object storage at ``url``,
    through which the workers and this machine hand each other their files."""

    def probe(store: str) -> str | None:  # runs on each worker (check_cache_url travels by name: ldn-pipeline is there)
        try:
            check_cache_url(store)
        except Exception as err:  # noqa: BLE001  (one line back to the flow, whatever the worker lacks)
            return " ".join(str(err).split())[:300]
        return None

    found = client.run(probe, url)
    failed = [said for said in found.values() if said is not None]
    if failed:
        raise LdnError(f"{len(failed)} of {len(found)} Dask workers cannot write to {url}, through which they hand "
                       f"their files on (they share no folder with this machine): {failed[0]}")


def _check_shared(client: Any, folders: tuple[Path, ...]) -> None:
    """Fail in one line unless every worker sees a probe file written here into each folder, and may write there."""
    probes = []
    try:
        for shared in folders:
            folder = Path(shared).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".ldn-probe-{uuid.uuid4().hex[:12]}"
            probe.write_text("written by the machine that runs the flow\n")
            probes.append(str(probe))

        def blind(paths: list[str]) -> list[str]:  # runs on each worker

            return [p for p in paths if not (os.path.isfile(p) and os.access(os.path.dirname(p), os.W_OK))]

        found = client.run(blind, probes) if probes else {}
    finally:
        for written in probes:
            Path(written).unlink(missing_ok=True)
    unseen = sorted({str(Path(p).parent) for missing in found.values() for p in missing})
    if unseen:
        workers = sum(bool(missing) for missing in found.values())
        raise LdnError(f"{workers} of {len(found)} Dask workers cannot see or write {', '.join(unseen)}: tasks write "
                       "tiles and layers there, so mount it at the same path on every worker (or pass --out and "
                       "--cache-dir on a shared file system, or put --out and --cache-url both in object storage)")


def written_folders(cfg: RunConfig) -> tuple[Path, ...]:
    """The folders tasks on the workers write to, which they must share with this machine: the catalog (its staging
    version and tile scratch) and the layer cache; none when the run shares nothing but object storage (its tasks
    then write to their own worker's disk, ``tasks.io.runtime.shared_nothing``)."""
    if shares_nothing(cfg):
        return ()
    return (Path(cfg.out_dir),) + ((Path(cfg.cache_dir),) if cfg.cache_dir is not None else ())


def forget_handoffs(cfg: RunConfig, staging: str) -> None:
    """Remove what a run's workers handed on through object storage (``tasks.io.runtime.shared_nothing``) and their
    copies of its staging version ``staging``; nothing for a run that shares a folder."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):  # no client here: the workers' copies go with their folders
        client = None
    forget_transfers(cfg, staging, client)
