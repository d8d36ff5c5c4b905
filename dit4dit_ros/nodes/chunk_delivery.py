"""How long action chunks take to reach the control process, leg by leg, from each chunk's DDS message info.

Why: a chunk is planned for its observation time, and every millisecond it spends on the way is cut from its
start (the scheduler skips what is already due). On a busy host the executor's answer to a chunk can come late
enough for a lock-step simulator's 0.2 s wait for it to run out (13 times in one idle 20-episode evaluation on a
2-core machine), and the total alone does not say where the time went. The legs, per chunk, on the system clock that DDS stamps with:
- transport: the reader's receive time minus the writer's source time. Across hosts this includes the offset
  between the two clocks, so it means something only where they are synchronized (chrony, PTP); a negative value
  says they are not.
- queue: from that receive time to the start of this node's callback. The time the message waited for a
  callback thread, the interpreter lock and a CPU.
- handoff: from the callback's start to the chunk posted to the control process (checks, conversion, the
  shared-memory request).
ROS-free; the executor node feeds it and reports `report()` in its state.
"""
from __future__ import annotations

import threading

import numpy as np

LEGS = ("transport", "queue", "handoff")
SLOW_DELIVERY_S = 0.05  # source to posted: 25 control ticks of a 500 Hz loop


class ChunkDelivery:
    """The last `window` chunks' legs (seconds) in preallocated arrays; counts over the whole run.

    `add` runs on the chunk callback's thread and `report` on the reporting timer's: a lock keeps a report from
    reading a half-written row. A chunk whose message info lacks either DDS timestamp (0: the middleware does not
    fill it) has only its handoff leg; it is counted in `unstamped`."""

    def __init__(self, window: int = 256) -> None:
        if window < 1:
            raise ValueError(f"ChunkDelivery window must be >= 1 chunk, got {window}")
        self.window = window
        self._legs = np.full((window, len(LEGS)), np.nan)
        self._lock = threading.Lock()
        self.chunks = 0
        self.unstamped = 0
        self.slow = 0  # chunks whose source-to-posted time exceeded SLOW_DELIVERY_S

    def add(self, source_ns: int, received_ns: int, started_ns: int, posted_ns: int) -> None:
        """One chunk: the DDS source and receive timestamps and this node's callback start and post times (ns,
        system clock: time.time_ns())."""
        handoff = (posted_ns - started_ns) * 1e-9
        if source_ns > 0 and received_ns > 0:
            row = ((received_ns - source_ns) * 1e-9, (started_ns - received_ns) * 1e-9, handoff)
            slow = (posted_ns - source_ns) * 1e-9 > SLOW_DELIVERY_S
        else:
            row, slow = (np.nan, np.nan, handoff), False
        with self._lock:
            self._legs[self.chunks % self.window] = row
            self.chunks += 1
            self.unstamped += int(np.isnan(row[0]))
            self.slow += int(slow)

    def report(self) -> dict:
        """{"chunks", "unstamped", "slow", and per leg `<leg>_p50_ms` / `<leg>_max_ms` over the window}; the
        percentiles only once a stamped chunk is there."""
        with self._lock:
            legs = self._legs[:min(self.chunks, self.window)].copy()
            out: dict = {"chunks": self.chunks, "unstamped": self.unstamped, "slow": self.slow}
        for i, leg in enumerate(LEGS):
            values = legs[:, i][~np.isnan(legs[:, i])]
            if values.size:
                out[f"{leg}_p50_ms"] = round(1e3 * float(np.median(values)), 3)
                out[f"{leg}_max_ms"] = round(1e3 * float(values.max()), 3)
        return out


__all__ = ["ChunkDelivery", "LEGS", "SLOW_DELIVERY_S"]
