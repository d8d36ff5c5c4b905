"""RosOutbox: a thread that publishes what a time-critical thread hands it, so that thread never calls a ROS
publisher itself.

Why: a ROS publish can block. With FastDDS's shared-memory transport, a subscriber process that is stopped (a
hung node, SIGSTOP) stops draining its port; once the port's queue is full, the next publish to it waits for the
port's health check, up to a second. The simulator published /clock from its physics thread and stalled for
that second (measured: the LowState stream stopped for 1027 ms while sim time advanced 2 ms, and the executor
rightly damped on a silent robot). The physics thread now only posts; this thread publishes, and if it blocks,
only the ROS side waits.

`post(key, publish)` keeps the newest callable per key (a clock or a latched status: only the newest value
matters, so nothing queues up behind a blocked publish); the thread calls them in posting order of their keys.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

LOG = logging.getLogger(__name__)


class RosOutbox:
    def __init__(self, name: str = "ros-outbox") -> None:
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
        """Hand over `publish` (replacing an unsent one of the same key); never blocks on ROS."""
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
                except Exception:  # a publish after shutdown, a conversion error: logged, the others still go
                    self.failures += 1
                    LOG.exception("publishing %s failed", key)

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)


__all__ = ["RosOutbox"]
