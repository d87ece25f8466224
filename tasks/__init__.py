"""ldn-pipeline tasks, in layers that import only downwards: ``stages`` (thin Prefect tasks) > ``io`` > ``science``
(the method as pure functions) > ``config`` > ``geo`` > ``kernels`` > the floor (``constants``, ``errors``, ``model``,
``environment``).

Importing the package changes nothing in the process; the settings a run needs (Prefect offline, GDAL's caches and
network statistics) are set by the application where a process starts: ``tasks.environment``.
"""
from __future__ import annotations

__version__ = "0.1.0"
