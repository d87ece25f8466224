"""A real STAC API and a range-capable file server on 127.0.0.1 for a folder of collections.

The bundled sample region (and the tests) are searched exactly like a remote source: ``rustac serve``
answers STAC API requests from memory, and asset hrefs in the served items are http URLs of a file
server that honours HTTP Range requests, so GDAL reads the COGs as it reads remote ones.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import ConfigError, StacUnreachable
from tasks.io.runtime.processes import die_with_parent, pid_alive

__all__ = ["LocalStac", "serve_collections", "start_file_server", "free_port", "stop_process", "RUSTAC_START_TIMEOUT"]

RUSTAC_START_TIMEOUT: float = 30.0
"""Seconds to wait for ``rustac serve`` to answer; it starts in well under a second when healthy."""


@dataclass(frozen=True)
class LocalStac:
    """Addresses of a running local STAC API and its file server."""

    api_url: str
    files_url: str
    collections: tuple[str, ...]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rustac_command() -> list[str]:
    exe = shutil.which("rustac") or str(Path(sys.executable).with_name("rustac"))
    if not Path(exe).exists():
        raise ConfigError("the `rustac` command is missing: reinstall with `pip install -e .` (it ships rustac)")
    return [exe]


def _served_copies(root: Path, files_url: str, workdir: Path) -> tuple[list[Path], tuple[str, ...]]:
    """Write collection + item files whose relative asset hrefs (the items' and the collections' own) are absolute
    http URLs."""
    hrefs: list[Path] = []
    ids = []
    for cdir in sorted(p for p in root.iterdir() if (p / "collection.json").is_file()):
        collection = json.loads((cdir / "collection.json").read_text())
        ids.append(collection["id"])
        base = f"{files_url}/{cdir.name}/"
        for asset in collection.get("assets", {}).values():  # collection-level assets (a Zarr store) too
            if "://" not in asset["href"]:
                asset["href"] = base + asset["href"].removeprefix("./")
        out_col = workdir / f"{cdir.name}.collection.json"
        out_col.write_text(json.dumps(collection))
        hrefs.append(out_col)
        items_file = cdir / "items.ndjson"
        if not items_file.is_file():
            continue
        out_items = workdir / f"{cdir.name}.items.ndjson"
        with open(items_file) as src, open(out_items, "w") as dst:
            for line in src:
                if not line.strip():
                    continue
                item = json.loads(line)
                for asset in item.get("assets", {}).values():
                    if "://" not in asset["href"]:
                        asset["href"] = base + asset["href"].removeprefix("./")
                dst.write(json.dumps(item) + "\n")
        hrefs.append(out_items)
    if not ids:
        raise ConfigError(
            f"no STAC collections (*/collection.json) under {root}: run `ldn sample-data` to write the sample region"
        )
    return hrefs, tuple(ids)


def _wait_until_up(url: str, proc: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip().splitlines()
            raise StacUnreachable(
                f"the local {what} exited with code {proc.returncode}: "
                f"{err[-1] if err else 'no message'}; check the files it was given"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise StacUnreachable(f"the local {what} at {url} did not answer within {timeout:.0f} s: is the machine overloaded?")


def _listening_port(proc: subprocess.Popen, what: str, timeout: float) -> int:
    """The port a server started with port 0 prints on its first line once it listens."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    if not line.isdigit():
        err = (proc.stderr.read() if proc.stderr and proc.poll() is not None else b"").decode(errors="replace")
        last = err.strip().splitlines()[-1] if err.strip() else "no message"
        raise StacUnreachable(f"the local {what} did not start within {timeout:.0f} s: {last}")
    return int(line)


def start_file_server(root: str | Path) -> tuple[subprocess.Popen, str]:
    """Start the range-capable file server for ``root`` on a port the system picks; (process, URL) once it answers.

    The server binds port 0 itself and says which port it got, so no other process can take the port between
    choosing and binding it. Stop it with :func:`stop_process`.
    """
    files = subprocess.Popen(
        [sys.executable, "-m", "tasks.io.runtime._fileserver", str(root), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2],
        preexec_fn=die_with_parent,
    )
    try:
        url = f"http://127.0.0.1:{_listening_port(files, 'file server', RUSTAC_START_TIMEOUT)}"
        _wait_until_up(f"{url}/", files, "file server", RUSTAC_START_TIMEOUT)
    except BaseException:
        stop_process(files)
        raise
    return files, url


_PORT_ATTEMPTS = 5
"""``rustac serve`` needs its port named, so a port found free may be taken before it binds: try a new one."""


def _start_rustac(hrefs: list[Path]) -> tuple[subprocess.Popen, str]:
    """Start ``rustac serve`` on a free 127.0.0.1 port and wait until it answers; a new port if one was taken."""
    for attempt in range(_PORT_ATTEMPTS):
        api_url = f"http://127.0.0.1:{free_port()}"
        api = subprocess.Popen(
            [*_rustac_command(), "serve", *map(str, hrefs), "--addr", api_url.removeprefix("http://")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "RUST_LOG": "error"},
            preexec_fn=die_with_parent,
        )
        try:
            _wait_until_up(f"{api_url}/collections", api, "STAC API (rustac serve)", RUSTAC_START_TIMEOUT)
            return api, api_url
        except StacUnreachable as err:
            stop_process(api)
            if "Address already in use" not in str(err) or attempt == _PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


_WORKDIR_PREFIX = "ldn-stac-"


def _clear_stale_workdirs() -> None:
    """Remove the STAC API copies left in the temporary folder by runs that were killed (their pid is gone)."""
    for stale in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        pid = stale.name.removeprefix(_WORKDIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def stop_process(proc: subprocess.Popen | None, timeout: float = 5) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it is still up after ``timeout`` seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


@contextmanager
def serve_collections(root: str | Path) -> Iterator[LocalStac]:
    """Serve every ``*/collection.json`` + ``items.ndjson`` under ``root`` on 127.0.0.1 until exit.

    Starts a threaded range-capable file server for ``root`` and ``rustac serve`` for the
    collections (with asset hrefs rewritten to the file server), waits until the API answers, and
    stops both on exit, also when the body raises.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root} does not exist: run `ldn sample-data` first, or pass the folder that holds it")
    files: subprocess.Popen | None = None
    api: subprocess.Popen | None = None
    _clear_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-"))
    try:
        files, files_url = start_file_server(root)
        hrefs, ids = _served_copies(root, files_url, workdir)
        api, api_url = _start_rustac(hrefs)
        yield LocalStac(api_url=api_url, files_url=files_url, collections=ids)
    finally:
        stop_process(api)
        stop_process(files)
        shutil.rmtree(workdir, ignore_errors=True)
