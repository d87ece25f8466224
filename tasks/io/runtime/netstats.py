"""Bytes downloaded over HTTP by GDAL: what a stage really pulled from the source, for the progress logs.

Scenes are read by GDAL's ``/vsicurl/`` (and ``/vsis3/``, ...) drivers, which keep network statistics
per process when ``CPL_VSIL_NETWORK_STATS_ENABLED`` is on (``tasks.environment``: the application turns it on
where a process starts, before any read). They are read here through GDAL's C API (``VSINetworkStatsGetAsSerializedJSON``) in the
libgdal that rasterio loaded. A stage's bytes are the growth of the sum over this process and every
Dask worker process; a GDAL without the call reports None and the logs say nothing about it.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
from pathlib import Path
from typing import Any

import rasterio

__all__ = ["STATS_OPTION", "network_bytes", "cluster_network_bytes"]

STATS_OPTION = "CPL_VSIL_NETWORK_STATS_ENABLED"
"""GDAL config option (read once per process, at the first network read) that turns the statistics on."""


@functools.lru_cache(maxsize=1)
def _gdal() -> Any | None:
    """The libgdal rasterio uses, with the statistics call typed; None when it cannot be found or lacks it."""
    here = Path(rasterio.__file__).parent
    candidates = sorted((here.parent / "rasterio.libs").glob("libgdal*.so*")) + sorted(here.glob("*.so"))
    for path in candidates:  # a wheel's bundled libgdal, else the extension linked against the system's
        try:
            lib = ctypes.CDLL(str(path))
            fn = lib.VSINetworkStatsGetAsSerializedJSON
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        lib.VSIFree.argtypes = [ctypes.c_void_p]
        return lib
    return None


def network_bytes() -> int | None:
    """HTTP bytes GDAL has downloaded in this process so far, or None without statistics."""
    lib = _gdal()
    if lib is None or os.environ.get(STATS_OPTION, "NO").upper() not in ("YES", "ON", "TRUE", "1"):
        return None
    raw = lib.VSINetworkStatsGetAsSerializedJSON(None)
    if not raw:
        return None
    try:
        stats = json.loads(ctypes.string_at(raw).decode())
    finally:
        lib.VSIFree(raw)
    return int(stats.get("methods", {}).get("GET", {}).get("downloaded_bytes", 0))


def _pid_bytes() -> tuple[int, int | None]:
    return os.getpid(), network_bytes()


def cluster_network_bytes() -> int | None:
    """HTTP bytes downloaded so far by this process and every worker of the default Dask client, each process once
    (an in-process local cluster's worker is this process); None when no process keeps statistics."""
    found = dict([_pid_bytes()])
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        try:
            found.update(client.run(_pid_bytes).values())
        except Exception:  # noqa: BLE001  (a worker gone mid-run: the logs lose a count, the run goes on)
            pass
    counts = [b for b in found.values() if b is not None]
    return sum(counts) if counts else None
