"""Inputs: what a run reads, found and read onto its grid, and the run's facts resolved from them once.

STAC search (``search``) with whole-request deadlines (``deadline``); what identifies a scene's bytes and the
read-time checks (``integrity``); reading scenes onto the grid (``load``) and the annual NDVI ingest kernel
(``ingest``); what one tile of each stage reads (``inputs``); the run's area (``region``, ``clip``), reporting
zones (``zones``) and expert recode polygons (``recode``); the activity registry's storage (``registry``); the
run context (``run``) and the checks made before any work (``preflight``); the monthly precipitation of the
drought layers, read on its own grid (``precipitation``).

The bottom room of ``tasks.io``: imports ``tasks.science`` and the layers below it, never ``tasks.io.runtime``
or ``tasks.io.outputs``.
"""
