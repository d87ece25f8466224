"""Errors and warnings a user can act on.

Every ``LdnError`` message is one line: what is wrong, which input, and the fix. The CLI prints
``str(err)`` and exits non-zero; nothing already published is touched.
"""
from __future__ import annotations

import errno
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "LdnError",
    "validation_message",
    "ConfigError",
    "StacUnreachable",
    "StacBadPaging",
    "CollectionNotFound",
    "OutsideCollection",
    "NoScenesFound",
    "SceneReadError",
    "PublishError",
    "CacheStorageError",
    "RegistryError",
    "DiskFull",
    "UnwritablePath",
    "LdnWarning",
    "TransientReadError",
    "NoZoneOverlap",
    "is_read_error",
    "disk_full",
    "file_error",
    "redact",
]


class LdnError(RuntimeError):
    """Base for errors the user can fix; the CLI prints ``str(err)`` and exits non-zero."""


class ConfigError(LdnError, ValueError):
    """A source or run configuration is invalid."""


class StacUnreachable(LdnError):
    """The STAC API did not answer."""


class StacBadPaging(LdnError):
    """The STAC API's ``next`` links go round in a circle (or on without end): its paging is broken."""


class CollectionNotFound(LdnError):
    """The STAC API has no such collection."""


class OutsideCollection(LdnError):
    """The requested area does not intersect the collection's spatial extent."""


class NoScenesFound(LdnError):
    """A search returned no scenes for the request."""


class SceneReadError(LdnError):
    """A scene's asset could not be read (missing, truncated or corrupt)."""


class TransientReadError(SceneReadError):
    """A read failed, but every file read fine when probed again: worth one retry."""


class NoZoneOverlap(ConfigError):
    """No zone of the zone polygons touches the run's area or its layers."""


class PublishError(LdnError):
    """The output catalog could not be written."""


class CacheStorageError(LdnError):
    """The layer cache's object storage (``cache_url``) could not be opened, read or written."""


class RegistryError(LdnError):
    """The activity registry could not be opened, read or written (nothing in it was changed)."""


class DiskFull(LdnError):
    """A folder the run writes (the output, the cache, the temporary folder) ran out of space."""


class UnwritablePath(LdnError):
    """A file or folder of the run's could not be read or written (no permission, a read-only disk, a missing folder)."""


class LdnWarning(UserWarning):
    """Base for non-fatal data-quality issues; tests turn these into errors."""

    message = "ldn-pipeline data-quality warning"

    def __str__(self) -> str:
        return self.args[0] if self.args else self.message


def disk_full(err: BaseException) -> str | None:
    """What ran out of space when ``err`` (or an error behind it) is a full file system, as Python (``ENOSPC``) or
    GDAL ("No space left on device") says it: the file name where known, else ""; None for any other error."""
    cause: BaseException | None = err
    for _ in range(20):
        if cause is None:
            return None
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return str(cause.filename or "")
        if "No space left on device" in str(cause):
            return ""
        cause = cause.__cause__ or cause.__context__
    return None


def file_error(err: BaseException) -> OSError | None:
    """The file-system error (an ``OSError`` naming a file: no permission, a read-only disk, a missing folder)
    behind ``err``, if any, so the CLI can say it in one line with the path; network errors name no file."""
    cause: BaseException | None = err
    for _ in range(20):
        if cause is None:
            return None
        if isinstance(cause, OSError) and cause.filename:
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def is_read_error(err: BaseException) -> bool:
    """True for a failed raster read: a rasterio or OS error, also as a Dask cluster returns it.

    Distributed workers send back an exception they cannot pickle as a plain ``Exception`` holding
    its repr (``Exception("RasterioIOError('HTTP response code: 404')")``).
    """
    import rasterio.errors  # noqa: PLC0415  (this module is part of `ldn --help`, which loads no GDAL)

    if disk_full(err) is not None:  # a write that found the disk full: not the scene's fault
        return False
    if isinstance(err, (rasterio.errors.RasterioError, OSError)):
        return True
    return type(err) is Exception and str(err).startswith(("RasterioIOError", "RasterioError", "CPLE_"))


def redact(dsn: str) -> str:
    """A DSN with its password hidden, for messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", re.sub(r"password=\S+", "password=***", dsn))


def validation_message(err: ValidationError, where: str, lead: str = "invalid configuration in") -> str:
    """One line from a pydantic error: ``lead`` and the file or model, each failing field and its problem."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) if str(p).isprintable() else repr(p) for p in e["loc"]) or "(top level)"
        msg = " ".join(e["msg"].removeprefix("Value error, ").split())  # one line whatever the value held
        if e["type"] == "extra_forbidden":
            msg = "unknown field (a typo?)"
        parts.append(f"{loc}: {msg}")
    return f"{lead} {where}: " + "; ".join(parts)
