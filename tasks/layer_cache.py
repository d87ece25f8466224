"""A content-addressed cache of written layers, so a refresh recomputes only what changed.

A layer's key is a hash of everything its bytes depend on: the source items (id, ``updated`` and
any ``file:checksum`` of their assets; never their hrefs, which change with signing and servers),
the source's configuration, the analysis grid, the parameters and the software version. The
cached files live under ``<cache_dir>/<indicator>/<key>/`` (default ``<out>/.cache``); a hit links
them into the run's staging folder instead of reading any scene. Entries are written to a
temporary folder and renamed into place, so a killed run never leaves a half entry.

Keys come from item ids and checksums, not from the arrays: hashing a large input array would cost
about as much as recomputing it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tasks import __version__
from tasks.publish import AssetSummary, LayerSummary

__all__ = ["CACHE_FORMAT", "cache_key", "item_fingerprint", "restore_layer", "store_layer"]

CACHE_FORMAT = 1
"""Bumped when the cache's layout changes; part of every key."""


def item_fingerprint(item: dict[str, Any]) -> dict[str, Any]:
    """What identifies a STAC item's content: id, ``updated`` and its assets' ``file:checksum`` (if any)."""
    return {
        "id": item["id"],
        "updated": item.get("properties", {}).get("updated"),
        "checksums": {k: a.get("file:checksum") for k, a in sorted(item.get("assets", {}).items())
                      if a.get("file:checksum")},
    }


def cache_key(indicator: str, parts: dict[str, Any]) -> str:
    """A stable hash of ``parts`` (JSON-serialisable), the indicator, the software version and cache format."""
    doc = {"indicator": indicator, "software": __version__, "format": CACHE_FORMAT, **parts}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links: copy
        shutil.copy2(src, dst)


def restore_layer(cache_dir: str | Path, key: str, staging: str | Path) -> LayerSummary | None:
    """The cached layer for ``key`` linked into ``staging`` (same layout as ``write_item``), or None on a miss."""
    entry = Path(cache_dir) / key
    meta = entry / "layer.json"
    if not meta.is_file():
        return None
    doc = json.loads(meta.read_text())
    folder = Path(staging) / doc["indicator"] / doc["item_id"]

    def here(name: str) -> str:
        _link(entry / name, folder / name)
        return str(folder / name)

    assets = [AssetSummary(**{**a, "path": here(a["path"])}) for a in doc.pop("assets")]
    tables = {k: here(v) for k, v in doc.pop("tables").items()}
    quicklook = here(doc.pop("quicklook")) if doc.get("quicklook") else doc.pop("quicklook", None)
    window = tuple(doc.pop("window")) if doc.get("window") else doc.pop("window", None)
    doc.pop("from_cache", None)
    return LayerSummary(**doc, assets=assets, tables=tables, quicklook=quicklook, window=window, from_cache=True)


def store_layer(cache_dir: str | Path, key: str, layer: LayerSummary) -> None:
    """Copy a written layer's files into the cache under ``key`` (atomically; an existing entry is kept)."""
    root = Path(cache_dir)
    entry = root / key
    if (entry / "layer.json").is_file():
        return
    tmp = root / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    doc = asdict(layer)
    for a in doc["assets"]:
        _link(Path(a["path"]), tmp / Path(a["path"]).name)
        a["path"] = Path(a["path"]).name
    for k, v in doc["tables"].items():
        _link(Path(v), tmp / Path(v).name)
        doc["tables"][k] = Path(v).name
    if doc.get("quicklook"):
        _link(Path(doc["quicklook"]), tmp / Path(doc["quicklook"]).name)
        doc["quicklook"] = Path(doc["quicklook"]).name
    (tmp / "layer.json").write_text(json.dumps(doc, indent=1, default=list))
    try:
        os.rename(tmp, entry)
    except OSError:  # another run stored the same key first
        shutil.rmtree(tmp, ignore_errors=True)
