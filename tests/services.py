"""Real services for tests, on 127.0.0.1 only: a throwaway PostgreSQL + PostGIS cluster, stac-fastapi-pgstac,
a self-hosted Prefect server and a Dask cluster (`dask scheduler` + `dask worker` processes).

The cluster lives in a temporary folder, listens on a free loopback port with trust authentication
and is removed afterwards. PostgreSQL refuses to run as root, so under root (CI containers) it runs
as the ``postgres`` system user that Debian's package creates.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from tasks.io.runtime.local_stac import free_port, stop_process

__all__ = ["postgres_bin", "postgres_cluster", "stac_fastapi", "free_port", "why_no_postgres", "wait_until",
           "prefect_server", "dask_cluster"]


def wait_until(ready: Callable[[], Any], proc: subprocess.Popen, what: str, timeout: float,
               every: float = 0.3) -> Any:
    """Poll ``ready()`` until it returns something truthy; fail with the process's stderr if it exits or times out.

    A ``ready`` that raises ``OSError`` (connection refused while starting) counts as not ready yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = ready()
            if value:
                return value
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"{what} did not start within {timeout:.0f} s (exit {proc.poll()}): {err}")
        time.sleep(every)


def _ping(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def why_no_postgres() -> str | None:
    """Why the pgstac tests cannot run here, or None when they can."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        return "PostgreSQL is not installed: run `bash tests/setup-system.sh` (apt postgresql + postgis)"
    if not glob.glob(f"/usr/share/postgresql/{bin_dir.parts[-2]}/extension/postgis.control"):
        return f"PostGIS for PostgreSQL {bin_dir.parts[-2]} is not installed: run `bash tests/setup-system.sh`"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started"
    return None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A new PostgreSQL cluster on a free 127.0.0.1 port; yields a superuser DSN to database ``postgres``."""
    bin_dir = postgres_bin()
    assert bin_dir is not None, why_no_postgres()
    base = Path(tempfile.mkdtemp(prefix="ldn-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "--encoding=UTF8", "--no-sync"]), check=True, capture_output=True)
    server = subprocess.Popen(
        _as_postgres([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                      "-k", str(sock), "-c", "fsync=off", "-c", "max_connections=50"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        wait_until(lambda: subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                          capture_output=True).returncode == 0, server, "PostgreSQL", 60, every=0.2)
        yield dsn
    finally:
        stop_process(server, timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def stac_fastapi(dsn_port: int, *, user: str = "postgres", database: str = "postgres") -> Iterator[str]:
    """stac-fastapi-pgstac under uvicorn on a free 127.0.0.1 port (factory app); yields its URL."""
    port = free_port()
    env = {**os.environ, "PGUSER": user, "PGPASSWORD": "unused", "PGHOST": "127.0.0.1", "PGPORT": str(dsn_port),
           "PGDATABASE": database, "ENABLE_TRANSACTIONS_EXTENSIONS": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ping(f"{url}/_mgmt/ping"), server, "stac-fastapi-pgstac", 90)
        yield url
    finally:
        stop_process(server, timeout=30)


def api_call(url: str, body: dict | None = None, method: str | None = None) -> Any:
    """One call to a Prefect API; a 503 (the server's database busy while a served run writes, seen under load in CI)
    is asked again, up to 5 times 2 s apart, as a client of a busy server would."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(5):
        req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code != 503 or attempt == 4:
                raise
            time.sleep(2)


@contextmanager
def prefect_server(home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A self-hosted `prefect server start` on a free loopback port with its own database in ``home``.

    Yields (API URL, an environment pointing at it) for the processes that should report to it.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _ping(f"http://127.0.0.1:{port}/api/health"), server, "prefect server start", 120)
        yield env["PREFECT_API_URL"], env
    finally:
        stop_process(server, timeout=30)


@contextmanager
def served_deployment(env: dict[str, str], out: Path | str, *, stderr: int | None = subprocess.PIPE,
                      args: tuple[str, ...] = ()) -> Iterator[tuple[subprocess.Popen, dict[str, Any]]]:
    """`ldn serve --out out [args]` reporting to the Prefect API of ``env`` (``prefect_server``'s): yields the process
    and its yearly deployment once the API has it; stopped (SIGTERM, then SIGKILL after 30 s) on exit."""
    api = env["PREFECT_API_URL"]
    served = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--out", str(out), *args],
                              cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deployment = wait_until(lambda: api_call(f"{api}/deployments/name/refresh-indicators/yearly-refresh"),
                                served, "the deployment", 120)
        yield served, deployment
    finally:
        stop_process(served, timeout=30)


@contextmanager
def dask_cluster(cwd: Path, *, workers: int = 2, env: dict[str, str] | None = None,
                 wrap: Callable[[int, list[str]], list[str]] | None = None) -> Iterator[str]:
    """`dask scheduler` + single-threaded `dask worker`s (2 GB each) on loopback, started in ``cwd`` with ``env``;
    yields the scheduler address once every worker has joined. ``wrap(i, command)`` is worker ``i``'s command line
    (e.g. its own ``--local-directory``, or a private mount namespace)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [scheduler]
    try:
        wait_until(lambda: _listening(port), scheduler, "dask scheduler", 60)
        for i in range(workers):
            command = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                       "--nthreads", "1", "--memory-limit", "2GB", "--no-dashboard"]
            procs.append(subprocess.Popen(wrap(i, command) if wrap else command, cwd=cwd, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            stop_process(p, timeout=30)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
