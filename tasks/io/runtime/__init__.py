"""Run plumbing: what keeps a run repeatable, shared and watched, around its inputs and outputs.

The layer cache and what its keys hash (``layer_cache``, ``cache_keys``, ``report_cache``); runs that share a
folder (``run_locks``) and publishing a version to object storage, switched atomically (``object_store``); the Dask cluster a task's graphs run on (``cluster``); processes and the local STAC API and
file server the run starts (``processes``, ``local_stac``, ``_fileserver``); progress and network counters
(``progress``, ``netstats``); what a run would do before it does it (``plan``).

The middle room of ``tasks.io``: may import ``tasks.io.sources`` and the layers below, never ``tasks.io.outputs``.
"""
