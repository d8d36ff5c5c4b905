"""A node whose event loop stops says where it stopped: every thread's Python stack goes to stderr (the node's log).

A stalled executor loop (a callback or publish that blocks while holding the interpreter, a starved process) is
seen from outside only as silence: no state, no heartbeat, an e-stop handled late. The supervisor reacts to the
missing heartbeats; this watch answers *why*. A timer of its own callback group re-arms
`faulthandler.dump_traceback_later` every `period`; the dump is written by faulthandler's own C thread, which
needs neither the interpreter lock nor the event loop, so it also fires while another thread holds the lock in
C code. When the loop runs again, one log line gives the length of the stall and what the kernel says the process
did meanwhile (utils/sched_account.py: starved, busy, paging, host or blocked, with each CPU's steal and the
machine's I/O and memory stalls). No dump while the loop runs.
"""
from __future__ import annotations

import faulthandler
import sys
import time
from typing import TextIO

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from dit4dit_ros.utils import sched_account


class StallWatch:
    """Dump all threads' stacks once when `node`'s event loop has not run for `dump_after` seconds.

    One per process (faulthandler keeps a single delayed dump); `close()` cancels it.
    """

    def __init__(self, node: Node, dump_after: float = 2.0, period: float = 0.25, file: TextIO | None = None) -> None:
        if not dump_after > period > 0:
            raise ValueError(f"stall watch: dump_after ({dump_after}) must exceed period ({period}) > 0")
        self._node, self.dump_after, self.file = node, dump_after, file or sys.stderr
        self.stalls, self.longest = 0, 0.0
        self.last_explanation = ""
        self._last = time.monotonic()
        self._sched = sched_account.sample()
        self._arm()
        self.timer = node.create_timer(period, self._tick, callback_group=MutuallyExclusiveCallbackGroup(),
                                       clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _arm(self) -> None:
        faulthandler.dump_traceback_later(self.dump_after, repeat=False, file=self.file)

    def _tick(self) -> None:
        now = time.monotonic()
        gap, self._last = now - self._last, now
        self._arm()
        sched, before = sched_account.sample(), self._sched
        self._sched = sched
        self.longest = max(self.longest, gap)
        if gap >= self.dump_after:
            self.stalls += 1
            self.last_explanation = (sched_account.explain(before, sched, gap) if before and sched
                                     else "no scheduler statistics here")
            self._node.get_logger().warning(
                f"event loop stalled for {gap:.2f} s: {self.last_explanation} (every thread's stack was written "
                f"to stderr after {self.dump_after:.1f} s: look for 'Timeout (' in this node's log)")

    def close(self) -> None:
        faulthandler.cancel_dump_traceback_later()
        self._node.destroy_timer(self.timer)
