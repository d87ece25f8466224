"""Tasks on Dask workers that share no disk with the flow's machine, only object storage.

With ``--task-runner dask`` and both ``--out`` and ``--cache-url`` in object storage (``shares_nothing``), a task
shipped to a worker works in that worker's own folder (under its Dask ``local_directory``), never at the paths of the
machine that runs the flow. What the task is given (tile-years, layers, period tiles) is fetched from object storage
first; what it writes is put there before it returns. Paths travel between tasks in the flow machine's own form, so
the flow, the cache keys and the published bytes are those of a run on one machine:

- a path under the layer cache (``cache_root``) is ``<kind>/<key>/...``: the entry ``key`` of ``kind``, which the
  cache's object tier already holds (``store_entry`` uploads every entry it stores); a worker that lacks the entry
  downloads it whole (``open_entry``);
- a path under the run's folder (the staging version and its scratch) is the object
  ``<cache-url>/.transfer/<the path under the folder>``, written by the task that wrote the file and removed when the
  run ends (``forget_transfers``).

A task's raster graphs compute on its own worker's threads, since the files they read and write are on that worker's
disk; the flow's machine fetches every layer the workers wrote into its staging version (``fetch_layers``) before the
stages that run there (drought, people, publishing) read them.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import os
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tasks.config import RunConfig
from tasks.errors import CacheStorageError
from tasks.io.runtime.cluster import computing_here, on_a_worker
from tasks.io.runtime.layer_cache import (
    STORE_BYTES,
    CacheDir,
    cache_root,
    count_store_bytes,
    open_entry,
    remote_call,
    remote_fs,
)
from tasks.io.runtime.netstats import network_bytes
from tasks.io.sources.run import RunContext

__all__ = ["TASK_LEDGER", "shares_nothing", "anchored", "on_its_own_disk", "fetch_layers", "forget_transfers", "Places", "TRANSFER",
           "WORKER_FOLDER"]

F = TypeVar("F", bound=Callable[..., Any])

TRANSFER = ".transfer"
"""The prefix, under ``--cache-url``, of the files a worker wrote into the run's folder, while the run lasts."""

WORKER_FOLDER = "ldn"
"""A worker's own folder, under its Dask ``local_directory``: ``out`` (the run's folder) and ``cache`` (the layer
cache's local tier, kept between runs while the worker lives)."""

_PULLERS = 8
"""Files fetched at once (object storage answers each request in tens of milliseconds; the bytes then stream)."""

def shares_nothing(cfg: RunConfig) -> bool:
    """True when the run's tasks on Dask workers keep to their own disks: its catalog and its cache are both in
    object storage (``--out s3://...``, ``--cache-url s3://...``), so nothing they hand on needs a shared folder."""
    return bool(cfg.publish_url and cfg.cache_url and cfg.use_cache)


def anchored(run: RunContext) -> RunContext:
    """``run`` with its folder and cache as absolute paths of this machine (a relative ``out_dir``, such as a store's
    local copy, means nothing on a worker with another working directory), so workers translate them exactly."""
    cfg = run.cfg
    return run.model_copy(update={"cfg": cfg.model_copy(update={"out_dir": Path(cfg.out_dir).resolve(),
                                                               "cache_dir": cache_root(cfg).resolve()})})


@dataclasses.dataclass(frozen=True)
class Places:
    """Where the run's folder (``out``) and layer cache (``cache``) are on the flow's machine, where this machine keeps
    them, and the object storage between: the translation of a path from one machine to the other."""

    out: str
    cache: str
    here_out: Path
    here_cache: Path
    cache_url: str

    @classmethod
    def of(cls, cfg: RunConfig, here: Path | None = None) -> Places:
        """The run's places on the flow's machine, kept under ``here`` on this one (None: this is the flow's)."""
        assert cfg.cache_url is not None
        out, cache = str(Path(cfg.out_dir).resolve()), str(cache_root(cfg).resolve())
        if here is None:
            return cls(out, cache, Path(out), Path(cache), cfg.cache_url.rstrip("/"))
        return cls(out, cache, here / "out", here / "cache", cfg.cache_url.rstrip("/"))

    def run_here(self, run: RunContext) -> RunContext:
        """``run`` with its folder and cache in this machine's places."""
        return run.model_copy(update={"cfg": run.cfg.model_copy(update={"out_dir": self.here_out,
                                                                       "cache_dir": self.here_cache})})

    def split(self, path: str) -> tuple[str, str] | None:
        """("cache" or "out", the path under it) of a path in the flow machine's form; None: neither holds it."""
        for name, root in (("cache", self.cache), ("out", self.out)):  # the cache first: it may be <out>/.cache
            if path.startswith(root + os.sep):
                return name, path[len(root) + 1:]
        return None

    def here(self, path: str) -> str:
        """A path of the flow's machine as this machine keeps it (unchanged when neither place holds it)."""
        where = self.split(path)
        if where is None:
            return path
        return str((self.here_cache if where[0] == "cache" else self.here_out) / where[1])

    def there(self, path: str) -> str:
        """A path of this machine in the flow machine's form (unchanged when neither place holds it)."""
        for root, home in ((self.here_cache, self.cache), (self.here_out, self.out)):
            prefix = str(root) + os.sep
            if path.startswith(prefix):
                return f"{home}{os.sep}{path[len(prefix):]}"
        return path


def _map_paths(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` with every string in it (in dataclasses, lists, tuples and dict values) passed through ``fn``;
    what holds no changed string is returned as it is."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Path):
        return Path(fn(str(value)))
    if isinstance(value, list):
        return [_map_paths(v, fn) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_map_paths(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_paths(v, fn) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = {}
        for f in dataclasses.fields(value):
            if f.init:
                old = getattr(value, f.name)
                new = _map_paths(old, fn)
                if new is not old and new != old:
                    changed[f.name] = new
        return dataclasses.replace(value, **changed) if changed else value
    return value


def _paths_in(value: Any, places: Places) -> list[str]:
    """Every path in ``value`` (flow machine's form) that one of the run's places holds."""
    found: list[str] = []

    def note(text: str) -> str:
        if places.split(text) is not None:
            found.append(text)
        return text

    _map_paths(value, note)
    return sorted(set(found))


_FIX = ("the Dask workers and this machine share their files through --cache-url; check its endpoint and credentials "
        "on every worker, then rerun (finished layers come from the cache)")


def _fetch(places: Places, path: str) -> None:
    """Make ``path`` (flow machine's form) present at ``places.here(path)``: a cache entry downloaded whole, or the
    file or folder a task wrote into the run's folder. A missing object is one line."""
    where = places.split(path)
    assert where is not None
    local = Path(places.here(path))
    if local.exists():
        return
    place, rel = where
    if place == "cache":
        kind, _, rest = rel.partition(os.sep)
        key = rest.split(os.sep, 1)[0]
        hit = open_entry(CacheDir(places.here_cache / kind, f"{places.cache_url}/{kind}"), key) if key else None
        if hit is None:
            raise CacheStorageError(f"{places.cache_url}/{kind}/{key}: the cache entry another worker stored is not "
                                    "in object storage: check that every worker uses the same --cache-url, then rerun")
        return
    fs, root = remote_fs(places.cache_url)
    remote = f"{root}/{TRANSFER}/{Path(rel).as_posix()}"

    def get() -> None:
        keys = [k for k in fs.find(remote) if k == remote or k.startswith(remote + "/")]
        if not keys:
            raise CacheStorageError(f"{places.cache_url}/{TRANSFER}/{Path(rel).as_posix()}: a file a Dask worker wrote "
                                    "is not in object storage (removed while the run went on?): rerun")
        for key in keys:
            dst = local if key == remote else local / key[len(remote) + 1:]
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                fs.get_file(key, str(tmp))
                count_store_bytes(read=tmp.stat().st_size)
                os.replace(tmp, dst)  # whole or absent, even with another thread fetching the same file
            finally:
                tmp.unlink(missing_ok=True)

    remote_call(places.cache_url, f"fetch {Path(rel).as_posix()}", get, what="", fix=_FIX)


def _put(places: Places, path: str) -> None:
    """Put a file or folder this machine wrote into the run's folder (flow machine's form) into object storage.
    Cache entries are there already (``store_entry``)."""
    where = places.split(path)
    if where is None or where[0] != "out":
        return
    local = Path(places.here(path))
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else []
    if not files:
        return
    fs, root = remote_fs(places.cache_url)
    remote = f"{root}/{TRANSFER}/{Path(where[1]).as_posix()}"

    def put() -> None:
        for f in files:
            fs.put_file(str(f), remote if f == local else f"{remote}/{f.relative_to(local).as_posix()}")
        count_store_bytes(written=sum(f.stat().st_size for f in files))

    remote_call(places.cache_url, f"store {Path(where[1]).as_posix()}", put, what="", fix=_FIX)


def _each(fn: Callable[[str], None], paths: list[str]) -> None:
    """``fn`` on every path, a few at a time; the first failure is raised."""
    if len(paths) <= 1:
        for p in paths:
            fn(p)
        return
    with ThreadPoolExecutor(max_workers=min(_PULLERS, len(paths)), thread_name_prefix="ldn-transfer") as pool:
        list(pool.map(fn, paths))


def _worker_places(cfg: RunConfig) -> Places:
    from distributed import get_worker

    return Places.of(cfg, Path(get_worker().local_directory) / WORKER_FOLDER)


def on_its_own_disk(fn: F) -> F:
    """Run a task of the run's Dask stages on its worker's own disk when the run shares nothing but object storage
    (``shares_nothing``); elsewhere (the flow's machine, a cluster with a shared folder) as it is.

    The task's ``RunContext`` argument is moved to the worker's folder; paths inside its other arguments (the
    layers, tiles and period tiles it reads) are fetched and given in the worker's form, and top-level path
    arguments (where it writes) only translated. Its raster graphs compute on the worker's threads. What it
    returns is put into object storage and given back in the flow machine's form.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = next((a for a in (*args, *kwargs.values()) if isinstance(a, RunContext)), None)
        if run is None or not shares_nothing(run.cfg) or not on_a_worker():
            return fn(*args, **kwargs)
        places = _worker_places(run.cfg)

        def move(value: Any) -> Any:
            if isinstance(value, RunContext):
                return places.run_here(value)
            if isinstance(value, (str, Path)):  # where the task writes: the folder here
                return _map_paths(value, places.here)
            _each(functools.partial(_fetch, places), _paths_in(value, places))
            return _map_paths(value, places.here)

        before = _costs()
        here_args = [move(a) for a in args]
        here_kwargs = {k: move(v) for k, v in kwargs.items()}
        with computing_here():
            result = fn(*here_args, **here_kwargs)
        back = _map_paths(result, places.there)
        _each(functools.partial(_put, places), _paths_in(back, places))
        _record(fn.__name__, before, _costs())
        return back

    return wrapper  # type: ignore[return-value]


TASK_LEDGER: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)
"""What each task that worked on its worker's own disk cost that worker process: its name, ``seconds`` (wall),
``cpu`` (the process's CPU seconds: the task's own with one task at a time per worker), ``scene_bytes`` (HTTP bytes
GDAL downloaded, ``network_bytes``), ``store_read`` and ``store_written`` (object storage, ``STORE_BYTES``). Read by
``benchmarks/bench_scaling.py`` through the Dask client; the last 100,000 tasks are kept."""


def _costs() -> dict[str, float]:
    return {"seconds": time.monotonic(), "cpu": time.process_time(), "scene_bytes": network_bytes() or 0,
            "store_read": STORE_BYTES["read"], "store_written": STORE_BYTES["written"]}


def _record(task: str, before: dict[str, float], after: dict[str, float]) -> None:
    """One line of ``TASK_LEDGER`` (a module function: the task's wrapper travels to workers by value, with copies of
    the globals it names, while this is looked up in the worker's own module)."""
    TASK_LEDGER.append({"task": task, **{k: after[k] - before[k] for k in before}})


def fetch_layers(run: RunContext, value: Any) -> Any:
    """Bring every file the workers wrote that ``value`` (layers, in the flow machine's form) names onto this
    machine, at its path: the stages that run here then read the staging version as if the workers had shared it."""
    if not shares_nothing(run.cfg):
        return value
    places = Places.of(run.cfg)
    _each(functools.partial(_fetch, places), _paths_in(value, places))
    return value


def forget_transfers(cfg: RunConfig, staging: str, client: Any | None = None) -> None:
    """Remove what the run's workers put under ``<cache-url>/.transfer`` for the staging version ``staging`` and its
    scratch folders, and (with ``client``) their copies in each worker's folder; best effort, a run's end must not
    fail on it."""
    if not shares_nothing(cfg):
        return
    places = Places.of(cfg)
    rel = places.split(str(Path(staging).resolve()))
    if rel is None:
        return
    fs, root = remote_fs(places.cache_url)
    parent, name = f"{root}/{TRANSFER}/{Path(rel[1]).parent.as_posix()}", Path(rel[1]).name
    try:
        for found in fs.ls(parent, detail=False):
            last = found.rstrip("/").rsplit("/", 1)[-1]
            if last == name or last.startswith(name + "."):  # the version, <run>.tiles, <run>.period-tiles ...
                fs.rm(found, recursive=True)
    except Exception:  # noqa: BLE001  (nothing there, or the store went away: the run's result stands)
        pass
    if client is None:
        return

    def forget(rel_staging: str) -> None:  # runs on each worker
        from distributed import get_worker  # noqa: PLC0415  (runs on a worker, pickled by value)

        folder = Path(get_worker().local_directory) / WORKER_FOLDER / "out" / rel_staging
        for found in folder.parent.glob(f"{folder.name}*"):
            shutil.rmtree(found, ignore_errors=True)

    try:
        client.run(forget, rel[1])
    except Exception:  # noqa: BLE001  (a worker gone: its folder went with it)
        pass
