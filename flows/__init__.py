"""Prefect flows of ldn-pipeline: composition only, the science lives in ``tasks``.

Loading the application sets the process's defaults (``tasks.environment``), first: the ``ldn`` command, a served
or deployed run and a Python session that imports a flow all come through here before Prefect starts a server or
GDAL reads a file.
"""
from tasks.environment import set_environment_defaults

set_environment_defaults()
