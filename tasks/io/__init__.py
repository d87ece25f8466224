"""Everything that touches files, the network or other processes, for the stages above it, in four rooms.

``sources`` (inputs): finding and reading what a run reads, and the run's facts resolved from them.
``samples`` (generated inputs): the offline sample region and the full-extent rehearsal, written as COGs + STAC.
``runtime`` (run plumbing): the layer cache and its keys, locks, the Dask cluster, processes and local servers,
progress and network counters, the plan of a run.
``outputs`` (what a run writes and what analysts read back): a layer's files, the versioned STAC catalog, styles,
maps, report pages; it writes through the run plumbing (the cache, write locks, the publisher's lock).

A room imports from the rooms below it (outputs > runtime > samples > sources), never from one above, and nothing here
imports ``tasks.stages`` (``tests/unit/test_import_structure.py`` checks both). A new input format goes into
``sources``, a new output format into ``outputs``.
"""
