"""Processes the pipeline starts or finds left behind: is a pid alive, and children that die with their parent.

A server the pipeline starts itself gets ``die_with_parent`` as its ``preexec_fn``. One that a library
starts (Prefect's temporary API server) gets a watchdog instead: ``python -m tasks.io.runtime.processes PID RUN``
notices when the run's process RUN is gone, however it ended, and stops process PID.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

__all__ = ["pid_alive", "die_with_parent", "watch", "start_watchdog"]

_PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal a child gets when its parent dies."""


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> None:
    """``preexec_fn`` of a child server: Linux sends it SIGTERM when the process that started it dies, even by
    SIGKILL, so a killed ``ldn run`` leaves no server running (elsewhere: nothing)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _stop(pid: int, grace: float = 5.0) -> None:
    """SIGTERM ``pid``, then SIGKILL it if it is still there after ``grace`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def watch(pid: int, parent: int) -> None:
    """Wait until process ``parent`` dies (this process is re-parented: polled twice a second), then stop process
    ``pid``; return at once when ``pid`` ends first."""
    while os.getppid() == parent and pid_alive(pid):
        time.sleep(0.5)
    if os.getppid() != parent:
        _stop(pid)


def start_watchdog(pid: int) -> subprocess.Popen:
    """A process that stops ``pid`` when this process dies, however it dies (stop it when ``pid`` is stopped)."""
    return subprocess.Popen([sys.executable, "-m", "tasks.io.runtime.processes", str(pid), str(os.getpid())],
                            stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
