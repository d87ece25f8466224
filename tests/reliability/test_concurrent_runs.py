"""Two runs on one output folder: neither removes cache entries the other reads, and both versions are published.

The issue's case: two `ldn run` on the same ``--out`` with a cold cache; the first to finish a period
dropped the period's tile entries while the other was still linking them
(``.cache/productivity-tile/<key>/performance_*.tif: No such file or directory``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tasks.errors import PublishError
from tasks.io.runtime.run_locks import other_runs_live, publishing, run_marker
from tests.helpers import SHORT_PERIODS, assert_same_pixels, version_pixels

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]

_HOLD = """
import sys, time
from tasks.io.runtime.run_locks import run_marker, publishing
with (run_marker(sys.argv[1]) if sys.argv[2] == "marker" else publishing(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(path: Path, what: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), what], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_run_is_seen_and_a_killed_one_is_not(tmp_path: Path) -> None:
    assert other_runs_live(tmp_path) == []
    proc = _holder(tmp_path, "marker")
    try:
        assert len(other_runs_live(tmp_path)) == 1
        with run_marker(tmp_path) as mine:
            assert len(other_runs_live(tmp_path)) == 2
            assert len(other_runs_live(tmp_path, mine=mine)) == 1
        assert not mine.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(list((tmp_path / ".runs").glob("*.live"))) == 1, "SIGKILL leaves its marker ..."
    assert other_runs_live(tmp_path) == []  # ... which is seen dead and removed
    assert not list((tmp_path / ".runs").glob("*.live"))


def test_a_second_publisher_waits_then_gives_up_in_one_line(tmp_path: Path) -> None:
    proc = _holder(tmp_path, "publish")
    try:
        started = time.monotonic()
        with pytest.raises(PublishError) as err:
            with publishing(tmp_path, wait=1.0):
                pass
        assert 1.0 <= time.monotonic() - started < 5
        assert str(err.value) == (f"another run is publishing into {tmp_path} and did not finish within 1 s: wait for "
                                  "it (or stop it) and rerun; this run's layers are cached")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with publishing(tmp_path, wait=1.0):  # the lock died with its holder
        pass




def test_two_cold_runs_on_one_output_both_publish(sample_dir: Path, tmp_path: Path) -> None:
    """A period on four productivity tiles, whose cache entries the first run to finish used to drop."""
    out = tmp_path / "catalog"
    (tmp_path / "periods.yaml").write_text(yaml.safe_dump(SHORT_PERIODS))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"periods_file": str(tmp_path / "periods.yaml"), "tile_size": 32,
                                                         "productivity": {"min_years": 4}}))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # each its own temporary Prefect server
    cmd = [sys.executable, "-m", "flows.cli", "run", "--sample-dir", str(sample_dir), "--years", "2001-2006",
           "--config", str(tmp_path / "run.yaml"), "--out", str(out)]
    runs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    for code, _, err in results:
        assert code == 0, err[-3000:]
    root = json.loads((out / "catalog.json").read_text())
    versions = [link["href"] for link in root["links"] if link["rel"] == "child"]
    assert len(versions) == 2, "the root catalog lists both versions"
    assert_same_pixels(*(version_pixels((out / href).parent) for href in versions))
    assert not list((out / ".cache" / ".runs").glob("*.live")), "both markers gone"
    # a tile entry a run could not drop (the other was live) is dropped by the next run that finds itself alone
    third = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    assert not list((out / ".cache" / "productivity-tile").glob("*/entry.json"))
    assert not list((out / ".cache" / ".runs").glob("pending-drops*"))


def test_an_entry_another_run_may_read_is_dropped_later(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tasks.io.runtime.layer_cache import cache_for, drop_entry, store_entry, tidy_cache

    cfg = SimpleNamespace(cache_dir=tmp_path, out_dir=tmp_path / "out", cache_url=None)
    (tmp_path / "x.tif").write_bytes(b"tile")
    cache = cache_for(cfg, "productivity-tile")
    entry = store_entry(cache, "k1", {"x.tif": tmp_path / "x.tif"}, {})
    other = _holder(tmp_path, "marker")
    try:
        with run_marker(tmp_path):
            assert drop_entry(cache, "k1") is False and (entry / "x.tif").is_file(), "the other run may read it"
            assert tidy_cache(cfg) == 0
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    assert (tmp_path / ".runs" / "pending-drops").read_text() == "productivity-tile\tk1\n"
    with run_marker(tmp_path):
        assert tidy_cache(cfg) == 1
    assert not entry.exists() and not list((tmp_path / ".runs").glob("pending-drops*"))
