"""ldn-pipeline tasks: the science as pure functions, with thin Prefect task wrappers.

Importing this package first sets the Prefect defaults the pipeline needs offline (no
telemetry, a start-up timeout for the temporary server that suits a busy 2-core box) and turns on
GDAL's network statistics (the bytes the logs report). Values already set in the environment win.
"""
from __future__ import annotations

import os

_PREFECT_DEFAULTS = {
    # Offline, analytics produce 'database is locked' tracebacks and telemetry errors.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary server needs 10-20 s to start; 20 s is too tight on a busy CI box.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # GDAL counts the bytes it downloads (tasks.netstats); read once, at a process's first network read.
    "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
}
for _key, _value in _PREFECT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
