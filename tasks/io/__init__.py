"""Everything that touches files, the network or other processes, for the stages above it.

Inputs: STAC search (``search``), reading scenes onto the grid (``load``, ``ingest``, ``clip``, ``integrity``),
zone and region polygons (``zones``, ``region``, ``recode``), the bundled sample data and its local STAC API
(``sample_data``, ``local_stac``, ``_fileserver``). Outputs: GeoTIFF/COG writing (``cog``), styles and quick-look
maps (``styles``, ``quicklook``), the HTML report's page (``report_html``, ``method_doc``), reading published
layers back (``layers``, ``pgstac``). Run plumbing: the layer cache (``layer_cache``, ``cache_keys``), locks,
the Dask cluster, processes, progress and network counters. A new output format goes here. Imports
``tasks.science`` and everything below it; never ``tasks.stages``.
"""
