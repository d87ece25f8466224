"""Soak: the sample refreshed again and again by `ldn serve`'s deployment, one random fault in each refresh (issue 33).

A Prefect server and `ldn serve` on 127.0.0.1; ``REFRESHES`` flow runs of the deployment, one after the other, each
with one fault drawn from a fixed seed and injected at a random moment of the run: the run's process killed, its
STAC API killed or stopped (it answers nothing), a composite corrupted (repaired after the refresh), the disk under
``--out`` filled (freed after the refresh), one of two Dask workers killed (replaced after the refresh). After every
refresh:

- the root catalog names a complete version, and every asset of it matches its ``file:checksum``;
- no process of the finished run is left, nor a temporary or staging folder of any run before it (a run killed with
  SIGKILL cannot remove its own: the next run removes them, and that is checked);
- every entry of the layer cache is one a clean run of the same inputs writes, byte for byte;
- a refresh that failed is followed at once by an undisturbed rerun, which must complete (the recovery; its time
  is the time to recover);

and a final undisturbed refresh publishes the bytes a run from scratch publishes. A first undisturbed refresh
publishes the version the faults must leave intact. The counts (refreshes, faults by
kind, failed refreshes, recoveries and the time to recover) are printed and written to ``soak-summary.json`` in the
test's folder; the README's Errors section quotes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import pystac
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.io.runtime.local_stac import stop_process
from tasks.io.sources.integrity import parse_multihash
from tests.helpers import REPO, latest_version, short_run_file, version_checksums
from tests.services import api_call, free_port, prefect_server, served_deployment, wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.soak]

SEED = 20261206
REFRESHES = 12
KINDS = ("killed-run", "stac-fails", "stac-stalls", "scene-corrupted", "disk-full", "lost-worker")
SPANS = ((2001, 2005), (2001, 2006))
"""The refreshes' years: the last one grows as a yearly refresh's does (the period 2001-2006 fits the second only)."""
FINAL = "COMPLETED", "FAILED", "CRASHED", "CANCELLED"
SCENE = "MOD13Q1.A2004065.h26v04.061"
"""The composite the scene fault corrupts (a year every span reads)."""


@dataclass
class Refresh:
    """One refresh of the soak: what was done to it and what came of it."""

    number: int
    kind: str
    years: tuple[int, int]
    use_cache: bool
    delay: float
    landed: bool = False
    state: str = ""
    seconds: float = 0.0
    message: str = ""


@pytest.fixture(scope="module")
def soak_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The soak's folder; ``out`` under it is a 1 GB tmpfs when this user may mount one (for the full-disk fault)."""
    root = tmp_path_factory.mktemp("soak")
    out_disk = root / "disk"
    out_disk.mkdir()
    mounted = shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(out_disk)], capture_output=True).returncode == 0
    (root / "mounted").write_text("yes" if mounted else "no")
    try:
        yield root
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(out_disk)], check=False)


def _plan(mounted: bool) -> list[Refresh]:
    """The refreshes and their faults, from ``SEED``: every kind at least once, then at random."""
    rng = random.Random(SEED)
    kinds = [k for k in KINDS if mounted or k != "disk-full"]
    drawn = kinds + [rng.choice(kinds) for _ in range(REFRESHES - len(kinds))]
    rng.shuffle(drawn)
    return [Refresh(number=i + 1, kind=kind, years=rng.choice(SPANS), use_cache=rng.random() < 0.75,
                    delay=round(rng.uniform(1.0, 15.0), 1)) for i, kind in enumerate(drawn)]


def _verify_version(out: Path) -> int:
    """The root catalog's latest version, every asset checked against its ``file:checksum``; the assets checked."""
    root = json.loads((out / "catalog.json").read_text())
    link = next(lk for lk in root["links"] if lk["rel"] == "latest-version")
    catalog = pystac.Catalog.from_file(str(out / link["href"]))
    checked = 0
    for item in catalog.get_items(recursive=True):
        for key, asset in item.assets.items():
            path = Path(asset.get_absolute_href() or asset.href)
            assert path.is_file(), f"{item.id}: asset {key} is missing: {path}"
            stated = asset.extra_fields.get("file:checksum")
            assert stated, f"{item.id}: asset {key} has no file:checksum"
            algorithm, digest = parse_multihash(stated)
            assert hashlib.new(algorithm, path.read_bytes()).digest() == digest, f"{item.id}: asset {key} is damaged"
            checked += 1
    assert checked > 100, checked
    return checked


def _cache_entries(out: Path) -> dict[str, dict[str, str]]:
    """Every complete layer-cache entry (a folder with ``entry.json``) by kind/key: its files' sha256 (entry.json's
    timestamps masked)."""
    stamp = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
    entries = {}
    for meta in (out / ".cache").glob("*/*/entry.json"):
        entry = meta.parent
        files = {}
        for path in sorted(p for p in entry.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.suffix == ".json":
                data = stamp.sub(b"TIME", data)
            files[str(path.relative_to(entry))] = hashlib.sha256(data).hexdigest()
        entries[f"{entry.parent.name}/{entry.name}"] = files
    return entries


def _leftovers(out: Path, tmp: Path) -> list[str]:
    """Temporary and staging folders of runs: the private temporary folder's ``ldn-*`` entries and ``.staging``'s."""
    found = [str(p) for p in tmp.glob("ldn-*")]
    staging = out / ".staging"
    if staging.is_dir():
        found += [str(p) for p in staging.iterdir()]
    return found


def _run_processes(served: subprocess.Popen) -> list[psutil.Process]:
    """The processes of `ldn serve`'s flow runs still alive (each run's process and what it started); the serving
    process's own multiprocessing resource tracker, which outlives runs, is not one of them."""
    out = []
    try:
        children = psutil.Process(served.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for proc in children:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and not any("resource_tracker" in c for c in proc.cmdline()):
                out.append(proc)
        except psutil.Error:
            continue
    return out


def _find(served: subprocess.Popen, match: Callable[[psutil.Process], bool]) -> psutil.Process | None:
    for proc in _run_processes(served):
        try:
            if match(proc):
                return proc
        except psutil.Error:
            continue
    return None


def _flow_run_process(proc: psutil.Process) -> bool:
    """A flow run's process: `ldn serve`'s runner starts each as `python -m prefect.engine`."""
    return "prefect.engine" in proc.cmdline()


def _rustac(proc: psutil.Process) -> bool:
    return proc.name().startswith("rustac")


class _Injector:
    """Injects one refresh's fault ``delay`` seconds after it starts (in a thread) and undoes what must be undone
    once the refresh is over (``repair``)."""

    def __init__(self, refresh: Refresh, served: subprocess.Popen, sample: Path, out_disk: Path,
                 workers: list[subprocess.Popen], replace_worker: Callable[[], None]) -> None:
        self.refresh, self.served, self.sample, self.out_disk = refresh, served, sample, out_disk
        self.workers, self.replace_worker = workers, replace_worker
        self.stop = threading.Event()
        self.scene = sample / "modis-13Q1-061" / "data" / SCENE / f"{SCENE}_250m_16_days_NDVI.tif"
        self.good = self.scene.read_bytes()
        self.thread = threading.Thread(target=self._inject, daemon=True)
        self.killed_pid: int | None = None

    def start(self) -> None:
        self.thread.start()

    def _inject(self) -> None:
        kind = self.refresh.kind
        if self.stop.wait(self.refresh.delay):
            return
        if kind == "killed-run":
            target = self._wait_for(_flow_run_process)
            if target is not None:
                self.killed_pid = target.pid
                target.send_signal(signal.SIGKILL)
        elif kind in ("stac-fails", "stac-stalls"):
            target = self._wait_for(_rustac)
            if target is not None:
                target.send_signal(signal.SIGKILL if kind == "stac-fails" else signal.SIGSTOP)
        elif kind == "scene-corrupted":
            damaged = bytearray(self.good)
            middle = len(damaged) // 2
            damaged[middle:middle + 256] = random.Random(SEED + self.refresh.number).randbytes(256)
            self.scene.write_bytes(bytes(damaged))
            target = True
        elif kind == "disk-full":
            stat = os.statvfs(self.out_disk)
            with open(self.out_disk / "filler", "wb") as f:  # leave 200 KB: less than any refresh writes
                f.write(b"\0" * max(stat.f_bavail * stat.f_frsize - 200_000, 0))
            target = True
        elif kind == "lost-worker":
            target = self.workers[0]
            target.send_signal(signal.SIGKILL)
        self.refresh.landed = target is not None

    def _wait_for(self, match: Callable[[psutil.Process], bool]) -> psutil.Process | None:
        """The process ``match`` finds among the run's, waited for while the run lasts (it may not have started it
        yet at the chosen moment)."""
        while not self.stop.is_set():
            found = _find(self.served, match)
            if found is not None:
                return found
            time.sleep(0.2)
        return None

    def repair(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.refresh.kind == "scene-corrupted":
            self.scene.write_bytes(self.good)
            later = time.time() + 10
            os.utime(self.scene, (later, later))
        elif self.refresh.kind == "disk-full":
            (self.out_disk / "filler").unlink(missing_ok=True)
        elif self.refresh.kind == "lost-worker":
            self.replace_worker()


def _cli_run(sample: Path, span: tuple[int, int], run_file: Path, out: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--sample-dir", str(sample), "--years", f"{span[0]}-{span[1]}",
                                      "--config", str(run_file), "--out", str(out)])
    assert result.exit_code == 0, result.stderr


def test_refreshes_under_random_faults_recover_and_end_where_a_clean_run_does(
    sample_dir: Path, soak_root: Path, prefect_harness: None,
) -> None:
    sample = soak_root / "sample-data"
    shutil.copytree(sample_dir, sample)
    run_file = short_run_file(soak_root)
    mounted = (soak_root / "mounted").read_text() == "yes"
    out = soak_root / "disk" / "catalog"
    tmp = soak_root / "tmp"
    tmp.mkdir()

    clean: dict[tuple[int, int], Path] = {}
    for span in SPANS:  # clean runs from scratch: the cache entries and the bytes the soak must end with
        clean[span] = soak_root / f"clean-{span[0]}-{span[1]}"
        _cli_run(sample, span, run_file, clean[span])
    allowed: dict[str, dict[str, str]] = {}
    for folder in clean.values():
        allowed.update(_cache_entries(folder))

    plan = _plan(mounted)
    summary: dict[str, object] = {"seed": SEED, "disk_full_possible": mounted}
    with prefect_server(soak_root / "prefect-home") as (api, env), ExitStack() as stack:
        env = {**env, "TMPDIR": str(tmp), "LDN_STAC_TIMEOUT": "5", "LDN_STAC_DEADLINE": "30",
               "LDN_DASK_LOST_TIMEOUT": "20"}
        workers: list[subprocess.Popen] = []
        scheduler = None
        try:
            served, deployment = stack.enter_context(served_deployment(env, out, stderr=subprocess.DEVNULL))
            scheduler, address, start_worker = _cluster(env)
            workers += [start_worker(), start_worker()]
            _wait_workers(address, 2)

            def replace_worker() -> None:  # the killed worker's place taken by a new one
                stop_process(workers[0], timeout=5)
                workers[0] = start_worker()
                _wait_workers(address, 2)

            def refresh(r: Refresh, dask: bool) -> tuple[str, str]:
                parameters: dict[str, object] = {"run": {
                    "years": list(r.years), "sample_dir": str(sample), "out_dir": str(out), "config": str(run_file),
                    "use_cache": r.use_cache}}
                if dask:
                    parameters["dask_address"] = address
                flow_run = api_call(f"{api}/deployments/{deployment['id']}/create_flow_run",
                                    {"parameters": parameters})
                state = wait_until(lambda: (s := api_call(f"{api}/flow_runs/{flow_run['id']}")["state"])["type"]
                                   in FINAL and s, served, f"refresh {r.number}", 600)
                return state["type"], (state.get("message") or "")[:300]

            first = Refresh(number=0, kind="none", years=SPANS[0], use_cache=True, delay=0.0)
            first.state, first.message = refresh(first, dask=False)  # the version the faults must leave intact
            assert first.state == "COMPLETED", first.message
            recoveries: list[float] = []
            killed: set[int] = set()
            for r in plan:
                injector = _Injector(r, served, sample, soak_root / "disk", workers, replace_worker)
                started = time.monotonic()
                injector.start()
                try:
                    r.state, r.message = refresh(r, dask=r.kind == "lost-worker")
                finally:
                    injector.repair()
                r.seconds = round(time.monotonic() - started, 1)
                if injector.killed_pid is not None:
                    killed.add(injector.killed_pid)
                print(f"refresh {r.number:2d} {r.kind:16s} {r.years} cache={r.use_cache!s:5s} at {r.delay:4.1f} s "
                      f"landed={r.landed!s:5s} {r.state:9s} {r.seconds:6.1f} s {r.message[:150]}", flush=True)
                _check_after(r, out, tmp, served, allowed, killed)
                if r.state != "COMPLETED":  # rerun at once, undisturbed, as the operator (or the next schedule) would
                    again = Refresh(number=r.number, kind="rerun", years=r.years, use_cache=True, delay=0.0)
                    rerun_started = time.monotonic()
                    again.state, again.message = refresh(again, dask=False)
                    assert again.state == "COMPLETED", f"the rerun after refresh {r.number}: {again.message}"
                    recoveries.append(round(time.monotonic() - rerun_started, 1))
                    _check_after(again, out, tmp, served, allowed, killed)

            last = Refresh(number=len(plan) + 1, kind="none", years=SPANS[-1], use_cache=True, delay=0.0)
            last.state, last.message = refresh(last, dask=False)
            assert last.state == "COMPLETED", last.message
            _check_after(last, out, tmp, served, allowed, killed)
        finally:
            stack.close()
            for proc in (*workers, scheduler):
                stop_process(proc, timeout=10)

    assert version_checksums(latest_version(out)) == version_checksums(latest_version(clean[SPANS[-1]])), \
        "the final refresh publishes the bytes of a run from scratch"
    failed = [r for r in plan if r.state != "COMPLETED"]
    summary.update(
        refreshes=len(plan) + len(recoveries) + 2, faults=dict(Counter(r.kind for r in plan)),
        landed=dict(Counter(r.kind for r in plan if r.landed)), failed_refreshes=len(failed),
        failed_by_kind=dict(Counter(r.kind for r in failed)), recoveries=len(recoveries),
        seconds_to_recover_max=max(recoveries, default=0.0),
        seconds_to_recover_mean=round(sum(recoveries) / len(recoveries), 1) if recoveries else 0.0,
        runs=[asdict(r) for r in plan])
    (soak_root / "soak-summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))


def _check_after(r: Refresh, out: Path, tmp: Path, served: subprocess.Popen, allowed: dict[str, dict[str, str]],
                 killed: set[int]) -> None:
    """What must hold after every refresh, whatever its fault did. ``killed`` holds the process ids of runs killed
    with SIGKILL since the last completed refresh: such a run cannot remove its folders, the next run does, so they
    may be left until a refresh completes (and are forgotten then)."""
    where = f"after refresh {r.number} ({r.kind}, {r.state})"
    assert _verify_version(out), where
    deadline = time.monotonic() + 30
    while (left := _run_processes(served)) and time.monotonic() < deadline:
        time.sleep(0.5)  # the runner reaps its finished run
    assert not left, f"{where}: processes left: {[p.cmdline()[:4] for p in left]}"

    def of_killed(path: str) -> bool:
        return any(re.search(rf"-{pid}([.-]|$)", Path(path).name) for pid in killed)

    leftovers = [p for p in _leftovers(out, tmp) if r.state == "COMPLETED" or not of_killed(p)]
    assert not leftovers, f"{where}: temporary or staging folders left: {leftovers}"
    if r.state == "COMPLETED":
        killed.clear()
    cached = _cache_entries(out)
    extra = {k: v for k, v in cached.items() if allowed.get(k) != v}
    assert not extra, f"{where}: cache entries a clean run does not write: {sorted(extra)[:5]}"


def _cluster(env: dict[str, str]) -> tuple[subprocess.Popen, str, Callable[[], subprocess.Popen]]:
    """A `dask scheduler` on 127.0.0.1 and a way to start single-threaded workers for it."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], cwd=REPO, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                                 "--nthreads", "1", "--memory-limit", "2GB", "--no-dashboard"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return scheduler, address, start_worker


def _wait_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(count, timeout=120)
