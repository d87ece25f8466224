"""Publishing a version to object storage (``--out s3://bucket/prefix``): the local catalog's layout, switched atomically.

A run stages its version in a local folder as always. Publishing then claims the version's name in the store, uploads
the version's files under ``<url>/versions/<version>/`` (its ``catalog.json`` last), checks every object against the
local file (its size, and its bytes: S3's ETag is the MD5 of a single-part upload and the MD5 of the parts' MD5s of a
multipart one; other stores are read back), and only then writes the root ``catalog.json`` that names it, in one PUT
conditional on the root it read (S3's ``If-Match``, ``If-None-Match`` for the first version), so two runs never both
believe they switched: the one that loses reads the root again and adds its version to what the other published.
A reader therefore never sees a root pointing at a partial version, and the previous version stays the published one
whatever fails. A version whose upload or switch failed is removed where the store still lets us; what is left is
listed by ``ldn layers versions --incomplete`` and removed by ``--remove``. The STAC hrefs inside a version are
relative, so the store can be served from any URL or copied.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pystac

from tasks.constants import FSSPEC_DRIVERS
from tasks.errors import PublishError
from tasks.model import ROOT_CATALOG_ID, Version

__all__ = ["store_fs", "check_store", "claim_version", "upload_version", "switch_root", "release_claim",
           "remove_version", "root_versions", "stored_versions", "incomplete_versions", "root_document",
           "write_probe", "CLAIMS", "SWITCH_ATTEMPTS"]

log = logging.getLogger(__name__)

CLAIMS = ".claims"
"""The folder under the store's prefix where a run claims its version's name (one small object, written only if
absent) before uploading anything, and removes the claim once the version is switched in or cleaned away."""

SWITCH_ATTEMPTS = 20
"""How many times a run reads the root again after another run switched it first (a conditional write refused)."""

_LIVE_CLAIM_S = 6 * 3600.0
"""An unlisted version whose claim is younger than this may still be uploading: ``--remove`` leaves it."""


def store_fs(url: str) -> tuple[Any, str]:
    """The fsspec file system and the root path (no trailing slash) of a store URL such as ``s3://bucket/prefix``."""
    import fsspec

    scheme = url.partition("://")[0]
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError:
        raise PublishError(f"--out {url}: {scheme}:// needs its fsspec driver: pip install "
                           f"{FSSPEC_DRIVERS.get(scheme, 'the driver of ' + scheme)}") from None
    except ValueError as err:
        raise PublishError(f"--out {url} cannot be opened ({err}): give a URL such as s3://bucket/prefix") from None
    return fs, str(root).rstrip("/")


def _is_s3(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "s3" in protocols


def _said(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"


def _store_call(url: str, action: str, fn: Callable[[], Any]) -> Any:
    """One operation on the store; any failure is a one-line ``PublishError`` that names the store and the fix."""
    try:
        return fn()
    except PublishError:
        raise
    except Exception as err:  # botocore, aiohttp, gcsfs ... errors have no common base
        raise PublishError(
            f"publishing to {url}: could not {action} ({_said(err)}): the previously published version is unchanged; "
            "check the bucket, its endpoint and credentials (e.g. AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID) and run again "
            "(unchanged layers come from the cache)") from None


def check_store(url: str) -> None:
    """Check, before any work, that the run can publish to ``url``: the bucket exists and takes a write (a small
    object written and removed under the prefix), so a missing bucket or a read-only credential fails in seconds,
    not after hours of computing."""
    fs, root = store_fs(url)
    _store_call(url, "write to it", lambda: write_probe(fs, f"{root}/{CLAIMS}/.write-check-{int(time.time() * 1000)}"))


def write_probe(fs: Any, path: str) -> None:
    """Write a small object at ``path`` and remove it: a store that would refuse the run's writes (a missing bucket,
    a wrong endpoint, a read-only credential) raises here, before any work (the cache's check too)."""
    fs.pipe_file(path, b"ldn-pipeline write probe\n")
    fs.rm_file(path)


def _head(fs: Any, path: str) -> dict[str, Any] | None:
    """The object's metadata (size, ETag) straight from the store, or None when absent."""
    fs.invalidate_cache(path)
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None


def _put_if(fs: Any, path: str, data: bytes, *, etag: str | None, absent: bool) -> bool:
    """Write ``data`` at ``path`` only if the object is still the one with ``etag`` (or still ``absent``): True when
    written, False when another writer came first. Stores without conditional writes are written plainly."""
    if not _is_s3(fs):
        fs.pipe_file(path, data)
        return True
    bucket, key, _ = fs.split_path(path)
    condition = {"IfNoneMatch": "*"} if absent else {"IfMatch": etag}
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, ContentType="application/json", **condition)
    except Exception as err:  # s3fs turns botocore's 412 into an OSError whose text names the precondition
        text = f"{err} {getattr(err, '__cause__', '')}"
        if "PreconditionFailed" in text or "412" in text or "ConditionalRequestConflict" in text:
            return False
        raise
    finally:
        fs.invalidate_cache(path)
    return True


def claim_version(url: str, version: Version, taken: Callable[[Version], bool]) -> Version:
    """Claim ``version``'s name in the store, or ``<name>-N`` with the first N that no other run has published or
    claimed there and ``taken`` (the local folder) does not refuse: a run never uploads into another's version."""
    fs, root = store_fs(url)

    def claim() -> Version:
        candidate, n = version, 1
        while True:
            if not taken(candidate) and not fs.exists(f"{root}/versions/{candidate.name}/catalog.json") \
                    and _put_if(fs, f"{root}/{CLAIMS}/{candidate.name}", _claim_text(), etag=None, absent=True):
                return candidate
            candidate, n = Version(f"{version.name}-{n}"), n + 1

    return _store_call(url, f"claim version {version.name}", claim)


def _claim_text() -> bytes:
    return json.dumps({"claimed": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode() + b"\n"


def release_claim(url: str, version: Version) -> None:
    """Remove the run's claim on ``version`` (best effort: a claim left behind only delays ``--remove``)."""
    try:
        fs, root = store_fs(url)
        fs.rm_file(f"{root}/{CLAIMS}/{version.name}")
    except Exception as err:  # noqa: BLE001  (the store may be what failed)
        log.warning("could not remove the claim on %s in %s (%s)", version.name, url, _said(err))


def _md5_etag(path: Path, part: int | None) -> str:
    """The ETag S3 gives ``path``'s bytes uploaded whole (``part`` None) or in parts of ``part`` bytes."""
    whole, parts = hashlib.md5(usedforsecurity=False), []
    with open(path, "rb") as f:
        while chunk := f.read(part or (8 << 20)):
            whole.update(chunk)
            if part:
                parts.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    if not part:
        return whole.hexdigest()
    return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"


def _sha256(data: bytes | Path) -> str:
    if isinstance(data, Path):
        digest = hashlib.sha256()
        with open(data, "rb") as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    return hashlib.sha256(data).hexdigest()


def _verify(fs: Any, local: Path, remote: str) -> None:
    """Raise ``PublishError`` unless the object at ``remote`` holds exactly ``local``'s bytes."""
    info = _head(fs, remote)
    size = local.stat().st_size
    if info is None or int(info.get("size", -1)) != size:
        raise PublishError(f"{remote} holds {None if info is None else info.get('size')} bytes after its upload, "
                           f"not {size}")
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if _is_s3(fs) and etag and "-" not in etag:
        ok = etag == _md5_etag(local, None)
    elif _is_s3(fs) and etag:
        from s3fs.core import calculate_chunksize

        ok = etag == _md5_etag(local, calculate_chunksize(size))
    else:  # no content hash from the store: read it back
        ok = _sha256(fs.cat_file(remote)) == _sha256(local)
    if not ok:
        raise PublishError(f"{remote} does not hold the bytes uploaded to it (ETag {etag})")


def upload_version(url: str, folder: Path, version: Version,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Upload a version's local ``folder`` to ``<url>/versions/<version>/`` (its ``catalog.json`` last, so a version
    with a catalog is whole) and check every object's bytes; return the bytes uploaded. A failure is one
    ``PublishError`` line (the caller removes what was uploaded)."""
    fs, root = store_fs(url)
    base = f"{root}/versions/{version.name}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [p for p in files if p != folder / "catalog.json"] + [folder / "catalog.json"]
    sent = 0

    def put(path: Path) -> None:
        name = path.relative_to(folder).as_posix()
        fs.put_file(str(path), f"{base}/{name}")
        _verify(fs, path, f"{base}/{name}")

    for done, path in enumerate(files, 1):
        _store_call(url, f"upload {path.relative_to(folder).as_posix()} of version {version.name}",
                    functools.partial(put, path))
        sent += path.stat().st_size
        if progress is not None:
            progress(done, len(files))
    return sent


def root_document(names: list[str]) -> dict[str, Any]:
    """The root catalog listing ``names`` (newest first) with a ``latest-version`` link: the same document for a
    local folder and a store."""
    names = sorted(set(names), reverse=True)
    links: list[dict[str, Any]] = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    if names:
        links.append({"rel": "latest-version", "href": f"./versions/{names[0]}/catalog.json",
                      "type": "application/json", "title": f"latest: {names[0]}"})
    links += [{"rel": "child", "href": f"./versions/{n}/catalog.json", "type": "application/json",
               "title": f"version {n}"} for n in names]
    return {
        "type": "Catalog",
        "stac_version": pystac.get_stac_version(),
        "id": ROOT_CATALOG_ID,
        "title": "ldn-pipeline published indicator layers",
        "description": "Every published version of the SDG 15.3.1 indicator layers; `latest-version` is the newest.",
        "ldn:latest": names[0] if names else None,
        "links": links,
    }


def _listed(doc: dict[str, Any]) -> list[str]:
    return [Version.of_catalog(link["href"]).name for link in doc.get("links", []) if link.get("rel") == "child"]


def _read_root(fs: Any, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The store's root catalog and its ETag (read in that order, so a root changed between the two reads makes the
    conditional write fail rather than drop a version), or (None, None) when there is none yet."""
    info = _head(fs, path)
    if info is None:
        return None, None
    etag = str(info.get("ETag") or info.get("etag") or "")
    return json.loads(fs.cat_file(path)), etag


def switch_root(url: str, version: Version) -> list[str]:
    """Write the store's root catalog naming ``version`` beside every version the root named before, in one
    conditional PUT; another run's switch in between makes this one read the root again. Return the names listed."""
    fs, root = store_fs(url)
    path = f"{root}/catalog.json"

    def switch() -> list[str]:
        for _ in range(SWITCH_ATTEMPTS):
            doc, etag = _read_root(fs, path)
            names = sorted({*(_listed(doc) if doc else []), version.name}, reverse=True)
            body = (json.dumps(root_document(names), indent=2) + "\n").encode()
            if _put_if(fs, path, body, etag=etag, absent=doc is None):
                return names
            log.info("another run switched %s first: reading its root again", path)
        raise PublishError(f"publishing to {url}: the root catalog kept changing under {SWITCH_ATTEMPTS} attempts to "
                           f"add version {version.name}: run again when the other runs have published")

    return _store_call(url, f"switch the root catalog to version {version.name}", switch)


def root_versions(url: str) -> list[str]:
    """The versions the store's root catalog names (published), newest first."""
    fs, root = store_fs(url)
    doc, _ = _store_call(url, "read the root catalog", lambda: _read_root(fs, f"{root}/catalog.json"))
    return sorted(_listed(doc), reverse=True) if doc else []


def stored_versions(url: str) -> list[str]:
    """Every version folder under the store's ``versions/``, published or not, newest first."""
    fs, root = store_fs(url)

    def listing() -> list[str]:
        fs.invalidate_cache(f"{root}/versions")
        try:
            return sorted((p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{root}/versions", detail=False)),
                          reverse=True)
        except FileNotFoundError:
            return []

    return _store_call(url, "list its versions", listing)


def incomplete_versions(url: str) -> list[tuple[str, bool]]:
    """The versions under the store's ``versions/`` that its root does not name (an upload or a switch that failed,
    or a run uploading now), each with whether a run's claim on it is still live."""
    fs, root = store_fs(url)
    named = set(root_versions(url))
    out = []
    for name in stored_versions(url):
        if name in named:
            continue
        info = _head(fs, f"{root}/{CLAIMS}/{name}")
        live = False
        if info is not None:
            claimed = json.loads(fs.cat_file(f"{root}/{CLAIMS}/{name}")).get("claimed")
            live = claimed is not None and (datetime.now(timezone.utc) - datetime.fromisoformat(claimed)).total_seconds() < _LIVE_CLAIM_S
        out.append((name, live))
    return out


def remove_version(url: str, name: str, *, quiet: bool = False) -> None:
    """Delete every object of version ``name`` and its claim; a version the root names is never removed. ``quiet``
    (cleaning up after a failed publish) logs what it could not do instead of raising, and removes nothing when the
    root cannot be read: an orphan left behind is listed later, a published version deleted is lost."""
    fs, root = store_fs(url)

    def remove() -> None:
        if name in root_versions(url):
            raise PublishError(f"version {name} is published in {url} (its root catalog names it): not removing it")
        base = f"{root}/versions/{name}"
        objects = fs.find(base)
        if objects:
            fs.rm(objects)
        fs.invalidate_cache(base)
        if fs.exists(f"{root}/{CLAIMS}/{name}"):
            fs.rm_file(f"{root}/{CLAIMS}/{name}")

    if not quiet:
        _store_call(url, f"remove version {name}", remove)
        return
    try:
        _store_call(url, f"remove the partial version {name}", remove)
    except PublishError as err:
        log.warning("%s; `ldn layers versions --incomplete --catalog %s` lists what is left", err, url)
