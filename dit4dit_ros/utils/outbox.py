"""LatestOutbox: a thread that sends what a time-critical thread hands it, so that thread never waits on a
consumer.

Why: a send can block. The simulator's physics process (sim/core_process.py) hands its clock, task status and
camera frames to the ROS node through a pipe; when the node is hung (SIGSTOP) the pipe fills and the next write
waits until it drains. The physics thread only posts; this thread writes, and if it blocks, only it waits (the
write releases the interpreter lock, so the physics thread keeps stepping).

`post(key, send)` keeps the newest callable per key (a clock, a latched status, the newest frame: only the newest
value matters, so nothing queues up behind a blocked send); the thread calls them in posting order of their keys.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

LOG = logging.getLogger(__name__)


class LatestOutbox:
    def __init__(self, name: str = "outbox") -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Callable[[], None]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.posted = 0
        self.published = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def post(self, key: str, publish: Callable[[], None]) -> None:
        """Hand over `publish` (replacing an unsent one of the same key); never blocks on the consumer."""
        with self._lock:
            self._pending.pop(key, None)
            self._pending[key] = publish
            self.posted += 1
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
            for key, publish in pending.items():
                try:
                    publish()
                    self.published += 1
                except Exception:  # a closed pipe, a conversion error: logged, the others still go
                    self.failures += 1
                    LOG.exception("sending %s failed", key)

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)


__all__ = ["LatestOutbox"]
