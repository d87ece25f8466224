"""A full disk under ``--out``: one line naming the problem and the fix, exit 2, the previous version intact.

The issue's case: exit 1 and 700-2,200 log lines whose last line was not always "No space left". The
output folder here is a small tmpfs (mounting needs root, as in CI's container; skipped otherwise),
filled up between two runs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from affine import Affine
from typer.testing import CliRunner

from flows.cli import EXIT_USER_ERROR, app

pytestmark = pytest.mark.reliability


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs mounted at a fresh folder."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command to make a small file system")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in (".cache", ".staging")}


def test_a_full_disk_is_one_line_and_the_previous_version_stays(
    sample_dir: Path, small_disk: Path, prefect_harness: None,
) -> None:
    out = small_disk / "catalog"
    args = ["run", "--sample-dir", str(sample_dir), "--out", str(out)]
    first = CliRunner().invoke(app, [*args, "--years", "2001-2001"])
    assert first.exit_code == 0, first.stderr
    before = _tree(out)

    stat = os.statvfs(small_disk)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # leave 300 KB: less than a run of three years writes
        f.write(b"\0" * max(stat.f_bavail * stat.f_frsize - 300_000, 0))
    full = CliRunner().invoke(app, [*args, "--years", "2001-2003", "--no-cache"])
    lines = full.stderr.strip().splitlines()
    assert full.exit_code == EXIT_USER_ERROR, (full.stderr[-3000:], full.exception)
    assert len(lines) == 1 and lines[0].startswith("error: no space left on the disk"), full.stderr[-3000:]
    assert f"free space where --out ({out})" in lines[0] and "published versions are untouched" in lines[0]
    assert _tree(out) == before, "the previous version is intact"

    filler.unlink()
    again = CliRunner().invoke(app, [*args, "--years", "2001-2003"])
    assert again.exit_code == 0, again.stderr


def test_a_geotiff_written_onto_a_full_disk_is_no_space_not_a_truncated_file(small_disk: Path) -> None:
    """GDAL says a write ran out of space on stderr only and leaves a truncated file (8 KB of a tile-year here, which
    the tile task then cached); now the write is ``ENOSPC`` naming the file, and the file is gone. Found checking
    issue 33's item 5 (a tile-year's write on a full disk)."""
    import errno

    import numpy as np
    from odc.geo.geobox import GeoBox

    from tasks.io.outputs.cog import cog_from_tiled, write_geotiff

    geobox = GeoBox((64, 64), Affine(231.65635826395825, 0, 8985255.0, 0, -231.65635826395825, 4868953.0), "EPSG:3857")
    bands = np.random.default_rng(0).integers(-2000, 9000, (2, 64, 64)).astype("int16")
    fits = write_geotiff(small_disk / "fits.tif", bands, geobox, nodata=-32768)
    stat = os.statvfs(small_disk)
    with open(small_disk / "filler", "wb") as f:  # leave 12 KB
        f.write(b"\0" * max(stat.f_bavail * stat.f_frsize - 12_000, 0))
    for write in (lambda p: write_geotiff(p, bands, geobox, nodata=-32768),
                  lambda p: cog_from_tiled(fits, p, categorical=False)):
        path = small_disk / "written.tif"
        with pytest.raises(OSError) as err:
            write(path)
        assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
        assert not path.exists()
