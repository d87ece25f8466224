"""Decoding a scene: GDAL's complaints while it decodes are errors, not log lines.

GDAL decodes some damaged files "with a warning" and returns pixels anyway: a PackBits or JPEG tile whose bytes
were overwritten, a libtiff decoder that discards what would overrun its buffer. rasterio sends those warnings, and
errors that GDAL signalled on the way to a successful read, to its loggers, where a scheduled run
prints them (or, below WARNING, drops them) and goes on to publish what was decoded. Inside ``decoding`` they stop
the read with a one-line ``SceneReadError`` naming the scene and the file, so nothing read from it is published or
cached. GDAL's notices of an HTTP request it retried (and then completed) are not complaints about the bytes.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from odc.loader import RioDriver

from tasks.errors import SceneReadError

__all__ = ["GDAL_LOGGERS", "BENIGN", "DecodeComplaint", "decoding", "WatchedRioDriver"]

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
