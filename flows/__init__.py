"""Prefect flows of ldn-pipeline: composition only, the science lives in ``tasks``."""
import tasks as _tasks  # noqa: F401  (sets the Prefect environment defaults first)
