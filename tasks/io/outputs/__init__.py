"""Outputs: what a run writes and what analysts read back from a published catalog.

A published item's files (``items``) and the versioned STAC catalog switched atomically (``catalog``);
GeoTIFF/COG writing (``cog``); how a layer is drawn (``styles``) and its quick-look maps (``quicklook``); the zonal
tables (``zonal``), their files and the UNCCD workbook (``workbooks``), the report assembled (``report``) with its
HTML page and the method notes in it (``report_html``, ``method_doc``); reading published layers back
(``layers``), loading a version into pgstac (``pgstac``) and the indicators inside activities' footprints
(``activity_overlay``).

The top room of ``tasks.io``: may import ``tasks.io.runtime`` (the layer cache, write and publishing locks, the
cluster), ``tasks.io.sources`` (the run context, zones, what identifies a file's bytes) and the layers below.
"""
