"""Processes the pipeline starts or finds left behind: is a pid alive, and children that die with their parent."""
from __future__ import annotations

import ctypes
import os
import signal

__all__ = ["pid_alive", "die_with_parent"]

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
