"""Geometry: the analysis grid and its tiles, mosaics of source tiles, true pixel areas, the antimeridian.

Pure functions of coordinates and grids; no files, no network, no Prefect. Imports only the floor
(``tasks.constants``, ``tasks.errors``, ``tasks.model``).
"""
