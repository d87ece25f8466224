"""What identifies a scene's bytes, and checking them: the layer cache's keys and the read-time checksum check.

A STAC item's id and ``updated`` say which scene it is, not which bytes a server returns today: a
file repaired, replaced or corrupted in place keeps both. So every scene input is keyed on what
identifies its content: the asset's ``file:checksum`` where the source publishes one (STAC file
extension, a multihash), else the size, ``ETag``, ``Last-Modified`` and any whole-object MD5 its HTTP
server answers, else the content hash of a local file. Where ``file:checksum`` is present, or else the server
states the object's MD5 (``Content-MD5`` of blob stores, ``server_md5``), the bytes are checked against it
before any pixel of the scene is used, so a corrupted file stops the run in one line instead of being
published and cached (GDAL decodes many corruptions without a word; ``decoding`` and ``check_plausible``
catch what they can of the rest).

Decoding a scene: GDAL's complaints while it decodes are errors, not log lines. GDAL decodes some damaged files
"with a warning" and returns pixels anyway: a PackBits or JPEG tile whose bytes were overwritten, a libtiff decoder
that discards what would overrun its buffer. rasterio sends those warnings, and errors that GDAL signalled on the
way to a successful read, to its loggers, where a scheduled run prints them (or, below WARNING, drops them) and goes
on to publish what was decoded. Inside ``decoding`` they stop the read with a one-line ``SceneReadError`` naming
the scene and the file, so nothing read from it is published or cached. GDAL's notices of an HTTP request it
retried (and then completed) are not complaints about the bytes.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pystac
from odc.loader import RioDriver

from tasks.config import AssetSpec, Source, env_seconds
from tasks.constants import FSSPEC_DRIVERS
from tasks.errors import ConfigError, SceneReadError, TransientReadError
from tasks.io.sources.deadline import OPENER, RequestTooSlow, within

__all__ = ["GDAL_LOGGERS", "BENIGN", "DecodeComplaint", "decoding", "WatchedRioDriver", "url_filesystem", "implausible", "check_plausible", "CHECK_THREADS", "HTTP_ATTEMPTS", "HTTP_TIMEOUT", "HTTP_DEADLINE", "http_timeout", "asset_identity", "checksum_of", "file_fingerprint", "file_sha256",
           "local_path", "open_href", "parse_multihash",
           "scene_fingerprints", "server_digests", "server_md5", "sign_items", "verify_checksums"]

HTTP_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds of an HTTP request for a scene: the requests made here (the read timeout overridden by
``$LDN_HTTP_TIMEOUT``) and GDAL's reads (``READ_SETTINGS``, overridden by ``$GDAL_HTTP_TIMEOUT``)."""

HTTP_ATTEMPTS = 3
"""Tries of one request here when it fails transiently (timeout, refused connection, HTTP 5xx or 429), 1 s and 2 s apart."""

HTTP_DEADLINE = 600.0
"""Seconds one request here may take in all, its body included (a checksum download of a 30 MB composite over a
slow link; ``$LDN_HTTP_DEADLINE`` overrides it): the read timeout bounds the wait between two bytes only."""

CHECK_THREADS = 4
"""Files hashed or asked for their identity at once (hashing and sockets release the GIL)."""

_MULTIHASH = {0x11: "sha1", 0x12: "sha256", 0x13: "sha512", 0xD5: "md5", 0x16: "sha3_256", 0x14: "sha3_512"}
"""Multihash function codes (multiformats table) that hashlib computes."""


def parse_multihash(text: str) -> tuple[str, bytes]:
    """The hashlib name and digest of a hex multihash (STAC ``file:checksum``, e.g. ``1220`` + a sha256).

    >>> parse_multihash("1220" + "00" * 32)[0]
    'sha256'
    """
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"file:checksum {text!r} is not hexadecimal") from None
    code, pos = _varint(raw, 0)
    size, pos = _varint(raw, pos)
    if code not in _MULTIHASH:
        raise ValueError(f"file:checksum {text[:12]}... uses multihash function 0x{code:x}, which is not one of "
                         f"{sorted(_MULTIHASH.values())}")
    digest = raw[pos:]
    if len(digest) != size or size != hashlib.new(_MULTIHASH[code]).digest_size:
        raise ValueError(f"file:checksum {text[:12]}... holds {len(digest)} digest bytes, not {size}")
    return _MULTIHASH[code], digest


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw):
            raise ValueError("file:checksum ends inside its multihash header")
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def local_path(href: str) -> Path | None:
    """The file ``href`` names (a path or ``file://``), or None for a URL of any other scheme."""
    parsed = urllib.parse.urlparse(href)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and href[1:3] == ":\\"):  # a path (or a Windows drive)
        return Path(href)
    return None


def _is_http(href: str) -> bool:
    return urllib.parse.urlparse(href).scheme in ("http", "https")


def _public(href: str) -> str:
    """An href fit for a message: no query string (signing tokens)."""
    return href.split("?")[0]


class _Unreadable(Exception):
    """One asset could not be fetched: ``problem`` is the phrase for the message, ``transient`` says rerun."""

    def __init__(self, problem: str, transient: bool, code: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.transient, self.code = problem, transient, code


def http_timeout() -> float:
    """The read timeout of the HTTP requests made here: ``HTTP_TIMEOUT``'s, or ``$LDN_HTTP_TIMEOUT`` seconds."""
    return env_seconds("LDN_HTTP_TIMEOUT", HTTP_TIMEOUT[1])


def _within_deadline(href: str) -> Any:
    """The deadline of one request here to ``href``'s server (``tasks.io.sources.deadline.within``)."""
    parts = urllib.parse.urlsplit(href)
    return within(env_seconds("LDN_HTTP_DEADLINE", HTTP_DEADLINE), f"the server {parts.scheme}://{parts.netloc}")


def _urlopen(href: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    """The response to one HTTP request (use it as a context manager), tried ``HTTP_ATTEMPTS`` times while it
    fails transiently; a failure is ``_Unreadable``."""
    request = urllib.request.Request(href, method=method, headers={"User-Agent": "ldn-pipeline", **(headers or {})})
    for attempt in range(HTTP_ATTEMPTS):
        try:
            return OPENER.open(request, timeout=http_timeout())  # its socket under the caller's deadline
        except urllib.error.HTTPError as err:
            err.close()
            problem = _Unreadable(f"is missing (HTTP {err.code})" if err.code in (403, 404, 410)
                                  else f"could not be read (HTTP {err.code})", err.code >= 500 or err.code == 429,
                                  code=err.code)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            problem = _Unreadable(f"could not be read ({getattr(err, 'reason', err)})", transient=True)
        if not problem.transient or attempt == HTTP_ATTEMPTS - 1:
            raise problem
        time.sleep(2.0**attempt)
    raise AssertionError("unreachable")


def url_filesystem(href: str) -> tuple[Any, str]:
    """fsspec's file system and path of an object-store URL (``s3://bucket/key``, ...); a scheme whose driver is not
    installed, or one fsspec does not know, is a one-line ``ConfigError`` with the install command."""
    import fsspec

    scheme = href.partition("://")[0]
    try:
        return fsspec.core.url_to_fs(href)
    except ImportError:
        driver = FSSPEC_DRIVERS.get(scheme, "its fsspec driver")
        how = "pip install 'ldn-pipeline[s3]' (or pip install s3fs)" if driver == "s3fs" else f"pip install {driver}"
        raise ConfigError(f"reading {scheme}:// URLs needs {driver}: {how}") from None
    except ValueError:
        raise ConfigError(f"{href}: the scheme {scheme}:// is unknown to fsspec: use a local path, http(s)://, s3://, "
                          "gs:// or az://") from None


def gdal_reads_s3() -> None:
    """Point GDAL's own S3 reader (``/vsis3/``, which rasterio hands ``s3://`` paths to) at the endpoint the AWS_*
    environment names for boto and fsspec (``AWS_ENDPOINT_URL``: MinIO, Ceph, a local test server), unless GDAL's
    settings are given: so every reader of a catalog in S3-compatible storage, GDAL's or fsspec's, reads the same
    store. AWS's own endpoint needs nothing (GDAL's default)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or "AWS_S3_ENDPOINT" in os.environ:
        return
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    os.environ["AWS_S3_ENDPOINT"] = parts.netloc
    os.environ.setdefault("AWS_HTTPS", "NO" if parts.scheme == "http" else "YES")
    os.environ.setdefault("AWS_VIRTUAL_HOSTING", "FALSE")  # path-style: bucket in the path, as most stores take it


@contextmanager
def _open(href: str) -> Iterator[IO[bytes]]:
    """A byte stream of ``href``: a local path, ``file://``, http(s) (``_urlopen``), or any fsspec URL."""
    local = local_path(href)
    try:
        if local is not None:
            with open(local, "rb") as f:
                yield f
        elif _is_http(href):
            with _within_deadline(href), _urlopen(href) as response:  # the body's reading under the deadline too
                yield response
        else:
            fs, path = url_filesystem(href)
            with fs.open(path, "rb") as f:
                yield f
    except FileNotFoundError:
        raise _Unreadable("is missing", transient=False) from None
    except RequestTooSlow as err:
        raise _Unreadable(f"could not be read: {err}", transient=True) from None
    except (TimeoutError, ConnectionError) as err:  # mid-body
        raise _Unreadable(f"could not be read ({err})", transient=True) from None


@contextmanager
def open_href(href: str) -> Iterator[IO[bytes]]:
    """A byte stream of ``href`` (a local path, ``file://``, http(s) with this module's timeout and retries, or any
    fsspec URL such as ``s3://``); a failure is an ``OSError`` whose message says what happened to ``href``."""
    try:
        with _open(href) as f:
            yield f
    except _Unreadable as err:
        raise OSError(f"{href} {err.problem}") from None


def checksum_of(href: str, algorithm: str) -> tuple[bytes, int]:
    """The ``algorithm`` digest of the bytes at ``href`` and their count, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    size = 0
    with _open(href) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.digest(), size


def sign_items(items: list[pystac.Item], source: Source) -> list[pystac.Item]:
    """Items with readable asset hrefs: signed for Planetary Computer sources, unchanged otherwise."""
    if source.stac is None or source.stac.signing == "none":
        return items
    import planetary_computer  # an optional dependency, needed by signing sources only

    return [planetary_computer.sign(it) for it in items]


def _href(asset: pystac.Asset) -> str:
    return asset.get_absolute_href() or asset.href


def verify_checksums(items: list[pystac.Item], source: Source,
                     digests: dict[tuple[str, str], bytes] | None = None) -> int:
    """Check the bytes of every asset of ``items`` that ``source`` reads against what states them: the item's
    ``file:checksum``, else the MD5 its server states (``server_md5``: blob stores' ``Content-MD5``); return the bytes
    checked.

    ``digests`` holds the servers' MD5s by (item id, asset key) when the caller has asked already (``server_digests``
    of the run's fingerprints); without it every http(s) asset with no checksum costs one HEAD. A mismatch is a
    ``SceneReadError`` naming the scene, the file and the fix; a file that cannot be fetched is one too
    (``TransientReadError`` for timeouts and HTTP 5xx, so the task retries). Items must carry readable hrefs
    (signed where the source needs it). ``verify_checksums: false`` on the source turns the check off (the
    checksums still key the layer cache).
    """
    if not source.verify_checksums:
        return 0
    todo: list[tuple[str, str, str, str]] = []  # (item id, href, checksum or server MD5 hex, what states it)
    ask: list[tuple[str, str, str]] = []  # (item id, asset key, href) whose server may state an MD5
    for item in items:
        for spec in source.assets.values():
            asset = item.assets.get(spec.key)
            if asset is None:
                continue
            checksum = asset.extra_fields.get("file:checksum")
            if checksum:
                todo.append((item.id, _href(asset), checksum, "the item's file:checksum"))
            elif digests is not None:
                if (item.id, spec.key) in digests:
                    todo.append((item.id, _href(asset), digests[(item.id, spec.key)].hex(), _SERVER_MD5))
            elif _is_http(_href(asset)):
                ask.append((item.id, spec.key, _href(asset)))
    if ask:
        todo += [(item_id, href, digest.hex(), _SERVER_MD5) for item_id, href, digest in _asked_md5s(ask)]
    if not todo:
        return 0

    def check(job: tuple[str, str, str, str]) -> tuple[str, str, str | None, bool, int]:
        item_id, href, stated, what = job
        try:
            algorithm, expected = ("md5", bytes.fromhex(stated)) if what == _SERVER_MD5 else parse_multihash(stated)
        except ValueError as err:
            return item_id, href, f"has an unusable {err}", False, 0
        try:
            got, size = checksum_of(href, algorithm)
        except _Unreadable as err:
            return item_id, href, err.problem, err.transient, 0
        if got != expected:
            return item_id, href, (f"is truncated or corrupt (its {size} bytes do not match {what}, "
                                   f"{algorithm} {expected.hex()[:12]}... expected, {got.hex()[:12]}... read)"), False, size
        return item_id, href, None, False, size

    with ThreadPoolExecutor(min(CHECK_THREADS, len(todo))) as pool:
        results = list(pool.map(check, todo))
    bad = [r for r in results if r[2] is not None]
    if bad:
        item_id, href, problem, transient, _ = bad[0]
        more = f" (and {len(bad) - 1} more assets)" if len(bad) > 1 else ""
        if transient:
            raise TransientReadError(f"scene {item_id!r} {problem}: {_public(href)}{more}; this looks transient: rerun")
        raise SceneReadError(f"scene {item_id!r} {problem}: {_public(href)}{more}; re-download or repair it at the "
                             f"source, or leave it out with --exclude-scene {item_id}, then rerun")
    return sum(r[4] for r in results)


_SERVER_MD5 = "the Content-MD5 its server states"


def _asked_md5s(ask: list[tuple[str, str, str]]) -> list[tuple[str, str, bytes]]:
    """(item id, href, MD5) of the assets in ``ask`` (item id, asset key, href) whose server states one (a HEAD each,
    ``CHECK_THREADS`` at a time)."""
    prints = _identities(ask)
    digests = server_digests([{"id": item_id, "assets": {key: ident}} for (item_id, key, _), ident in zip(ask, prints)])
    return [(item_id, href, digests[(item_id, key)]) for item_id, key, href in ask if (item_id, key) in digests]


def asset_identity(href: str) -> str | None:
    """What identifies the bytes at ``href`` without reading them all: a local file's content hash, or the
    size, ``ETag``, ``Last-Modified`` and whole-object MD5 (``server_md5``, as ``md5=<hex>``, last) an HTTP server
    answers (None when it sends none of them, or for other URL schemes: the item's id and ``updated`` are all
    there is).
    """
    local = local_path(href)
    if local is not None:
        return file_fingerprint(local)
    if not _is_http(href):
        return None
    try:
        with _within_deadline(href), _urlopen(href, "HEAD") as response:
            headers = response.headers
    except RequestTooSlow as err:
        raise _Unreadable(f"could not be read: {err}", transient=True) from None
    except _Unreadable as err:
        if err.code not in (405, 501):
            raise
        try:
            with _within_deadline(href), _urlopen(href, "GET", {"Range": "bytes=0-0"}) as response:  # no HEAD here
                headers = response.headers
        except RequestTooSlow as slow:
            raise _Unreadable(f"could not be read: {slow}", transient=True) from None
    size = headers.get("Content-Length")
    ranged = bool(headers.get("Content-Range"))
    if ranged:  # bytes 0-0/12345
        size = headers["Content-Range"].rsplit("/", 1)[-1]
    digest = server_md5(headers, ranged=ranged)
    parts = {"size": size, "etag": headers.get("ETag"), "modified": headers.get("Last-Modified"),
             "md5": digest.hex() if digest is not None else None}
    if parts["etag"] is None and parts["modified"] is None and digest is None:
        return None
    return ";".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def server_md5(headers: Any, *, ranged: bool = False) -> bytes | None:
    """The MD5 of a whole object that its server states in ``headers`` (a response to HEAD, or to a ranged GET when
    ``ranged``), else None: ``Content-MD5`` (RFC 1864; Azure Blob Storage and other blob stores keep the one given at
    upload), Azure's ``x-ms-blob-content-md5`` (also on ranged reads) or Google Cloud Storage's ``x-goog-hash``
    ``md5=``. A ranged response's ``Content-MD5`` covers its range only and is not used; S3's ETag is an MD5 only for
    some uploads and is not used either."""
    values = [headers.get("x-ms-blob-content-md5")]
    if not ranged:
        values.append(headers.get("Content-MD5"))
    for part in (headers.get("x-goog-hash") or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "md5":
            values.append(value)
    for value in values:
        if not value:
            continue
        try:
            digest = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(digest) == 16:
            return digest
    return None


def server_digests(fingerprints: list[dict[str, Any]]) -> dict[tuple[str, str], bytes]:
    """The whole-object MD5s the scenes' servers stated (``server_md5``), by (item id, asset key), from
    ``scene_fingerprints``: ``verify_checksums`` compares the bytes against them where an item has no checksum."""
    out = {}
    for print_ in fingerprints:
        for key, ident in print_["assets"].items():
            if ident and ";md5=" in f";{ident}":
                out[(print_["id"], key)] = bytes.fromhex(f";{ident}".rsplit(";md5=", 1)[1])
    return out


def scene_fingerprints(items: list[dict[str, Any]], source: Source) -> list[dict[str, Any]]:
    """What the scenes of ``items`` (STAC item dicts) are now, for a cache key: per item its id, ``updated``
    and, per asset ``source`` reads, its ``file:checksum`` or else ``asset_identity``; sorted by id.

    Assets without a checksum cost one HTTP HEAD each (a few at a time) or a hash of a local file.
    """
    def first_pass(item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["id"], "updated": item.get("properties", {}).get("updated"), "assets": {}}

    out = {item["id"]: first_pass(item) for item in items}
    ask: list[tuple[str, str, str]] = []  # (item id, asset key, href) with no checksum
    need_hrefs = []
    for item in items:
        for spec in sorted(source.assets.values(), key=lambda s: s.key):
            asset = item.get("assets", {}).get(spec.key)
            if asset is None:
                continue
            if asset.get("file:checksum"):
                out[item["id"]]["assets"][spec.key] = asset["file:checksum"]
            else:
                need_hrefs.append(item)
                ask.append((item["id"], spec.key, ""))
    if ask:
        readable = {it.id: it for it in sign_items([pystac.Item.from_dict(d) for d in {d["id"]: d for d in need_hrefs}.values()],
                                                   source)}
        ask = [(i, k, _href(readable[i].assets[k])) for i, k, _ in ask]

        for (item_id, key, _), ident in zip(ask, _identities(ask)):
            out[item_id]["assets"][key] = ident
    return sorted(out.values(), key=lambda f: f["id"])


def _identities(ask: list[tuple[str, str, str]]) -> list[str | None]:
    """``asset_identity`` of each (item id, asset key, href) of ``ask``, ``CHECK_THREADS`` at a time; a failure is a
    one-line ``SceneReadError`` (``TransientReadError`` when a rerun may help) naming the scene."""
    def identity(job: tuple[str, str, str]) -> str | None:
        item_id, _, href = job
        try:
            return asset_identity(href)
        except _Unreadable as err:
            error = TransientReadError if err.transient else SceneReadError
            raise error(f"scene {item_id!r} {err.problem}: {_public(href)}; "
                        + ("this looks transient: rerun" if err.transient
                           else "re-download or repair it at the source, or leave it out with --exclude-scene "
                           f"{item_id}, then rerun")) from None

    with ThreadPoolExecutor(max(1, min(CHECK_THREADS, len(ask)))) as pool:
        return list(pool.map(identity, ask))


def file_fingerprint(path: str | Path) -> str:
    """The sha256 of a file's content (a missing file fingerprints as its name, and fails later where read)."""
    p = Path(path)
    if not p.is_file():
        return f"missing:{p.name}"
    stat = p.stat()
    return _content_sha256(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _content_sha256(path: str, mtime_ns: int, size: int) -> str:
    """A file's sha256, hashed once per (path, modification time, size): every period task keys on the
    same files (legend, SOC model, a precomputed LPD GeoTIFF), and an edit changes the stat."""
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    """The sha256 (hex) of a file's content, read now (not cached): what a published asset's checksum states."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def implausible(values: np.ndarray, spec: AssetSpec) -> tuple[int, str] | None:
    """How many of ``values`` (raw, as read) an intact file of ``spec`` cannot hold, and why; None when all can.

    Damaged DEFLATE or LZW data often decodes without a GDAL error into values the product never stores: an NDVI
    outside its declared ``valid_range`` that is not its fill (``out_of_range: corrupt``), a QA code outside its
    declared ``codes``. Sources whose items carry no ``file:checksum`` (MOD13Q1 on the Planetary Computer) have no
    other defence."""
    if spec.codes is not None:
        bad = int(np.count_nonzero(~np.isin(values, np.asarray(spec.codes, dtype=values.dtype))))
        if bad:
            return bad, f"codes other than {spec.codes}"
    if spec.out_of_range == "corrupt" and spec.valid_range is not None:
        lo, hi = spec.valid_range
        outside = (values < lo) | (values > hi)
        if spec.nodata is not None:
            outside &= values != spec.nodata
        bad = int(np.count_nonzero(outside))
        if bad:
            fill = f" and not the fill {spec.nodata:g}" if spec.nodata is not None else ""
            return bad, f"values outside {lo:g}..{hi:g}{fill}"
    return None


def check_plausible(values: np.ndarray, spec: AssetSpec, *, scene: str, href: str) -> None:
    """Raise ``SceneReadError`` naming the scene when ``values`` (raw, read from ``href``) hold what an intact file
    of ``spec`` cannot (``implausible``): the run stops in one line, and nothing read from the scene is cached."""
    found = implausible(values, spec)
    if found is not None:
        bad, what = found
        raise SceneReadError(
            f"scene {scene}: {bad} of {values.size} pixels of {spec.key} read from {_public(href)} hold {what}, which an "
            "intact file cannot: its bytes are damaged (no checksum needed to see it). Download it again, or have the "
            f"provider repair it, or leave it out with --exclude-scene {scene}, then rerun; nothing read from it was "
            "published or cached")


# Decoding: GDAL's complaints are errors

GDAL_LOGGERS = ("rasterio._err", "rasterio._env")
"""The loggers rasterio's GDAL error handlers write to: ``rasterio._err`` inside a read (warnings at WARNING, errors
GDAL signalled during a call that succeeded at INFO, "GDAL signalled an error: ..."), ``rasterio._env`` elsewhere,
an open included ("CPLE_AppDefined in ...")."""

BENIGN = ("Retrying again in",)
"""Parts of GDAL messages that say nothing about a file's bytes: its HTTP retry notices (the retried request then
succeeded, or the read fails as an error)."""



class DecodeComplaint(SceneReadError):
    """A scene GDAL decoded only with complaints; ``complaint`` is GDAL's first one."""

    complaint: str = ""


_local = threading.local()
_install_lock = threading.Lock()
_installed = False


def _complaint(record: logging.LogRecord) -> str | None:
    """The text of a GDAL complaint in ``record`` (a warning, or an error GDAL signalled and went on), else None."""
    text = record.getMessage()
    if record.levelno < logging.WARNING and not text.startswith("GDAL signalled an error"):
        return None
    if any(part in text for part in BENIGN):
        return None
    return text


class _Collect(logging.Filter):
    """Takes GDAL's complaints made by a thread inside ``decoding`` (they become that read's error, so they are not
    logged as well); passes every other record on as the logger's level before installation would have."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        found = getattr(_local, "found", None)
        if found is not None and (text := _complaint(record)) is not None:
            found.append(text)
            return False
        return record.levelno >= self.level


def _install() -> None:
    """Let INFO records of the ``GDAL_LOGGERS`` reach their filter (once per process; Dask workers included)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for name in GDAL_LOGGERS:
            logger = logging.getLogger(name)
            logger.addFilter(_Collect(logger.getEffectiveLevel()))
            logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        _installed = True


@contextmanager
def decoding(scene: str, href: str, asset: str) -> Iterator[None]:
    """Decode ``asset`` of ``scene`` from ``href`` inside this block: a warning GDAL gives, or an error it signals
    while still returning pixels, raises ``DecodeComplaint`` (a ``SceneReadError``) at the end of the block in one line that names the scene,
    the file (without its query string) and GDAL's first complaint."""
    _install()
    outer = getattr(_local, "found", None)
    found: list[str] = []
    _local.found = found
    try:
        yield
    finally:
        _local.found = outer
    if found:
        first = re.sub(r"^(GDAL signalled an error: )?(CPLE_\w+(:| in ))?", "", found[0])[:160]
        more = f" (and {len(found) - 1} more complaints)" if len(found) > 1 else ""
        err = DecodeComplaint(
            f"scene {scene}: GDAL decoded {asset} of {href.split('?')[0]} only with complaints ({first}{more}): its "
            f"bytes are damaged. Download it again, or have the provider repair it, or leave it out with "
            f"--exclude-scene {scene}, then rerun; nothing read from it was published or cached")
        err.complaint = first
        raise err


class _WatchedReader:
    """odc-stac's rasterio reader of one asset, reading inside ``decoding``."""

    def __init__(self, inner: Any, scene: str, href: str, asset: str) -> None:
        self._inner, self._scene, self._href, self._asset = inner, scene, href, asset

    def read(self, *args: Any, **kwargs: Any) -> Any:
        with decoding(self._scene, self._href, self._asset):
            return self._inner.read(*args, **kwargs)


class WatchedRioDriver(RioDriver):  # type: ignore[misc]
    """odc-stac's rasterio driver whose reads go through ``decoding``; ``scenes`` maps each asset href the load reads
    to (item id, asset name) for the message. odc-stac fills in its STAC metadata parser (``md_parser`` None)."""

    def __init__(self, scenes: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self._scenes = scenes

    def open(self, src: Any, ctx: Any) -> Any:
        scene, asset = self._scenes.get(src.uri, (src.uri.split("?")[0].rsplit("/", 1)[-1], "its asset"))
        return _WatchedReader(super().open(src, ctx), scene, src.uri, asset)
