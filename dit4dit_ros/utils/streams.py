"""ROS-free helpers for periodic data streams: rate decimation, rate measurement, silence detection.

Used by the camera node (device frames -> configured rate, "no frame for X s") and the proprioception node
(500 Hz LowState -> configured /joint_states rate, "robot silent"). All times are seconds from one
monotonic clock chosen by the caller, so the same objects run on wall time, steady time or test time.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum


class Decimator:
    """Lets through the first sample at or after each deadline of a fixed-rate schedule.

    Why deadlines rather than "every Nth sample": the output rate stays `rate_hz` on average even when it
    does not divide the input rate (500 Hz -> 200 Hz alternates gaps of 2 and 3 samples), and it does not
    depend on knowing the input rate. After a gap longer than one period the schedule restarts from the
    sample (no burst to catch up).

    `aligned`: the schedule is the fixed grid of multiples of the period instead (the first sample in each
    period [k p, (k+1) p) passes). For sample times that are a simulator's ticks: which samples pass is then the
    same in every run, whenever this stream started (a lock-stepped policy pairs its frame, taken on that grid,
    with the very state of the frame's time).
    """

    def __init__(self, rate_hz: float, aligned: bool = False) -> None:
        if not math.isfinite(rate_hz) or rate_hz <= 0:
            raise ValueError(f"Decimator rate_hz must be a positive finite number, got {rate_hz}")
        self.period = 1.0 / rate_hz
        self.aligned = aligned
        self._next_due: float | None = None
        self._last_bin: int | None = None

    def accept(self, t: float) -> bool:
        """True if the sample at time `t` should be passed on."""
        if self.aligned:
            k = math.floor(t / self.period + 1e-6)  # (tolerance: ticks in ms are not exact binary fractions)
            if self._last_bin is None or k > self._last_bin:
                self._last_bin = k
                return True
            return False
        if self._next_due is None or t - self._next_due >= self.period:
            self._next_due = t + self.period
            return True
        # A tolerance of 1 % of a period absorbs clock jitter of samples that arrive "exactly" on time.
        if t >= self._next_due - 0.01 * self.period:
            self._next_due += self.period
            return True
        return False

    def reset(self) -> None:
        self._next_due = None
        self._last_bin = None


class RateMeter:
    """Rate of events over a sliding time window (events/s), for diagnostics."""

    def __init__(self, window_s: float = 2.0, max_events: int = 10_000) -> None:
        if window_s <= 0 or max_events < 2:
            raise ValueError(f"RateMeter needs window_s > 0 and max_events >= 2, got {window_s}, {max_events}")
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_events)

    def tick(self, t: float) -> None:
        self._times.append(t)

    def rate(self, now: float) -> float:
        """Events per second over the last window ending at `now` (0.0 with fewer than 2 events)."""
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class StreamState(str, Enum):
    WAITING = "waiting"  # nothing received yet
    ALIVE = "alive"
    STALE = "stale"  # was alive, then silent for longer than the timeout


@dataclass(frozen=True)
class StreamTransition:
    """A change of a stream's state, reported once (for one log line / one diagnostic)."""

    previous: StreamState
    current: StreamState
    silent_for: float  # seconds since the last sample when the transition was detected (0 on recovery)
    gap: float  # on recovery: length of the silence; otherwise 0


class StreamWatch:
    """Detects a stream going silent and coming back, reporting each change exactly once.

    `sample(t)` on every (valid) message, `check(now)` periodically; both return a StreamTransition when
    the state changed, else None.
    """

    def __init__(self, timeout_s: float) -> None:
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise ValueError(f"StreamWatch timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.state = StreamState.WAITING
        self.last_sample: float | None = None
        self.stale_events = 0

    def sample(self, t: float) -> StreamTransition | None:
        previous, last = self.state, self.last_sample
        self.last_sample = t
        if previous is StreamState.ALIVE:
            return None
        self.state = StreamState.ALIVE
        gap = 0.0 if last is None else max(0.0, t - last)
        return StreamTransition(previous, StreamState.ALIVE, 0.0, gap)

    def check(self, now: float) -> StreamTransition | None:
        if self.state is not StreamState.ALIVE or self.last_sample is None:
            return None
        silent = now - self.last_sample
        if silent <= self.timeout_s:
            return None
        self.state = StreamState.STALE
        self.stale_events += 1
        return StreamTransition(StreamState.ALIVE, StreamState.STALE, silent, 0.0)

    def age(self, now: float) -> float | None:
        """Seconds since the last sample, None if none yet."""
        return None if self.last_sample is None else now - self.last_sample
