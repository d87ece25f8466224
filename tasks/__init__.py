"""ldn-pipeline tasks, in layers that import only downwards: ``stages`` (thin Prefect tasks) > ``io`` > ``science``
(the method as pure functions) > ``config`` > ``geo`` > ``kernels`` > the floor (``constants``, ``errors``, ``model``).

Importing this package first sets the Prefect defaults the pipeline needs offline (no
telemetry, a start-up timeout for the temporary server that suits a busy 2-core box) and the GDAL
options that are read once per process: network statistics (the bytes the logs report), the
size of the cache of downloaded ranges and of decoded blocks. Values already set in the environment win.
"""
from __future__ import annotations

import os

_ENVIRONMENT_DEFAULTS = {
    # Offline, analytics produce 'database is locked' tracebacks and telemetry errors.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary server needs 10-20 s to start; 20 s is too tight on a busy CI box.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # GDAL counts the bytes it downloads (tasks.io.netstats); read once, at a process's first network read.
    "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
    # GDAL's cache of downloaded COG ranges, per process (default 16 MiB): Dask chunks open each composite
    # again, and with the default their headers and shared blocks are downloaded again too. Measured on a
    # 2400 x 2400 px tile-year before the ingest kernel: 436 MB over HTTP with 16 MiB, 233 MB with 256 MiB.
    "CPL_VSIL_CURL_CACHE_SIZE": str(256 * 2**20),
    # GDAL's cache of decoded blocks, per process, in MB (default 5 % of the machine's memory: 1.2 GB on 24 GB).
    # The pipeline decodes each block once, streaming; the files it keeps open (tasks.io.load) would otherwise
    # fill the cache with blocks never read again, a tile-period's whole input (0.7 GB at 4800 px).
    "GDAL_CACHEMAX": "64",
}
for _key, _value in _ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
