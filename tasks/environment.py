"""The process settings the pipeline runs with: Prefect's offline defaults and the GDAL options read once per process.

Nothing sets them on import: the application does, once, where a process starts (``flows`` when it is loaded,
a Dask worker through ``tasks.io.sources.load.ReadSettings``, the test session), by calling
``set_environment_defaults``. A value already in the environment wins, so a user can override any of them.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

ENVIRONMENT_DEFAULTS: dict[str, str] = {
    # Offline, analytics produce 'database is locked' tracebacks and telemetry errors.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary server needs 10-20 s to start; 20 s is too tight on a busy CI box.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # GDAL counts the bytes it downloads (tasks.io.runtime.netstats); read once, at a process's first network read.
    "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
    # GDAL's cache of downloaded COG ranges, per process (default 16 MiB): Dask chunks open each composite
    # again, and with the default their headers and shared blocks are downloaded again too. Measured on a
    # 2400 x 2400 px tile-year before the ingest kernel: 436 MB over HTTP with 16 MiB, 233 MB with 256 MiB.
    "CPL_VSIL_CURL_CACHE_SIZE": str(256 * 2**20),
    # GDAL's cache of decoded blocks, per process, in MB (default 5 % of the machine's memory: 1.2 GB on 24 GB).
    # The pipeline decodes each block once, streaming; the files it keeps open (tasks.io.sources.load) would otherwise
    # fill the cache with blocks never read again, a tile-period's whole input (0.7 GB at 4800 px).
    "GDAL_CACHEMAX": "64",
}
"""Environment variables and the value the pipeline needs; each comment says why."""


def missing_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``ENVIRONMENT_DEFAULTS`` that ``environ`` does not set: a value already there wins.

    >>> sorted(missing_defaults({"GDAL_CACHEMAX": "128"})) == sorted(set(ENVIRONMENT_DEFAULTS) - {"GDAL_CACHEMAX"})
    True
    """
    return {key: value for key, value in ENVIRONMENT_DEFAULTS.items() if key not in environ}


def set_environment_defaults() -> dict[str, str]:
    """Set each of ``ENVIRONMENT_DEFAULTS`` the environment does not set yet, and return those it set.

    Call it as a process starts, before Prefect is imported (Prefect reads its settings then) and before GDAL
    reads a file (GDAL reads these options once, at its first use); calling it again changes nothing.
    """
    missing = missing_defaults(os.environ)
    os.environ.update(missing)
    return missing
