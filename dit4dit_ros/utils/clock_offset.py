"""NTP-style clock offset between two hosts from request/reply round trips (ROS-free).

Why: with the policy on a GPU workstation and the robot's computer stamping camera frames and joint states,
every age the policy computes (`now - stamp`) mixes two clocks. An offset of 0.3 s makes every observation
look stale (no chunks) or, the other way round, makes stale ones look fresh. The offset must be measured and
checked before the robot is enabled.

One round trip: the client sends at t0 (client clock), the server receives at t1 and replies at t2 (server
clock), the client receives at t3 (client clock). With server = client + theta and one-way delays d1, d2:
    offset = ((t1 - t0) + (t2 - t3)) / 2 = theta + (d1 - d2) / 2
    delay  = (t3 - t0) - (t2 - t1)       = d1 + d2
so |offset - theta| <= delay / 2 whatever the asymmetry. The estimator keeps a window of round trips and
reports the one with the smallest delay (the classic NTP clock filter: queueing only ever adds delay, so the
fastest exchange bounds the error best), with delay / 2 as its uncertainty.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RoundTrip:
    """Four timestamps in seconds: t0, t3 on the client's clock, t1, t2 on the server's."""

    t0: float
    t1: float
    t2: float
    t3: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(t) for t in (self.t0, self.t1, self.t2, self.t3)):
            raise ValueError(f"round-trip timestamps must be finite, got {self}")
        if self.t3 < self.t0:
            raise ValueError(f"reply received before the request was sent on the client's clock: {self}")
        if self.t2 < self.t1:
            raise ValueError(f"server replied before it received the request on its clock: {self}")
        if self.delay < 0:
            raise ValueError(f"server time ({self.t2 - self.t1:.6f} s) exceeds the round trip "
                             f"({self.t3 - self.t0:.6f} s): {self}")

    @property
    def offset(self) -> float:
        """Server clock minus client clock, seconds."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2.0

    @property
    def delay(self) -> float:
        """Network round-trip delay without the server's own time, seconds."""
        return (self.t3 - self.t0) - (self.t2 - self.t1)


@dataclass(frozen=True)
class OffsetEstimate:
    offset: float  # server clock - client clock [s]
    uncertainty: float  # |true offset - offset| <= uncertainty [s] (half the best round trip's delay)
    delay: float  # the best round trip's delay [s]
    samples: int  # round trips in the window
    measured_at: float  # client-clock time of the best round trip's midpoint

    def exceeds(self, tolerance: float) -> bool:
        """True if the offset may be larger than `tolerance` (the worst case counts)."""
        return abs(self.offset) + self.uncertainty > tolerance


class ClockOffsetEstimator:
    """A sliding window of round trips -> the minimum-delay estimate."""

    def __init__(self, window: int = 16) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1 round trip, got {window}")
        self._trips: deque[RoundTrip] = deque(maxlen=window)

    def add(self, trip: RoundTrip) -> None:
        self._trips.append(trip)

    def estimate(self) -> OffsetEstimate | None:
        if not self._trips:
            return None
        best = min(self._trips, key=lambda t: t.delay)
        return OffsetEstimate(offset=best.offset, uncertainty=best.delay / 2.0, delay=best.delay,
                              samples=len(self._trips), measured_at=(best.t0 + best.t3) / 2.0)


def format_server_times(t1_ns: int, t2_ns: int) -> str:
    """The clock server's reply text: receive and reply times in integer nanoseconds of its clock."""
    return f"{int(t1_ns)} {int(t2_ns)}"


def parse_server_times(text: str) -> tuple[int, int]:
    """(t1_ns, t2_ns) from a clock server's reply; ValueError naming the text if it is not that."""
    parts = text.split()
    if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"clock server reply must be two integers 't1_ns t2_ns', got {text!r}")
    return int(parts[0]), int(parts[1])
