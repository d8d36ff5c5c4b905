"""Tick timing of the real-time loop, in preallocated arrays (recording a tick allocates nothing)."""
from __future__ import annotations

import numpy as np

LATE_LIMIT = 0.001  # a tick that starts more than 1 ms after its deadline is "late"


class TickStats:
    """The last `window` ticks' start times, lateness and work; `report()` summarises them."""

    def __init__(self, window: int = 5000) -> None:
        self.window = window
        self._start = np.zeros(window)
        self._late = np.zeros(window)
        self._work = np.zeros(window)
        self.ticks = 0
        self.overruns = 0  # deadlines skipped because a tick ran or woke too late
        self.late_ticks = 0  # over the whole run, ticks late by more than LATE_LIMIT

    def add(self, start: float, late: float, work: float) -> None:
        i = self.ticks % self.window
        self._start[i] = start
        self._late[i] = late
        self._work[i] = work
        self.ticks += 1
        if late > LATE_LIMIT:
            self.late_ticks += 1

    def report(self) -> dict:
        """Seconds (rounded to us) over the window; `late_share`: share of all ticks late by > 1 ms."""
        n = min(self.ticks, self.window)
        out = {"ticks": self.ticks, "overruns": self.overruns,
               "late_share": round(self.late_ticks / self.ticks, 5) if self.ticks else 0.0}
        if n < 3:
            return out
        order = np.argsort(self._start[:n]) if self.ticks > self.window else slice(0, n)
        starts = self._start[:n][order]
        periods = np.diff(starts)
        late, work = self._late[:n], self._work[:n]
        q = lambda a, p: round(float(np.percentile(a, p)), 6)  # noqa: E731
        out.update(
            rate_hz=round(float((n - 1) / (starts[-1] - starts[0])), 2) if starts[-1] > starts[0] else 0.0,
            period_p50=q(periods, 50), period_p99=q(periods, 99), period_max=round(float(periods.max()), 6),
            late_p50=q(late, 50), late_p99=q(late, 99), late_max=round(float(late.max()), 6),
            work_p50=q(work, 50), work_p99=q(work, 99), work_max=round(float(work.max()), 6),
        )
        return out
