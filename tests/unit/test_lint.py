"""flows/ and tasks/ (ruff: the tests, benchmarks and docs' scripts too) pass ruff's checks and mypy as configured in pyproject.toml: no undefined or unused names,
sorted imports, imports at the top of a module (heavy optional packages only inside functions), no function more complex than the ratchet in ``[tool.ruff.lint.mccabe]``, and types that agree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "flows", "tasks", "tests",
                           "benchmarks", "docs"], cwd=ROOT,
                          capture_output=True, text=True)
    assert "No module named ruff" not in done.stderr, "ruff is a test dependency: pip install -e '.[test]'"
    assert done.returncode == 0, f"ruff check flows tasks tests benchmarks docs:\n{done.stdout}{done.stderr}"


def test_mypy_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True, text=True)
    assert "No module named mypy" not in done.stderr, "mypy is a test dependency: pip install -e '.[test]'"
    assert done.returncode == 0, f"mypy (settings in pyproject.toml [tool.mypy]):\n{done.stdout}{done.stderr}"
