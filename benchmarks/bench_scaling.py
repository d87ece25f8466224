"""Benchmark: the scaling model of a run on N machines that share nothing but object storage, checked on 1 and 2.

Run on demand (not part of the test suite), from the repository root, with the test extra installed (moto's S3
server stands in for the store):

    python benchmarks/bench_scaling.py [--workers 1 2] [--years 2001-2024]

For each worker count it starts, on 127.0.0.1, moto's S3 server, a Prefect server, a Dask scheduler and that many
`dask worker`s, each pinned to its own core (`taskset`: one worker is one machine of one core), with one thread and
its own scratch folder (in its own mount namespace, with the run's folder hidden, where `unshare -m` is permitted),
and runs the sample with `--out s3://...`, `--cache-url s3://...` and `--task-runner dask` from scratch (an empty
cache). It records, per task type, from each worker's ledger (``tasks.io.runtime.shared_nothing.TASK_LEDGER``): the
count, wall and CPU seconds, bytes read from the scene server (GDAL's count) and read from and written to the store;
and, for the flow's machine, its stages' wall times, what it fetched and what it published.

The model: a stage of ``u`` independent units (tile-years, tile-periods, periods, the run) that takes ``T`` seconds
on one machine takes ``T x ceil(u / N) / u`` on N (a unit runs on one machine, the next round waits for the
slowest), and the stages that run on the flow's machine (drought, people, the report, publishing) do not shrink.
The 1-worker run's per-task seconds predict the 2-worker run's wall time; the benchmark prints both. For
North-East Asia the stage seconds are ``ldn run --plan``'s (``catalogs/benchmark_rates.yaml``, one 2-core machine),
the bytes are scaled from the sample's per published byte, and each N is printed with its hours, its bytes moved
and which limit comes first.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NE_ASIA_STAGES = {"annual NDVI tiles and mosaics": "tile-years", "annual NDVI maps": "years",
                  "productivity tiles (every period)": "tile-periods", "productivity join": "periods",
                  "land cover and SOC": "periods", "SDG 15.3.1": "periods", "status": "reports",
                  "LDN balance": "reports", "drought hazard (SO3-1)": "driver", "people (SO3-2, SO3-3, SO2-3)": "driver",
                  "zonal tables, workbooks and report": "driver", "publishing the version": "driver"}
"""``ldn run --plan``'s stages and what each spreads over (``driver``: the flow's machine only)."""

MOSAIC_SHARE = 0.26
"""Of the tile-year stage's seconds, the year mosaics' (24 units, not 864): 0.77 s of the 2.92 s of a tile-year without
its maps in the README's sizing table (bench_ingest.py)."""

LINK_BYTES_S = 125e6
"""Assumed network of one machine: 1 Gbit/s."""

STORE_BYTES_S = 2.5e9
"""Assumed object store: 20 Gbit/s in all (a MinIO of a few nodes; S3 itself scales much further)."""

SCHEDULER_TASKS_S = 20.0
"""Assumed task runs a Prefect server on PostgreSQL records per second (its API, not Dask's scheduler, is the slower)."""


def _rounds(seconds: float, units: int, machines: int) -> float:
    """A stage of ``units`` equal units on ``machines``: ``seconds x ceil(units / machines) / units``."""
    return seconds * math.ceil(units / machines) / units if units else 0.0


def _blind_ok() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True)
    return probe.returncode == 0


def _run(sample: Path, workers: int, years: tuple[int, int], base: Path) -> dict[str, Any]:
    """One run of the sample on ``workers`` pinned single-thread workers sharing only the store."""
    from tests.services import dask_cluster, free_port, prefect_server, wait_until

    run_dir = base / f"run-{workers}"
    hidden = run_dir / "flow"
    hidden.mkdir(parents=True)
    scratch = [run_dir / f"worker-{i}" for i in range(workers)]
    blind = _blind_ok()
    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    os.environ.update(aws)
    try:
        import s3fs

        wait_until(lambda: _up(port), moto, "moto server", 60)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir("bench")

        def wrap(i: int, command: list[str]) -> list[str]:
            pinned = ["taskset", "-c", str(i % (os.cpu_count() or 1)), *command, "--local-directory", str(scratch[i])]
            if not blind:
                return pinned
            return ["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{hidden}" && exec "$@"', "sh", *pinned]

        with prefect_server(run_dir / "prefect-home") as (_, env):
            env = {**env, **aws}
            with dask_cluster(REPO, workers=workers, env=env, wrap=wrap) as address:
                cpu0, started = _children_cpu(), time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample), "--years",
                     f"{years[0]}-{years[1]}", "--out", "s3://bench/layers", "--cache-url", "s3://bench/cache",
                     "--cache-dir", str(hidden / "cache"), "--dask-address", address, "--task-runner", "dask"],
                    cwd=hidden, env=env, capture_output=True, text=True)
                wall, flow_cpu = time.monotonic() - started, _children_cpu() - cpu0
                if done.returncode != 0:
                    raise SystemExit(f"the {workers}-worker run failed: {done.stderr.strip()[-2000:]}")
                from distributed import Client

                with Client(address, timeout=30) as client:
                    ledgers = client.run(_ledger)
        version = json.loads(fs.cat_file("bench/layers/catalog.json"))["ldn:latest"]
        published = sum(fs.du(f"bench/layers/versions/{version}", total=False).values())
        stages = _stage_seconds(done.stdout + done.stderr)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    return {"workers": workers, "wall": wall, "flow_cpu": flow_cpu, "published": published, "stages": stages,
            "tasks": [t for ledger in ledgers.values() for t in ledger], "blind": blind}


def _up(port: int) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
        return True
    except OSError:
        return False


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _ledger() -> list[dict[str, Any]]:  # runs on each worker
    from tasks.io.runtime.shared_nothing import TASK_LEDGER

    return list(TASK_LEDGER)


def _stage_seconds(log: str) -> dict[str, float]:
    """The flow's stage times from its count lines (``track_stage``)."""
    import re

    return {m.group(1): float(m.group(2)) for m in re.finditer(r" - ([^|\n]+?): \d+ of \d+ tasks done in ([\d.]+) s",
                                                                  log)}


def _by_type(tasks: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = collections.defaultdict(lambda: collections.defaultdict(float))
    for t in tasks:
        row = out[t["task"]]
        row["count"] += 1
        for k in ("seconds", "cpu", "scene_bytes", "store_read", "store_written"):
            row[k] += t[k]
    return out


def _units(kind: str, tiles: int, years: int, periods: int) -> int:
    return {"tile-years": tiles * years, "years": years, "tile-periods": tiles * periods, "periods": periods,
            "reports": max(periods - 1, 0), "run": 1, "driver": 1}[kind]


def _print_run(r: dict[str, Any]) -> None:
    print(f"\n{r['workers']} worker(s){' (blind: own mount namespace)' if r['blind'] else ''}: wall {r['wall']:.1f} s, "
          f"flow's machine CPU {r['flow_cpu']:.1f} s, published {r['published'] / 1e6:.1f} MB")
    print(f"  {'task':<28}{'count':>6}{'wall s':>9}{'CPU s':>8}{'scene MB':>10}{'store read MB':>15}"
          f"{'written MB':>12}")
    for name, row in sorted(_by_type(r["tasks"]).items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"  {name:<28}{int(row['count']):>6}{row['seconds']:>9.1f}{row['cpu']:>8.1f}"
              f"{row['scene_bytes'] / 1e6:>10.1f}{row['store_read'] / 1e6:>15.1f}{row['store_written'] / 1e6:>12.1f}")
    print("  stages (wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items()))


def _predict(one: dict[str, Any], machines: int) -> float:
    """The wall time on ``machines`` workers from the 1-worker run: each task type's tasks (independent units of their
    stage) in rounds, the rest (the flow's machine, Prefect, waiting between stages) as measured."""
    by_type = _by_type(one["tasks"])
    on_workers = sum(row["seconds"] for row in by_type.values())
    spread = sum(_rounds(row["seconds"], int(row["count"]), machines) for row in by_type.values())
    return one["wall"] - on_workers + spread


def _ne_asia(one: dict[str, Any], two: dict[str, Any] | None) -> None:
    """North-East Asia on N machines: ``ldn run --plan``'s stage seconds spread by rounds, bytes scaled from the
    sample's per published byte (what a second worker adds to the reads: ``two``, the 2-worker run)."""
    from flows.options import RefreshRun, build_run
    from tasks.io.runtime.plan import plan_run
    from tests.helpers import production_sources

    with tempfile.TemporaryDirectory(prefix="ldn-bench-plan-") as tmp:
        facts = build_run(RefreshRun(sources_file=production_sources(Path(tmp)), years=(2001, 2024),
                                     out_dir=Path(tmp) / "catalog"))
        plan = plan_run(facts, unsearchable="the model needs no search")
    tiles, years, periods = len(plan.tiles), facts.cfg.years[1] - facts.cfg.years[0] + 1, len(facts.periods)
    published = plan.rates.published_bytes_per_px * plan.region_px
    totals = _by_type(one["tasks"])
    per_published = {k: sum(row[k] for row in totals.values()) / one["published"]
                     for k in ("store_read", "store_written", "scene_bytes")}
    added = 0.0 if two is None else (sum(t["store_read"] for t in two["tasks"])
                                     - sum(t["store_read"] for t in one["tasks"])) / (two["workers"] - 1)
    annual_share = max(added, 0.0) / one["published"]  # what each further worker fetches: its own copies
    print(f"\nNorth-East Asia ({tiles} tiles, {years} years, {periods} periods, {plan.region_px / 1e6:.1f} M px of "
          f"region, {published / 1e9:.0f} GB published), machines of {plan.rates.cores} cores like the benchmark's:")
    print(f"  {'machines':>8}{'hours':>8}{'workers h':>11}{'flow h':>8}{'moved GB':>10}{'store h':>9}"
          f"{'tasks/s':>9}  first limit")
    tasks = sum(_units(kind, tiles, years, periods) for kind in NE_ASIA_STAGES.values() if kind != "driver")
    flow_link = 2 * published / LINK_BYTES_S  # the flow's machine fetches the workers' layers, then uploads the version
    stages = dict(plan.stages_s)
    ingest = stages.pop("annual NDVI tiles and mosaics")
    stages["annual NDVI tiles and mosaics"], stages["annual NDVI mosaics"] = ingest * (1 - MOSAIC_SHARE), \
        ingest * MOSAIC_SHARE
    kinds = {**NE_ASIA_STAGES, "annual NDVI mosaics": "years"}
    for n in (1, 8, 32, 128):
        worker_s = sum(_rounds(s, _units(kinds.get(stage, "driver"), tiles, years, periods), n)
                       for stage, s in stages.items() if kinds.get(stage, "driver") != "driver")
        flow_s = sum(s for stage, s in stages.items() if kinds.get(stage, "driver") == "driver")
        flow_s += flow_link if n > 1 else 0.0  # one machine is the flow's: nothing to fetch
        moved = published * (per_published["store_read"] + per_published["store_written"] + annual_share * (n - 1)) \
            if n > 1 else 0.0  # one machine: the run of `ldn run`, nothing handed on
        store_s = max(moved / STORE_BYTES_S, moved / n / LINK_BYTES_S)  # the store's bandwidth, or each machine's
        rate = tasks / max(worker_s, 1.0)
        limits = {"the flow's machine (drought, people, report, fetching and publishing)": flow_s,
                  "moving bytes through the store": store_s,
                  "stages with fewer units than machines (joins, periods)": worker_s}
        if rate > SCHEDULER_TASKS_S:
            limits["the Prefect server's task rate"] = tasks / SCHEDULER_TASKS_S
        hours = (max(worker_s, store_s) + flow_s) / 3600
        first = max(limits, key=lambda k: limits[k]) if n > 1 else "its two cores"
        print(f"  {n:>8}{hours:>8.2f}{worker_s / 3600:>11.2f}{flow_s / 3600:>8.2f}{moved / 1e9:>10.0f}"
              f"{store_s / 3600:>9.2f}{rate:>9.2f}  {first}")
    print(f"  (bytes per published byte, from the 1-worker sample run: store read {per_published['store_read']:.2f}, "
          f"written {per_published['store_written']:.2f}, added by each further worker {annual_share:.2f} "
          f"(its own copies of the layers its tasks read); scenes {per_published['scene_bytes']:.2f}, not through the store; links "
          f"{LINK_BYTES_S * 8 / 1e9:.0f} Gbit/s, store {STORE_BYTES_S * 8 / 1e9:.0f} Gbit/s, Prefect "
          f"{SCHEDULER_TASKS_S:.0f} task runs/s: assumed)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--years", default="2001-2024", help="the sample's years, FIRST-LAST")
    ap.add_argument("--save", type=Path, help="also write the runs' measurements here (JSON)")
    ap.add_argument("--load", type=Path, help="print the model from measurements --save wrote, without running")
    args = ap.parse_args()
    first, last = (int(y) for y in args.years.split("-"))
    for tool in ("taskset",):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed to pin each worker to one core (util-linux)")
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise SystemExit("moto's S3 server stands in for the store: pip install -e '.[test]'") from None
    from tasks.environment import set_environment_defaults
    from tasks.io.samples.sample_data import generate_sample

    set_environment_defaults()
    if args.load:
        runs = json.loads(args.load.read_text())
    else:
        sample = generate_sample(REPO / "outputs" / "sample-data")
        with tempfile.TemporaryDirectory(prefix="ldn-bench-scaling-") as tmp:
            runs = [_run(sample, w, (first, last), Path(tmp)) for w in args.workers]
    if args.save:
        args.save.write_text(json.dumps(runs, indent=1))
    print(f"the sample, {first}-{last}, {os.cpu_count()} cores: each worker one core, one thread, its own scratch folder")
    for r in runs:
        _print_run(r)
    one = next((r for r in runs if r["workers"] == 1), None)
    if one is None:
        return
    print("\nthe model checked: each stage's tasks in rounds over the workers, the rest as the 1-worker run measured")
    for r in runs:
        print(f"  {r['workers']} worker(s): predicted {_predict(one, r['workers']):.1f} s, measured {r['wall']:.1f} s")
    _ne_asia(one, next((r for r in runs if r["workers"] > 1), None))


if __name__ == "__main__":
    main()
