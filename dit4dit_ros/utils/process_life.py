"""How the stack's processes end: with their parent, and on SIGTERM/SIGINT without a deadlock.

The executor's real-time process and the simulator's physics process are started by a ROS node; a node that is
killed (SIGKILL by its supervisor, a crash) cannot stop them itself, and an orphan would go on commanding or
simulating the robot. The kernel's parent-death signal ends them instead (`die_with_parent`).

`stop_on_signals`: SIGTERM/SIGINT call a stop function from a thread of their own, never from the signal
handler. A Python signal handler runs on the main thread between two bytecodes, possibly inside `Event.set()` of
the very event it would set; taking that event's lock again deadlocks the process for good. Seen in a CI run:
the physics process outlived its killed node, its main thread stuck in on_signal -> Event.set -> lock acquire,
inside the loop's own Event.set (py-spy). The C-level handler writes the signal's number to a wakeup pipe
instead (signal.set_wakeup_fd), and a watcher thread does the stopping.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

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


def _ignore(_signum: int, _frame: object) -> None:
    """The Python-level handler does nothing: the wakeup pipe carries the signal to the watcher thread."""


@contextmanager
def stop_on_signals(stop: Callable[[], None],
                    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, each of `signals` calls `stop()` from a watcher thread (module docstring); on leaving,
    the previous handlers and wakeup fd come back. Enter it on the main thread (Python's rule for handlers)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe drops the byte, never blocks the C handler
    wanted = {int(s) for s in signals}
    previous_fd = signal.set_wakeup_fd(write_end)
    previous = {s: signal.signal(s, _ignore) for s in signals}

    def watch() -> None:
        while True:
            data = os.read(read_end, 64)
            if not data:  # the block was left: write end closed
                return
            if wanted.intersection(data):
                stop()

    watcher = threading.Thread(target=watch, name="stop-on-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_end)
        watcher.join(timeout=5.0)
        if not watcher.is_alive():
            os.close(read_end)  # else it still reads (a stop() that hangs); the descriptor goes with the process


__all__ = ["die_with_parent", "stop_on_signals"]
