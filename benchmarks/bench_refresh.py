"""Benchmark: next year's refresh, measured as two real runs (years to N-1, then to N), stage by stage.

Run on demand (not part of the test suite), from the repository root:

    python benchmarks/bench_refresh.py [--input sample|rehearsal] [--last 2024]

The data engineers' yearly job: one new year of composites arrives and the refresh runs again. This runs the real
`refresh-indicators` flow twice into one catalog (and its layer cache): first for 2001 to N-1, then for 2001 to N,
and prints each stage's wall time in both runs from the flow's own count lines, what the second run linked from the
cache and what it computed, and both runs' totals. Nothing is extrapolated: the refresh figure is the second run.

``--input sample`` (the default) is the 60 km sample; ``--input rehearsal`` is the full-extent rehearsal of North-East
Asia (every 16th MODIS pixel, all 36 tiles: `ldn sample-data --region NE-ASIA`), the real region's stages at a
coarse pixel.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("annual NDVI restore", "annual NDVI tiles", "annual NDVI mosaics", "trend tiles", "productivity tiles", "productivity",
          "land cover and SOC", "SDG 15.3.1", "status", "LDN balance")
"""The flow's stage names, as its count lines (`tasks.io.runtime.progress.track_stage`) log them."""


class _Log(logging.Handler):
    """The flow's log lines: stage times and what came from the cache."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def stages(self) -> dict[str, float]:
        return {m.group(1): float(m.group(2)) for line in self.lines
                if (m := re.match(r"(.+): \d+ of \d+ tasks done in ([\d.]+) s", line))}

    def cache_lines(self) -> list[str]:
        return [line for line in self.lines if "linked from the cache" in line or "recomputed" in line]


def _run(params: Any) -> tuple[float, _Log]:
    from flows.refresh import refresh_indicators

    log = _Log()
    logger = logging.getLogger("prefect")
    logger.addHandler(log)
    try:
        started = time.monotonic()
        refresh_indicators(params)
        return time.monotonic() - started, log
    finally:
        logger.removeHandler(log)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", choices=("sample", "rehearsal"), default="sample")
    ap.add_argument("--last", type=int, default=2024, help="the new year N (the first run ends at N-1)")
    args = ap.parse_args()

    from tasks.environment import set_environment_defaults

    set_environment_defaults()
    from flows.options import RefreshRun
    from tasks.io.samples.rehearsal import generate_rehearsal
    from tasks.io.samples.sample_data import generate_sample

    if args.input == "rehearsal":
        inputs = generate_rehearsal(Path("outputs/rehearsal-ne-asia"))
    else:
        inputs = generate_sample(Path("outputs/sample-data"))
    with tempfile.TemporaryDirectory() as out:
        params = RefreshRun(sample_dir=inputs, out_dir=Path(out) / "catalog")
        first_s, first = _run(params.model_copy(update={"years": (2001, args.last - 1)}))
        second_s, second = _run(params.model_copy(update={"years": (2001, args.last)}))
    a, b = first.stages(), second.stages()
    print(f"{args.input} ({inputs}), {os.cpu_count()} cores: run to {args.last - 1}, then next year's refresh to "
          f"{args.last} in the same catalog and cache")
    print(f"  {'stage':<22}{'first run':>12}{'refresh':>12}")
    for stage in STAGES:
        shown = [f"{d[stage]:>10.1f} s" if stage in d else f"{'linked':>12}" for d in (a, b)]
        print(f"  {stage:<22}{shown[0]:>12}{shown[1]:>12}")
    print(f"  {'whole run':<22}{first_s:>10.1f} s{second_s:>10.1f} s")
    print("  the refresh's cache lines:")
    for line in second.cache_lines():
        print(f"    {line}")


if __name__ == "__main__":
    main()
