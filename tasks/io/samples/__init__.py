"""Generated offline inputs: the bundled sample region (``sample_data``, its monthly precipitation in
``sample_climate``) and the full-extent rehearsal of North-East Asia (``rehearsal``), written deterministically as
COGs with a STAC layout the local STAC API serves.

Above ``tasks.io.sources`` (it reuses its file checksums), below ``tasks.io.runtime`` and ``tasks.io.outputs``.
"""
