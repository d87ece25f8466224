"""The stages of the DAG, one module each: annual NDVI, productivity, land degradation (land cover, SOC,
SDG 15.3.1, status, LDN balance), publishing and the report.

Each holds the Prefect ``@task`` wrappers and the per-tile driving of one stage, and nothing else (a test says
so): thin, reading a tile's inputs through ``tasks.io.sources.inputs``, computing with ``tasks.science`` and
writing through ``tasks.io.outputs``. The flows in ``flows/`` compose them; the checks made before any of them
runs are ``tasks.io.sources.preflight``.
"""
