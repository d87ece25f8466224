"""--out or --cache-dir naming a file: one line and exit 2 before anything starts, not a NotADirectoryError."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("flag", ["--out", "--cache-dir"])
@pytest.mark.parametrize("under", [False, True])
def test_a_file_where_a_folder_belongs(tmp_path: Path, flag: str, under: bool) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a folder\n")
    target = file / "catalog" if under else file
    args = ["run", flag, str(target)] + (["--out", str(tmp_path / "out")] if flag == "--cache-dir" else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{flag} {target}" in lines[0] and "not a folder" in lines[0], result.stderr
    assert file.read_text() == "not a folder\n"
