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


READ_ONLY = Path("/sys")
"""A folder no user (root included) can create a file in: sysfs, read-only in containers, EACCES elsewhere."""


@pytest.mark.parametrize("flag", ["--out", "--cache-dir", "TMPDIR"])
def test_a_folder_that_cannot_be_written_is_one_line_before_any_work(
        tmp_path: Path, flag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a fault battery: --out on a read-only file system was exit 1 and a 195-line traceback from the run
    marker. Every folder the run writes is probed (a file written and removed) before a sample or a scene is read."""
    import tempfile

    if not READ_ONLY.is_dir():
        pytest.skip("no /sys on this machine: no folder that even root cannot write")
    target = READ_ONLY / "ldn-catalog"
    args = ["run", "--out", str(tmp_path / "out")]
    if flag == "--out":
        args = ["run", "--out", str(target)]
    elif flag == "--cache-dir":
        args += ["--cache-dir", str(target)]
    else:
        monkeypatch.setattr(tempfile, "tempdir", str(READ_ONLY))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    named = {"--out": f"--out {target}", "--cache-dir": f"--cache-dir {target}",
             "TMPDIR": f"the temporary folder (TMPDIR) {READ_ONLY}"}[flag]
    assert len(lines) == 1 and named in lines[0] and "cannot be written" in lines[0], result.stderr
    assert not (tmp_path / "out").exists(), "nothing was started"


def test_an_os_error_no_command_explains_is_one_line_naming_the_path() -> None:
    """Any file-system error reaching the command line (here: the sample written where nobody may write) is one
    line with the path and exit 2, not a traceback."""
    if not READ_ONLY.is_dir():
        pytest.skip("no /sys on this machine: no folder that even root cannot write")
    target = READ_ONLY / "ldn-sample"
    result = CliRunner().invoke(app, ["sample-data", "--out", str(target)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {READ_ONLY}/") and "PermissionError" in lines[0], \
        result.stderr  # the folder it tried to create (the sample's staging folder beside the target)


@pytest.mark.parametrize("flag", ["--sources", "--config"])
def test_a_huge_configuration_file_is_refused_before_it_is_read(tmp_path: Path, flag: str) -> None:
    """Found by a fault battery: --sources pointing at a 10 GB file read it whole (3 GB of memory, no output). A
    sparse 10 GB file is refused by its size, in one line, without reading it."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(10 * 1024**3)  # sparse: takes no disk
    result = CliRunner().invoke(app, ["run", flag, str(huge), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(huge) in lines[0] and "not a configuration file" in lines[0], result.stderr
