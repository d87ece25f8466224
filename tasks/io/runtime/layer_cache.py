"""A content-addressed cache of written layers, so a refresh recomputes only what changed.

A layer's key is a hash of everything its bytes depend on: the source items (id, ``updated`` and what
identifies each asset's bytes, ``tasks.io.sources.integrity``; never their hrefs, which change with signing and servers),
the source's configuration, the analysis grid, the parameters and the software version. The
cached files live under ``<cache_dir>/<indicator>/<key>/`` (default ``<out>/.cache``); a hit links
them into the run's staging folder instead of reading any scene. Entries are written to a
temporary folder and renamed into place, so a killed run never leaves a half entry.

With ``cache_url`` (any fsspec URL: ``s3://bucket/prefix``, ``gs://...``, ``az://...``) the cache
has a second tier in object storage, shared by every machine and run: a new entry is uploaded file
by file with its ``entry.json`` last (an object store's put is atomic, so a listed entry is whole),
a local miss that object storage has is downloaded into the local folder first, and a local hit
that it lacks is uploaded.

What goes into a key is ``tasks.io.runtime.cache_keys``; this module stores and finds entries under those keys.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tasks.config import RunConfig
from tasks.errors import CacheStorageError, ConfigError
from tasks.io.runtime.cache_keys import cache_key, describe_change, key_document
from tasks.io.runtime.object_store import write_probe
from tasks.io.runtime.run_locks import other_runs_live
from tasks.model import AssetSummary, LayerSummary

__all__ = ["CacheDir", "remote_fs", "remote_call", "STORE_BYTES", "count_store_bytes", "remember", "why_recomputed", "cache_for", "cache_root", "tidy_cache", "check_cache_url",
           "check_writable_folders", "open_entry", "store_entry", "drop_entry",
           "restore_layers", "store_layers", "cached_layers", "link_file"]

STORE_BYTES: dict[str, int] = {"read": 0, "written": 0}
"""Bytes this process has read from and written to object storage for the cache and the workers' hand-offs (the
scaling benchmark's per-task count, ``tasks.io.runtime.shared_nothing.TASK_LEDGER``)."""

_COUNT = threading.Lock()


def count_store_bytes(read: int = 0, written: int = 0) -> None:
    """Add to ``STORE_BYTES``."""
    with _COUNT:
        STORE_BYTES["read"] += read
        STORE_BYTES["written"] += written


def link_file(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (a copy across file systems), creating ``dst``'s folder."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links: copy
        shutil.copy2(src, dst)


@dataclass(frozen=True)
class CacheDir:
    """Where one kind of cached layer lives: a local folder and, optionally, object storage behind it."""

    local: Path
    remote: str | None = None


def cache_root(cfg: RunConfig) -> Path:
    """The run's local cache folder: ``cache_dir``, else ``<out>/.cache``."""
    return Path(cfg.cache_dir or Path(cfg.out_dir) / ".cache")


def cache_for(cfg: RunConfig, kind: str) -> CacheDir:
    """The cache of one kind of layer (``ndvi-tile``, ``productivity``, ...) for a run config."""
    local = cache_root(cfg) / kind
    remote = f"{cfg.cache_url.rstrip('/')}/{kind}" if cfg.cache_url else None
    return CacheDir(local, remote)


def remote_fs(url: str) -> tuple[Any, str]:
    """The fsspec file system and root path of the cache's object storage at ``url``; a missing driver is one line."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise CacheStorageError(f"layer cache {url} cannot be opened ({err}): install the fsspec driver of its "
                                "scheme (e.g. `pip install s3fs` for s3://) or fix --cache-url") from None
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.auto_mkdir = True  # a folder (e.g. a shared mount) as the store: create folders as object keys do
    return fs, root


_CACHE_FIX = ("check --cache-url, its endpoint and credentials (e.g. AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID), or run "
              "with --no-cache")


def remote_call(url: str, action: str, fn: Callable[[], Any], *, what: str = "layer cache ",
                fix: str = _CACHE_FIX) -> Any:
    """Run one operation on the cache's object storage; any failure becomes a one-line ``CacheStorageError``
    naming ``what`` and ``url``, the store's own words and ``fix``."""
    try:
        return fn()
    except CacheStorageError:
        raise
    except Exception as err:  # botocore, aiohttp, gcsfs ... errors have no common base
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise CacheStorageError(f"{what}{url}: could not {action} ({type(err).__name__}: {detail}): {fix}") from None


def _fetch(remote: str, key: str, local: Path) -> bool:
    """Download the entry ``key`` from object storage into ``local`` (atomically); False if it is not there."""
    fs, root = remote_fs(remote)
    base = f"{root}/{key}"

    def get() -> bool:
        if not fs.exists(f"{base}/entry.json"):
            return False
        tmp = local / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir(parents=True)
        try:
            for path in fs.find(base):
                name = path[len(base) + 1:]
                if name != "entry.json":
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    fs.get_file(path, str(tmp / name))
            fs.get_file(f"{base}/entry.json", str(tmp / "entry.json"))
            count_store_bytes(read=sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()))
            try:
                os.rename(tmp, local / key)
            except OSError:  # another run fetched it first
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True

    return remote_call(remote, f"read entry {key}", get)


def _upload(remote: str, key: str, entry: Path) -> None:
    """Upload a local entry to object storage, ``entry.json`` last, unless object storage has it already."""
    fs, root = remote_fs(remote)
    base = f"{root}/{key}"

    def put() -> None:
        if fs.exists(f"{base}/entry.json"):
            return
        files = sorted(p for p in entry.rglob("*") if p.is_file())
        for f in files:
            name = f.relative_to(entry).as_posix()
            if name != "entry.json":
                fs.put_file(str(f), f"{base}/{name}")
        fs.put_file(str(entry / "entry.json"), f"{base}/entry.json")
        count_store_bytes(written=sum(f.stat().st_size for f in files))

    remote_call(remote, f"store entry {key}", put)


def check_cache_url(url: str) -> None:
    """Fail in one line, before any work, when the object-storage cache cannot be written (a probe object)."""
    fs, root = remote_fs(url)
    remote_call(url, "write", lambda: write_probe(fs, f"{root}/.ldn-probe-{uuid.uuid4().hex[:8]}"))


def check_writable_folders(cfg: RunConfig) -> None:
    """Fail in one line, before any work, when a folder the run writes cannot be written: ``--out``, the cache
    (when used) and the temporary folder. A probe file is written and removed in each (in the nearest folder that
    exists, for one the run would create), so a read-only disk or a folder of another user is found here, not as
    a traceback from the first write an hour in."""
    folders = [("--out", Path(cfg.out_dir))]
    if cfg.use_cache:
        folders.append(("--cache-dir" if cfg.cache_dir else "the cache (<out>/.cache)", cache_root(cfg)))
    folders.append(("the temporary folder (TMPDIR)", Path(tempfile.gettempdir())))
    for what, folder in folders:
        existing = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
        if existing is None:
            continue  # nothing of the path exists (another drive's root): the run's mkdir says so
        try:
            fd, probe = tempfile.mkstemp(prefix=".ldn-probe-", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise ConfigError(f"{what} {folder} cannot be written ({err.strerror or err} in {existing}): choose a "
                              "folder you can write to, or fix its permissions") from None


def open_entry(cache: CacheDir, key: str) -> tuple[Path, dict[str, Any]] | None:
    """The cache entry for ``key`` (its local folder and metadata), or None on a miss.

    A local miss that the object-storage tier has is downloaded first; a local hit that the tier lacks
    (cached before ``cache_url`` was set) is uploaded, so the shared store fills from every machine.
    """
    entry = cache.local / key
    meta = entry / "entry.json"
    if meta.is_file():
        if cache.remote:
            _upload(cache.remote, key, entry)  # one existence check when the store has it already
    elif not (cache.remote and _fetch(cache.remote, key, cache.local)):
        return None
    return entry, json.loads(meta.read_text())


def store_entry(cache: CacheDir, key: str, files: Mapping[str, str | Path], meta: dict[str, Any]) -> Path:
    """Put ``files`` (name in the entry -> path now) and ``meta`` in the cache under ``key``; return the entry.

    Files are hard-linked where possible. The entry appears atomically (a rename); when another run
    stored the same key first, its entry is kept. With an object-storage tier the entry is uploaded too.
    """
    root = cache.local
    entry = root / key
    if not (entry / "entry.json").is_file():
        tmp = root / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir(parents=True)
        for name, path in files.items():
            link_file(Path(path), tmp / name)
        (tmp / "entry.json").write_text(json.dumps(meta, indent=1, default=list))
        try:
            os.rename(tmp, entry)
        except OSError:  # another run stored the same key first
            shutil.rmtree(tmp, ignore_errors=True)
    if cache.remote:
        _upload(cache.remote, key, entry)
    return entry


def drop_entry(cache: CacheDir, key: str) -> bool:
    """Remove the entry ``key`` (locally and from object storage), when what it held is cached in a larger entry;
    False (nothing removed) while another run is live on the same cache, which may be reading it
    (``tasks.io.runtime.run_locks``: the last run to finish removes it)."""
    if len(other_runs_live(cache.local.parent)) > 1:  # this run's marker and another's
        runs = cache.local.parent / ".runs"
        runs.mkdir(parents=True, exist_ok=True)
        with open(runs / _PENDING, "a") as f:  # one short line per append: whole even with several writers
            f.write(f"{cache.local.name}\t{key}\n")
        return False
    entry = cache.local / key
    if entry.is_dir():
        trash = cache.local / f".{key}.{uuid.uuid4().hex[:8]}.drop"
        try:
            os.rename(entry, trash)  # gone at once for every reader; then deleted
        except OSError:  # gone already (another run dropped it): nothing removed here
            return False
        shutil.rmtree(trash, ignore_errors=True)
    if cache.remote:
        fs, root = remote_fs(cache.remote)

        def rm() -> None:
            if fs.exists(f"{root}/{key}/entry.json"):
                fs.rm_file(f"{root}/{key}/entry.json")  # first: a listed entry is whole, a half-deleted one is not listed
                fs.rm(f"{root}/{key}", recursive=True)

        remote_call(cache.remote, f"remove entry {key}", rm)
    return True


_PENDING = "pending-drops"
"""Entries a run could not remove because another run was live: ``<kind>\t<key>`` lines, removed by ``tidy_cache``."""


def tidy_cache(cfg: RunConfig) -> int:
    """Remove the entries runs left for later (``drop_entry`` while another run was live), unless a run other
    than this one is live now; return how many were removed."""
    root = cache_root(cfg)
    pending = root / ".runs" / _PENDING
    if not pending.is_file() or len(other_runs_live(root)) > 1:
        return 0
    mine = pending.with_name(f"{_PENDING}.{uuid.uuid4().hex[:8]}")
    try:
        os.rename(pending, mine)  # lines appended from now on go to a new file
    except FileNotFoundError:
        return 0
    done = 0
    for line in sorted(set(mine.read_text().splitlines())):
        kind, _, key = line.partition("\t")
        if kind and key:
            done += drop_entry(cache_for(cfg, kind), key)
    mine.unlink()
    return done


def _restore(entry: Path, doc: dict[str, Any], staging: str | Path, key: str) -> LayerSummary:
    folder = Path(staging) / doc["indicator"] / doc["item_id"]

    def here(name: str) -> str:
        original = folder / name.split("-", 1)[1]  # entries prefix each file with its item's position
        link_file(entry / name, original)
        return str(original)

    doc = dict(doc)
    assets = [AssetSummary(**{**a, "path": here(a["path"])}) for a in doc.pop("assets")]
    tables = {k: here(v) for k, v in doc.pop("tables").items()}
    quicklook = here(doc.pop("quicklook")) if doc.get("quicklook") else doc.pop("quicklook", None)
    window = tuple(doc.pop("window")) if doc.get("window") else doc.pop("window", None)
    doc.pop("from_cache", None)
    doc.pop("cache_key", None)
    return LayerSummary(**doc, assets=assets, tables=tables, quicklook=quicklook, window=window, from_cache=True,
                        cache_key=key)


def restore_layers(cache: CacheDir, key: str, staging: str | Path) -> list[LayerSummary] | None:
    """The cached layers for ``key`` linked into ``staging`` (same layout as ``write_item``), or None on a miss."""
    hit = open_entry(cache, key)
    if hit is None:
        return None
    entry, meta = hit
    return [_restore(entry, doc, staging, key) for doc in meta["layers"]]


def store_layers(cache: CacheDir, key: str, layers: list[LayerSummary]) -> list[LayerSummary]:
    """Put written layers in the cache under ``key``; return them marked with the key.

    Each item's files keep their names, prefixed by the item's position, so two items of one entry
    never collide.
    """
    files: dict[str, Path] = {}
    docs = []
    for i, layer in enumerate(layers):
        doc = asdict(layer)
        doc["from_cache"], doc["cache_key"] = False, key

        def keep(path: str) -> str:
            name = f"{i}-{Path(path).name}"
            files[name] = Path(path)
            return name

        for a in doc["assets"]:
            a["path"] = keep(a["path"])
        doc["tables"] = {k: keep(v) for k, v in doc["tables"].items()}
        if doc.get("quicklook"):
            doc["quicklook"] = keep(doc["quicklook"])
        docs.append(doc)
    store_entry(cache, key, files, {"layers": docs})
    return [replace(layer, cache_key=key) for layer in layers]


def _slot_file(cache: CacheDir, slot: str) -> Path:
    return cache.local / ".slots" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', slot)}.json"


def remember(cache: CacheDir, slot: str, kind: str, parts: dict[str, Any]) -> None:
    """Note what ``slot`` (a layer's place in the catalog: its region and period or year) was last cached under, so a
    later run that misses can say what changed (``why_recomputed``)."""
    path = _slot_file(cache, slot)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(key_document(kind, parts)))
    os.replace(tmp, path)


def why_recomputed(cache: CacheDir, slot: str, kind: str, parts: dict[str, Any]) -> str | None:
    """Why ``slot`` is computed although the cache held it before: what differs from the key it was cached under, in
    words; None when it was never cached here."""
    try:
        old = json.loads(_slot_file(cache, slot).read_text())
    except (OSError, ValueError):
        return None
    new = key_document(kind, parts)
    return "its cache entry is gone" if old == new else describe_change(old, new)


def cached_layers(cfg: RunConfig, kind: str, parts: dict[str, Any] | None, staging: str | Path,
                  compute: Callable[[], list[LayerSummary]], *, slot: str | None = None,
                  say: Callable[[str], None] | None = None) -> list[LayerSummary]:
    """``compute()``'s layers, or the cached ones when ``parts`` (what they depend on) are unchanged.

    ``parts`` of None (an input without a key, e.g. the cache was off for it) always computes.
    New results are stored at once, so a run that fails later keeps them. With a ``slot``, a layer computed
    although the cache held it before under another key is explained to ``say`` in one line.
    """
    if not cfg.use_cache or parts is None:
        return compute()
    key = cache_key(kind, parts)
    cache = cache_for(cfg, kind)
    hit = restore_layers(cache, key, staging)
    if hit is not None:
        return hit
    if slot is not None and say is not None and (why := why_recomputed(cache, slot, kind, parts)) is not None:
        say(f"{slot}: {kind} recomputed: {why}")
    layers = store_layers(cache, key, compute())
    if slot is not None:
        remember(cache, slot, kind, parts)
    return layers
