"""The method (UNCCD Good Practice Guidance v2, ``catalogs/method_notes.md``) as pure functions: trajectory,
state, performance, FAO-WOCAT, LPD, land cover, SOC and the SDG 15.3.1 combination; and the national LDN
targets set against what the zonal tables measure (``targets``).

numpy/xarray in, xarray out; the numba loops they call live in ``tasks.kernels``. A new indicator's science goes
here, its Prefect task in ``tasks.stages``. Imports ``tasks.config``, ``tasks.geo``, ``tasks.kernels`` and the floor;
never ``tasks.io`` or ``tasks.stages``.
"""
