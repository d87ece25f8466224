"""Numba kernels: 1-D statistics along the last axis. No xarray, Prefect or I/O here."""
