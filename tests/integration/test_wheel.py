"""The package as a user installs it: sdist -> wheel -> a fresh virtual environment, run from there.

The editable install the tests run under would hide a module or data file that the wheel leaves out
(``tasks.kernels`` once was), so this builds the sdist from the work tree, the wheel from that sdist,
installs the wheel into a new venv and runs ``ldn --help`` and a smoke script from a folder outside
the work tree. Nothing is downloaded: the sdist is built from a clean copy of the tree, the build uses this environment's setuptools
(``--no-build-isolation``) and the venv sees this environment's dependencies
(``--system-site-packages``), so only our own package comes from the wheel.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration

_SMOKE = r"""
import importlib, pathlib, pkgutil, sys
import numpy as np
import flows, tasks, tasks.kernels
venv = pathlib.Path(sys.prefix)
for pkg in (flows, tasks, tasks.kernels):
    assert venv in pathlib.Path(pkg.__file__).resolve().parents, f"{pkg.__name__} imported from {pkg.__file__}"
names = [m.name for p in (flows, tasks) for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]
for name in names:
    importlib.import_module(name)
from tasks.config import load_periods, load_sources, PRODUCTION_SOURCES, SAMPLE_SOURCES
from tasks.science.land_cover import load_legend, LEGEND_FILE
from tasks.science.soc import load_soc_model
from tasks.science.trajectory import te_critical_s, trajectory
import xarray as xr
assert venv in LEGEND_FILE.resolve().parents, LEGEND_FILE
load_sources(PRODUCTION_SOURCES); load_sources(SAMPLE_SOURCES); load_periods(); load_legend(LEGEND_FILE); load_soc_model()
assert te_critical_s(16)[:3] == (28, 36, 56)
annual = xr.DataArray(np.array([[[3000 + 100 * k for k in range(16)]]], dtype="int16").transpose(2, 0, 1),
                      dims=("year", "y", "x"), coords={"year": list(range(2001, 2017))})
assert int(trajectory(annual)["trajectory"].item()) == 1
from tasks.io.outputs.method_doc import method_html
assert "<h2>2. Productivity (land productivity dynamics, LPD)</h2>" in method_html()  # the notes ship in the wheel
from tasks.io.sources.registry import SAMPLE_ACTIVITIES, read_activities
assert venv in SAMPLE_ACTIVITIES.resolve().parents and read_activities(SAMPLE_ACTIVITIES)  # `ldn run`'s sample registry
print(f"smoke ok: {len(names)} modules")
"""


def _run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_wheel_from_sdist_installs_and_runs_outside_the_tree(tmp_path: Path) -> None:
    # a clean copy: a stale *.egg-info/SOURCES.txt in the work tree smuggles left-out modules into the sdist
    clean = tmp_path / "checkout"
    skip = shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis")

    def ignore(folder: str, names: list[str]) -> set[str]:  # the published outputs/ at the top, not tasks/io/outputs/
        return set(skip(folder, names)) | ({"outputs"} if Path(folder) == REPO else set())

    shutil.copytree(REPO, clean, ignore=ignore)
    dist = tmp_path / "dist"
    _run(sys.executable, "-c", f"from setuptools import build_meta as b; b.build_sdist({str(dist)!r})", cwd=clean)
    (sdist,) = dist.glob("ldn[-_]pipeline-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (src,) = (tmp_path / "src").iterdir()
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ".", cwd=src)
    (wheel,) = dist.glob("ldn_pipeline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for d in ("flows", "tasks") for p in (REPO / d).rglob("*.py")}
    data = {p.relative_to(REPO).as_posix() for p in (REPO / "catalogs").iterdir()  # every file: code reads them all
            if p.is_file() and not p.name.startswith(".")}
    assert not (modules | data) - names, f"the wheel leaves out {sorted((modules | data) - names)}"

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert "sample-data" in _run(env_dir / "bin" / "ldn", "--help", cwd=work)
    assert "smoke ok" in _run(python, "-c", _SMOKE, cwd=work)
    registry = work / "registry.gpkg"
    _run(env_dir / "bin" / "ldn", "registry", "import", REPO / "catalogs" / "sample_activities.geojson", "--registry",
         registry, cwd=work)
    assert "8 activities in" in _run(env_dir / "bin" / "ldn", "registry", "list", "--registry", registry, cwd=work)
