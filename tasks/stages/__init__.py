"""The stages of the DAG, one module each: annual NDVI, productivity, land degradation (land cover, SOC,
SDG 15.3.1), publishing and the report, and the preflight checks that run before them.

Each holds the Prefect ``@task`` wrappers and the per-tile driving of one stage: thin, calling the science in
``tasks.science`` and the reading and writing in ``tasks.io``. The flows in ``flows/`` compose them.
"""
