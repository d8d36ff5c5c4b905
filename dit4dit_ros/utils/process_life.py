"""Helper processes that must not outlive the process that started them.

The executor's real-time process and the simulator's physics process are started by a ROS node; a node that is
killed (SIGKILL by its supervisor, a crash) cannot stop them itself, and an orphan would go on commanding or
simulating the robot. The kernel's parent-death signal ends them instead.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGTERM to this process when `parent` exits (call first thing; re-checked for the start-up race).

    Linux delivers the signal when the *thread* that started this process exits: start helpers from a thread
    that lives as long as the parent (the main thread)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        sys.exit(3)  # the parent died before the prctl: nobody to serve


__all__ = ["die_with_parent"]
