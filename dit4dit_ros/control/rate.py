"""A fixed-rate loop in its own thread, with jitter statistics.

Why not a ROS timer: rclpy timers are dispatched by the executor together with every subscription and
service callback of the node, in Python, so a 500 Hz timer shares a GIL-bound queue with image/chunk
callbacks and its period stretches whenever one of them runs long. A dedicated thread that sleeps to
absolute deadlines (time.monotonic) keeps the period independent of ROS traffic, never drifts (deadlines
are k * period from the start, not "sleep(period) after the work"), and skips ticks instead of bursting
when it falls behind (a burst of stale commands is worse than a missed one).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dit4dit_ros.control.rt.stats import LATE_LIMIT
from dit4dit_ros.utils.realtime import RealtimeConfig, RealtimeReport, apply_realtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateReport:
    """Statistics over the last window of ticks (seconds unless noted)."""

    ticks: int
    rate_hz: float
    period_p50: float
    period_p99: float
    period_max: float
    late_p50: float  # start of the tick after its deadline
    late_p99: float
    late_max: float
    work_p50: float  # time spent in the tick function
    work_p99: float
    work_max: float
    overruns: int  # deadlines skipped because a tick ran or woke too late
    late_share: float = 0.0  # share of the window's ticks that started more than 1 ms after their deadline

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class PeriodicThread:
    """Calls fn(now_monotonic) every `period` seconds in a daemon thread until stop()."""

    def __init__(self, period: float, fn: Callable[[float], None], name: str = "periodic", window: int = 2000,
                 realtime: RealtimeConfig | None = None) -> None:
        """`realtime`: SCHED_FIFO/affinity/mlockall for the thread (utils/realtime.py), asked for when it starts;
        `self.realtime` reports what was granted."""
        if not period > 0:
            raise ValueError(f"period must be positive, got {period}")
        self.period = period
        self._fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._lock = threading.Lock()
        self._starts: deque[float] = deque(maxlen=window)
        self._late: deque[float] = deque(maxlen=window)
        self._work: deque[float] = deque(maxlen=window)
        self._ticks = 0
        self._overruns = 0
        self.error: BaseException | None = None
        self._realtime = realtime
        self.realtime: RealtimeReport | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the loop to end and wait for it; True if it ended within `timeout`."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        if self._realtime is not None:
            self.realtime = apply_realtime(self._realtime, f"thread {self._thread.name}")
        period = self.period
        deadline = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            delay = deadline - now
            if delay > 0:
                if self._stop.wait(delay):
                    break
                now = time.monotonic()
            try:
                self._fn(now)
            except BaseException as exc:  # the control loop must not die silently
                self.error = exc
                log.exception("periodic loop %s stopped by an exception", self._thread.name)
                raise
            done = time.monotonic()
            with self._lock:
                self._starts.append(now)
                self._late.append(now - deadline)
                self._work.append(done - now)
                self._ticks += 1
            deadline += period
            if done > deadline + period:  # fell more than a tick behind: skip, do not burst
                skipped = int((done - deadline) // period)
                deadline += skipped * period
                with self._lock:
                    self._overruns += skipped

    def report(self) -> RateReport:
        with self._lock:
            starts = np.array(self._starts)
            late = np.array(self._late)
            work = np.array(self._work)
            ticks, overruns = self._ticks, self._overruns
        if starts.size < 3:
            nan = float("nan")
            return RateReport(ticks, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, overruns, nan)
        periods = np.diff(starts)
        p = lambda a, q: float(np.percentile(a, q))  # noqa: E731
        return RateReport(
            ticks=ticks,
            rate_hz=float((starts.size - 1) / (starts[-1] - starts[0])),
            period_p50=p(periods, 50),
            period_p99=p(periods, 99),
            period_max=float(periods.max()),
            late_p50=p(late, 50),
            late_p99=p(late, 99),
            late_max=float(late.max()),
            work_p50=p(work, 50),
            work_p99=p(work, 99),
            work_max=float(work.max()),
            overruns=overruns,
            late_share=float(np.mean(late > LATE_LIMIT)),
        )
