"""Busy processes for benchmarks under load (`dit4dit bench executor|loop --cpu-hog N`).

A robot computer also runs the policy, a camera driver and a viewer; a benchmark that only runs on an idle
machine says nothing about that. `CpuHogs(n)` starts n child processes that spin on one core each for as long
as the bench runs, and stops exactly those processes (by their own PIDs: SIGTERM, then SIGKILL) when the
`with` block ends, even on an exception. Nothing else on the machine is touched.
"""
from __future__ import annotations

import subprocess
import sys
import time

_SPIN = "while True:\n    pass\n"


class CpuHogs:
    """`with CpuHogs(2): ...`: two busy processes for the duration of the block."""

    def __init__(self, count: int) -> None:
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"cpu hog count must be a non-negative integer, got {count!r}")
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def start(self) -> CpuHogs:
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def alive(self) -> int:
        """How many of the hogs are still running."""
        return sum(p.poll() is None for p in self.procs)

    def stop(self, timeout: float = 2.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def __enter__(self) -> CpuHogs:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["CpuHogs"]
