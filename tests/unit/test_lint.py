"""flows/ and tasks/ pass ruff's checks as configured in pyproject.toml: no undefined or unused names, sorted
imports, and no function more complex than the ratchet in ``[tool.ruff.lint.mccabe]``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "flows", "tasks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert "No module named ruff" not in done.stderr, "ruff is a test dependency: pip install -e '.[test]'"
    assert done.returncode == 0, f"ruff check flows tasks:\n{done.stdout}{done.stderr}"
